//! A writer's own connection, outside the pool: the group-commit writer thread holds one for
//! its whole life, so a batch costs no pool checkout and no hop to the blocking thread pool. It
//! connects lazily, with the pool's session settings, and reconnects on the next batch after a
//! failure. Exactly as the pool retires connections, it drops one that failed, panicked or
//! answered after its caller stopped waiting, and checks one idle `CHECK_IDLE_AFTER` before a
//! batch (the server may have closed it meanwhile), reconnecting if it does not answer; a
//! readiness probe (`check`) does the same. Blocking: call it from a thread of its own.

use crate::config::DatabaseUrl;
use crate::db::connection::{answers, establish, ConnectionSettings, DbConnection};
use crate::db::error::{Cause, DbError};
use crate::db::pool::{settle, transaction_left_open, Db, CHECK_IDLE_AFTER};
use crate::db::transactions::CallerDeadline;
use crate::domain::{CreateOutcome, NewNotification, StorageCap};
use diesel::connection::SimpleConnection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

pub struct WriterConnection {
    url: DatabaseUrl,
    settings: ConnectionSettings,
    conn: Option<DbConnection>,
    /// When the connection last answered (or was opened).
    last_used: Instant,
}

impl WriterConnection {
    /// A connection of its own to `db`'s database (not opened until first used).
    pub fn new(db: &Db) -> WriterConnection {
        let (url, settings) = db.target();
        WriterConnection { url: url.clone(), settings, conn: None, last_used: Instant::now() }
    }

    /// Readiness: the connection answers, or a new one opened in its place does, before
    /// `deadline`.
    pub fn check(&mut self, deadline: Instant) -> Result<(), DbError> {
        self.run(deadline, |conn| Ok(answers(conn)?))
    }

    /// Stores many independent creates in one transaction (group commit), each with its own
    /// outcome, in the order given, keeping each inbox within `cap`; a caller stops waiting at
    /// `deadline`, and a transaction still open then rolls back instead of committing (as
    /// `Db::run_until`).
    pub fn create_many(
        &mut self,
        deadline: Instant,
        cap: StorageCap,
        news: &[NewNotification],
    ) -> Result<Vec<CreateOutcome>, DbError> {
        self.run(deadline, |conn| super::careful::create_many(conn, cap, news))
    }

    fn run<T>(
        &mut self,
        deadline: Instant,
        work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        if Instant::now() >= deadline {
            return Err(DbError::unavailable("the caller gave up before the writer was free"));
        }
        if self.last_used.elapsed() >= CHECK_IDLE_AFTER {
            self.drop_if_closed();
        }
        let conn = match &mut self.conn {
            Some(conn) => conn,
            empty => empty.insert(open(&self.url, &self.settings)?),
        };
        let outcome = {
            let _deadline = CallerDeadline::set(deadline);
            catch_unwind(AssertUnwindSafe(|| work(conn)))
        };
        let Ok(result) = outcome else {
            self.conn = None;
            return Err(DbError::Failed { reason: "a query panicked", source: None });
        };
        let (result, retire) = settle(conn, result);
        // An answer after the caller gave up came from a connection that hung: drop it too.
        if retire || Instant::now() >= deadline || transaction_left_open(conn) {
            self.conn = None;
        }
        self.last_used = Instant::now();
        result
    }

    /// Drops the connection if it no longer answers (the server closed it while it was idle),
    /// so the next batch runs on a new one instead of failing with 503.
    fn drop_if_closed(&mut self) {
        if let Some(conn) = &mut self.conn {
            if answers(conn).is_err() {
                log::info!("the group-commit writer's idle connection was closed by the server; reconnecting");
                self.conn = None;
            }
        }
    }
}

/// A writer's connection: the pool's session bounds, and on PostgreSQL one plan for its
/// statement whatever the batch (by default PostgreSQL re-plans a prepared statement on each
/// execution while its custom plans look cheaper than a generic one).
fn open(url: &DatabaseUrl, settings: &ConnectionSettings) -> Result<DbConnection, DbError> {
    let unavailable = |reason, source: Cause| DbError::Unavailable { reason, source: Some(source) };
    let mut conn =
        establish(url, Some(settings)).map_err(|e| unavailable("the writer could not connect", Arc::new(e)))?;
    if let DbConnection::Pg(pg) = &mut conn {
        pg.batch_execute("SET plan_cache_mode = force_generic_plan")
            .map_err(|e| unavailable("the writer could not set up its connection", Arc::new(e)))?;
    }
    Ok(conn)
}
