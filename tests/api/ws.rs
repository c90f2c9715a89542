//! The WebSocket API of SPEC §5 on one node, with a real client.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

#[actix_web::test]
async fn connection_established_then_rest_creates_are_pushed_live() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let before = id_of(&app.create_for_self(1, "before").await);
    let (mut ws, hello) = WsClient::open(&app, &token(1)).await;
    assert_eq!(hello, json!({"type": "connection_established", "user_id": 1, "unread_count": 1, "last_id": before}));
    let created = app.create_for_self(1, "live").await;
    let push = ws.next_json().await;
    assert_eq!(push, json!({"type": "notification", "notification": created}));
    ws.send_json(json!({"type": "ping", "request_id": "p1"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong", "request_id": "p1"}));
    ws.expect_silence(Duration::from_millis(200)).await;
}
