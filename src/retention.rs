//! Retention: deleting old notifications, old admin audit records and expired idempotency keys
//! (older than 24 h) in bounded batches (short statements, each well under the statement
//! timeout, so writers are never locked out for long and a large backlog still drains), by
//! `herald prune` or hourly on every node: keys always, notifications and audit records when
//! `HERALD_RETENTION_DAYS` is set. The prunes are independent: one failing is logged and does
//! not skip the others; all run again next round.

use crate::db::{Db, DbError};
use std::time::Duration;
use tokio::sync::watch;

/// Notifications (or audit records) deleted per transaction.
pub const PRUNE_BATCH: i64 = 1000;
/// Expired idempotency keys deleted per statement (small rows, no counters to keep).
pub const KEY_PRUNE_BATCH: i64 = 5000;
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes notifications older than `older_than` (only read ones when `read_only`), batch by
/// batch until none are left; returns how many were deleted.
pub async fn prune(db: &Db, older_than: Duration, read_only: bool) -> Result<usize, DbError> {
    let cutoff = cutoff(older_than);
    // Until a batch finds nothing: a short one may only mean another node took some rows.
    drain(|| db.prune_batch(cutoff, read_only, PRUNE_BATCH), |deleted| deleted == 0).await
}

/// Deletes admin audit records older than `older_than`, batch by batch; returns how many.
pub async fn prune_audit(db: &Db, older_than: Duration) -> Result<usize, DbError> {
    let cutoff = cutoff(older_than);
    drain(|| db.prune_audit_batch(cutoff, PRUNE_BATCH), |deleted| deleted == 0).await
}

/// `older_than` before now; an age past chrono's range (~292,000 years) keeps everything: the
/// cutoff is the epoch.
fn cutoff(older_than: Duration) -> chrono::NaiveDateTime {
    chrono::Duration::from_std(older_than)
        .ok()
        .and_then(|age| crate::db::now().checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::UNIX_EPOCH.naive_utc())
}

/// Deletes the idempotency keys expired when it starts, `KEY_PRUNE_BATCH` per statement, until
/// a batch comes back short; returns how many were deleted.
pub async fn prune_idempotency_keys(db: &Db) -> Result<usize, DbError> {
    let expired_before = crate::db::keys_expired_before(crate::db::now());
    drain(|| db.prune_idempotency_keys(expired_before, KEY_PRUNE_BATCH), |deleted| deleted < KEY_PRUNE_BATCH as usize)
        .await
}

/// Runs `batch` until `done` says its count was the last, letting writers in between batches;
/// returns how many were deleted in all.
async fn drain<F, Batch>(mut batch: F, done: impl Fn(usize) -> bool) -> Result<usize, DbError>
where
    F: FnMut() -> Batch,
    Batch: std::future::Future<Output = Result<usize, DbError>>,
{
    let mut total = 0;
    loop {
        let deleted = batch().await?;
        total += deleted;
        if done(deleted) {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// Every hour until shutdown (the first run at start): prunes expired idempotency keys, and
/// notifications older than `keep` when retention is set.
pub async fn run_periodically(db: Db, keep: Option<Duration>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(RETENTION_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = every.tick() => run_once(&db, keep).await,
        }
    }
}

/// One scheduled run: notifications (when `keep` is set), then keys whatever became of them,
/// each outcome logged.
async fn run_once(db: &Db, keep: Option<Duration>) {
    if let Some(keep) = keep {
        match prune(db, keep, false).await {
            Ok(0) => {}
            Ok(n) => log::info!("retention: deleted {n} notification(s) older than {} day(s)", keep.as_secs() / 86_400),
            Err(err) => log::warn!(
                "retention: pruning notifications failed (retried in an hour): {}",
                crate::error::with_causes(&err)
            ),
        }
        match prune_audit(db, keep).await {
            Ok(0) => {}
            Ok(n) => log::info!("retention: deleted {n} admin audit record(s)"),
            Err(err) => log::warn!(
                "retention: pruning admin audit records failed (retried in an hour): {}",
                crate::error::with_causes(&err)
            ),
        }
    }
    match prune_idempotency_keys(db).await {
        Ok(0) => {}
        Ok(n) => log::info!("retention: deleted {n} expired idempotency key(s)"),
        Err(err) => log::warn!(
            "retention: pruning expired idempotency keys failed (retried in an hour): {}",
            crate::error::with_causes(&err)
        ),
    }
}
