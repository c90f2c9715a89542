//! Group commit: concurrent creates without an idempotency key are stored together, many in
//! one transaction (one fsync), by a few writer tasks draining one bounded queue. Each caller
//! still gets its own outcome (created or suppressed) or the batch's error; per user, ids and
//! stream positions keep the order in which the creates were taken. A full queue makes
//! callers wait (back-pressure), it never drops them.
//!
//! Every caller waits at most the database's bound (`Db::bound`) from the moment it arrives:
//! a queue still full then answers 503 `unavailable` (nothing was stored), and so does an answer
//! not back by then. A batch's database work ends at its earliest caller's deadline (503 for all
//! of them) and rolls back rather than commit after it, and a create whose caller gave up while
//! queued is not stored; so a 503 means "not stored" except when the database hung while the
//! batch's COMMIT was on its way: that outcome is unknown (an `Idempotency-Key` makes a retry
//! exact).

use crate::db::{Db, DbError};
use crate::domain::{CreateOutcome, NewNotification};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::time::timeout_at;

/// Creates per transaction, at most.
pub const MAX_BATCH: usize = 64;
/// Transactions in flight at once (while one commits, the next batch fills).
pub const WRITERS: usize = 2;
const QUEUE: usize = 4096;

struct Pending {
    new: NewNotification,
    reply: oneshot::Sender<Result<CreateOutcome, DbError>>,
    /// When the caller stops waiting.
    deadline: Instant,
}

#[derive(Clone)]
pub struct CreateBatcher {
    queue: mpsc::Sender<Pending>,
    /// The longest a caller waits for its outcome, queueing included.
    answer_within: Duration,
}

impl CreateBatcher {
    /// Starts the writer tasks (on the current runtime).
    pub fn start(db: Db) -> CreateBatcher {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let answer_within = db.bound();
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(db.clone(), receiver.clone()));
        }
        CreateBatcher { queue, answer_within }
    }

    /// Stores `new` with the next batch; 503 `unavailable` when the queue or the database does
    /// not answer within the bound (see the module comment for what that means).
    pub async fn create(&self, new: NewNotification) -> Result<CreateOutcome, DbError> {
        let deadline = Instant::now() + self.answer_within;
        let (reply, answer) = oneshot::channel();
        timeout_at(deadline.into(), self.queue.send(Pending { new, reply, deadline }))
            .await
            .map_err(|_| DbError::unavailable("the create queue stayed full: nothing was stored"))?
            .map_err(|_| DbError::unavailable("the writer has stopped"))?;
        timeout_at(deadline.into(), answer)
            .await
            .map_err(|_| DbError::unavailable("no answer from the writer in time: outcome unknown"))?
            .map_err(|_| DbError::Failed { reason: "the writer dropped a create", source: None })?
    }
}

async fn write_batches(db: Db, receiver: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        // Callers who gave up (503) while queued are not stored behind their backs.
        let batch: Vec<Pending> = batch.into_iter().filter(|p| !p.reply.is_closed()).collect();
        if batch.is_empty() {
            continue;
        }
        let deadline = batch.iter().map(|p| p.deadline).min().unwrap_or_else(Instant::now);
        let (news, replies): (Vec<NewNotification>, Vec<_>) = batch.into_iter().map(|p| (p.new, p.reply)).unzip();
        match db.create_many(deadline, news).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}
