//! Repair: how sessions learn that their stream may have a gap, and re-read it from the database.
//! This module owns the repair signals (`Hub::resync_users`, `resync_all`, `resync_all_at`, a full
//! repair on request) and the position check that finds changes whose publish never arrived:
//! every `HERALD_POSITION_CHECK_MS` it compares the stream position of every user with a socket
//! here (one batched read) with the highest position that reached them (`Hub::seen_positions`);
//! a user still behind `CONFIRM_AFTER` later lost a change, and its sessions repair. The replay
//! itself is the session's (`crate::ws`); the registry of sessions is the hub's.

use crate::db::Db;
use crate::domain::{StreamPos, UserId};
use crate::hub::{Hub, SessionSignals};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a user found behind the database may wait for its change to arrive before it
/// counts as lost (a publish in flight takes milliseconds).
pub const CONFIRM_AFTER: Duration = Duration::from_millis(250);

/// Runs the position check every `interval`, and a full repair whenever one is requested,
/// until shutdown.
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

/// The repair signals, sent through the hub's registry of sessions; none of them waits.
impl Hub {
    /// Events may have been lost for every session here (a broker reconnect, a dropped queue):
    /// asks the position check to read every user's stream position in one statement and repair
    /// the sessions behind it (`resync_all_at`).
    pub fn request_full_repair(&self) {
        self.full_repair().notify_one();
    }

    /// Waits for `request_full_repair`; cancel-safe.
    pub async fn full_repair_requested(&self) {
        self.full_repair().notified().await;
    }

    /// Tells every session to repair its stream, given its user's stream position in the
    /// database (`positions`; a user without one is at 0): a session not behind it is done.
    pub fn resync_all_at(&self, positions: &HashMap<UserId, StreamPos>) {
        self.each_session(|user, signals| {
            resync(signals, Some(positions.get(&user).copied().unwrap_or(StreamPos::ZERO)))
        });
    }

    /// Tells every session to repair its stream from the database (events may have been lost),
    /// each with a query of its own.
    pub fn resync_all(&self) {
        self.each_session(|_, signals| resync(signals, None));
    }

    /// Tells the sessions of these users to repair their streams (their channel subscription
    /// was just confirmed: changes committed before it may not have reached this node).
    pub fn resync_users(&self, users: &[UserId]) {
        self.each_session_of(users, |signals| resync(signals, None));
    }
}

/// Flags one session for a repair (with the database position when known) and wakes it.
fn resync(signals: &SessionSignals, database_position: Option<StreamPos>) {
    if let Some(position) = database_position {
        signals.set_database_position(position);
    }
    signals.resync.store(true, Ordering::Release);
    signals.wake.notify_one();
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
fn behind(seen: &[(UserId, StreamPos)], database: &[(UserId, StreamPos)]) -> Vec<(UserId, StreamPos)> {
    let seen: HashMap<UserId, StreamPos> = seen.iter().copied().collect();
    database.iter().filter(|(user, position)| seen.get(user).is_some_and(|seen| seen < position)).copied().collect()
}

/// Of the suspects, those still behind the position they were suspected at (`seen_now`: what
/// has reached this node since; `None` once the user has no socket here).
fn still_behind(suspects: &[(UserId, StreamPos)], seen_now: impl Fn(UserId) -> Option<StreamPos>) -> Vec<UserId> {
    suspects
        .iter()
        .filter(|(user, position)| seen_now(*user).is_some_and(|seen| seen < *position))
        .map(|(user, _)| *user)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, SessionId};
    use tokio::sync::mpsc;

    fn user(id: i64) -> UserId {
        UserId::new(id).expect("id")
    }

    fn pos(raw: i64) -> StreamPos {
        StreamPos::new(raw)
    }

    #[test]
    fn users_behind_the_database_are_suspects_with_its_position() {
        let seen = [(user(1), pos(4)), (user(2), pos(9)), (user(3), pos(2))];
        let database = [(user(1), pos(5)), (user(2), pos(9))];
        assert_eq!(behind(&seen, &database), vec![(user(1), pos(5))], "user 3 was never notified: no row");
    }

    #[test]
    fn a_change_that_arrives_in_time_is_not_lost_and_one_still_missing_is() {
        let suspects = [(user(1), pos(5)), (user(2), pos(7))];
        let seen_now = |u: UserId| Some(pos(if u == user(1) { 5 } else { 6 }));
        assert_eq!(still_behind(&suspects, seen_now), vec![user(2)]);
    }

    #[test]
    fn a_user_who_moved_past_the_suspected_position_or_left_is_not_lost() {
        let suspects = [(user(1), pos(5)), (user(2), pos(7))];
        let seen_now = |u: UserId| if u == user(1) { Some(pos(8)) } else { None };
        assert!(still_behind(&suspects, seen_now).is_empty());
    }

    fn session(hub: &Hub, user: i64, id: u64) -> (Arc<SessionSignals>, mpsc::Receiver<Arc<Event>>) {
        let (outbox, receiver) = mpsc::channel(4);
        let signals = Arc::new(SessionSignals::default());
        hub.register(UserId::new(user).expect("id"), SessionId(id), (outbox, signals.clone()), Default::default());
        (signals, receiver)
    }

    #[test]
    fn a_full_repair_hands_every_session_its_users_database_position() {
        let hub = Hub::new();
        let (a1, _r1) = session(&hub, 1, 10);
        let (a2, _r2) = session(&hub, 1, 11);
        let (b, _r3) = session(&hub, 2, 20);
        assert_eq!(a1.take_database_position(), None);
        hub.resync_all_at(&HashMap::from([(UserId::new(1).expect("id"), pos(7))]));
        for signals in [&a1, &a2] {
            assert!(signals.resync.load(Ordering::Acquire));
            assert_eq!(signals.take_database_position(), Some(pos(7)));
        }
        assert!(b.resync.load(Ordering::Acquire));
        assert_eq!(b.take_database_position(), Some(pos(0)), "a user the database has no position for is at 0");
    }
}
