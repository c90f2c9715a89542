// Queries of inbox and stream positions and replay pages (see `db::position`). Compiled per
// backend (`shared_queries!`).

/// Where the user's inbox stands: unread count, change-stream position and newest notification
/// id (all 0 for a user never notified), in ONE statement, so the three agree (one snapshot):
/// a socket treats everything up to that id as shown and every position up to that one as
/// handled. Two separate reads could disagree by a notification committed in between.
pub fn inbox_position(conn: &mut Conn, user: UserId) -> Result<InboxPosition, DbError> {
    let newest = n::table.filter(n::user_id.eq(user.get())).select(diesel::dsl::max(n::id)).single_value();
    let (unread_count, last_seq, newest_id) = state::table
        .find(user.get())
        .select((state::unread_count, state::last_seq, newest))
        .first::<(i64, i64, Option<i64>)>(conn)
        .optional()?
        .map(|(unread, seq, newest)| (unread, seq, newest.unwrap_or(0)))
        .unwrap_or((0, 0, 0));
    Ok(InboxPosition { unread_count, last_seq, newest_id })
}

/// The user's change-stream position alone (0 for a user never notified).
pub fn stream_position(conn: &mut Conn, user: UserId) -> QueryResult<i64> {
    Ok(state::table.find(user.get()).select(state::last_seq).first(conn).optional()?.unwrap_or(0))
}

/// Notifications of the user with id above `after`, oldest first: a replay page. `live_only`
/// leaves out those the user asked not to have pushed (for repairs of the live stream).
/// The next replay page of the user's notifications with id above `after`, oldest first: at
/// most `max_rows` rows, and past the first row at most `max_bytes` of stored text (title,
/// message, data, link), so a page holds a bounded number of bytes whatever the rows' sizes.
/// Also says whether more rows may follow the page.
///
/// Most replays are a few rows: the page starts with as many rows as fit in `max_bytes`
/// whatever their size, read by a plain prepared statement. Only when those are all there is
/// the rest of the page read by a statement that cuts it with a running sum of the sizes.
pub fn since(conn: &mut Conn, user: UserId, after: i64, max_rows: i64, max_bytes: i64, live_only: bool) -> QueryResult<(Vec<StoredNotification>, bool)> {
    use diesel::sql_types::{BigInt, Bool};
    let safe_rows = super::rows_that_always_fit(max_bytes).min(max_rows);
    let mut rows: Vec<StoredNotification> = n::table
        .filter(n::user_id.eq(user.get()))
        .filter(n::id.gt(after))
        .filter(n::realtime.eq(true).or(diesel::dsl::not(live_only.into_sql::<Bool>())))
        .order(n::id.asc())
        .limit(safe_rows)
        .select(n::all_columns)
        .load(conn)?;
    if (rows.len() as i64) < safe_rows || safe_rows == max_rows {
        let more = rows.len() as i64 == max_rows;
        return Ok((rows, more));
    }
    let used = rows.iter().map(super::stored_bytes).sum::<i64>();
    let last = rows.last().map_or(after, |r| r.id);
    let rest: Vec<StoredNotification> = diesel::sql_query(super::REPLAY_PAGE_SQL)
        .bind::<BigInt, _>(user.get())
        .bind::<BigInt, _>(last)
        .bind::<Bool, _>(live_only)
        .bind::<BigInt, _>(max_rows - safe_rows)
        .bind::<BigInt, _>(max_bytes - used)
        .bind::<Bool, _>(false)
        .load(conn)?;
    rows.extend(rest);
    let more = super::replay_may_continue(&rows, max_rows, max_bytes);
    Ok((rows, more))
}

/// The change-stream positions of these users, for those that have one (a user never notified
/// has none): one statement per `BATCH_ROWS` users (on PostgreSQL one array bind, so one
/// prepared statement whatever the count).
pub fn stream_positions(conn: &mut Conn, users: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    let mut positions = Vec::with_capacity(users.len());
    for chunk in users.chunks(BATCH_ROWS) {
        positions.extend(state::table.filter(state::user_id.eq_any(chunk)).select((state::user_id, state::last_seq)).load::<(i64, i64)>(conn)?);
    }
    Ok(positions)
}
