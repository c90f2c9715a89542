//! The database: a pool of connections to PostgreSQL or SQLite, chosen by URL, and the only
//! place SQL runs. Diesel is blocking, so every use goes through `Db::run`, which runs the closure
//! on the blocking thread pool and bounds the whole wait (a connection, the statement, its
//! answer: `DbTimeouts::bound`), mapping pool exhaustion, a dead server or a hung one to
//! `DbError::Unavailable` (503 at the edges). A connection that may hold state it should not (an open or
//! failed transaction, a panic, an answer nobody waited for) is retired, never reused.
//!
//! Callers outside `db` see only typed, `async` methods on `Db`, split by concern:
//! `notifications` (create, group-commit create, broadcast, read state, delete, list, counts),
//! `position` (inbox and stream positions, replay pages), `preferences`, `idempotency` (key
//! expiry) and `prune` (retention batches). Each goes through `Db::run` or `Db::run_until`
//! and picks the backend's compiled query there; no backend or connection leaves this module
//! through them.

/// Calls `queries::$function` for the backend of `$conn`: `dispatch!(conn, create(&new))`.
/// Private to `db`: the facade methods are its only users.
macro_rules! dispatch {
    ($conn:expr, $function:ident($($arg:expr),* $(,)?)) => {
        match $conn {
            $crate::db::DbConnection::Pg(c) => $crate::db::pg::$function(c $(, $arg)*),
            $crate::db::DbConnection::Sqlite(c) => $crate::db::sqlite::$function(c $(, $arg)*),
        }
    };
}

/// Runs the same Diesel code against whichever backend the connection is, typed per backend.
/// The body is compiled once per backend, so any query the DSL accepts for both works.
macro_rules! each_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// The columns of `notifications` as hand-written SQL names them (a `RETURNING` or `SELECT`
/// list loaded into `StoredNotification`), in `StoredNotification` order. A unit test checks it equals
/// Diesel's `notifications::all_columns` (which `StoredNotification` is loaded from by position,
/// type-checked), so a new column cannot be forgotten here.
macro_rules! notification_columns {
    () => {
        "id, user_id, sender_id, notification_type, title, message, data, link, is_read, realtime, read_at, created_at"
    };
}

/// The queries shared by both backends, one file per concern under `queries/`, compiled into
/// the backend module that expands this (`pg`, `sqlite`) against its own `Conn`: Diesel types
/// every query by its backend, so the same text is compiled twice. Private: only the facade
/// methods on `Db` (through `dispatch!`) call them.
macro_rules! shared_queries {
    () => {
        use super::models::{IdempotencyRow, NotificationInsert, PreferenceRow};
        use super::schema::{
            idempotency_keys as keys, inbox_state as state, notification_preferences as prefs, notifications as n,
        };
        use super::{DbError, Transactions};
        use crate::domain::{
            BroadcastOutcome, Change, CreateOutcome, IdempotencyKey, Idempotent, InboxPosition, ListQuery,
            NewNotification, NotificationContent, NotificationId, NotificationType, Page, Preference, Preferences,
            PreferencesPatch, RenderReply, StoredNotification, StoredReply, UserId,
        };
        use diesel::prelude::*;

        include!("queries/notifications.rs");
        include!("queries/position.rs");
        include!("queries/preferences.rs");
        include!("queries/idempotency.rs");
        include!("queries/prune.rs");
    };
}

mod connect;
mod error;
mod idempotency;
pub mod models;
mod notifications;
mod pg;
mod position;
mod preferences;
mod prune;
pub mod schema;
mod sqlite;
mod writer;

pub use connect::DbTimeouts;
pub use writer::WriterConnection;

/// A stored broadcast chunk: the locked `(user_id, last_seq)` and the inserted rows.
type StoredChunk = (Vec<(i64, i64)>, Vec<StoredNotification>);

use crate::config::DatabaseUrl;
use crate::domain::StoredNotification;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
pub use error::DbError;
use std::cell::Cell;
use std::time::{Duration, Instant};

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Serializes migrations of several nodes starting at once against one PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x4845_5241_4c44; // "HERALD"

/// A live connection to either backend.
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// The two kinds of transaction Herald runs, per backend.
pub trait Transactions: Connection {
    /// Serializes writers: PostgreSQL relies on row locks taken inside; SQLite takes the
    /// database write lock up front (`BEGIN IMMEDIATE`) so it never upgrades late.
    /// It rolls back instead of committing when the caller of this thread's `Db::run` has
    /// stopped waiting (it was answered 503), so that write does not happen behind its back.
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error> + From<CallerGaveUp>;

    /// Several reads that must agree with each other (one snapshot).
    fn read_snapshot<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>;
}

impl Transactions for PgConnection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error> + From<CallerGaveUp>,
    {
        self.transaction(|c| unless_caller_gave_up(f(c)))
    }

    fn read_snapshot<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.build_transaction().repeatable_read().read_only().run(f)
    }
}

impl Transactions for SqliteConnection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error> + From<CallerGaveUp>,
    {
        self.immediate_transaction(|c| unless_caller_gave_up(f(c)))
    }

    fn read_snapshot<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        // In WAL mode a deferred transaction reads one snapshot from its first read on.
        self.transaction(f)
    }
}

/// A write was rolled back instead of committed: its caller had stopped waiting.
#[derive(Debug, Clone, Copy)]
pub struct CallerGaveUp;

impl From<CallerGaveUp> for DbError {
    fn from(_: CallerGaveUp) -> Self {
        DbError::unavailable("the caller stopped waiting: rolled back instead of committing")
    }
}

thread_local! {
    /// When the caller of the `Db::run` running on this thread stops waiting (`None` outside one).
    static CALLER_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Sets this thread's `CALLER_DEADLINE` while it lives (cleared on drop, a panic included).
struct CallerDeadline;

impl CallerDeadline {
    fn set(deadline: Instant) -> CallerDeadline {
        CALLER_DEADLINE.set(Some(deadline));
        CallerDeadline
    }
}

impl Drop for CallerDeadline {
    fn drop(&mut self) {
        CALLER_DEADLINE.set(None);
    }
}

/// A write transaction's outcome, checked just before its commit: once the caller has stopped
/// waiting, an error instead, so the transaction rolls back. (A commit already sent when the
/// database hung can still land: that 503's outcome is unknown.)
fn unless_caller_gave_up<T, E: From<CallerGaveUp>>(result: Result<T, E>) -> Result<T, E> {
    match CALLER_DEADLINE.get() {
        Some(deadline) if result.is_ok() && Instant::now() >= deadline => Err(CallerGaveUp.into()),
        _ => result,
    }
}

/// A pooled connection; `broken` retires it after an error that may have left it unusable,
/// or while a closure runs on it (so a panic retires it).
pub struct PooledConnection {
    conn: DbConnection,
    broken: bool,
}

#[derive(Debug)]
pub struct ConnectError(String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// Opens connections by URL scheme, and says why when it cannot (r2d2's default hides it).
struct ConnectionManager {
    url: DatabaseUrl,
    timeouts: DbTimeouts,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = PooledConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<PooledConnection, ConnectError> {
        let conn = establish(&self.url, Some(&self.timeouts))?;
        Ok(PooledConnection { conn, broken: false })
    }

    fn is_valid(&self, conn: &mut PooledConnection) -> Result<(), ConnectError> {
        each_backend!(&mut conn.conn, c => c.batch_execute("SELECT 1")).map_err(|e| ConnectError(e.to_string()))
    }

    /// As Diesel's own r2d2 manager: also broken while the thread panics, and while Diesel's
    /// transaction manager holds a transaction open or failed.
    fn has_broken(&self, conn: &mut PooledConnection) -> bool {
        conn.broken || std::thread::panicking() || transaction_left_open(&mut conn.conn)
    }
}

/// Diesel's transaction manager holds a transaction open or failed on the connection.
fn transaction_left_open(conn: &mut DbConnection) -> bool {
    each_backend!(conn, c => diesel::r2d2::R2D2Connection::is_broken(c))
}

/// Opens one connection, with SQLite's pragmas set. A PostgreSQL connection for the pool
/// (`timeouts` given) gets the session bounds and keepalives; one without (migrations) only the
/// connect timeout.
pub fn establish(url: &DatabaseUrl, timeouts: Option<&DbTimeouts>) -> Result<DbConnection, ConnectError> {
    match url {
        DatabaseUrl::Postgres(raw) => {
            let url = match timeouts {
                Some(timeouts) => connect::pooled_pg_url(raw, timeouts),
                None => connect::migration_pg_url(raw),
            };
            PgConnection::establish(&url).map(DbConnection::Pg).map_err(|e| ConnectError(format!("PostgreSQL: {e}")))
        }
        DatabaseUrl::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                .map_err(|e| ConnectError(format!("SQLite {}: {e}", path.display())))?;
            // The busy timeout first: `journal_mode` needs a lock, and without it a connection
            // opened while another writes failed at once ("database is locked").
            conn.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| ConnectError(format!("SQLite pragmas: {e}")))?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// Runs every pending migration of the URL's backend; returns how many ran.
pub fn migrate(url: &DatabaseUrl) -> Result<usize, String> {
    let mut conn = establish(url, None).map_err(|e| e.to_string())?;
    match &mut conn {
        DbConnection::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).map_err(|e| e.to_string())?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()).map_err(|e| e.to_string());
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            result
        }
        DbConnection::Sqlite(c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()).map_err(|e| e.to_string())
        }
    }
}

/// The node's handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager>,
    /// What the pool connects to; writer threads open their own connections to it too.
    url: DatabaseUrl,
    timeouts: DbTimeouts,
    /// Observes each wait for a pooled connection, when metrics are on.
    pool_wait: Option<prometheus::Histogram>,
}

impl Db {
    /// Builds the pool without connecting: a node starts even when the database is down and
    /// answers 503 until it is back.
    pub fn new(url: &DatabaseUrl, max_size: u32, timeouts: DbTimeouts) -> Db {
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .connection_timeout(timeouts.pool_wait)
            .test_on_check_out(false)
            .error_handler(Box::new(LogPoolErrors))
            .build_unchecked(ConnectionManager { url: url.clone(), timeouts });
        Db { pool, url: url.clone(), timeouts, pool_wait: None }
    }

    /// Records pool waits in `histogram`.
    pub fn with_pool_wait_metric(mut self, histogram: prometheus::Histogram) -> Db {
        self.pool_wait = Some(histogram);
        self
    }

    /// The longest `run` waits before answering 503 (`DbTimeouts::bound`).
    pub fn bound(&self) -> Duration {
        self.timeouts.bound()
    }

    /// Runs `work` with a pooled connection on the blocking thread pool, and waits for it at
    /// most `bound()`. On a hung server the blocking thread stays until the server answers or
    /// the connection fails (keepalives, `tcp_user_timeout`); the caller does not wait for it,
    /// and the connection is retired when it comes back. Such threads are at most the pool's
    /// size: every other call waits only for a connection, up to the pool wait.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.run_until(Instant::now() + self.bound(), work).await
    }

    /// `run` for a caller that stops waiting at `deadline` (never later than `bound()` from now):
    /// past it, 503, and a write transaction still open then rolls back instead of committing.
    pub async fn run_until<T, F>(&self, deadline: Instant, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let deadline = deadline.min(Instant::now() + self.bound());
        let (pool, pool_wait) = (self.pool.clone(), self.pool_wait.clone());
        let blocking = actix_web::web::block(move || run_blocking(&pool, pool_wait.as_ref(), deadline, work));
        match tokio::time::timeout_at(deadline.into(), blocking).await {
            Ok(joined) => joined.map_err(|e| DbError::Failed {
                reason: "the blocking task failed",
                source: Some(error::cause(e.to_string())),
            })?,
            Err(_) => Err(DbError::unavailable("no answer from the database in time")),
        }
    }

    /// Answers when the database does (readiness).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| Ok(each_backend!(conn, c => c.batch_execute("SELECT 1"))?)).await
    }

    /// Connections in use and idle, for metrics and readiness.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections - state.idle_connections, state.idle_connections)
    }
}

/// `Db::run`'s blocking half. Work whose caller has already given up (`deadline` passed while
/// waiting for a thread or a connection) is not started.
fn run_blocking<T, F>(
    pool: &r2d2::Pool<ConnectionManager>,
    pool_wait: Option<&prometheus::Histogram>,
    deadline: Instant,
    work: F,
) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError>,
{
    let gave_up = || DbError::unavailable("the caller gave up before a connection was free");
    if Instant::now() >= deadline {
        return Err(gave_up());
    }
    let timer = pool_wait.map(|h| h.start_timer());
    let mut pooled = pool.get()?;
    drop(timer);
    if Instant::now() >= deadline {
        return Err(gave_up());
    }
    // Broken until `work` returns: a panic inside it retires the connection, whatever the
    // panic left open on it.
    pooled.broken = true;
    let result = {
        let _deadline = CallerDeadline::set(deadline);
        work(&mut pooled.conn)
    };
    // An answer after the caller gave up came from a connection that hung: retire it.
    pooled.broken = Instant::now() >= deadline;
    let (result, retire) = settle(&mut pooled.conn, result);
    pooled.broken |= retire;
    result
}

/// The result, told apart: a server gone mid-request (503, nothing was committed) from a bug
/// (500); and whether the connection must be retired (after any error).
fn settle<T>(conn: &mut DbConnection, result: Result<T, DbError>) -> (Result<T, DbError>, bool) {
    match result {
        Err(failed @ DbError::Failed { .. }) => {
            let alive = each_backend!(conn, c => c.batch_execute("SELECT 1")).is_ok();
            (Err(if alive { failed } else { failed.into_unavailable() }), true)
        }
        Err(unavailable @ DbError::Unavailable { .. }) => (Err(unavailable), true),
        result => (result, false),
    }
}

#[derive(Debug)]
struct LogPoolErrors;

impl r2d2::HandleError<ConnectError> for LogPoolErrors {
    fn handle_error(&self, error: ConnectError) {
        log::warn!("database connection failed: {error}");
    }
}

/// The stream positions a group-commit batch took, handed out to its stored rows: each user's
/// new positions are the last ones up to its `last_seq` after the batch, in row (id) order.
struct NewPositions(std::collections::HashMap<i64, i64>);

impl NewPositions {
    /// From each user's `(user_id, last_seq after the batch, positions the batch took)`.
    fn after(taken: impl IntoIterator<Item = (i64, i64, i64)>) -> NewPositions {
        NewPositions(taken.into_iter().map(|(user, last_seq, advanced)| (user, last_seq - advanced + 1)).collect())
    }

    /// The position of the next stored row, when it is pushed live (`realtime`).
    fn take(&mut self, row: &StoredNotification) -> Option<i64> {
        row.realtime.then(|| {
            let slot = self.0.entry(row.user_id).or_insert(0);
            *slot += 1;
            *slot - 1
        })
    }
}

/// Stored text of a notification row (title, message, data, link), as a replay page counts it.
macro_rules! stored_bytes_sql {
    () => {
        "(octet_length(title) + octet_length(message) + octet_length(data) + coalesce(octet_length(link), 0))"
    };
}

/// The most stored text one row can hold: title 200 and message 5,000 characters (4 bytes at
/// most each), data 16 KiB, link 2,048 characters.
const MAX_STORED_ROW_BYTES: i64 = 200 * 4 + 5000 * 4 + 16 * 1024 + 2048 * 4;

/// The rest of a replay page (see `queries::since`), cut by a running sum of the rows' sizes.
/// Binds: user, after, live only, max rows, max bytes, whether the first row may exceed them.
/// `$n` placeholders are PostgreSQL's; SQLite reads each as a named parameter, numbered in
/// order of appearance, which is the same order.
const REPLAY_PAGE_SQL: &str = concat!(
    "SELECT ",
    notification_columns!(),
    " FROM (SELECT *, ",
    stored_bytes_sql!(),
    " AS bytes, SUM(",
    stored_bytes_sql!(),
    ") OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) AS running ",
    "FROM notifications WHERE user_id = $1 AND id > $2 AND (realtime OR NOT $3) ORDER BY id LIMIT $4) AS page ",
    "WHERE running <= $5 OR ($6 AND running = bytes) ORDER BY id"
);

/// Rows of any size that always fit in `max_bytes` (at least one).
fn rows_that_always_fit(max_bytes: i64) -> i64 {
    (max_bytes / MAX_STORED_ROW_BYTES).max(1)
}

/// The stored text of a row, as `stored_bytes_sql!` counts it.
fn stored_bytes(row: &StoredNotification) -> i64 {
    (row.title.len() + row.message.len() + row.data.len() + row.link.as_ref().map_or(0, String::len)) as i64
}

/// Whether rows may follow a replay page: it is full, or the next row might not have fitted in
/// its bytes. (A page whose text leaves room for the largest possible row was not cut by bytes.)
fn replay_may_continue(rows: &[StoredNotification], max_rows: i64, max_bytes: i64) -> bool {
    rows.len() as i64 >= max_rows || rows.iter().map(stored_bytes).sum::<i64>() + MAX_STORED_ROW_BYTES > max_bytes
}

/// The current time as stored: UTC, truncated to microseconds (PostgreSQL's precision), so the
/// value returned at creation equals the value read back later.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::{AnsiTransactionManager, TransactionManager};

    /// One connection, so a connection that is not retired is the one handed out next.
    fn single_connection(dir: &tempfile::TempDir, pool_wait: Duration) -> Db {
        let timeouts = DbTimeouts {
            pool_wait,
            statement: Duration::from_millis(100),
            lock: Duration::from_millis(100),
            idle_in_transaction: Duration::from_secs(1),
            keepalive: Duration::from_secs(1),
        };
        Db::new(&DatabaseUrl::Sqlite(dir.path().join("herald.db")), 1, timeouts)
    }

    fn sqlite(conn: &mut DbConnection) -> &mut SqliteConnection {
        match conn {
            DbConnection::Sqlite(c) => c,
            DbConnection::Pg(_) => unreachable!("these tests use SQLite"),
        }
    }

    /// Marks the connection: a temporary table lives as long as its connection.
    async fn mark(db: &Db) {
        db.run(|conn| Ok(sqlite(conn).batch_execute("CREATE TEMP TABLE marker (x INTEGER)")?)).await.expect("mark");
    }

    /// Whether the next connection handed out is the marked one, and whether it is inside a
    /// transaction (then `BEGIN` fails).
    async fn next_connection(db: &Db) -> Result<(bool, bool), DbError> {
        db.run(|conn| {
            let c = sqlite(conn);
            let marked = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "EXISTS (SELECT 1 FROM sqlite_temp_master WHERE name = 'marker')",
            ))
            .get_result::<bool>(c)?;
            let in_transaction = c.batch_execute("BEGIN; ROLLBACK").is_err();
            Ok((marked, in_transaction))
        })
        .await
    }

    #[actix_web::test]
    async fn a_clean_connection_is_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = single_connection(&dir, Duration::from_secs(1));
        mark(&db).await;
        assert_eq!(next_connection(&db).await.expect("run"), (true, false));
    }

    #[actix_web::test]
    async fn a_connection_a_panic_left_in_a_transaction_is_retired() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = single_connection(&dir, Duration::from_secs(1));
        mark(&db).await;
        let panicked = db
            .run(|conn| -> Result<(), DbError> {
                AnsiTransactionManager::begin_transaction(sqlite(conn))?;
                panic!("a bug inside a transaction");
            })
            .await;
        assert!(matches!(panicked, Err(DbError::Failed { .. })), "{panicked:?}");
        assert_eq!(next_connection(&db).await.expect("run"), (false, false), "a fresh connection, no transaction");
    }

    #[actix_web::test]
    async fn a_connection_a_panic_left_outside_a_transaction_is_retired() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = single_connection(&dir, Duration::from_secs(1));
        mark(&db).await;
        let panicked = db.run(|_| -> Result<(), DbError> { panic!("a bug") }).await;
        assert!(matches!(panicked, Err(DbError::Failed { .. })), "{panicked:?}");
        assert_eq!(next_connection(&db).await.expect("run"), (false, false));
    }

    #[actix_web::test]
    async fn a_connection_returned_with_its_transaction_open_is_retired() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = single_connection(&dir, Duration::from_secs(1));
        mark(&db).await;
        db.run(|conn| Ok(AnsiTransactionManager::begin_transaction(sqlite(conn))?)).await.expect("begin");
        assert_eq!(next_connection(&db).await.expect("run"), (false, false));
    }

    /// Rows in the test table `t` (made on first use).
    async fn rows(db: &Db) -> Result<i64, DbError> {
        db.run(|conn| {
            let c = sqlite(conn);
            c.batch_execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")?;
            Ok(diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM t)"))
                .get_result(c)?)
        })
        .await
    }

    /// Inserts a row into `t` in a write transaction that takes `slow` before committing.
    async fn slow_insert(db: &Db, slow: Duration) -> Result<(), DbError> {
        db.run(move |conn| {
            sqlite(conn).write_transaction(|c| {
                c.batch_execute("INSERT INTO t VALUES (1)")?;
                std::thread::sleep(slow);
                Ok(())
            })
        })
        .await
    }

    #[actix_web::test]
    async fn a_write_whose_caller_stopped_waiting_rolls_back_instead_of_committing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = single_connection(&dir, Duration::from_secs(1));
        assert_eq!(rows(&db).await.expect("rows"), 0);
        slow_insert(&db, Duration::ZERO).await.expect("a prompt write commits");
        assert_eq!(rows(&db).await.expect("rows"), 1);

        let slow = db.bound() + Duration::from_millis(500);
        let answer = slow_insert(&db, slow).await;
        assert!(matches!(answer, Err(DbError::Unavailable { .. })), "{answer:?}");
        let deadline = Instant::now() + slow + Duration::from_secs(5);
        let after = loop {
            match rows(&db).await {
                Err(DbError::Unavailable { .. }) if Instant::now() < deadline => continue,
                other => break other.expect("rows once the slow write returned"),
            }
        };
        assert_eq!(after, 1, "the write answered 503 was rolled back");
    }

    #[actix_web::test]
    async fn a_caller_stops_waiting_at_the_bound_and_the_late_connection_is_retired() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = single_connection(&dir, Duration::from_secs(1));
        mark(&db).await;
        let hang = db.bound() + Duration::from_millis(1500);
        let started = Instant::now();
        let hung = db
            .run(move |_| {
                std::thread::sleep(hang);
                Ok(())
            })
            .await;
        let waited = started.elapsed();
        assert!(matches!(hung, Err(DbError::Unavailable { .. })), "{hung:?}");
        assert!(waited >= db.bound() && waited < hang, "waited {waited:?} for a bound of {:?}", db.bound());
        // Until the hung closure returns, its connection is taken (503 after the pool wait).
        let deadline = Instant::now() + hang + Duration::from_secs(5);
        let next = loop {
            match next_connection(&db).await {
                Err(DbError::Unavailable { .. }) if Instant::now() < deadline => continue,
                other => break other.expect("a connection once the hung closure returned"),
            }
        };
        assert_eq!(next, (false, false), "the connection that answered late was retired");
    }

    /// The column names a query selects, as Diesel renders it for PostgreSQL.
    fn selected_columns(sql: &str) -> Vec<String> {
        let list = sql.strip_prefix("SELECT ").and_then(|rest| rest.split(" FROM ").next()).expect("a SELECT");
        list.split(", ").map(|c| c.rsplit('.').next().unwrap_or(c).trim_matches('"').to_owned()).collect()
    }

    /// The hand-written column list (the PostgreSQL broadcast insert's `RETURNING`, the replay
    /// page's `SELECT`) is exactly the table's columns, in order: a new column in the schema fails
    /// here instead of at run time. (`StoredNotification` is loaded from `all_columns` by
    /// position, so Diesel checks its fields against the same list when it compiles.)
    #[test]
    fn the_hand_written_notification_columns_are_the_schemas() {
        use schema::notifications as n;
        let hand_written: Vec<String> = notification_columns!().split(", ").map(str::to_owned).collect();
        let all_columns = diesel::debug_query::<diesel::pg::Pg, _>(&n::table.select(n::all_columns)).to_string();
        assert_eq!(selected_columns(&all_columns), hand_written, "notifications::all_columns");
        assert!(REPLAY_PAGE_SQL.starts_with(concat!("SELECT ", notification_columns!(), " FROM")));
    }

    #[test]
    fn a_replay_page_is_cut_by_its_bytes_in_the_database_and_never_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::Sqlite(dir.path().join("herald.db"));
        migrate(&url).expect("migrate");
        let Ok(DbConnection::Sqlite(mut conn)) = establish(&url, None) else { panic!("sqlite") };
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
        let user = crate::domain::UserId::new(7).expect("id");
        let (page, more) = sqlite::since(&mut conn, user, 0, 500, 3100, false).expect("page");
        assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(more, "cut by bytes");
        let (page, _) = sqlite::since(&mut conn, user, 0, 500, 10, false).expect("page");
        assert_eq!(page.len(), 1, "one row even when it alone exceeds the budget");
        let (page, more) = sqlite::since(&mut conn, user, 0, 4, 1_000_000, true).expect("page");
        assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 3, 4, 5], "live only, at most 4 rows");
        assert!(more, "a full page");
        let (page, more) = sqlite::since(&mut conn, user, 8, 500, 1_000_000, false).expect("page");
        assert_eq!((page.len(), more), (2, false), "the end: the rest fits with room for any row");
    }
}
