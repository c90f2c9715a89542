//! A writer's own connection, outside the pool: the group-commit writer thread
//! (`crate::group_commit`) holds one for its whole life, so a batch costs no pool checkout and
//! no hop to the blocking thread pool. It connects lazily, with the pool's session bounds
//! (`connect::pooled_pg_url`), and reconnects on the next batch after a failure. Exactly as the
//! pool retires connections, it drops one that failed, panicked or answered after its caller
//! stopped waiting. Blocking: call it from a thread of its own.

use super::{establish, settle, CallerDeadline, Db, DbConnection, DbError, DbTimeouts};
use crate::config::DatabaseUrl;
use crate::domain::{CreateOutcome, NewNotification};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

pub struct WriterConnection {
    url: DatabaseUrl,
    timeouts: DbTimeouts,
    conn: Option<DbConnection>,
}

impl Db {
    /// A connection of its own for a writer thread (not opened until first used).
    pub fn writer_connection(&self) -> WriterConnection {
        WriterConnection { url: self.url.clone(), timeouts: self.timeouts, conn: None }
    }
}

impl WriterConnection {
    /// Stores many independent creates in one transaction (group commit), each with its own
    /// outcome, in the order given; a caller stops waiting at `deadline`, and a transaction
    /// still open then rolls back instead of committing (as `Db::run_until`).
    pub fn create_many(&mut self, deadline: Instant, news: &[NewNotification]) -> Result<Vec<CreateOutcome>, DbError> {
        self.run(deadline, |conn| dispatch!(conn, create_many(news)))
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
        if retire || Instant::now() >= deadline || super::transaction_left_open(conn) {
            self.conn = None;
        }
        result
    }
}

/// A writer's connection: the pool's session bounds, and on PostgreSQL one plan for its
/// statement whatever the batch. (By default PostgreSQL plans a prepared statement anew on
/// every execution while the plans it makes look cheaper than a generic one: for the batch
/// statement that was ~0.35 ms of the server's CPU per batch, at each Bind, in its log.)
fn open(url: &DatabaseUrl, timeouts: &DbTimeouts) -> Result<DbConnection, DbError> {
    let unavailable = |reason, cause: String| DbError::Unavailable { reason, source: Some(super::error::cause(cause)) };
    let mut conn =
        establish(url, Some(timeouts)).map_err(|e| unavailable("the writer could not connect", e.to_string()))?;
    if let DbConnection::Pg(pg) = &mut conn {
        use diesel::connection::SimpleConnection;
        pg.batch_execute("SET plan_cache_mode = force_generic_plan")
            .map_err(|e| unavailable("the writer could not set up its connection", e.to_string()))?;
    }
    Ok(conn)
}
