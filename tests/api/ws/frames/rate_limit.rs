//! Frame rate limiting: every kind of data frame counts, and errors keep a readable request_id.

use super::assert_error;
use crate::helpers::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[actix_web::test]
async fn flooding_with_binary_frames_is_rate_limited_and_closed_with_1008() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_FRAMES_PER_SECOND", "5")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    for _ in 0..100 {
        if ws.stream.feed(Message::binary(vec![1u8, 2, 3])).await.is_err() {
            break;
        }
    }
    let _ = ws.stream.flush().await;
    let (code, before) = ws.close_within(WAIT).await;
    let limited = before.iter().filter(|f| f["code"] == "rate_limited").count();
    assert!(limited > 0, "some rate_limited errors; got {} frames: {:?}", before.len(), before.first());
    assert_eq!(code, Some(1008), "after {} frames", before.len());
}

#[actix_web::test]
async fn a_rate_limited_error_echoes_a_readable_request_id_even_for_an_invalid_frame() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_FRAMES_PER_SECOND", "1")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    for frame in [
        json!({"type": "ping", "request_id": 1}),
        json!({"type": "ping", "request_id": 2}),
        json!({"type": "explode", "request_id": 3}),
    ] {
        ws.stream.feed(Message::text(frame.to_string())).await.expect("queue frame");
    }
    ws.stream.flush().await.expect("send frames");
    assert_eq!(ws.next_json().await, json!({"type": "pong", "request_id": 1}));
    assert_error(&ws.next_json().await, "rate_limited", None, Some(&json!(2)));
    assert_error(&ws.next_json().await, "rate_limited", None, Some(&json!(3)));
}
