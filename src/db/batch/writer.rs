//! A writer's own connection, outside the pool: the group-commit writer thread holds one for
//! its whole life, so a batch costs no pool checkout and no hop to the blocking thread pool. It
//! connects lazily, with the pool's session bounds, and reconnects on the next batch after a
//! failure. Exactly as the pool retires connections, it drops one that failed, panicked or
//! answered after its caller stopped waiting. Blocking: call it from a thread of its own.

use crate::config::DatabaseUrl;
use crate::db::connection::{establish, DbConnection};
use crate::db::error::{Cause, DbError};
use crate::db::pool::{settle, transaction_left_open, Db};
use crate::db::timeouts::DbTimeouts;
use crate::db::transactions::CallerDeadline;
use crate::domain::{CreateOutcome, NewNotification, StorageCap};
use diesel::connection::SimpleConnection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

pub struct WriterConnection {
    url: DatabaseUrl,
    timeouts: DbTimeouts,
    conn: Option<DbConnection>,
}

impl WriterConnection {
    /// A connection of its own to `db`'s database (not opened until first used).
    pub fn new(db: &Db) -> WriterConnection {
        let (url, timeouts) = db.target();
        WriterConnection { url: url.clone(), timeouts, conn: None }
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
        let conn = match &mut self.conn {
            Some(conn) => conn,
            empty => empty.insert(open(&self.url, &self.timeouts)?),
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
        result
    }
}

/// A writer's connection: the pool's session bounds, and on PostgreSQL one plan for its
/// statement whatever the batch (by default PostgreSQL re-plans a prepared statement on each
/// execution while its custom plans look cheaper than a generic one).
fn open(url: &DatabaseUrl, timeouts: &DbTimeouts) -> Result<DbConnection, DbError> {
    let unavailable = |reason, source: Cause| DbError::Unavailable { reason, source: Some(source) };
    let mut conn =
        establish(url, Some(timeouts)).map_err(|e| unavailable("the writer could not connect", Arc::new(e)))?;
    if let DbConnection::Pg(pg) = &mut conn {
        pg.batch_execute("SET plan_cache_mode = force_generic_plan")
            .map_err(|e| unavailable("the writer could not set up its connection", Arc::new(e)))?;
    }
    Ok(conn)
}
