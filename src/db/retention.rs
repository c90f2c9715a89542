//! Retention's storage half: one bounded batch of old notifications deleted per call, in one
//! short transaction (the loop over batches and the schedule are `crate::retention`).

use super::connection::DbConnection;
use super::error::DbError;
use super::pool::Db;
use super::schema::notifications as n;
use super::transactions::Transactions;
use super::{pg, states};
use crate::domain::{CountDelta, RowState, StateAction, UserId};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use std::collections::BTreeMap;

impl Db {
    /// Deletes up to `batch` notifications created before `cutoff` (only read ones when
    /// `read_only`), keeping the unread and total counters exact; returns how many it deleted (0 when done).
    /// Safe to run on several nodes at once. Retention publishes nothing: it advances each
    /// affected user's stream position, which open sockets converge to through the position
    /// check (`crate::repair`).
    pub async fn prune_batch(
        &self,
        cutoff: chrono::NaiveDateTime,
        read_only: bool,
        batch: i64,
    ) -> Result<usize, DbError> {
        self.run(move |conn| conn.write_transaction(|conn| Ok(prune_batch(conn, cutoff, read_only, batch)?))).await
    }
}

/// One batch: the candidates' users' inbox rows are locked first (ascending; on PostgreSQL a row
/// another transaction holds is skipped, its user's rows left for a later batch), then their rows
/// deleted, then each user's counts moved by what was deleted, with one stream position per user
/// and no publish: the position check of every node holding the user's sockets finds it and
/// repairs them, ending in a `resync`.
fn prune_batch(
    conn: &mut DbConnection,
    cutoff: chrono::NaiveDateTime,
    read_only: bool,
    batch: i64,
) -> diesel::QueryResult<usize> {
    let mut old = n::table.filter(n::created_at.lt(cutoff)).into_boxed();
    if read_only {
        old = old.filter(n::is_read.eq(true));
    }
    let candidates: Vec<(i64, i64)> = old.select((n::id, n::user_id)).order(n::id.asc()).limit(batch).load(conn)?;
    let mut users: Vec<i64> = candidates.iter().map(|&(_, user)| user).collect();
    users.sort_unstable();
    users.dedup();
    let locked: Vec<i64> = match conn {
        DbConnection::Pg(c) => pg::lock_counts(c, &users)?.into_keys().collect(),
        DbConnection::Sqlite(_) => users,
    };
    let ids: Vec<i64> = candidates.iter().filter(|(_, user)| locked.contains(user)).map(|&(id, _)| id).collect();
    if ids.is_empty() {
        return Ok(0);
    }
    // Checked again on the rows as they are now (one may have been marked unread since).
    let still_old = n::created_at.lt(cutoff).and(n::is_read.eq(true).or((!read_only).into_sql::<Bool>()));
    let deleted: Vec<(i64, bool, bool, bool, bool)> =
        diesel::delete(n::table.filter(n::id.eq_any(&ids)).filter(still_old))
            .returning((
                n::user_id,
                n::is_read,
                n::seen_at.is_not_null(),
                n::archived_at.is_not_null(),
                n::snoozed_until.is_not_null(),
            ))
            .load(conn)?;
    let mut by_user: BTreeMap<i64, CountDelta> = BTreeMap::new();
    for &(user, is_read, seen, archived, snoozed) in &deleted {
        let gone = RowState { is_read, seen, archived, snoozed }.delta(StateAction::Delete);
        let delta = by_user.entry(user).or_default();
        *delta = delta.plus(gone);
    }
    for (user, delta) in by_user {
        if let Some(user) = UserId::new(user) {
            states::record(conn, user, delta)?;
        }
    }
    Ok(deleted.len())
}
