//! Reading the original Django system's tables (`herald import-django`): its notifications in
//! id order, their read states, its preferences, and per-user figures of a notification table
//! (the source's or Herald's own, for `--verify`). Everything is read as plain values (ids as
//! integers, flags as 0/1, timestamps as UTC text, `data` as text), so one row type serves
//! PostgreSQL and SQLite sources alike. Table names come from the operator: `quote_table`
//! refuses anything but plain identifiers, and every value is a bound parameter.

use super::connection::{ConnectError, DbConnection};
use crate::config::DatabaseUrl;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

/// One notification of the source, as read.
#[derive(Debug, Clone, QueryableByName)]
pub struct DjangoNotification {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub sender_id: Option<i64>,
    #[diesel(sql_type = Text)]
    pub notification_type: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub message: String,
    #[diesel(sql_type = Text)]
    pub data: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub link: Option<String>,
    /// 1 when read.
    #[diesel(sql_type = BigInt)]
    pub is_read: i64,
    /// UTC, `YYYY-MM-DDTHH:MM:SS.ffffff` (PostgreSQL) or as Django wrote it (SQLite).
    #[diesel(sql_type = Nullable<Text>)]
    pub read_at: Option<String>,
    #[diesel(sql_type = Text)]
    pub created_at: String,
}

/// A notification's read state, as the source holds it.
#[derive(Debug, Clone, QueryableByName)]
pub struct DjangoReadState {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub is_read: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub read_at: Option<String>,
}

/// One stored preference of the source.
#[derive(Debug, Clone, QueryableByName)]
pub struct DjangoPreference {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub notification_type: String,
    #[diesel(sql_type = BigInt)]
    pub enabled: i64,
    #[diesel(sql_type = BigInt)]
    pub realtime: i64,
}

/// What `--verify` compares per user: how many notifications, how many unread, the newest id,
/// and two checksums (the sum of the ids, and of the read ones' ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct UserFigures {
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub unread: i64,
    #[diesel(sql_type = BigInt)]
    pub max_id: i64,
    #[diesel(sql_type = BigInt)]
    pub id_sum: i64,
    #[diesel(sql_type = BigInt)]
    pub read_id_sum: i64,
}

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = BigInt)]
    max_id: i64,
}

/// A table name as SQL: `name` or `schema.name`, each part `[A-Za-z_][A-Za-z0-9_]*`, quoted;
/// `None` for anything else.
pub fn quote_table(raw: &str) -> Option<String> {
    let plain = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && part.len() <= 63
    };
    let parts: Vec<&str> = raw.split('.').collect();
    (parts.len() <= 2 && parts.iter().all(|p| plain(p)))
        .then(|| parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join("."))
}

/// Opens the source: PostgreSQL rendering timestamps in UTC (each statement its own snapshot:
/// no long transaction is held on the original's database), or the SQLite file read-only (its
/// journal mode and contents untouched).
pub fn open_source(url: &DatabaseUrl) -> Result<DbConnection, ConnectError> {
    match url {
        DatabaseUrl::Postgres(raw) => {
            let mut conn =
                PgConnection::establish(&super::timeouts::migration_pg_url(raw)).map_err(ConnectError::Postgres)?;
            conn.batch_execute("SET TIME ZONE 'UTC'").map_err(ConnectError::Check)?;
            Ok(DbConnection::Pg(conn))
        }
        DatabaseUrl::Sqlite(path) => {
            let escaped = path.to_string_lossy().replace('%', "%25").replace('?', "%3f").replace('#', "%23");
            let mut conn = SqliteConnection::establish(&format!("file:{escaped}?mode=ro"))
                .map_err(|source| ConnectError::Sqlite { path: path.clone(), source })?;
            conn.batch_execute("PRAGMA busy_timeout = 10000;").map_err(ConnectError::SqlitePragmas)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// A timestamp column as UTC text.
fn stamp(conn: &DbConnection, column: &str) -> String {
    match conn {
        DbConnection::Pg(_) => format!("to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"),
        DbConnection::Sqlite(_) => format!("CAST({column} AS TEXT)"),
    }
}

/// `WHERE id > $1 … LIMIT $2` placeholders of the backend.
fn binds(conn: &DbConnection) -> (&'static str, &'static str, &'static str) {
    match conn {
        DbConnection::Pg(_) => ("$1", "$2", "$3"),
        DbConnection::Sqlite(_) => ("?1", "?2", "?3"),
    }
}

/// Up to `limit` notifications with ids above `after`, in id order.
pub fn notifications_after(
    conn: &mut DbConnection,
    table: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<DjangoNotification>> {
    let (a, l, _) = binds(conn);
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, CAST(user_id AS BIGINT) AS user_id, \
         CAST(sender_id AS BIGINT) AS sender_id, CAST(notification_type AS TEXT) AS notification_type, \
         CAST(title AS TEXT) AS title, CAST(message AS TEXT) AS message, CAST(data AS TEXT) AS data, \
         CAST(link AS TEXT) AS link, CAST(CASE WHEN is_read THEN 1 ELSE 0 END AS BIGINT) AS is_read, \
         {} AS read_at, {} AS created_at FROM {table} WHERE id > {a} ORDER BY id LIMIT {l}",
        stamp(conn, "read_at"),
        stamp(conn, "created_at"),
    );
    load(conn, diesel::sql_query(sql).bind::<BigInt, _>(after).bind::<BigInt, _>(limit))
}

/// The read states of up to `limit` notifications with ids in `(after, up_to]`, in id order.
pub fn read_states(
    conn: &mut DbConnection,
    table: &str,
    (after, up_to): (i64, i64),
    limit: i64,
) -> QueryResult<Vec<DjangoReadState>> {
    let (a, u, l) = binds(conn);
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, CAST(CASE WHEN is_read THEN 1 ELSE 0 END AS BIGINT) AS is_read, \
         {} AS read_at FROM {table} WHERE id > {a} AND id <= {u} ORDER BY id LIMIT {l}",
        stamp(conn, "read_at"),
    );
    let query = diesel::sql_query(sql).bind::<BigInt, _>(after).bind::<BigInt, _>(up_to).bind::<BigInt, _>(limit);
    load(conn, query)
}

/// Up to `limit` preferences with ids above `after`, in id order.
pub fn preferences_after(
    conn: &mut DbConnection,
    table: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<DjangoPreference>> {
    let (a, l, _) = binds(conn);
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, CAST(user_id AS BIGINT) AS user_id, \
         CAST(notification_type AS TEXT) AS notification_type, \
         CAST(CASE WHEN enabled THEN 1 ELSE 0 END AS BIGINT) AS enabled, \
         CAST(CASE WHEN realtime THEN 1 ELSE 0 END AS BIGINT) AS realtime \
         FROM {table} WHERE id > {a} ORDER BY id LIMIT {l}"
    );
    load(conn, diesel::sql_query(sql).bind::<BigInt, _>(after).bind::<BigInt, _>(limit))
}

/// How many notifications have ids above `after`, and the largest id of the table (0 when
/// empty).
pub fn span_after(conn: &mut DbConnection, table: &str, after: i64) -> QueryResult<(i64, i64)> {
    let (a, _, _) = binds(conn);
    let sql = format!(
        "SELECT CAST(count(*) AS BIGINT) AS rows, \
         CAST(COALESCE((SELECT max(id) FROM {table}), 0) AS BIGINT) AS max_id FROM {table} WHERE id > {a}"
    );
    let span: Vec<Span> = load(conn, diesel::sql_query(sql).bind::<BigInt, _>(after))?;
    Ok(span.first().map_or((0, 0), |s| (s.rows, s.max_id)))
}

/// Per-user figures of a notification table (the source's, or Herald's `notifications`), users
/// with ids of at least 1, ascending.
pub fn user_figures(conn: &mut DbConnection, table: &str) -> QueryResult<Vec<UserFigures>> {
    let sql = format!(
        "SELECT CAST(user_id AS BIGINT) AS user_id, CAST(count(*) AS BIGINT) AS total, \
         CAST(COALESCE(sum(CASE WHEN is_read THEN 0 ELSE 1 END), 0) AS BIGINT) AS unread, \
         CAST(max(id) AS BIGINT) AS max_id, CAST(sum(id) AS BIGINT) AS id_sum, \
         CAST(COALESCE(sum(CASE WHEN is_read THEN id ELSE 0 END), 0) AS BIGINT) AS read_id_sum \
         FROM {table} WHERE user_id >= 1 GROUP BY user_id ORDER BY user_id"
    );
    load(conn, diesel::sql_query(sql))
}

/// Runs a query built for either backend on the connection's own.
fn load<Q, T>(conn: &mut DbConnection, query: Q) -> QueryResult<Vec<T>>
where
    Q: RunQueryDsl<PgConnection> + RunQueryDsl<SqliteConnection>,
    Q: diesel::query_dsl::LoadQuery<'static, PgConnection, T>
        + diesel::query_dsl::LoadQuery<'static, SqliteConnection, T>,
{
    match conn {
        DbConnection::Pg(c) => RunQueryDsl::<PgConnection>::load(query, c),
        DbConnection::Sqlite(c) => RunQueryDsl::<SqliteConnection>::load(query, c),
    }
}

#[cfg(test)]
mod tests {
    use super::quote_table;

    #[test]
    fn only_plain_table_names_are_quoted_and_anything_else_refused() {
        assert_eq!(quote_table("authentication_notification").as_deref(), Some("\"authentication_notification\""));
        assert_eq!(quote_table("public.notes").as_deref(), Some("\"public\".\"notes\""));
        for bad in ["", "a;drop", "a\"b", "1abc", "a.b.c", "a b", "a.", ".a"] {
            assert_eq!(quote_table(bad), None, "{bad:?}");
        }
    }
}
