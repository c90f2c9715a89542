//! Herald on a Redis Cluster (`REDIS_CLUSTER_URLS`, sharded pub/sub): a private cluster of three
//! masters and three replicas, nodes on one PostgreSQL database, sockets of users whose shard
//! channels land on all three masters. Every socket ends with exactly the notifications its user
//! was acknowledged, each once, in order; subscriptions end up where they belong.

mod drill;
mod drills;
mod layout;
mod password;
mod steady_state;

use std::time::Duration;

/// Bound for subscriptions to settle (a node unsubscribes ~1 s after a user's last socket).
const SUBSCRIPTIONS_SETTLE: Duration = Duration::from_secs(5);

/// Every node's periodic stream-position check, off (an hour): it repairs any socket whose
/// change never arrived within ~1.25 s, so it would also hide a node that never resubscribes or
/// never repairs after a cluster event. The tests here check the node's own reaction to the
/// cluster: rebuilding its shard connections, resubscribing, repairing its sockets.
const NO_POSITION_CHECK: (&str, &str) = ("HERALD_POSITION_CHECK_MS", "3600000");
