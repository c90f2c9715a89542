//! One node: what the stream looks like on the wire (headers, the `retry:` preamble, a greeting
//! without an id, events named by their frame's type with the WebSocket's JSON and a
//! `<position>:<notification id>` cursor, heartbeat comments), and how the server ends it (a
//! `close` event with the WebSocket's code, then the end of the body).

use super::QUIET;
use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

#[actix_web::test]
async fn the_stream_is_an_unbuffered_event_stream_that_opens_with_retry_then_the_greeting() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let first = app.create_for_self(1, "before").await;
    let (sse, hello) = SseClient::open(app.port, &token(1)).await;
    assert_eq!(
        hello,
        json!({"type": "connection_established", "user_id": 1, "unread_count": 1, "last_id": id_of(&first), "unseen_count": 1})
    );
    assert_eq!(sse.header("x-accel-buffering"), Some("no"), "{:?}", sse.headers);
    let cache = sse.header("cache-control").unwrap_or_default();
    assert!(cache.contains("no-cache"), "{:?}", sse.headers);
    assert_eq!(sse.header("transfer-encoding"), Some("chunked"), "{:?}", sse.headers);
    let preamble = sse.first_block.as_deref().unwrap_or_default();
    assert!(preamble.starts_with("retry: ") && !preamble.contains('\n'), "the first block is `retry:`: {preamble:?}");
    let retry = sse.retry_ms.expect("a retry value");
    assert!((1000..3000).contains(&retry), "retry spread over 1-3 s: {retry}");
    assert_eq!(sse.last_event_id, None, "nothing with an id yet");

    // The query's token and an `Authorization: Bearer` header both open it.
    let bearer = format!("Bearer {}", token(1));
    let (_by_header, hello) = SseClient::open_with(app.port, &sse_path(""), &[("Authorization", &bearer)]).await;
    assert_eq!(hello["user_id"], 1);
}

#[actix_web::test]
async fn each_event_carries_the_websocket_frame_as_data_and_a_cursor_that_moves_forward() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let me = token(1);
    let (mut ws, _) = WsClient::open(&app, &me).await;
    let (mut sse, _) = SseClient::open(app.port, &me).await;

    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(app.create_for_self(1, &format!("pushed {n}")).await["id"].as_i64().expect("id"));
    }
    let mut cursors = Vec::new();
    for id in &ids {
        let frame = ws.next_json().await;
        let event = sse.next_event().await;
        assert_eq!(event.event, "notification", "{event:?}");
        assert_eq!(event.data, frame, "the SSE data is the WebSocket frame");
        assert_eq!(delivered(&event).notification_id, *id);
        cursors.push(event.cursor());
    }
    // A read, an unread and a delete made over REST: the same pushes, each with a cursor that
    // keeps the newest notification id sent.
    let (status, _) = app.post_empty(&format!("/auth/notifications/{}/read/", ids[0]), &me).await;
    assert_eq!(status, 200);
    let (status, _) = app.post_empty(&format!("/auth/notifications/{}/unread/", ids[0]), &me).await;
    assert_eq!(status, 200);
    let (status, body) = app.delete(&format!("/auth/notifications/{}/delete/", ids[1]), &me).await;
    assert_eq!(status, 200, "{body}");
    for kind in ["notification_read", "notification_unread", "notification_deleted"] {
        let frame = ws.next_json().await;
        let event = sse.next_event().await;
        assert_eq!(event.event, kind, "{event:?}");
        assert_eq!(event.data, frame, "the SSE data is the WebSocket frame");
        let cursor = event.cursor();
        assert_eq!(cursor.1, ids[2], "the newest notification sent stays in the cursor: {event:?}");
        cursors.push(cursor);
    }
    let positions: Vec<i64> = cursors.iter().map(|c| c.0).collect();
    assert!(positions.windows(2).all(|w| w[0] + 1 == w[1]), "one position per change, in order: {cursors:?}");
    assert_eq!(sse.last_event_id.as_deref(), Some(format!("{}:{}", positions[5], ids[2]).as_str()));
    expect_no_more_sse_events(&mut sse, QUIET, "the stream").await;
    ws.expect_silence(Duration::from_millis(100)).await;
}

#[actix_web::test]
async fn an_idle_stream_gets_heartbeat_comments_every_ping_interval() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_PING_INTERVAL_SECS", "1")]).await;
    let (mut sse, _) = SseClient::open(app.port, &token(1)).await;
    // Two heartbeats and nothing else (a bound, not a timing: 1 s apart on a quiet machine).
    sse.expect_heartbeats(2, Duration::from_secs(20)).await;
    // Still serving.
    let id = create_id(&app, 1, "after the heartbeats").await;
    let event = sse.next_event().await;
    assert_eq!(delivered(&event).notification_id, id);
}

#[actix_web::test]
async fn an_administrators_disconnect_ends_the_stream_with_a_close_event_4003() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut sse, _) = SseClient::open(app.port, &token(5)).await;
    let (status, body) = app.post_empty("/admin/api/users/5/disconnect/", &staff_token(99)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disconnected"], 1, "{body}");
    let (code, reason, before) = sse.expect_close(WAIT).await;
    assert_eq!(code, 4003, "{reason}");
    assert!(before.is_empty(), "{before:?}");
    // A new stream with a valid token is accepted.
    let (_again, hello) = SseClient::open(app.port, &token(5)).await;
    assert_eq!(hello["user_id"], 5);
}

#[actix_web::test]
async fn a_node_shutting_down_ends_the_stream_with_a_close_event_1001() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut sse, _) = SseClient::open(app.port, &token(6)).await;
    let ((code, reason, before), ()) = tokio::join!(sse.expect_close(Duration::from_secs(30)), app.stop());
    assert_eq!(code, 1001, "{reason}");
    assert!(before.is_empty(), "{before:?}");
}
