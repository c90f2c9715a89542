//! The two kinds of transaction Herald runs, per backend: writes (serialized, and rolled back
//! instead of committed once their caller has stopped waiting) and read snapshots (several reads
//! that agree). Also the caller's deadline that decides it (`CallerDeadline`), set by `Db::run`
//! and by the group-commit writer for the work they run on this thread.

use super::connection::DbConnection;
use super::error::DbError;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::query_builder::{QueryBuilder, QueryFragment};
use diesel::{Connection, PgConnection, QueryResult, SqliteConnection};
use std::cell::Cell;
use std::time::Instant;

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

/// The same transactions as each backend's own, opened on the backend inside (the
/// multi-connection's `transaction` is always a plain `BEGIN`).
impl Transactions for DbConnection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error> + From<CallerGaveUp>,
    {
        match self {
            DbConnection::Pg(_) => self.transaction(|c| unless_caller_gave_up(f(c))),
            DbConnection::Sqlite(_) => begun_with(self, "BEGIN IMMEDIATE", |c| unless_caller_gave_up(f(c))),
        }
    }

    fn read_snapshot<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        match self {
            DbConnection::Pg(pg) => {
                let begin = repeatable_read_only(pg)?;
                begun_with(self, &begin, f)
            }
            DbConnection::Sqlite(_) => self.transaction(f),
        }
    }
}

/// PostgreSQL's `BEGIN` of a read-only repeatable-read transaction, as Diesel writes it.
fn repeatable_read_only(pg: &mut PgConnection) -> QueryResult<String> {
    let mut sql = diesel::pg::PgQueryBuilder::default();
    pg.build_transaction().repeatable_read().read_only().to_sql(&mut sql, &diesel::pg::Pg)?;
    Ok(sql.finish())
}

/// Runs `f` in a transaction that `begin` opens, committed on `Ok` and rolled back on `Err`, as
/// Diesel's transaction builders do it (they take the backend's own connection type).
fn begun_with<T, E, F>(conn: &mut DbConnection, begin: &str, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction_sql(c, begin)?,
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, begin)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConnection as TransactionManager<DbConnection>>::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => match <DbConnection as TransactionManager<DbConnection>>::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(err),
            Err(rollback) => Err(rollback.into()),
        },
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
pub struct CallerDeadline;

impl CallerDeadline {
    pub fn set(deadline: Instant) -> CallerDeadline {
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
