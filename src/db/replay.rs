//! Replay pages: a user's notifications after a position, oldest first, bounded in rows and in
//! bytes of stored text, read when a socket resumes or repairs its stream. Owns the page's SQL
//! and its byte budget; where a stream stands is `position`.

use super::connection::DbConnection;
use super::error::DbError;
use super::models::NOTIFICATION_COLUMNS;
use super::pool::Db;
use super::schema::notifications as n;
use crate::domain::{StoredNotification, UserId};
use diesel::prelude::*;
use std::sync::LazyLock;

/// Stored text of a notification row (title, message, data, link), as a replay page counts it.
const STORED_BYTES_SQL: &str =
    "(octet_length(title) + octet_length(message) + octet_length(data) + coalesce(octet_length(link), 0))";

/// The most stored text one row can hold: title 200 and message 5,000 characters (4 bytes at
/// most each), data 16 KiB, link 2,048 characters.
const MAX_STORED_ROW_BYTES: i64 = 200 * 4 + 5000 * 4 + 16 * 1024 + 2048 * 4;

/// The rest of a replay page (see `page`), cut by a running sum of the rows' sizes.
/// Binds: user, after, live only, max rows, max bytes, whether the first row may exceed them.
/// `$n` placeholders are PostgreSQL's; SQLite reads each as a named parameter, numbered in
/// order of appearance, which is the same order.
static REPLAY_PAGE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM (SELECT *, {STORED_BYTES_SQL} AS bytes, SUM({STORED_BYTES_SQL}) \
         OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) AS running \
         FROM notifications WHERE user_id = $1 AND id > $2 AND (realtime OR NOT $3) ORDER BY id LIMIT $4) AS page \
         WHERE running <= $5 OR ($6 AND running = bytes) ORDER BY id"
    )
});

impl Db {
    /// A replay page of the user's notifications with id above `after`, oldest first: at most
    /// `max_rows` rows and, past the first, `max_bytes` of stored text; and whether more may
    /// follow. `live_only` leaves out those the user asked not to have pushed.
    pub async fn since(
        &self,
        user: UserId,
        after: i64,
        max_rows: i64,
        max_bytes: i64,
        live_only: bool,
    ) -> Result<(Vec<StoredNotification>, bool), DbError> {
        self.run(move |conn| Ok(page(conn, user, after, max_rows, max_bytes, live_only)?)).await
    }
}

/// The next replay page of the user's notifications with id above `after`, oldest first: at
/// most `max_rows` rows, and past the first row at most `max_bytes` of stored text (title,
/// message, data, link), so a page holds a bounded number of bytes whatever the rows' sizes.
/// Also says whether more rows may follow the page. `live_only` leaves out those the user asked
/// not to have pushed (for repairs of the live stream).
///
/// Most replays are a few rows: the page starts with as many rows as fit in `max_bytes`
/// whatever their size, read by a plain prepared statement. Only when those are all there is
/// the rest of the page read by a statement that cuts it with a running sum of the sizes.
fn page(
    conn: &mut DbConnection,
    user: UserId,
    after: i64,
    max_rows: i64,
    max_bytes: i64,
    live_only: bool,
) -> QueryResult<(Vec<StoredNotification>, bool)> {
    use diesel::sql_types::{BigInt, Bool};
    let safe_rows = rows_that_always_fit(max_bytes).min(max_rows);
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
    let used = rows.iter().map(stored_bytes).sum::<i64>();
    let last = rows.last().map_or(after, |r| r.id);
    let rest: Vec<StoredNotification> = diesel::sql_query(REPLAY_PAGE_SQL.as_str())
        .bind::<BigInt, _>(user.get())
        .bind::<BigInt, _>(last)
        .bind::<Bool, _>(live_only)
        .bind::<BigInt, _>(max_rows - safe_rows)
        .bind::<BigInt, _>(max_bytes - used)
        .bind::<Bool, _>(false)
        .load(conn)?;
    rows.extend(rest);
    let more = replay_may_continue(&rows, max_rows, max_bytes);
    Ok((rows, more))
}

/// Rows of any size that always fit in `max_bytes` (at least one).
fn rows_that_always_fit(max_bytes: i64) -> i64 {
    (max_bytes / MAX_STORED_ROW_BYTES).max(1)
}

/// The stored text of a row, as `STORED_BYTES_SQL` counts it.
fn stored_bytes(row: &StoredNotification) -> i64 {
    (row.title.len() + row.message.len() + row.data.len() + row.link.as_ref().map_or(0, String::len)) as i64
}

/// Whether rows may follow a replay page: it is full, or the next row might not have fitted in
/// its bytes. (A page whose text leaves room for the largest possible row was not cut by bytes.)
fn replay_may_continue(rows: &[StoredNotification], max_rows: i64, max_bytes: i64) -> bool {
    rows.len() as i64 >= max_rows || rows.iter().map(stored_bytes).sum::<i64>() + MAX_STORED_ROW_BYTES > max_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;
    use crate::db::{connection::establish, migrate::migrate};
    use diesel::connection::SimpleConnection;

    #[test]
    fn the_page_selects_the_hand_written_notification_columns() {
        assert!(REPLAY_PAGE_SQL.starts_with(&format!("SELECT {NOTIFICATION_COLUMNS} FROM")));
        assert_eq!(REPLAY_PAGE_SQL.matches(STORED_BYTES_SQL).count(), 2, "bytes and their running sum");
    }

    #[test]
    fn a_replay_page_is_cut_by_its_bytes_in_the_database_and_never_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::Sqlite(dir.path().join("herald.db"));
        migrate(&url).expect("migrate");
        let mut conn = establish(&url, None).expect("sqlite");
        // Ten rows of 1,000 bytes of message for user 7 (and the first one also realtime=false).
        for i in 0..10 {
            let sql = format!(
                "INSERT INTO notifications (user_id, notification_type, title, message, data, realtime, created_at) \
                 VALUES (7, 'general', 't', '{}', '{{}}', {}, '2026-01-01 00:00:00')",
                "m".repeat(999),
                i != 0
            );
            conn.batch_execute(&sql).expect("insert");
        }
        // Each row stores 1 + 999 + 2 = 1,002 bytes: 3,100 bytes hold three rows.
        let user = UserId::new(7).expect("id");
        let (rows, more) = page(&mut conn, user, 0, 500, 3100, false).expect("page");
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(more, "cut by bytes");
        let (rows, _) = page(&mut conn, user, 0, 500, 10, false).expect("page");
        assert_eq!(rows.len(), 1, "one row even when it alone exceeds the budget");
        let (rows, more) = page(&mut conn, user, 0, 4, 1_000_000, true).expect("page");
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 3, 4, 5], "live only, at most 4 rows");
        assert!(more, "a full page");
        let (rows, more) = page(&mut conn, user, 8, 500, 1_000_000, false).expect("page");
        assert_eq!((rows.len(), more), (2, false), "the end: the rest fits with room for any row");
    }
}
