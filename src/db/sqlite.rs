//! SQLite's own forms of the statements PostgreSQL writes over arrays: the inbox upsert one user
//! at a time, and a broadcast as a multi-row insert. (The group-commit create is `batch::sqlite`.)

use super::models::{InboxStateInsert, NotificationInsert, StoredChunk};
use super::schema::{inbox_state as state, notifications as n};
use crate::domain::{NotificationContent, StoredNotification, StreamPos, UserId};
use diesel::prelude::*;
use diesel::SqliteConnection;

/// A broadcast's inbox upserts and its multi-row notification insert (see `pg`).
pub fn store_broadcast_chunk(
    conn: &mut SqliteConnection,
    accepting: &[(UserId, bool)],
    sender: UserId,
    content: &NotificationContent,
    now: chrono::NaiveDateTime,
) -> QueryResult<StoredChunk> {
    let advances: Vec<(i64, i64, i64)> =
        accepting.iter().map(|(u, realtime)| (u.get(), 1, i64::from(*realtime))).collect();
    let locked = lock_inboxes(conn, &advances)?;
    let inserts: Vec<NotificationInsert> = accepting
        .iter()
        .map(|(user, realtime)| NotificationInsert::new(*user, Some(sender), content, *realtime, now))
        .collect();
    let rows =
        diesel::insert_into(n::table).values(&inserts).returning(n::all_columns).load::<StoredNotification>(conn)?;
    Ok((locked, rows))
}

/// As on PostgreSQL; Diesel has no multi-row upsert for SQLite, and the database write lock
/// is already held (`BEGIN IMMEDIATE`), so one in-process statement per user.
pub fn lock_inboxes(conn: &mut SqliteConnection, users: &[(i64, i64, i64)]) -> QueryResult<Vec<(i64, StreamPos)>> {
    use diesel::upsert::excluded;
    users
        .iter()
        .map(|&(user_id, unread_count, advance)| {
            diesel::insert_into(state::table)
                .values(InboxStateInsert { user_id, unread_count, last_seq: advance })
                .on_conflict(state::user_id)
                .do_update()
                .set((
                    state::unread_count.eq(state::unread_count + excluded(state::unread_count)),
                    state::last_seq.eq(state::last_seq + excluded(state::last_seq)),
                ))
                .returning((state::user_id, state::last_seq))
                .get_result::<(i64, i64)>(conn)
                .map(|(user_id, last_seq)| (user_id, StreamPos::new(last_seq)))
        })
        .collect()
}
