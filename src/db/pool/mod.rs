//! The node's handle on the database (`Db`): a pool of connections, and `Db::run`, the one way
//! work reaches a pooled connection. Diesel is blocking, so `run` runs the work on the blocking
//! thread pool and bounds the whole wait (a connection, the statement, its answer:
//! `DbTimeouts::bound`), mapping pool exhaustion, a dead server or a hung one to
//! `DbError::Unavailable`. A connection that may hold state it should not (an open or failed
//! transaction, a panic, an answer nobody waited for) is retired, never reused, and one that sat
//! idle `CHECK_IDLE_AFTER` is checked before it is handed out (the server may have closed it
//! meanwhile). The queries themselves live in the modules named for their concern.

use super::connection::{answers, establish, ConnectError, ConnectionSettings, DbConnection};
use super::error::DbError;
use super::transactions::CallerDeadline;
use crate::config::DatabaseUrl;
use diesel::connection::SimpleConnection;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection idle this long is checked (`SELECT 1`) before it is used: the server may have
/// closed it meanwhile (a restart, `pg_terminate_backend`), and the first request after an
/// outage must not fail on it. Connections in steady use are never checked.
pub const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A pooled connection; `broken` retires it after an error that may have left it unusable,
/// or while a closure runs on it (so a panic retires it).
pub struct PooledConnection {
    conn: DbConnection,
    broken: bool,
    /// When work last finished on it (or it was opened).
    last_used: Instant,
}

/// Opens connections by URL scheme, and says why when it cannot (r2d2's default hides it).
struct ConnectionManager {
    url: DatabaseUrl,
    settings: ConnectionSettings,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = PooledConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<PooledConnection, ConnectError> {
        let conn = establish(&self.url, Some(&self.settings))?;
        Ok(PooledConnection { conn, broken: false, last_used: Instant::now() })
    }

    fn is_valid(&self, conn: &mut PooledConnection) -> Result<(), ConnectError> {
        answers(&mut conn.conn).map_err(ConnectError::Check)
    }

    /// As Diesel's own r2d2 manager: also broken while the thread panics, and while Diesel's
    /// transaction manager holds a transaction open or failed.
    fn has_broken(&self, conn: &mut PooledConnection) -> bool {
        conn.broken || std::thread::panicking() || transaction_left_open(&mut conn.conn)
    }
}

/// Diesel's transaction manager holds a transaction open or failed on the connection.
pub fn transaction_left_open(conn: &mut DbConnection) -> bool {
    diesel::r2d2::R2D2Connection::is_broken(conn)
}

#[derive(Debug)]
struct LogPoolErrors;

impl r2d2::HandleError<ConnectError> for LogPoolErrors {
    fn handle_error(&self, error: ConnectError) {
        log::warn!("database connection failed: {error}");
    }
}

/// The node's handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager>,
    /// What the pool connects to; writer threads open their own connections to it too.
    url: DatabaseUrl,
    settings: ConnectionSettings,
    /// Observes each wait for a pooled connection, when metrics are on.
    pool_wait: Option<prometheus::Histogram>,
}

impl Db {
    /// Builds the pool without connecting: a node starts even when the database is down and
    /// answers 503 until it is back.
    pub fn new(url: &DatabaseUrl, max_size: u32, settings: ConnectionSettings) -> Db {
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .connection_timeout(settings.timeouts.pool_wait)
            // Only connections idle `CHECK_IDLE_AFTER` are checked (`run_blocking`).
            .test_on_check_out(false)
            .error_handler(Box::new(LogPoolErrors))
            .build_unchecked(ConnectionManager { url: url.clone(), settings });
        Db { pool, url: url.clone(), settings, pool_wait: None }
    }

    /// Records pool waits in `histogram`.
    pub fn with_pool_wait_metric(mut self, histogram: prometheus::Histogram) -> Db {
        self.pool_wait = Some(histogram);
        self
    }

    /// The longest `run` waits before answering 503 (`DbTimeouts::bound`).
    pub fn bound(&self) -> Duration {
        self.settings.timeouts.bound()
    }

    /// Whether the database is SQLite (some filters are a subset there).
    pub fn is_sqlite(&self) -> bool {
        matches!(self.url, DatabaseUrl::Sqlite(_))
    }

    /// What the pool connects to, and how (a writer opens its own connection).
    pub(in crate::db) fn target(&self) -> (&DatabaseUrl, ConnectionSettings) {
        (&self.url, self.settings)
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
            Ok(joined) => {
                joined.map_err(|e| DbError::Failed { reason: "the blocking task failed", source: Some(Arc::new(e)) })?
            }
            Err(_) => Err(DbError::unavailable("no answer from the database in time")),
        }
    }

    /// Answers when the database does (readiness).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| Ok(conn.batch_execute("SELECT 1")?)).await
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
    let mut pooled = checkout(pool, deadline)?;
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
    pooled.last_used = Instant::now();
    result
}

/// A connection from the pool that answers: one idle `CHECK_IDLE_AFTER` or longer is checked
/// first, and retired if the server closed it meanwhile (then the next one is tried, each at
/// most once, until `deadline`).
fn checkout(
    pool: &r2d2::Pool<ConnectionManager>,
    deadline: Instant,
) -> Result<r2d2::PooledConnection<ConnectionManager>, DbError> {
    loop {
        let mut pooled = pool.get()?;
        if pooled.last_used.elapsed() < CHECK_IDLE_AFTER || answers(&mut pooled.conn).is_ok() {
            return Ok(pooled);
        }
        log::info!("an idle pooled database connection was closed by the server; retiring it");
        pooled.broken = true;
        drop(pooled);
        if Instant::now() >= deadline {
            return Err(DbError::unavailable("the caller gave up before a connection was free"));
        }
    }
}

/// The result, told apart: a server gone mid-request (503, nothing was committed) from a bug
/// (500); and whether the connection must be retired (after any error).
pub fn settle<T>(conn: &mut DbConnection, result: Result<T, DbError>) -> (Result<T, DbError>, bool) {
    match result {
        Err(failed @ DbError::Failed { .. }) => {
            let alive = conn.batch_execute("SELECT 1").is_ok();
            (Err(if alive { failed } else { failed.into_unavailable() }), true)
        }
        Err(unavailable @ DbError::Unavailable { .. }) => (Err(unavailable), true),
        result => (result, false),
    }
}

#[cfg(test)]
mod tests;
