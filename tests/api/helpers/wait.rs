//! Bounded waits on a condition: poll it every `POLL` until it holds or the bound passes. Tests
//! synchronise with these (or by reading the frame they expect), never with a fixed sleep.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How often a bounded wait re-checks its condition.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` every `every` until it answers `Ok` (returned), or `within` passed: then its
/// last answer, the `Err`, is returned.
pub async fn poll_every<T, E>(
    every: Duration,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + within;
    loop {
        let last = probe().await;
        if last.is_ok() || Instant::now() >= deadline {
            return last;
        }
        actix_web::rt::time::sleep(every).await;
    }
}

/// `poll_every(POLL, ..)`.
pub async fn poll<T, E>(within: Duration, probe: impl AsyncFnMut() -> Result<T, E>) -> Result<T, E> {
    poll_every(POLL, within, probe).await
}

/// Waits until `probe` answers `Ok` and returns its value; fails the test after `within`, naming
/// `what` and the probe's last answer.
pub async fn wait_for<T, E: Display>(what: &str, within: Duration, probe: impl AsyncFnMut() -> Result<T, E>) -> T {
    poll(within, probe).await.unwrap_or_else(|last| panic!("{what}: not within {within:?}; last: {last}"))
}

/// Waits until `condition` holds; fails the test after `within`, naming `what`.
pub async fn wait_until(what: &str, within: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let holds = poll(within, async || if condition().await { Ok(()) } else { Err(()) }).await;
    assert!(holds.is_ok(), "{what}: not within {within:?}");
}

/// `poll_every` for code off the runtime (plain threads, `Drop`): blocks the calling thread.
pub fn poll_blocking<T, E>(within: Duration, probe: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    poll_blocking_every(POLL, within, probe)
}

/// `poll_blocking`, re-checking every `every`.
pub fn poll_blocking_every<T, E>(
    every: Duration,
    within: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + within;
    loop {
        let last = probe();
        if last.is_ok() || Instant::now() >= deadline {
            return last;
        }
        std::thread::sleep(every);
    }
}
