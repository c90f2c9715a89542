//! SQLite: the shared queries (`shared_queries!`) compiled for `SqliteConnection`, and its own
//! forms of the statements PostgreSQL writes over arrays.

pub type Conn = diesel::SqliteConnection;
/// Recipients per broadcast statement: ten binds a row, under SQLite's 32,766.
const BATCH_ROWS: usize = 1000;
shared_queries!();

/// A broadcast's inbox upserts and its multi-row notification insert (see `pg`).
fn store_broadcast_chunk(
    conn: &mut Conn,
    accepting: &[(UserId, bool)],
    sender: UserId,
    content: &NotificationContent,
    now: chrono::NaiveDateTime,
) -> QueryResult<super::StoredChunk> {
    let advances: Vec<(i64, i64, i64)> =
        accepting.iter().map(|(u, realtime)| (u.get(), 1, i64::from(*realtime))).collect();
    let locked = lock_inboxes_for_create(conn, &advances)?;
    let inserts: Vec<NotificationInsert> =
        accepting.iter().map(|(user, realtime)| insert_of(*user, Some(sender), content, *realtime, now)).collect();
    let rows =
        diesel::insert_into(n::table).values(&inserts).returning(n::all_columns).load::<StoredNotification>(conn)?;
    Ok((locked, rows))
}

/// As on PostgreSQL; Diesel has no multi-row upsert for SQLite, and the database write lock
/// is already held (`BEGIN IMMEDIATE`), so one in-process statement per user.
fn lock_inboxes_for_create(conn: &mut Conn, users: &[(i64, i64, i64)]) -> QueryResult<Vec<(i64, i64)>> {
    use super::models::InboxStateInsert;
    use diesel::upsert::excluded;
    users
        .iter()
        .map(|&(user_id, unread_count, last_seq)| {
            diesel::insert_into(state::table)
                .values(InboxStateInsert { user_id, unread_count, last_seq })
                .on_conflict(state::user_id)
                .do_update()
                .set((
                    state::unread_count.eq(state::unread_count + excluded(state::unread_count)),
                    state::last_seq.eq(state::last_seq + excluded(state::last_seq)),
                ))
                .returning((state::user_id, state::last_seq))
                .get_result(conn)
        })
        .collect()
}
