//! The position check: closes the window between a commit and its publish. A change is
//! published after its transaction commits, by the process that made it; if that process dies
//! in between, or Redis loses the message, a quiet user's sockets on other nodes would not learn
//! of it until their next event. So every node, every `HERALD_POSITION_CHECK_MS`, reads the
//! stream position of every user it holds sockets for (one batched statement) and compares it
//! with the highest position that reached them here (`Hub::seen_positions`).
//!
//! A user found behind is only a suspect: its publish may be in flight. Still behind that
//! database position `CONFIRM_AFTER` later (compared in memory, no second query), the change is
//! lost, and the user's sockets here repair from the database (`Hub::resync_users`; the repair
//! sends what they missed, and a `resync` frame when reads or deletes were among it). A change
//! committed at `t` thus reaches every open socket by `t + interval + CONFIRM_AFTER +` one
//! repair, whatever died after the commit.
//!
//! Cost: one indexed lookup per user with a socket here per check (measured in the README).
//!
//! It also serves `Hub::request_full_repair` (a broker reconnect, a dropped publish queue, a
//! lagging delivery task): one batched read of every held user's position, after which only the
//! sessions behind it query and replay; not one query per socket at once.

use crate::db::Db;
use crate::domain::UserId;
use crate::hub::Hub;
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a user found behind the database may wait for its change to arrive before it
/// counts as lost (a publish in flight takes milliseconds).
pub const CONFIRM_AFTER: Duration = Duration::from_millis(250);

/// Runs the check every `interval` until shutdown.
pub async fn run(
    db: Db,
    hub: Arc<Hub>,
    interval: Duration,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = every.tick() => {}
            _ = hub.full_repair_requested() => {
                repair_everyone(&db, &hub).await;
                continue;
            }
        }
        let seen = hub.seen_positions();
        if seen.is_empty() {
            continue;
        }
        let users = seen.iter().map(|(user, _)| *user).collect();
        let database = match db.stream_positions(users).await {
            Ok(positions) => positions,
            // The database is away: sockets cannot repair now either; the next check retries.
            Err(err) => {
                log::warn!("position check skipped: {}", crate::error::with_causes(&err));
                continue;
            }
        };
        let suspects = behind(&seen, &database);
        if suspects.is_empty() {
            continue;
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(CONFIRM_AFTER) => {}
        }
        let lost = still_behind(&suspects, |user| hub.seen_position(user));
        if !lost.is_empty() {
            log::info!("position check: {} user(s) missed a committed change; repairing their sockets", lost.len());
            metrics.lost_changes_repaired.inc_by(lost.len() as u64);
            hub.resync_users(&lost);
        }
    }
}

/// Events may have been lost for every session here (`Hub::request_full_repair`): reads every
/// held user's stream position in one statement, and each session repairs only when behind it.
/// Without the database, every session repairs on its own (and retries while it is away).
async fn repair_everyone(db: &Db, hub: &Hub) {
    let users = hub.users();
    if users.is_empty() {
        return;
    }
    match db.stream_positions(users).await {
        Ok(positions) => hub.resync_all_at(&positions.into_iter().collect()),
        Err(err) => {
            log::warn!("batched repair read failed ({}); each session reads its own", crate::error::with_causes(&err));
            hub.resync_all();
        }
    }
}

/// The users whose database position is ahead of what reached this node (`seen`, read just
/// before `database`), with that position.
fn behind(seen: &[(UserId, i64)], database: &[(UserId, i64)]) -> Vec<(UserId, i64)> {
    let seen: HashMap<UserId, i64> = seen.iter().copied().collect();
    database.iter().filter(|(user, position)| seen.get(user).is_some_and(|seen| seen < position)).copied().collect()
}

/// Of the suspects, those still behind the position they were suspected at (`seen_now`: what
/// has reached this node since; `None` once the user has no socket here).
fn still_behind(suspects: &[(UserId, i64)], seen_now: impl Fn(UserId) -> Option<i64>) -> Vec<UserId> {
    suspects
        .iter()
        .filter(|(user, position)| seen_now(*user).is_some_and(|seen| seen < *position))
        .map(|(user, _)| *user)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> UserId {
        UserId::new(id).expect("id")
    }

    #[test]
    fn users_behind_the_database_are_suspects_with_its_position() {
        let seen = [(user(1), 4), (user(2), 9), (user(3), 2)];
        let database = [(user(1), 5), (user(2), 9)];
        assert_eq!(behind(&seen, &database), vec![(user(1), 5)], "user 3 was never notified: no row");
    }

    #[test]
    fn a_change_that_arrives_in_time_is_not_lost_and_one_still_missing_is() {
        let suspects = [(user(1), 5), (user(2), 7)];
        let seen_now = |u: UserId| Some(if u == user(1) { 5 } else { 6 });
        assert_eq!(still_behind(&suspects, seen_now), vec![user(2)]);
    }

    #[test]
    fn a_user_who_moved_past_the_suspected_position_or_left_is_not_lost() {
        let suspects = [(user(1), 5), (user(2), 7)];
        let seen_now = |u: UserId| if u == user(1) { Some(8) } else { None };
        assert!(still_behind(&suspects, seen_now).is_empty());
    }
}
