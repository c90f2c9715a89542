//! A Redis that requires a password (`--requirepass`, as docker-compose.yml runs it): nodes
//! given it in `REDIS_URL` fan out through it; a client without it, a node included, is refused
//! every command (so a container on the broker network cannot publish frames to users' sockets);
//! and the password never shows in a node's log.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::json;
use std::process::Command;

const PASSWORD: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90-redis";

#[actix_web::test]
async fn nodes_with_the_password_fan_out_and_a_client_without_it_is_refused() {
    let db = TestDb::new();
    let redis = RedisServer::start_with_password(PASSWORD);
    let url = redis.url();
    assert!(url.contains(PASSWORD), "{url}");
    let nodes = ready_nodes(2, &db, &[("REDIS_URL", url.as_str())]).await;
    let (mut on_b, _) = WsClient::open(&nodes[1], &token(7)).await;
    wait_subscribed(&redis, 7, 1).await;
    let created = nodes[0].create_for_self(7, "through a Redis with a password").await;
    assert_eq!(on_b.next_of_type("notification").await, json!({"type": "notification", "notification": created}));

    // Without the password, Redis answers nothing but NOAUTH: no PUBLISH reaches a subscriber.
    let forged = json!({"type": "notification", "notification": {"id": 999_999, "title": "forged"}}).to_string();
    let publish = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "PUBLISH", &channel(7), &forged])
        .output()
        .expect("redis-cli");
    let answer = String::from_utf8_lossy(&publish.stdout).to_string() + &String::from_utf8_lossy(&publish.stderr);
    assert!(answer.contains("NOAUTH"), "PUBLISH without the password: {answer}");
    on_b.expect_silence(std::time::Duration::from_millis(500)).await;

    // A node without it is not ready, and says it is Redis.
    let no_password = redis.url_without_password();
    let without = TestApp::spawn_on(DbGuard::None, &db.url, &[("REDIS_URL", no_password.as_str())]).await;
    let ready = wait_readyz(&without, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    assert_ne!(ready["checks"]["redis_publisher"], "ok", "{ready}");
    let (status, _) = nodes[0].call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "the nodes with the password stay ready");
}

/// A node process given a wrong password logs Redis' refusal, never the URL's password.
#[actix_web::test]
async fn a_wrong_redis_password_is_logged_as_refused_without_the_password() {
    let db = TestDb::new();
    let redis = RedisServer::start_with_password(PASSWORD);
    let wrong = "wrong-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    let url = format!("redis://:{wrong}@127.0.0.1:{}/", redis.port);
    let mut node = process_node(&db.url, &url, &[("RUST_LOG", "info")]);
    let client = awc::Client::default();
    let readyz = format!("{}/readyz", node.base_url());
    let ready = wait_for("the node unready on Redis", WAIT, async || {
        match request(&client, Method::GET, &readyz, None, None).await {
            Ok((StatusCode::SERVICE_UNAVAILABLE, body)) if body["checks"]["redis_subscriber"] != "ok" => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    // Let it retry a few times, logging each refusal.
    actix_web::rt::time::sleep(std::time::Duration::from_secs(2)).await;
    node.kill();
    let log = node.stderr();
    assert!(!log.contains(wrong) && !log.contains(PASSWORD), "the password in the log:\n{log}");
    let lower = log.to_lowercase();
    assert!(lower.contains("redis") && lower.contains("authentication failed"), "the refusal is logged:\n{log}");
}
