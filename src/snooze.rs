//! The snooze waker: every second, on every node, the notifications whose `snoozed_until` has
//! come are woken (unread and unseen again) and pushed as `notifications_unsnoozed` to whichever
//! node holds each user's sockets. Several nodes may find the same ones due; each wake runs under
//! the user's inbox lock and finds them awake if another node was first, so each comes back
//! exactly once (`Inbox::wake`).

use crate::db::now;
use crate::domain::{NotificationId, UserId};
use crate::inbox::{Inbox, InboxError};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

/// How often each node looks for due snoozes: a snoozed notification comes back at most this
/// late.
pub const WAKE_INTERVAL: Duration = Duration::from_secs(1);
/// Due notifications woken per look (the next look takes the rest).
const WAKE_BATCH: i64 = 1000;

/// Wakes due snoozes every `WAKE_INTERVAL` until shutdown; a failed look is logged and tried
/// again next time.
pub async fn run(inbox: Inbox, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(WAKE_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = every.tick() => {}
        }
        if let Err(err) = wake_due(&inbox).await {
            log::warn!("snooze waker: {err}");
        }
    }
}

/// Wakes up to `WAKE_BATCH` due snoozes, one transaction per user; returns how many woke here.
pub async fn wake_due(inbox: &Inbox) -> Result<usize, InboxError> {
    let due = inbox.db().due_snoozes(now(), WAKE_BATCH).await?;
    let mut by_user: BTreeMap<i64, Vec<NotificationId>> = BTreeMap::new();
    for (user, id) in due {
        if let Some(id) = NotificationId::new(id) {
            by_user.entry(user).or_default().push(id);
        }
    }
    let mut woke = 0;
    for (user, ids) in by_user {
        if let Some(user) = UserId::new(user) {
            woke += inbox.wake(user, ids).await?;
        }
    }
    Ok(woke)
}
