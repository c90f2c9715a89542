//! Several nodes in this process on one PostgreSQL database and one private Redis, and waits for
//! a settled cluster: every node ready, the expected subscriptions in place.

use super::{poll, request, wait_for, DbGuard, RedisServer, TestApp, TestDb, WAIT};
use awc::http::{Method, StatusCode};
use std::time::Duration;

/// `n` nodes sharing a fresh database and a private Redis. Keep the returned guards alive.
pub async fn cluster(n: usize, extra: &[(&str, &str)]) -> (TestDb, RedisServer, Vec<TestApp>) {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let mut vars: Vec<(&str, &str)> = vec![("REDIS_URL", redis_url.as_str())];
    vars.extend_from_slice(extra);
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(TestApp::spawn_on(DbGuard::None, &db.url, &vars).await);
    }
    for node in &nodes {
        wait_ready(node).await;
    }
    (db, redis, nodes)
}

/// Waits (bounded) until the node reports ready, Redis included.
pub async fn wait_ready(node: &TestApp) {
    wait_ready_at(&node.client, &node.base_url).await;
}

/// Polls `/readyz` of the node at `base` (in this process or not) until it answers 200.
pub async fn wait_ready_at(client: &awc::Client, base: &str) {
    let url = format!("{base}/readyz");
    wait_for(&format!("node {base} ready"), WAIT, async || {
        match request(client, Method::GET, &url, None, None).await {
            Ok((StatusCode::OK, _)) => Ok(()),
            last => Err(format!("{last:?}")),
        }
    })
    .await;
}

/// The Redis channel of a user's pushes.
pub fn channel(user: i64) -> String {
    format!("herald:user:{user}")
}

/// Subscriber counts of the users' channels, in one `PUBSUB NUMSUB`.
pub fn subscribers(redis: &RedisServer, users: &[i64]) -> Vec<i64> {
    let channels: Vec<String> = users.iter().map(|user| channel(*user)).collect();
    redis.numsub_of(&channels.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Waits (bounded) until `n` nodes' subscriber connections listen on the user's channel, so a
/// test starts from a settled cluster.
pub async fn wait_subscribed(redis: &RedisServer, user: i64, n: i64) {
    wait_numsub(redis, &[(user, n)], WAIT).await;
}

/// Polls (bounded by `within`) until each user's channel has the expected subscriber count.
pub async fn wait_numsub(redis: &RedisServer, expected: &[(i64, i64)], within: Duration) {
    let users: Vec<i64> = expected.iter().map(|(user, _)| *user).collect();
    let settled = poll(within, async || {
        let got = subscribers(redis, &users);
        let wrong: Vec<String> = expected
            .iter()
            .zip(&got)
            .filter(|((_, want), got)| want != *got)
            .map(|((user, want), got)| format!("{}: want {want}, got {got}", channel(*user)))
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong)
        }
    })
    .await;
    if let Err(wrong) = settled {
        panic!("subscriptions did not settle within {within:?}: {wrong:?}");
    }
}
