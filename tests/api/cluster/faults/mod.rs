//! Failure modes of a cluster (SPEC §1, §5): whatever happens, every socket ends with exactly the
//! notifications its user was acknowledged, each once, in increasing order.

mod database_cut;
mod node_killed;
mod quiet_stream;
mod redis_outage;
mod redis_restart;
mod sigterm;

use crate::helpers::*;
use std::time::{Duration, Instant};

const CREATE: &str = "/auth/notifications/create/";

const LIST: &str = "/auth/notifications/";

/// How long a socket must stay quiet after the last expected id to count as "no duplicates".
const SETTLE: Duration = Duration::from_millis(500);

/// SIGKILLs Redis off the runtime thread (the in-process nodes' broker tasks run on it).
async fn kill_redis(mut redis: RedisServer) -> RedisServer {
    tokio::task::spawn_blocking(move || {
        redis.stop();
        redis
    })
    .await
    .expect("stop redis")
}

/// Restarts Redis on its port; returns it with the instant it answered again.
async fn restart_redis(mut redis: RedisServer) -> (RedisServer, Instant) {
    tokio::task::spawn_blocking(move || {
        redis.restart();
        let answered = Instant::now();
        (redis, answered)
    })
    .await
    .expect("restart redis")
}
