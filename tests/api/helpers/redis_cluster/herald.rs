//! Herald nodes on a Redis Cluster, and their shard channels and subscribers.

use super::RedisCluster;
use std::time::Duration;

/// Partitions of the users' shard channels (`herald:{P}:user:{ID}`, `P = ID % PARTITIONS`).
pub const PARTITIONS: i64 = 128;
/// The shard channel every node subscribes to be told to repair its sessions.
pub const RESYNC_CHANNEL: &str = "herald:{resync}";

/// The shard channel of a user's pushes: its partition in a hash tag, so all users of a
/// partition share a slot.
pub fn shard_channel(user: i64) -> String {
    format!("herald:{{{}}}:user:{user}", user.rem_euclid(PARTITIONS))
}

/// Runs blocking work (the cluster's drills and probes, which run `redis-cli` and sleep between
/// polls) off the async runtime, whose thread the in-process nodes share; a panic in it is the
/// test's.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking work did not finish: {e}"),
    }
}

/// A private Redis Cluster (3 masters, 3 replicas) and `n` nodes in this process on a fresh
/// PostgreSQL database, pointed at it with `REDIS_CLUSTER_URLS`; each node ready. `extra`
/// variables on top. Keep the returned guards alive.
pub async fn cluster_on_redis_cluster(
    n: usize,
    extra: &[(&str, &str)],
) -> (crate::helpers::TestDb, std::sync::Arc<RedisCluster>, Vec<crate::helpers::TestApp>) {
    let redis = std::sync::Arc::new(blocking(RedisCluster::start).await);
    let db = crate::helpers::TestDb::new();
    let seeds = redis.seeds_env();
    let nodes = crate::helpers::ready_nodes(n, &db, &[&[("REDIS_CLUSTER_URLS", seeds.as_str())], extra].concat()).await;
    (db, redis, nodes)
}

/// Subscribers of the users' shard channels summed over the masters, and over the replicas.
pub async fn shard_subscribers(
    redis: &std::sync::Arc<RedisCluster>,
    users: &[i64],
) -> Result<(Vec<i64>, Vec<i64>), String> {
    let redis = redis.clone();
    let channels: Vec<String> = users.iter().map(|user| shard_channel(*user)).collect();
    blocking(move || {
        let channels: Vec<&str> = channels.iter().map(String::as_str).collect();
        let on_masters = redis.try_shardnumsub_sum(&redis.masters(), &channels)?;
        let on_replicas = redis.try_shardnumsub_sum(&redis.replicas(), &channels)?;
        Ok((on_masters, on_replicas))
    })
    .await
}

/// Waits (bounded by `within`) until each user's shard channel has the expected number of
/// subscribers on the masters (one per node holding a socket of the user) and none on any
/// replica. Fails the test with the users that differ.
pub async fn wait_shard_subscribers(redis: &std::sync::Arc<RedisCluster>, expected: &[(i64, i64)], within: Duration) {
    let users: Vec<i64> = expected.iter().map(|(user, _)| *user).collect();
    let settled = crate::helpers::poll_every(Duration::from_millis(100), within, async || {
        let (on_masters, on_replicas) = shard_subscribers(redis, &users).await?;
        let wrong: Vec<String> = expected
            .iter()
            .zip(on_masters.iter().zip(&on_replicas))
            .filter(|((_, want), (got, replicas))| want != *got || **replicas != 0)
            .map(|((user, want), (got, replicas))| {
                format!("{}: want {want}, {got} on masters, {replicas} on replicas", shard_channel(*user))
            })
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("{} of {} channels: {wrong:?}", wrong.len(), expected.len()))
        }
    })
    .await;
    if let Err(wrong) = settled {
        panic!("shard subscriptions did not settle within {within:?}: {wrong}");
    }
}
