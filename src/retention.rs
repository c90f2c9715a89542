//! Retention: deleting old notifications in bounded batches (short transactions, so writers
//! are never locked out for long), by `herald prune` or hourly on every node when
//! `HERALD_RETENTION_DAYS` is set. Expired idempotency keys (older than 24 h) are pruned hourly
//! on every node whether or not retention is set.

use crate::db::{Db, DbError};
use std::time::Duration;
use tokio::sync::watch;

/// Notifications deleted per transaction.
pub const PRUNE_BATCH: i64 = 1000;
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes notifications older than `older_than` (only read ones when `read_only`), batch by
/// batch until none are left; returns how many were deleted.
pub async fn prune(db: &Db, older_than: Duration, read_only: bool) -> Result<usize, DbError> {
    // An age past chrono's range (~292,000 years) keeps everything: the cutoff is the epoch.
    let cutoff = chrono::Duration::from_std(older_than)
        .ok()
        .and_then(|age| crate::db::now().checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::UNIX_EPOCH.naive_utc());
    let mut total = 0;
    loop {
        let deleted = db.prune_batch(cutoff, read_only, PRUNE_BATCH).await?;
        total += deleted;
        if deleted == 0 {
            break;
        }
        // Let writers in between batches.
        tokio::task::yield_now().await;
    }
    db.prune_idempotency_keys().await?;
    Ok(total)
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

/// One scheduled run, its outcome logged.
async fn run_once(db: &Db, keep: Option<Duration>) {
    let pruned = match keep {
        Some(keep) => prune(db, keep, false).await.map(|n| (n, keep)),
        None => db.prune_idempotency_keys().await.map(|_| (0, Duration::ZERO)),
    };
    match pruned {
        Ok((0, _)) => {}
        Ok((n, keep)) => {
            log::info!("retention: deleted {n} notification(s) older than {} day(s)", keep.as_secs() / 86_400)
        }
        Err(err) => log::warn!("retention run failed: {}", crate::error::with_causes(&err)),
    }
}
