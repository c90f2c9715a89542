//! The source's changes to notifications already imported, for an import that runs again while
//! the original still serves: both sides are walked in id order up to the checkpoint, a batch
//! at a time, and compared. A notification read or unread in the source since is marked so in
//! Herald; one gone from the source is deleted from Herald. (A source row Herald does not hold
//! was skipped or taken, and is in the report already.)

use super::review::parse_timestamp;
use super::ImportError;
use crate::db::django::{read_states, DjangoReadState};
use crate::db::import::{apply_changes, held_states, SourceChange};
use crate::db::DbConnection;
use std::collections::BTreeMap;

/// How many changes of each kind were found (and applied unless a dry run).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChangeCounts {
    pub read: u64,
    pub unread: u64,
    pub deleted: u64,
}

/// Finds and applies the source's changes to ids `1..=up_to`, `batch` ids at a time.
pub fn sync_changes(
    source: &mut DbConnection,
    target: &mut DbConnection,
    table: &str,
    (up_to, batch): (i64, i64),
    dry_run: bool,
) -> Result<ChangeCounts, ImportError> {
    let mut counts = ChangeCounts::default();
    let mut after = 0;
    while after < up_to {
        let theirs = read_states(source, table, (after, up_to), batch)?;
        // A full page ends at its last id; a short one covers the rest of the range.
        let end = match theirs.last() {
            Some(last) if theirs.len() as i64 == batch => last.id,
            _ => up_to,
        };
        let ours = held_states(target, (after, end))?;
        let changes = compare(&theirs, &ours);
        for change in &changes {
            match change {
                SourceChange::Read { .. } => counts.read += 1,
                SourceChange::Unread { .. } => counts.unread += 1,
                SourceChange::Deleted { .. } => counts.deleted += 1,
            }
        }
        if !dry_run {
            apply_changes(target, &changes)?;
        }
        after = end;
    }
    Ok(counts)
}

/// What turns Herald's rows (`ours`: id, user, read) into the source's (`theirs`) over the same
/// id range.
fn compare(theirs: &[DjangoReadState], ours: &[(i64, i64, bool)]) -> Vec<SourceChange> {
    let theirs: BTreeMap<i64, &DjangoReadState> = theirs.iter().map(|state| (state.id, state)).collect();
    let mut changes = Vec::new();
    for &(id, user, read) in ours {
        match theirs.get(&id) {
            None => changes.push(SourceChange::Deleted { id, user, was_read: read }),
            Some(state) if (state.is_read != 0) == read => {}
            Some(state) if state.is_read != 0 => {
                let at = state.read_at.as_deref().and_then(parse_timestamp).unwrap_or_else(crate::db::now);
                changes.push(SourceChange::Read { id, user, at });
            }
            Some(_) => changes.push(SourceChange::Unread { id, user }),
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: i64, read: bool) -> DjangoReadState {
        DjangoReadState { id, is_read: i64::from(read), read_at: read.then(|| "2026-01-02 03:04:05".to_owned()) }
    }

    #[test]
    fn reads_unreads_and_deletes_are_found_and_the_rest_left_alone() {
        let theirs = [state(1, true), state(2, false), state(4, false), state(5, true)];
        let ours = [(1, 7, false), (2, 7, true), (3, 8, false), (4, 8, false), (5, 9, true)];
        let changes = compare(&theirs, &ours);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(matches!(changes[0], SourceChange::Read { id: 1, user: 7, .. }));
        assert_eq!(changes[1], SourceChange::Unread { id: 2, user: 7 });
        assert_eq!(changes[2], SourceChange::Deleted { id: 3, user: 8, was_read: false });
    }
}
