//! What one node enforces on its own: the per-socket limit of client frames (`FrameLimiter`)
//! and the WebSocket handshakes a node accepts per second (`HandshakeBudget`). The per-user
//! budgets shared by every transport and node are `super::budget`.

use crate::error::ApiError;
use governor::DefaultDirectRateLimiter;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// Rejected frames counted per window...
pub const FLOOD_WINDOW: Duration = Duration::from_secs(10);
/// ...beyond which the socket is a flood and is closed with 1008.
pub const FLOOD_TOLERANCE: u32 = 20;

/// What to do with one client frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameVerdict {
    Admit,
    /// Over the rate: refuse it (a `rate_limited` error) without reading it.
    Reject,
    /// Too many refused frames within `FLOOD_WINDOW`: close with 1008.
    Flood,
}

/// Per-socket admission of client frames (text, binary, ping and pong alike): a token bucket of
/// `per_second` frames with bursts of the same size, and a count of rejected frames per
/// `FLOOD_WINDOW`. An admitted frame does not forgive earlier rejections, so a client cannot
/// stay just under the flood limit by slipping in a frame now and then.
pub struct FrameLimiter {
    bucket: DefaultDirectRateLimiter,
    window_started: Instant,
    rejected_in_window: u32,
}

impl FrameLimiter {
    pub fn new(per_second: NonZeroU32) -> FrameLimiter {
        FrameLimiter {
            bucket: RateLimiter::direct(Quota::per_second(per_second)),
            window_started: Instant::now(),
            rejected_in_window: 0,
        }
    }

    pub fn check(&mut self) -> FrameVerdict {
        if self.bucket.check().is_ok() {
            return FrameVerdict::Admit;
        }
        self.count_rejection(Instant::now())
    }

    /// Counts a frame this limit admitted but the user's budget (`super::budget`) refused: it
    /// weighs towards the flood close like a frame refused here (`Reject` or `Flood`).
    pub fn refused_elsewhere(&mut self) -> FrameVerdict {
        self.count_rejection(Instant::now())
    }

    fn count_rejection(&mut self, now: Instant) -> FrameVerdict {
        if now.saturating_duration_since(self.window_started) >= FLOOD_WINDOW {
            self.window_started = now;
            self.rejected_in_window = 0;
        }
        self.rejected_in_window += 1;
        if self.rejected_in_window > FLOOD_TOLERANCE {
            FrameVerdict::Flood
        } else {
            FrameVerdict::Reject
        }
    }
}

/// The WebSocket handshakes a node accepts per second (bursts of the same size): socket churn
/// cannot turn into unbounded database reads and SUBSCRIBE traffic.
pub struct HandshakeBudget {
    bucket: DefaultDirectRateLimiter,
}

impl HandshakeBudget {
    pub fn new(per_second: u32) -> HandshakeBudget {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        HandshakeBudget { bucket: RateLimiter::direct(Quota::per_second(per_second)) }
    }

    /// Takes one handshake from the budget, or says the node is busy (503, retry in a second).
    pub fn admit(&self) -> Result<(), ApiError> {
        self.bucket
            .check()
            .map_err(|_| ApiError::Unavailable("node at its handshake budget (HERALD_WS_HANDSHAKES_PER_SECOND)".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admitted_frames_do_not_forgive_rejections_within_the_window() {
        let mut limiter = FrameLimiter::new(NonZeroU32::MIN);
        let start = limiter.window_started;
        for n in 1..=FLOOD_TOLERANCE {
            assert_eq!(limiter.count_rejection(start + Duration::from_millis(u64::from(n))), FrameVerdict::Reject);
        }
        // However many frames were admitted in between, the next rejection in the window floods.
        assert_eq!(limiter.count_rejection(start + FLOOD_WINDOW / 2), FrameVerdict::Flood);
    }

    #[test]
    fn a_new_window_starts_the_count_again() {
        let mut limiter = FrameLimiter::new(NonZeroU32::MIN);
        let start = limiter.window_started;
        for _ in 0..FLOOD_TOLERANCE {
            limiter.count_rejection(start);
        }
        assert_eq!(limiter.count_rejection(start + FLOOD_WINDOW), FrameVerdict::Reject);
    }

    #[test]
    fn a_burst_beyond_the_rate_is_rejected_then_a_flood() {
        let mut limiter = FrameLimiter::new(NonZeroU32::new(5).expect("5 > 0"));
        let verdicts: Vec<FrameVerdict> = (0..40).map(|_| limiter.check()).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == FrameVerdict::Admit).count(), 5);
        assert_eq!(verdicts[5], FrameVerdict::Reject);
        assert_eq!(verdicts[5 + FLOOD_TOLERANCE as usize], FrameVerdict::Flood);
    }
}
