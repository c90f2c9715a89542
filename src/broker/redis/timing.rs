//! How long the Redis side waits: its timeouts, and the capped backoff between attempts to
//! reach Redis again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::sleep;

/// Bound of a publish pipeline, and of connecting a publisher or a channel connection.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest a subscribe, unsubscribe or ping on a channel connection (or connecting to a
/// cluster master for one) may take before the connection counts as lost.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// A doubling wait between attempts, from 100 ms, capped at a second so that pushes resume
/// within about a second of Redis answering again.
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(Backoff::MIN)
    }
}

impl Backoff {
    pub const MIN: Duration = Duration::from_millis(100);
    pub const MAX: Duration = Duration::from_secs(1);

    /// The last attempt worked: the next wait is the shortest again.
    pub fn reset(&mut self) {
        self.0 = Self::MIN;
    }

    /// Waits before the next attempt; false when shutdown began meanwhile (stop trying).
    pub async fn wait(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = shutdown.changed() => return false,
            _ = sleep(self.0) => {}
        }
        self.0 = (self.0 * 2).min(Self::MAX);
        true
    }
}

/// This machine's clock in Unix milliseconds: the heartbeats' scores and the limits' back-off.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
