//! Several nodes in this process on one PostgreSQL database and one private Redis, and waits for
//! a settled cluster: every node ready, the expected subscriptions in place.

use super::{
    poll, request, token, wait_for, DbGuard, HeraldProcess, RedisServer, TestApp, TestDb, WsClient, SECRET, WAIT,
};
use awc::http::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// `n` nodes sharing a fresh database and a private Redis. Keep the returned guards alive.
pub async fn cluster(n: usize, extra: &[(&str, &str)]) -> (TestDb, RedisServer, Vec<TestApp>) {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let nodes = ready_nodes(n, &db, &[&[("REDIS_URL", redis_url.as_str())], extra].concat()).await;
    (db, redis, nodes)
}

/// `n` nodes in this process on `db` with `vars`, each ready.
pub async fn ready_nodes(n: usize, db: &TestDb, vars: &[(&str, &str)]) -> Vec<TestApp> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(TestApp::spawn_on(DbGuard::None, &db.url, vars).await);
    }
    for node in &nodes {
        wait_ready(node).await;
    }
    nodes
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

/// Polls `/readyz` of `node` until it answers `status` and returns that body: a node reuses a
/// readiness probe for up to 1 s (`herald::readiness::ReadinessProbe`), so a change shows within it.
pub async fn wait_readyz(node: &TestApp, status: StatusCode) -> Value {
    wait_for(&format!("/readyz answering {status}"), WAIT, async || {
        match node.call(Method::GET, "/readyz", None, None).await {
            (answered, body) if answered == status => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await
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

/// A `herald` process node on `database_url` and `redis_url` (so it can be SIGKILLed or
/// SIGTERMed), listening on the port it bound; `extra` variables on top.
pub fn process_node(database_url: &str, redis_url: &str, extra: &[(&str, &str)]) -> HeraldProcess {
    let mut vars = vec![
        ("DATABASE_URL", database_url),
        ("REDIS_URL", redis_url),
        ("JWT_SECRET", SECRET),
        ("HERALD_BIND", "127.0.0.1:0"),
        ("HERALD_WORKERS", "1"),
        ("HERALD_RATE_LIMIT_PER_SECOND", "100000"),
        ("HERALD_RATE_LIMIT_BURST", "100000"),
        ("RUST_LOG", "warn"),
    ];
    vars.extend_from_slice(extra);
    let mut node = HeraldProcess::start(&[], &vars);
    node.wait_listening();
    node
}

/// Opens a socket on a process node and consumes `connection_established`.
pub async fn open_at(node: &HeraldProcess, user: i64, since: Option<i64>) -> (WsClient, Value) {
    let mut ws = WsClient::try_connect(&node.ws_url(&token(user), since), &[])
        .await
        .unwrap_or_else(|refused| panic!("handshake refused: {refused:?}"));
    let hello = ws.next_json().await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    (ws, hello)
}
