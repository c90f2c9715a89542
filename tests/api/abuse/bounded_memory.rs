//! Memory bounded by bytes, shown for correctness (the figures come from `herald-bench
//! slow-replay`): a replay of large rows goes in byte-bounded pages and sends every row once, in
//! order; an overflowing republish queue is dropped whole and every session repairs from the database.

use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

crate::on_both_backends!(a_replay_of_large_rows_is_paged_by_bytes_and_sends_every_row_once_in_order, |app| {
    // ~21 KB of stored content each: 40 rows are ~840 KB, several 256 KiB pages.
    let message = "m".repeat(5000);
    let data = json!({ "blob": "d".repeat(16_000) });
    let mut created = Vec::new();
    for i in 0..40 {
        let (status, body) = app
            .post(
                "/auth/notifications/create/",
                &token(1),
                json!({"title": format!("large {i}"), "message": message, "data": data}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        created.push(id_of(&body["notification"]));
    }
    let mut ws = WsClient::connect(&app, &token(1), Some(created[4])).await;
    assert_eq!(ws.next_json().await["type"], "connection_established");
    let mut replayed = Vec::new();
    let complete = loop {
        let frame = ws.next_json().await;
        match frame["type"].as_str() {
            Some("notification") => {
                assert_eq!(frame["notification"]["message"].as_str().map(str::len), Some(5000));
                replayed.push(id_of(&frame["notification"]));
            }
            _ => break frame,
        }
    };
    assert_eq!(replayed, created[5..].to_vec(), "every row after `since` once, in order");
    assert_eq!(complete, json!({"type": "sync_complete", "last_id": created[39]}));
});

#[actix_web::test]
async fn an_overflowing_republish_queue_is_dropped_and_every_node_resyncs_once_redis_is_back() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let proxy = Proxy::start(format!("127.0.0.1:{}", redis.port).parse().expect("addr"));
    let via_proxy = format!("redis://127.0.0.1:{}/", proxy.port);
    // Node A reaches Redis through the proxy and may keep 1 byte of unpublished events: every
    // failed publish overflows and is dropped. Node B reaches Redis directly.
    let a = TestApp::spawn_on(
        DbGuard::None,
        &db.url,
        &[("REDIS_URL", via_proxy.as_str()), ("HERALD_REDIS_REPUBLISH_BYTES", "1")],
    )
    .await;
    let direct = redis.url();
    let b = TestApp::spawn_on(DbGuard::None, &db.url, &[("REDIS_URL", direct.as_str())]).await;
    wait_ready(&a).await;
    wait_ready(&b).await;
    let (mut on_b, _) = WsClient::open(&b, &token(1)).await;
    wait_subscribed(&redis, 1, 1).await;

    proxy.cut();
    let mut lost = Vec::new();
    for i in 0..5 {
        let (status, body) =
            a.post("/auth/notifications/create/", &token(1), json!({"title": format!("lost {i}")})).await;
        assert_eq!(status, StatusCode::CREATED, "stored although Redis is unreachable from A: {body}");
        lost.push(id_of(&body["notification"]));
    }
    // A dropped the events and no later event reveals the gap: B's position check finds the
    // user behind the database and repairs the socket, while A still cannot reach Redis.
    let stored = Instant::now();
    let mut pushed = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while pushed.len() < lost.len() {
        match read_until(&mut on_b, deadline).await {
            Read::Frame(frame) if frame["type"] == "notification" => pushed.push(id_of(&frame["notification"])),
            Read::Frame(_) => {}
            Read::Closed(code) => panic!("socket on B closed ({code}) with {pushed:?}"),
            Read::Quiet => break,
        }
    }
    println!("republish overflow: B repaired {:?} after the last create, A still cut off", stored.elapsed());
    assert_eq!(pushed, lost, "every dropped notification reaches B once, in order, through the position check");
    // A reaches Redis again: its resync finds nothing missing.
    proxy.restore();
    // And nothing twice.
    let settle = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Read::Frame(frame) = read_until(&mut on_b, settle).await {
        assert_ne!(frame["type"], "notification", "a notification twice: {frame}");
    }
}
