//! Retention's storage half: one bounded batch of old notifications deleted per call, in one
//! short transaction (the loop over batches and the schedule are `crate::retention`).

use super::error::DbError;
use super::pool::Db;
use super::schema::{inbox_state as state, notifications as n};
use super::transactions::Transactions;
use diesel::prelude::*;
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
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                let mut old = n::table.filter(n::created_at.lt(cutoff)).into_boxed();
                if read_only {
                    old = old.filter(n::is_read.eq(true));
                }
                let ids: Vec<i64> = old.select(n::id).order(n::id.asc()).limit(batch).load(conn)?;
                if ids.is_empty() {
                    return Ok(0);
                }
                // Rows first, then inbox rows (as mark_read and delete do): no lock-order cycle.
                let deleted: Vec<(i64, bool)> = diesel::delete(n::table.filter(n::id.eq_any(&ids)))
                    .returning((n::user_id, n::is_read))
                    .load(conn)?;
                // Per user (ascending: the lock order), the rows and unread rows deleted. Each user's
                // stream takes one position for the batch, with no publish: the position check of
                // every node holding the user's sockets finds it and repairs them, ending in a
                // `resync`.
                let mut by_user: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
                for (user, is_read) in &deleted {
                    let (rows, unread) = by_user.entry(*user).or_default();
                    *rows += 1;
                    *unread += i64::from(!is_read);
                }
                for (user, (rows, unread)) in by_user {
                    diesel::update(state::table.find(user))
                        .set((
                            state::unread_count.eq(state::unread_count - unread),
                            state::total_count.eq(state::total_count - rows),
                            state::last_seq.eq(state::last_seq + 1),
                        ))
                        .execute(conn)?;
                }
                Ok(deleted.len())
            })
        })
        .await
    }
}
