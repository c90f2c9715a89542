//! Every close code the server uses.

use super::{assert_error, ping_pong, request, timestamp_of, token_expiring, MAX_FRAME};
use crate::helpers::*;
use awc::http::StatusCode;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

#[actix_web::test]
async fn a_text_frame_over_64_kib_closes_with_1009() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let padded = json!({"type": "ping", "request_id": "x".repeat(MAX_FRAME + 1000)}).to_string();
    ws.stream.send(Message::text(padded)).await.expect("send huge frame");
    let (code, before) = ws.expect_close().await;
    assert_eq!(code, 1009, "frames before the close: {before:?}");
    assert!(before.is_empty(), "{before:?}");
}

#[actix_web::test]
async fn a_frame_just_under_64_kib_is_served() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let overhead = json!({"type": "ping", "request_id": ""}).to_string().len();
    let request_id = "r".repeat(MAX_FRAME - 16 - overhead);
    let frame = json!({"type": "ping", "request_id": request_id});
    let len = frame.to_string().len();
    assert!(len < MAX_FRAME && len > MAX_FRAME - 100, "frame of {len} bytes");
    ws.send_json(frame).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong", "request_id": request_id}));
    ping_pong(&mut ws, json!("small")).await;
}

#[actix_web::test]
async fn a_fragmented_message_over_64_kib_closes_with_1009_and_a_small_one_is_served() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    // Two fragments of one small ping: reassembled and answered.
    let text = json!({"type": "ping", "request_id": "frag"}).to_string();
    let (head, tail) = text.split_at(10);
    let first = Frame::message(head.as_bytes().to_vec(), OpCode::Data(Data::Text), false);
    let last = Frame::message(tail.as_bytes().to_vec(), OpCode::Data(Data::Continue), true);
    ws.stream.send(Message::Frame(first)).await.expect("send first fragment");
    ws.stream.send(Message::Frame(last)).await.expect("send last fragment");
    assert_eq!(ws.next_json().await, json!({"type": "pong", "request_id": "frag"}));

    // Three fragments of 30 000 bytes each: every frame is small, the message is not.
    let big = json!({"type": "ping", "request_id": "y".repeat(90_000)}).to_string();
    let chunks: Vec<&[u8]> = big.as_bytes().chunks(30_000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        let frame = Frame::message(chunk.to_vec(), opcode, i == chunks.len() - 1);
        // The server may close before the last fragment is written.
        if ws.stream.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    let (code, before) = ws.expect_close().await;
    assert_eq!(code, 1009, "frames before the close: {before:?}");
}

#[actix_web::test]
async fn flooding_past_the_rate_limit_gets_rate_limited_errors_then_close_1008() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_FRAMES_PER_SECOND", "5")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    for i in 0..100 {
        // The server may close before the last frames are written.
        if ws.stream.feed(Message::text(json!({"type": "ping", "request_id": i}).to_string())).await.is_err() {
            break;
        }
    }
    let _ = ws.stream.flush().await;
    let (code, before) = ws.expect_close().await;
    assert_eq!(code, 1008, "frames before the close: {before:?}");
    let limited: Vec<&Value> = before.iter().filter(|f| f["type"] == "error").collect();
    assert!(!limited.is_empty(), "some rate_limited errors before the close: {before:?}");
    for frame in &limited {
        assert!(frame["request_id"].is_i64(), "request_id echoed: {frame}");
        assert_error(frame, "rate_limited", None, Some(&frame["request_id"]));
    }
    let pongs: Vec<&Value> = before.iter().filter(|f| f["type"] == "pong").collect();
    assert!(!pongs.is_empty() && pongs.len() < 50, "the first frames within the limit are served: {before:?}");
    assert_eq!(pongs[0]["request_id"], 0, "{before:?}");
    assert_eq!(pongs.len() + limited.len(), before.len(), "only pongs and errors: {before:?}");
    // Replies keep the order of the frames.
    let order: Vec<i64> = before.iter().map(|f| f["request_id"].as_i64().expect("request_id")).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[actix_web::test]
async fn an_expiring_token_closes_the_socket_with_4001() {
    // The expiry timer applies the handshake's leeway: 1 s here, so the close comes ~4 s in.
    let app = TestApp::spawn_with(Backend::Postgres, &[("JWT_LEEWAY_SECONDS", "1")]).await;
    let started = Instant::now();
    let (mut ws, _) = WsClient::open(&app, &token_expiring(1, now_secs() + 3)).await;
    ping_pong(&mut ws, json!("alive")).await;
    let (code, before) = ws.expect_close().await;
    let elapsed = started.elapsed();
    assert_eq!(code, 4001, "frames before the close: {before:?}");
    assert!(before.is_empty(), "{before:?}");
    assert!(
        elapsed >= Duration::from_millis(2500) && elapsed <= Duration::from_secs(7),
        "closed after {elapsed:?}, expected about 4 s (3 s + 1 s leeway)"
    );
}

#[actix_web::test]
async fn refresh_token_before_expiry_keeps_the_socket_open() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let first_exp = now_secs() + 3;
    let (mut ws, _) = WsClient::open(&app, &token_expiring(1, first_exp)).await;
    // The scenario: the refresh comes a second into the first token's 3 s, well before expiry.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let exp = now_secs() + 3600;
    let refreshed =
        request(&mut ws, json!({"type": "refresh_token", "token": token_expiring(1, exp), "request_id": 1})).await;
    assert_eq!(refreshed["type"], "token_refreshed", "{refreshed}");
    assert_eq!(refreshed["request_id"], 1, "{refreshed}");
    assert_eq!(timestamp_of(&refreshed["expires_at"]), exp, "{refreshed}");
    // Past the first token's expiry by 5 s: nothing arrives, no close (expect_silence panics on one).
    let until_secs = u64::try_from(first_exp + 5 - now_secs()).unwrap_or(0);
    ws.expect_silence(Duration::from_secs(until_secs)).await;
    ping_pong(&mut ws, json!("later")).await;
}

#[actix_web::test]
async fn refresh_token_for_another_user_is_an_error_and_the_socket_stays() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let other = request(&mut ws, json!({"type": "refresh_token", "token": token(2), "request_id": "other"})).await;
    assert_error(&other, "forbidden", None, Some(&json!("other")));
    ping_pong(&mut ws, json!("still-open")).await;
    // The session is still user 1's.
    let created = app.create_for_self(1, "for one").await;
    assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": created}));
}

#[actix_web::test]
async fn a_client_that_never_answers_pings_is_closed_and_one_that_does_is_not() {
    let app = TestApp::spawn_with(
        Backend::Postgres,
        &[("HERALD_WS_PING_INTERVAL_SECS", "1"), ("HERALD_WS_PING_TIMEOUT_SECS", "2")],
    )
    .await;
    let (mut silent, _) = WsClient::open(&app, &token(1)).await;
    let (mut live, _) = WsClient::open(&app, &token(2)).await;
    // For 4 s, `live` reads (tungstenite answers the server's pings), `silent` is never polled.
    live.expect_silence(Duration::from_secs(4)).await;
    let (code, before) = silent.expect_close().await;
    assert!(before.is_empty(), "close code {code}, frames: {before:?}");
    ping_pong(&mut live, json!("alive")).await;
}

#[actix_web::test]
async fn a_client_too_slow_to_read_its_pushes_is_closed_with_1013_and_resumes_with_since() {
    const TASKS: usize = 6;
    const PER_TASK: usize = 250;
    let app =
        TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_OUTBOX", "4"), ("HERALD_WS_PING_TIMEOUT_SECS", "30")])
            .await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let user_token = token(1);
    let message = "m".repeat(4000);
    let creators = (0..TASKS).map(|task| {
        let (app, user_token, message) = (&app, &user_token, &message);
        async move {
            for i in 0..PER_TASK {
                let body = json!({"title": format!("slow {task}-{i}"), "message": message});
                let (status, body) = app.post("/auth/notifications/create/", user_token, body).await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
        }
    });
    futures_util::future::join_all(creators).await;
    let total = TASKS * PER_TASK;

    let (code, before) = ws.expect_close().await;
    assert_eq!(code, 1013, "after {} frames", before.len());
    assert!(before.len() < total, "closed before all {total} pushes: got {}", before.len());
    assert!(before.iter().all(|f| f["type"] == "notification"), "only pushes before the close");
    let pushed: Vec<i64> = before.iter().map(|f| id_of(&f["notification"])).collect();
    assert!(pushed.windows(2).all(|w| w[0] < w[1]), "strictly increasing ids");

    // Reconnecting with since = the last id seen replays exactly the rest: the pushes were a prefix.
    let since = pushed.last().copied().unwrap_or(0);
    let mut resumed = WsClient::connect(&app, &token(1), Some(since)).await;
    assert_eq!(resumed.next_json().await["type"], "connection_established");
    let mut replayed = Vec::new();
    loop {
        let frame = resumed.next_json().await;
        match frame["type"].as_str() {
            Some("notification") => replayed.push(id_of(&frame["notification"])),
            Some("sync_complete") => break,
            _ => panic!("unexpected frame during replay: {frame}"),
        }
    }
    let all: Vec<i64> = pushed.iter().chain(&replayed).copied().collect();
    assert_eq!(all.len(), total, "every notification exactly once");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in order, no duplicates");
    assert_eq!(list(&app, 1, "?limit=1").await["total"], total);
}

#[actix_web::test]
async fn server_shutdown_closes_sockets_with_1001() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    ping_pong(&mut ws, json!("before")).await;
    let ((code, before), ()) = tokio::join!(ws.expect_close(), app.stop());
    assert_eq!(code, 1001, "frames before the close: {before:?}");
}
