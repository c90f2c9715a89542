//! Sockets of one user are independent.

use super::{assert_error, ping_pong, request, MAX_FRAME, NO_FRAME_LIMIT};
use crate::helpers::*;
use futures_util::SinkExt;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[actix_web::test]
async fn an_error_on_one_socket_does_not_affect_another_of_the_same_user() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let (mut a, _) = WsClient::open(&app, &token(1)).await;
    let (mut b, _) = WsClient::open(&app, &token(1)).await;

    a.send_text("{ not json").await;
    assert_error(&a.next_json().await, "invalid_json", None, None);
    let unknown = request(&mut a, json!({"type": "explode", "request_id": "x"})).await;
    assert_error(&unknown, "validation_error", Some("type"), Some(&json!("x")));
    b.expect_silence(Duration::from_millis(200)).await;
    ping_pong(&mut b, json!("b")).await;
    ping_pong(&mut a, json!("a")).await;

    // A fatal error (oversized frame) closes only that socket.
    a.stream.send(Message::text("z".repeat(MAX_FRAME + 1))).await.expect("send huge frame");
    let (code, _) = a.expect_close().await;
    assert_eq!(code, 1009);
    ping_pong(&mut b, json!(2)).await;
    let created = app.create_for_self(1, "after a closed").await;
    assert_eq!(b.next_json().await, json!({"type": "notification", "notification": created}));
}
