//! Bad input never closes the socket.

use super::{assert_error, ping_pong, NO_FRAME_LIMIT};
use crate::helpers::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[actix_web::test]
async fn bad_frames_get_error_frames_and_the_socket_stays_open() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let theirs = id_of(&app.create_for_self(2, "user 2's").await);
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let long_title = "t".repeat(201);
    let cases: Vec<(String, &str, Option<&str>, Option<Value>)> = vec![
        ("this is not json".into(), "invalid_json", None, None),
        (r#"{"type":"ping","request_id":"cut""#.into(), "invalid_json", None, None),
        ("[1,2,3]".into(), "invalid_json", None, None),
        (r#""ping""#.into(), "invalid_json", None, None),
        ("42".into(), "invalid_json", None, None),
        (json!({"request_id": "m1"}).to_string(), "validation_error", Some("type"), Some(json!("m1"))),
        (json!({"type": 7, "request_id": 2}).to_string(), "validation_error", Some("type"), Some(json!(2))),
        (json!({"type": "explode", "request_id": 3}).to_string(), "validation_error", Some("type"), Some(json!(3))),
        (
            json!({"type": "mark_read", "request_id": "nr"}).to_string(),
            "validation_error",
            Some("notification_id"),
            Some(json!("nr")),
        ),
        (
            json!({"type": "mark_read", "notification_id": "abc", "request_id": "na"}).to_string(),
            "validation_error",
            Some("notification_id"),
            Some(json!("na")),
        ),
        (
            json!({"type": "mark_read", "notification_id": theirs, "request_id": "other"}).to_string(),
            "not_found",
            None,
            Some(json!("other")),
        ),
        (
            json!({"type": "mark_read", "notification_id": theirs + 1000, "request_id": 404}).to_string(),
            "not_found",
            None,
            Some(json!(404)),
        ),
        (
            json!({"type": "delete_notification", "notification_id": theirs, "request_id": "del"}).to_string(),
            "not_found",
            None,
            Some(json!("del")),
        ),
        (
            json!({"type": "send_notification", "title": long_title, "request_id": "long"}).to_string(),
            "validation_error",
            Some("title"),
            Some(json!("long")),
        ),
        (json!({"type": "ping", "request_id": {"a": 1}}).to_string(), "validation_error", Some("request_id"), None),
    ];
    for (i, (text, code, field, request_id)) in cases.iter().enumerate() {
        ws.send_text(text).await;
        let reply = ws.next_json().await;
        assert_error(&reply, code, *field, request_id.as_ref());
        ping_pong(&mut ws, json!(format!("after-{i}"))).await;
    }

    ws.stream.send(Message::binary(vec![0u8, 1, 2, 3])).await.expect("send binary frame");
    let reply = ws.next_json().await;
    assert_eq!(reply["type"], "error", "{reply}");
    let code = reply["code"].as_str().expect("code is a string").to_owned();
    assert_error(&reply, &code, None, None);
    ping_pong(&mut ws, json!("after-binary")).await;

    // Nothing changed: user 2's notification is unread and still there; nothing was created.
    let theirs_now = list(&app, 2, "").await;
    assert_eq!(theirs_now["notifications"][0]["is_read"], false, "{theirs_now}");
    assert_eq!(list(&app, 1, "").await["total"], 0);
    ws.expect_silence(Duration::from_millis(200)).await;
}
