//! The position check: closes the window between a commit and its publish. A change is
//! published after its transaction commits, by the process that made it; if that process dies
//! in between, or Redis loses the message, a quiet user's sockets on other nodes would not learn
//! of it until their next event. So every node, every `HERALD_POSITION_CHECK_MS`, reads the
//! stream position of every user it holds sockets for (one batched statement) and compares it
//! with the highest position that reached them here (`Hub::seen_positions`).
//!
//! A user found behind is only a suspect: its publish may be in flight. Found still behind the
//! position of the previous check at the next one, the change is lost, and the user's sockets
//! here repair from the database (`Hub::resync_users`; the repair sends what they missed, and a
//! `resync` frame when reads or deletes were among it). A change committed at `t` thus reaches
//! every open socket by `t + 2 × interval +` one repair, whatever died after the commit.
//!
//! Cost: one indexed lookup per user with a socket here per check (measured in the README).

use crate::db::Db;
use crate::domain::UserId;
use crate::hub::Hub;
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
    let mut suspects = Suspects::default();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = every.tick() => {}
        }
        let seen = hub.seen_positions();
        if seen.is_empty() {
            suspects = Suspects::default();
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
        let lost = suspects.check(&seen, &database);
        if !lost.is_empty() {
            log::info!("position check: {} user(s) missed a committed change; repairing their sockets", lost.len());
            metrics.lost_changes_repaired.inc_by(lost.len() as u64);
            hub.resync_users(&lost);
        }
    }
}

/// Users found behind the database at the last check, with the database's position then.
#[derive(Default)]
struct Suspects(HashMap<UserId, i64>);

impl Suspects {
    /// Compares what reached this node (`seen`, read just before `database`) with the
    /// database. Returns the users still behind the position they were suspected at (their
    /// change was lost), and keeps every user now behind as a suspect for the next check.
    fn check(&mut self, seen: &[(UserId, i64)], database: &[(UserId, i64)]) -> Vec<UserId> {
        let seen: HashMap<UserId, i64> = seen.iter().copied().collect();
        let lost = self
            .0
            .iter()
            .filter(|(user, suspected_at)| seen.get(user).is_some_and(|seen| seen < suspected_at))
            .map(|(user, _)| *user)
            .collect();
        self.0 = database
            .iter()
            .filter(|(user, position)| seen.get(user).is_some_and(|seen| seen < position))
            .copied()
            .collect();
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> UserId {
        UserId::new(id).expect("id")
    }

    #[test]
    fn a_change_in_flight_is_suspected_once_and_forgotten_when_it_arrives() {
        let mut suspects = Suspects::default();
        assert!(suspects.check(&[(user(1), 4)], &[(user(1), 5)]).is_empty(), "first seen behind: a suspect only");
        assert!(suspects.check(&[(user(1), 5)], &[(user(1), 5)]).is_empty(), "its event arrived");
        assert!(suspects.check(&[(user(1), 5)], &[(user(1), 5)]).is_empty());
    }

    #[test]
    fn a_change_still_missing_at_the_next_check_is_lost() {
        let mut suspects = Suspects::default();
        assert!(suspects.check(&[(user(1), 4), (user(2), 9)], &[(user(1), 5), (user(2), 9)]).is_empty());
        assert_eq!(suspects.check(&[(user(1), 4), (user(2), 9)], &[(user(1), 5), (user(2), 9)]), vec![user(1)]);
    }

    #[test]
    fn a_user_who_moved_on_past_the_suspected_position_is_not_lost_even_if_behind_again() {
        let mut suspects = Suspects::default();
        suspects.check(&[(user(1), 4)], &[(user(1), 5)]);
        // Position 5 arrived, and 6 was committed meanwhile: a new suspect, not a loss.
        assert!(suspects.check(&[(user(1), 5)], &[(user(1), 6)]).is_empty());
        assert_eq!(suspects.check(&[(user(1), 5)], &[(user(1), 6)]), vec![user(1)]);
    }

    #[test]
    fn users_who_left_the_node_are_forgotten() {
        let mut suspects = Suspects::default();
        suspects.check(&[(user(1), 4)], &[(user(1), 5)]);
        assert!(suspects.check(&[(user(2), 1)], &[(user(2), 1)]).is_empty());
    }
}
