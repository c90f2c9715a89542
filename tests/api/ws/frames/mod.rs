//! The WebSocket contract frame by frame (SPEC §2 handshake rules, SPEC §5).

mod bad_input;
mod close_codes;
mod handshake;
mod independence;
mod rate_limit;
mod replies;

use crate::helpers::*;
use serde_json::{json, Value};

/// Lifts the per-socket frame rate limit for tests that send many frames on purpose.
const NO_FRAME_LIMIT: (&str, &str) = ("HERALD_WS_FRAMES_PER_SECOND", "1000");

/// The largest client frame the server accepts (SPEC §5: over 64 KiB closes with 1009).
const MAX_FRAME: usize = 64 * 1024;

/// Sends a frame and returns the next text frame.
async fn request(ws: &mut WsClient, frame: Value) -> Value {
    ws.send_json(frame).await;
    ws.next_json().await
}

/// A ping with `request_id` gets exactly its pong: the socket is open and serving.
async fn ping_pong(ws: &mut WsClient, request_id: Value) {
    let pong = request(ws, json!({"type": "ping", "request_id": request_id})).await;
    assert_eq!(pong, json!({"type": "pong", "request_id": request_id}));
}

/// Asserts `frame` is `{"type":"error","code","message","field"?,"request_id"?}` as expected.
fn assert_error(frame: &Value, code: &str, field: Option<&str>, request_id: Option<&Value>) {
    let object = frame.as_object().unwrap_or_else(|| panic!("error frame is an object: {frame}"));
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], code, "{frame}");
    assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()), "message: {frame}");
    assert_eq!(object.get("field").and_then(Value::as_str), field, "field: {frame}");
    assert_eq!(object.get("request_id"), request_id, "request_id: {frame}");
    // `retry_after` (seconds, as REST's Retry-After) on a refusal, and only there.
    let retry_after = object.get("retry_after").map(|v| v.as_u64().filter(|s| *s >= 1));
    assert_eq!(retry_after.is_some(), code == "rate_limited", "retry_after: {frame}");
    assert!(retry_after.is_none_or(|s| s.is_some()), "retry_after in whole seconds: {frame}");
    for key in object.keys() {
        let known = ["type", "code", "message", "field", "request_id", "retry_after"];
        assert!(known.contains(&key.as_str()), "extra key {key}: {frame}");
    }
}

fn ids(notifications: &Value) -> Vec<i64> {
    notifications.as_array().unwrap_or_else(|| panic!("an array: {notifications}")).iter().map(id_of).collect()
}

/// A token for `user` expiring at `exp` (seconds since the epoch).
fn token_expiring(user: i64, exp: i64) -> String {
    sign(&json!({ "token_type": "access", "user_id": user, "exp": exp }))
}

fn timestamp_of(rfc3339: &Value) -> i64 {
    let text = rfc3339.as_str().unwrap_or_else(|| panic!("a timestamp string: {rfc3339}"));
    assert!(text.ends_with('Z'), "UTC with a Z suffix: {text}");
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("RFC 3339 ({e}): {text}")).timestamp()
}
