//! This node's copy of one budget: per principal, the GCRA cell's theoretical arrival time (TAT),
//! with the arithmetic of `scripts/rate.lua`. Without Redis it is the budget. With Redis, every
//! answer from Redis sets the principal's cell here (`follow`), so when Redis stops answering
//! this node goes on from where the cluster's cell stood instead of granting a fresh burst.
//!
//! Not `governor`: its state cannot be set from outside (a keyed store's values are offsets from
//! the limiter's private start instant), and following Redis is the point of this copy.

use super::Rate;
use crate::domain::UserId;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct Cells {
    /// What one unit moves the TAT by.
    interval: Duration,
    /// How far ahead of now the TAT may stand: the burst.
    span: Duration,
    tats: Mutex<HashMap<UserId, Instant>>,
}

impl Cells {
    pub fn new(rate: Rate) -> Cells {
        let interval = Duration::from_secs(1) / rate.per_second.max(1);
        Cells { interval, span: interval * rate.burst.max(1), tats: Mutex::default() }
    }

    /// Takes `cost` units from `user`'s cell, or says how long until they would be there.
    pub fn take(&self, user: UserId, cost: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let mut tats = self.tats.lock().unwrap_or_else(PoisonError::into_inner);
        let tat = tats.get(&user).map_or(now, |tat| (*tat).max(now));
        let next = tat + self.interval * cost;
        let limit = now + self.span;
        if next > limit {
            return Err(next - limit);
        }
        tats.insert(user, next);
        Ok(())
    }

    /// Sets `user`'s cell to the cluster's, whose TAT stands `ahead` of now.
    pub fn follow(&self, user: UserId, ahead: Duration) {
        let mut tats = self.tats.lock().unwrap_or_else(PoisonError::into_inner);
        if ahead.is_zero() {
            tats.remove(&user);
        } else {
            tats.insert(user, Instant::now() + ahead);
        }
    }

    /// Forgets the cells that are full again (bounded memory: only principals active within
    /// the last burst's span are kept).
    pub fn forget_idle(&self) {
        let now = Instant::now();
        self.tats.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, tat| *tat > now);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.tats.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> UserId {
        UserId::new(id).expect("id")
    }

    #[test]
    fn a_cell_allows_its_burst_then_refuses_until_a_unit_is_back() {
        let cells = Cells::new(Rate { per_second: 10, burst: 4 });
        cells.take(user(1), 3).expect("3 of 4");
        cells.take(user(1), 1).expect("4 of 4");
        let wait = cells.take(user(1), 1).expect_err("spent");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        cells.take(user(2), 4).expect("another user's own cell");
    }

    #[test]
    fn a_followed_cell_goes_on_from_the_clusters_state() {
        let cells = Cells::new(Rate { per_second: 1, burst: 4 });
        // Redis said the cell stands 4 s ahead: spent, nothing left for ~1 s.
        cells.follow(user(1), Duration::from_secs(4));
        assert!(cells.take(user(1), 1).is_err(), "no fresh burst after the cluster spent it");
        // Redis said the cell is full: the whole burst is there.
        cells.follow(user(1), Duration::ZERO);
        cells.take(user(1), 4).expect("a full cell");
    }

    #[test]
    fn full_cells_are_forgotten() {
        let cells = Cells::new(Rate { per_second: 1000, burst: 1 });
        cells.take(user(1), 1).expect("taken");
        cells.follow(user(2), Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
        cells.forget_idle();
        assert_eq!(cells.len(), 1, "only the cell still ahead of now is kept");
    }
}
