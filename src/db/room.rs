//! Making room under the storage cap (`crate::domain::StorageCap`): the careful path of every
//! create whose notifications do not simply fit (PostgreSQL's create statements add those that
//! do at once), and of every create on SQLite. In the caller's write transaction: the users'
//! inbox rows are read, the cap decides how many creates each takes, the oldest read
//! notifications are pruned, and the counts and stream positions are set; the caller then
//! inserts the accepted rows. Unread notifications are never pruned.
//!
//! Locks: on PostgreSQL the caller's statement already holds the inbox rows (the users it could
//! not simply add), and this never waits for another one (`SKIP LOCKED`: a row held elsewhere
//! was not the caller's to take). Pruning never waits for a notification row either: mark_read,
//! delete and retention lock notification rows before inbox rows, so waiting here could
//! deadlock; a read row another transaction holds is left for the next create. SQLite holds the
//! database write lock already.

use super::connection::DbConnection;
use super::models::{InboxStateInsert, LockedInbox};
use super::{pg, sqlite};
use crate::domain::{InboxCounts, Pruned, StorageCap, StreamPos};
use diesel::QueryResult;
use std::collections::HashMap;

/// One user's creates waiting for room: whether each is pushed live, in arrival order.
#[derive(Debug)]
pub struct Want {
    pub user: i64,
    pub live: Vec<bool>,
}

/// What a user's inbox took of a `Want`.
#[derive(Debug)]
pub struct Room {
    pub user: i64,
    /// The first `accepted` creates of the want are stored; the rest find the inbox full.
    pub accepted: usize,
    /// The read notifications deleted first, with their stream positions.
    pub pruned: Pruned,
    /// The stream position the next accepted live create takes.
    next_position: StreamPos,
}

impl Room {
    /// The stream position of the next accepted create, when it is pushed live; call once per
    /// accepted create, in arrival order.
    pub fn take(&mut self, live: bool) -> Option<StreamPos> {
        live.then(|| {
            let position = self.next_position;
            self.next_position = position.next();
            position
        })
    }
}

/// Makes room for `wants` (ascending user ids, one each) under `cap`, in the caller's write
/// transaction: one `Room` per user whose inbox row this transaction holds (on PostgreSQL, a
/// user whose row another transaction holds or who has none is left out: the caller's own
/// statement did not lock it, so it did not want it).
pub fn admit(conn: &mut DbConnection, cap: StorageCap, wants: &[Want]) -> QueryResult<Vec<Room>> {
    let users: Vec<i64> = wants.iter().map(|want| want.user).collect();
    let locked: HashMap<i64, LockedInbox> = match conn {
        DbConnection::Pg(c) => pg::lock_counts(c, &users)?,
        DbConnection::Sqlite(c) => sqlite::lock_counts(c, &users)?,
    };
    let plans: Vec<(&Want, InboxCounts, i64, crate::domain::Admission)> = wants
        .iter()
        .filter_map(|want| {
            let &(now, last_seq) = locked.get(&want.user)?;
            Some((want, now, last_seq, cap.admit(now, want.live.len() as i64)))
        })
        .collect();
    let to_prune: Vec<(i64, i64)> =
        plans.iter().filter(|plan| plan.3.prune > 0).map(|plan| (plan.0.user, plan.3.prune)).collect();
    let mut pruned_by_user: HashMap<i64, Vec<(i64, bool, bool)>> = HashMap::new();
    if !to_prune.is_empty() {
        let pruned = match conn {
            DbConnection::Pg(c) => pg::prune_read(c, &to_prune)?,
            DbConnection::Sqlite(c) => sqlite::prune_read(c, &to_prune)?,
        };
        for (user, id, was_read, was_hidden) in pruned {
            pruned_by_user.entry(user).or_default().push((id, was_read, was_hidden));
        }
    }
    let mut rooms = Vec::with_capacity(plans.len());
    let mut counts = Vec::with_capacity(plans.len());
    for (want, now, last_seq, admission) in plans {
        let mut gone = pruned_by_user.remove(&want.user).unwrap_or_default();
        gone.sort_unstable();
        let accepted = admission.accepted as usize;
        let unread_gone = gone.iter().filter(|(_, was_read, _)| !was_read).count() as i64;
        let hidden_gone = gone.iter().filter(|(_, _, was_hidden)| *was_hidden).count() as i64;
        let live = want.live[..accepted].iter().filter(|live| **live).count() as i64;
        let (gone_count, unread_count) = (gone.len() as i64, now.unread - unread_gone);
        if accepted > 0 || gone_count > 0 {
            counts.push(InboxStateInsert {
                user_id: want.user,
                unread_count: unread_count + admission.accepted,
                last_seq: last_seq + gone_count + live,
                total_count: now.total - gone_count + admission.accepted,
                hidden_count: now.hidden - hidden_gone,
            });
        }
        let deleted = gone.iter().zip(1..).map(|(&(id, ..), offset)| (id, StreamPos::new(last_seq + offset))).collect();
        rooms.push(Room {
            user: want.user,
            accepted,
            // Pruned rows are read: the seen-unread count stays as it was.
            pruned: Pruned { deleted, unread_count, unseen_count: unread_count - now.seen_unread },
            next_position: StreamPos::new(last_seq + gone_count + 1),
        });
    }
    if !counts.is_empty() {
        match conn {
            DbConnection::Pg(c) => pg::set_counts(c, &counts)?,
            DbConnection::Sqlite(c) => sqlite::set_counts(c, &counts)?,
        }
    }
    Ok(rooms)
}
