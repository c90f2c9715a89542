//! Several nodes on one PostgreSQL database and one private Redis: fan-out across nodes.

use crate::helpers::*;
use crate::redis_server::RedisServer;
use crate::ws_client::*;
use serde_json::json;
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
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = node.call(awc::http::Method::GET, "/readyz", None, None).await;
        if status.is_success() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "node not ready: {body}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn notification_created_on_node_a_reaches_sockets_on_node_b_and_c() {
    let (_db, redis, nodes) = cluster(3, &[]).await;
    let (mut on_b, _) = WsClient::open(&nodes[1], &token(1)).await;
    let (mut on_c, _) = WsClient::open(&nodes[2], &token(1)).await;
    let created = nodes[0].create_for_self(1, "from A").await;
    let expected = json!({"type": "notification", "notification": created});
    assert_eq!(on_b.next_of_type("notification").await, expected);
    assert_eq!(on_c.next_of_type("notification").await, expected);
    assert_eq!(redis.numsub("herald:user:1"), 2, "one subscriber connection per node with sockets");
    let (status, ready) = nodes[0].call(awc::http::Method::GET, "/readyz", None, None).await;
    assert!(status.is_success());
    assert_eq!(ready["checks"], json!({"database": "ok", "redis_publisher": "ok", "redis_subscriber": "ok"}));
}
