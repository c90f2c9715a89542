//! `herald import-django --verify`: the source and Herald compared per user — how many
//! notifications, how many unread, the newest id, and checksums of the ids and of the read ones'
//! ids — and every user that differs named.

use super::ImportError;
use crate::db::django::{user_figures, UserFigures};
use crate::db::DbConnection;
use std::collections::BTreeMap;

/// Users shown in full; the rest are counted.
const SHOWN: usize = 50;

/// One user whose figures differ (`None`: no notification on that side).
#[derive(Debug, PartialEq, Eq)]
pub struct Difference {
    pub user: i64,
    pub source: Option<UserFigures>,
    pub herald: Option<UserFigures>,
}

/// Compares every user; returns the users compared and those that differ.
pub fn verify(
    source: &mut DbConnection,
    target: &mut DbConnection,
    table: &str,
) -> Result<(usize, Vec<Difference>), ImportError> {
    let theirs: BTreeMap<i64, UserFigures> = user_figures(source, table)?.into_iter().map(|f| (f.user_id, f)).collect();
    let ours: BTreeMap<i64, UserFigures> =
        user_figures(target, "notifications")?.into_iter().map(|f| (f.user_id, f)).collect();
    let mut users: Vec<i64> = theirs.keys().chain(ours.keys()).copied().collect();
    users.sort_unstable();
    users.dedup();
    let differ = users
        .iter()
        .filter(|user| theirs.get(user) != ours.get(user))
        .map(|&user| Difference { user, source: theirs.get(&user).copied(), herald: ours.get(&user).copied() })
        .collect();
    Ok((users.len(), differ))
}

/// The differences as lines for the operator.
pub fn describe(differences: &[Difference]) -> Vec<String> {
    let show = |f: &Option<UserFigures>| match f {
        None => "nothing".to_owned(),
        Some(f) => format!("{} rows, {} unread, newest {}", f.total, f.unread, f.max_id),
    };
    let mut lines: Vec<String> = differences
        .iter()
        .take(SHOWN)
        .map(|d| format!("user {}: source {}; herald {}", d.user, show(&d.source), show(&d.herald)))
        .collect();
    if differences.len() > SHOWN {
        lines.push(format!("… and {} more users", differences.len() - SHOWN));
    }
    lines
}
