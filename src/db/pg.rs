//! Statements only PostgreSQL runs this way: a multi-row inbox upsert, and a broadcast over array
//! binds. (The group-commit statement is `batch::pg`.)

use super::models::{InboxStateInsert, StoredChunk, NOTIFICATION_COLUMNS};
use super::schema::inbox_state as state;
use crate::domain::{NotificationContent, StoredNotification, StreamPos, UserId};
use diesel::prelude::*;
use diesel::PgConnection;
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

/// A broadcast's inbox upsert and notification insert as two set-based statements over
/// array binds (`unnest`), instead of ten binds per row. Rows go in ascending user id (the lock
/// order). Returns the locked `(user_id, stream position)` and the stored rows.
pub fn store_broadcast_chunk(
    conn: &mut PgConnection,
    accepting: &[(UserId, bool)],
    sender: UserId,
    content: &NotificationContent,
    now: chrono::NaiveDateTime,
) -> QueryResult<StoredChunk> {
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
    let users: Vec<i64> = accepting.iter().map(|(u, _)| u.get()).collect();
    let live: Vec<bool> = accepting.iter().map(|(_, realtime)| *realtime).collect();
    let advances: Vec<i64> = live.iter().map(|r| i64::from(*r)).collect();
    let locked = diesel::sql_query(
        "INSERT INTO inbox_state (user_id, unread_count, last_seq) \
         SELECT u, 1, a FROM unnest($1::bigint[], $2::bigint[]) AS t(u, a) ORDER BY u \
         ON CONFLICT (user_id) DO UPDATE SET unread_count = inbox_state.unread_count + 1, \
         last_seq = inbox_state.last_seq + excluded.last_seq \
         RETURNING user_id, last_seq",
    )
    .bind::<Array<BigInt>, _>(&users)
    .bind::<Array<BigInt>, _>(&advances)
    .load::<Locked>(conn)?
    .into_iter()
    .map(|l| (l.user_id, StreamPos::new(l.last_seq)))
    .collect();
    let rows = diesel::sql_query(BROADCAST_INSERT_SQL.as_str())
        .bind::<Array<BigInt>, _>(&users)
        .bind::<Array<Bool>, _>(&live)
        .bind::<Nullable<BigInt>, _>(Some(sender.get()))
        .bind::<Text, _>(content.kind.as_str())
        .bind::<Text, _>(&content.title)
        .bind::<Text, _>(&content.message)
        .bind::<Text, _>(&content.data)
        .bind::<Nullable<Text>, _>(content.link.as_deref())
        .bind::<Timestamp, _>(now)
        .load::<StoredNotification>(conn)?;
    Ok((locked, rows))
}

/// Upserts the users' inbox rows — `(user, unread to add, stream positions to take)` — in
/// one statement; this takes their row locks, in the order given (ascending user id), until
/// the transaction ends. Returns `(user_id, stream position)`.
pub fn lock_inboxes(conn: &mut PgConnection, users: &[(i64, i64, i64)]) -> QueryResult<Vec<(i64, StreamPos)>> {
    use diesel::upsert::excluded;
    let rows: Vec<InboxStateInsert> = users
        .iter()
        .map(|&(user_id, unread_count, advance)| InboxStateInsert { user_id, unread_count, last_seq: advance })
        .collect();
    diesel::insert_into(state::table)
        .values(&rows)
        .on_conflict(state::user_id)
        .do_update()
        .set((
            state::unread_count.eq(state::unread_count + excluded(state::unread_count)),
            state::last_seq.eq(state::last_seq + excluded(state::last_seq)),
        ))
        .returning((state::user_id, state::last_seq))
        .load::<(i64, i64)>(conn)
        .map(|locked| locked.into_iter().map(|(user_id, last_seq)| (user_id, StreamPos::new(last_seq))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broadcast_insert_returns_the_hand_written_notification_columns() {
        assert!(BROADCAST_INSERT_SQL.ends_with(&format!("RETURNING {NOTIFICATION_COLUMNS}")));
    }
}
