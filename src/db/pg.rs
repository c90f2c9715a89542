//! Statements only PostgreSQL runs this way: inbox upserts and prunes over array binds, a
//! broadcast insert over array binds, inbox rows locked without waiting, and expired idempotency
//! keys deleted by `ctid` in batches that skip locked rows. (The group-commit
//! statement is `batch::pg`.)

use super::models::{InboxStateInsert, LockedInbox, PrunedRow, PrunedRowByName, LOCKED_COLUMNS, NOTIFICATION_COLUMNS};
use super::schema::inbox_state as state;
use crate::domain::{InboxCounts, NotificationContent, StorageCap, StoredNotification, StreamPos, UserId};
use diesel::prelude::*;
use diesel::PgConnection;
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_seq: i64,
}

/// A broadcast's notification insert over array binds, in ascending user id (the lock order).
/// Binds: users, realtime per user, sender, type, title, message, data, link, created at.
static BROADCAST_INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO notifications \
         (user_id, sender_id, notification_type, title, message, data, link, is_read, realtime, created_at) \
         SELECT u, $3, $4, $5, $6, $7, $8, FALSE, r, $9 FROM unnest($1::bigint[], $2::bool[]) AS t(u, r) ORDER BY u \
         RETURNING {NOTIFICATION_COLUMNS}"
    )
});

/// Takes the inbox row locks of `users` — `(user, pushed live)`, ascending — and adds one new
/// notification to each inbox it fits in without pruning (its unread and total counts, and a
/// stream position when live), in one statement. Returns those users with their stream position
/// after it; the others' rows are locked all the same (`ON CONFLICT … DO UPDATE … WHERE` locks
/// the rows it leaves) and need room made (`crate::db::room`).
pub fn add_if_fits(
    conn: &mut PgConnection,
    cap: StorageCap,
    users: &[(i64, bool)],
) -> QueryResult<Vec<(i64, StreamPos)>> {
    use diesel::sql_types::{Array, BigInt};
    let ids: Vec<i64> = users.iter().map(|&(user, _)| user).collect();
    let advances: Vec<i64> = users.iter().map(|&(_, live)| i64::from(live)).collect();
    let added = diesel::sql_query(
        "INSERT INTO inbox_state AS s (user_id, unread_count, last_seq, total_count) \
         SELECT u, 1, a, 1 FROM unnest($1::bigint[], $2::bigint[]) AS t(u, a) ORDER BY u \
         ON CONFLICT (user_id) DO UPDATE SET unread_count = s.unread_count + 1, \
         last_seq = s.last_seq + excluded.last_seq, total_count = s.total_count + 1 \
         WHERE s.total_count < $3 \
         RETURNING user_id, last_seq",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Array<BigInt>, _>(&advances)
    .bind::<BigInt, _>(cap.get())
    .load::<Locked>(conn)?;
    Ok(added.into_iter().map(|l| (l.user_id, StreamPos::new(l.last_seq))).collect())
}

/// Inserts a broadcast's notification for each of `users` — `(user, pushed live)` — whose
/// inbox row this transaction holds, as one set-based statement over array binds.
pub fn insert_broadcast(
    conn: &mut PgConnection,
    users: &[(UserId, bool)],
    sender: UserId,
    content: &NotificationContent,
    now: chrono::NaiveDateTime,
) -> QueryResult<Vec<StoredNotification>> {
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
    let ids: Vec<i64> = users.iter().map(|(u, _)| u.get()).collect();
    let live: Vec<bool> = users.iter().map(|(_, realtime)| *realtime).collect();
    diesel::sql_query(BROADCAST_INSERT_SQL.as_str())
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<Bool>, _>(&live)
        .bind::<Nullable<BigInt>, _>(Some(sender.get()))
        .bind::<Text, _>(content.kind.as_str())
        .bind::<Text, _>(&content.title)
        .bind::<Text, _>(&content.message)
        .bind::<Text, _>(&content.data)
        .bind::<Nullable<Text>, _>(content.link.as_deref())
        .bind::<Timestamp, _>(now)
        .load::<StoredNotification>(conn)
}

/// The counts and positions of the users' inbox rows, locked without waiting: a row another
/// transaction holds, or none, is left out (see `crate::db::room`).
pub fn lock_counts(conn: &mut PgConnection, users: &[i64]) -> QueryResult<HashMap<i64, LockedInbox>> {
    let rows = state::table
        .filter(state::user_id.eq_any(users))
        .order(state::user_id)
        .select(LOCKED_COLUMNS)
        .for_update()
        .skip_locked()
        .load::<(i64, InboxCounts, i64)>(conn)?;
    Ok(rows.into_iter().map(|(user, counts, last_seq)| (user, (counts, last_seq))).collect())
}

/// Deletes up to `count` of each user's oldest read notifications — `(user, count)` — in one
/// statement, skipping rows another transaction holds (see `crate::db::room`). Returns what it
/// deleted.
pub fn prune_read(conn: &mut PgConnection, users: &[(i64, i64)]) -> QueryResult<Vec<PrunedRow>> {
    use diesel::sql_types::{Array, BigInt};
    let ids: Vec<i64> = users.iter().map(|&(user, _)| user).collect();
    let counts: Vec<i64> = users.iter().map(|&(_, count)| count).collect();
    let pruned = diesel::sql_query(
        "DELETE FROM notifications WHERE id IN (SELECT oldest.id FROM unnest($1::bigint[], $2::bigint[]) AS t(u, k) \
         CROSS JOIN LATERAL (SELECT id FROM notifications WHERE user_id = t.u AND is_read ORDER BY id LIMIT t.k \
         FOR UPDATE SKIP LOCKED) AS oldest) \
         RETURNING user_id, id, is_read, (archived_at IS NOT NULL OR snoozed_until IS NOT NULL) AS hidden",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Array<BigInt>, _>(&counts)
    .load::<PrunedRowByName>(conn)?;
    Ok(pruned.into_iter().map(PrunedRow::from).collect())
}

/// Sets the inbox rows' counts and positions (rows this transaction holds), in one statement.
pub fn set_counts(conn: &mut PgConnection, rows: &[InboxStateInsert]) -> QueryResult<()> {
    use diesel::upsert::excluded;
    diesel::insert_into(state::table)
        .values(rows)
        .on_conflict(state::user_id)
        .do_update()
        .set((
            state::unread_count.eq(excluded(state::unread_count)),
            state::last_seq.eq(excluded(state::last_seq)),
            state::total_count.eq(excluded(state::total_count)),
            state::hidden_count.eq(excluded(state::hidden_count)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes up to `batch` idempotency keys created before `expired_before`, the oldest first, in
/// one short statement; returns how many. Several nodes may prune at once: each skips the keys
/// another one is deleting.
pub fn prune_idempotency_keys(
    conn: &mut PgConnection,
    expired_before: chrono::NaiveDateTime,
    batch: i64,
) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Timestamp};
    diesel::sql_query(
        "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys \
         WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))",
    )
    .bind::<Timestamp, _>(expired_before)
    .bind::<BigInt, _>(batch)
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broadcast_insert_returns_the_hand_written_notification_columns() {
        assert!(BROADCAST_INSERT_SQL.ends_with(&format!("RETURNING {NOTIFICATION_COLUMNS}")));
    }
}
