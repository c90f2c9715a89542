//! Group commit: concurrent creates without an idempotency key are stored together, many in
//! one transaction (one fsync), by a few writer tasks draining one bounded queue. Each caller
//! still gets its own outcome (created or suppressed) or the batch's error; per user, ids and
//! stream positions keep the order in which the creates were taken. A full queue makes
//! callers wait (back-pressure), it never drops them.

use crate::db::{CreateOutcome, Db};
use crate::dispatch;
use crate::domain::NewNotification;
use crate::error::ApiError;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Creates per transaction, at most.
pub const MAX_BATCH: usize = 64;
/// Transactions in flight at once (while one commits, the next batch fills).
pub const WRITERS: usize = 2;
const QUEUE: usize = 4096;

struct Pending {
    new: NewNotification,
    reply: oneshot::Sender<Result<CreateOutcome, ApiError>>,
}

#[derive(Clone)]
pub struct CreateBatcher {
    queue: mpsc::Sender<Pending>,
}

impl CreateBatcher {
    /// Starts the writer tasks (on the current runtime).
    pub fn start(db: Db) -> CreateBatcher {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(db.clone(), receiver.clone()));
        }
        CreateBatcher { queue }
    }

    pub async fn create(&self, new: NewNotification) -> Result<CreateOutcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { new, reply })
            .await
            .map_err(|_| ApiError::Unavailable("the writer has stopped".into()))?;
        answer.await.map_err(|_| ApiError::Internal("the writer dropped a create".into()))?
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
        let (news, replies): (Vec<NewNotification>, Vec<_>) = batch.into_iter().map(|p| (p.new, p.reply)).unzip();
        match db.run(move |conn| dispatch!(conn, create_many(&news))).await {
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
