//! SQLite's own forms of the statements PostgreSQL writes over arrays: inbox rows read, set and
//! pruned one user at a time (in process, under the database write lock that `BEGIN IMMEDIATE`
//! took), a broadcast as a multi-row insert, and expired idempotency keys deleted by `rowid`
//! in batches.

use super::models::{InboxStateInsert, LockedInbox, NotificationInsert, PrunedRow, PrunedRowByName, LOCKED_COLUMNS};
use super::schema::{inbox_state as state, notifications as n};
use crate::domain::{InboxCounts, NotificationContent, StoredNotification, UserId};
use diesel::prelude::*;
use diesel::SqliteConnection;
use std::collections::HashMap;

/// A broadcast's multi-row notification insert for `users` — `(user, pushed live)` (see `pg`).
pub fn insert_broadcast(
    conn: &mut SqliteConnection,
    users: &[(UserId, bool)],
    sender: UserId,
    content: &NotificationContent,
    now: chrono::NaiveDateTime,
) -> QueryResult<Vec<StoredNotification>> {
    let inserts: Vec<NotificationInsert> = users
        .iter()
        .map(|(user, realtime)| NotificationInsert::new(*user, Some(sender), content, *realtime, now))
        .collect();
    diesel::insert_into(n::table).values(&inserts).returning(n::all_columns).load::<StoredNotification>(conn)
}

/// The counts and positions of the users' inbox rows (zero for a user never notified); the
/// transaction holds the database write lock already.
pub fn lock_counts(conn: &mut SqliteConnection, users: &[i64]) -> QueryResult<HashMap<i64, LockedInbox>> {
    let mut locked: HashMap<i64, LockedInbox> = users.iter().map(|&user| (user, Default::default())).collect();
    for chunk in users.chunks(1000) {
        let rows = state::table
            .filter(state::user_id.eq_any(chunk))
            .select(LOCKED_COLUMNS)
            .load::<(i64, InboxCounts, i64)>(conn)?;
        for (user, counts, last_seq) in rows {
            locked.insert(user, (counts, last_seq));
        }
    }
    Ok(locked)
}

/// Deletes up to `count` of each user's oldest read notifications — `(user, count)`; returns
/// what it deleted.
pub fn prune_read(conn: &mut SqliteConnection, users: &[(i64, i64)]) -> QueryResult<Vec<PrunedRow>> {
    use diesel::sql_types::BigInt;
    let mut pruned = Vec::new();
    for &(user, count) in users {
        let rows = diesel::sql_query(
            "DELETE FROM notifications WHERE id IN \
             (SELECT id FROM notifications WHERE user_id = $1 AND is_read ORDER BY id LIMIT $2) \
             RETURNING user_id, id, is_read, (archived_at IS NOT NULL OR snoozed_until IS NOT NULL) AS hidden",
        )
        .bind::<BigInt, _>(user)
        .bind::<BigInt, _>(count)
        .load::<PrunedRowByName>(conn)?;
        pruned.extend(rows.into_iter().map(PrunedRow::from));
    }
    Ok(pruned)
}

/// Sets the inbox rows' counts and positions, inserting the rows of users never notified; Diesel
/// has no multi-row upsert for SQLite, so one in-process statement per user.
pub fn set_counts(conn: &mut SqliteConnection, rows: &[InboxStateInsert]) -> QueryResult<()> {
    use diesel::upsert::excluded;
    for row in rows {
        diesel::insert_into(state::table)
            .values(row)
            .on_conflict(state::user_id)
            .do_update()
            .set((
                state::unread_count.eq(excluded(state::unread_count)),
                state::last_seq.eq(excluded(state::last_seq)),
                state::total_count.eq(excluded(state::total_count)),
                state::hidden_count.eq(excluded(state::hidden_count)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes up to `batch` idempotency keys created before `expired_before`, the oldest first, in
/// one short statement; returns how many.
pub fn prune_idempotency_keys(
    conn: &mut SqliteConnection,
    expired_before: chrono::NaiveDateTime,
    batch: i64,
) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Timestamp};
    diesel::sql_query(
        "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys \
         WHERE created_at < ? ORDER BY created_at LIMIT ?)",
    )
    .bind::<Timestamp, _>(expired_before)
    .bind::<BigInt, _>(batch)
    .execute(conn)
}
