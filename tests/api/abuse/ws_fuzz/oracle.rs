//! Sending a case and judging the answer against the documented codes.

use super::cases::Case;
use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// Error codes an error frame may carry (README "Errors" and "WebSocket API").
const ERROR_CODES: [&str; 7] =
    ["invalid_json", "validation_error", "bad_request", "unauthorized", "forbidden", "not_found", "rate_limited"];

/// Every frame type the server sends (README "WebSocket API").
const SERVER_FRAME_TYPES: [&str; 14] = [
    "connection_established",
    "notifications",
    "notification",
    "notification_read",
    "notification_unread",
    "all_read",
    "notification_deleted",
    "notification_sent",
    "unread_count",
    "resync",
    "sync_complete",
    "pong",
    "token_refreshed",
    "error",
];

/// Asserts `frame` is a documented server frame; true when it is an error frame.
fn assert_documented(frame: &Value, case: &str) -> bool {
    let kind =
        frame.get("type").and_then(Value::as_str).unwrap_or_else(|| panic!("{case}: frame without a type: {frame}"));
    assert!(SERVER_FRAME_TYPES.contains(&kind), "{case}: undocumented frame type: {frame}");
    if kind != "error" {
        return false;
    }
    let code = frame["code"].as_str().unwrap_or_else(|| panic!("{case}: error without a code: {frame}"));
    assert!(ERROR_CODES.contains(&code), "{case}: undocumented error code: {frame}");
    assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: error without a message: {frame}");
    true
}

pub(super) async fn write(ws: &mut WsClient, bytes: &[u8]) -> std::io::Result<()> {
    let socket = ws.stream.get_mut();
    socket.write_all(bytes).await?;
    socket.flush().await
}

/// Sends a case, then a `ping` probe, and reads up to the probe's pong: every frame on the way
/// is documented, the socket never closes. Returns how many error frames came.
pub(super) async fn send_served(ws: &mut WsClient, case: &Case, probe: usize) -> usize {
    let probe_id = json!(format!("probe-{probe}"));
    write(ws, &case.bytes).await.unwrap_or_else(|e| panic!("{}: write failed: {e}", case.name));
    ws.send_json(json!({"type": "ping", "request_id": probe_id})).await;
    let deadline = Instant::now() + WAIT;
    let mut errors = 0;
    loop {
        match read_until(ws, deadline).await {
            Read::Frame(frame) if frame["type"] == "pong" && frame["request_id"] == probe_id => return errors,
            Read::Frame(frame) => {
                if assert_documented(&frame, &case.name) {
                    errors += 1;
                }
            }
            Read::Closed(code) => panic!("{}: bad input closed the socket with {code}", case.name),
            Read::Quiet => panic!("{}: no pong for the probe within {WAIT:?}", case.name),
        }
    }
}

/// Opens a socket for `user`, sends a case that must close it, and returns the close code.
pub(super) async fn send_closing(app: &TestApp, user: i64, case: &Case) -> Option<u16> {
    let (mut ws, _) = WsClient::open(app, &token(user)).await;
    // The server may close before the whole case is written.
    let _ = write(&mut ws, &case.bytes).await;
    let (code, before) = ws.close_within(WAIT).await;
    for frame in &before {
        assert_documented(frame, &case.name);
    }
    code
}

pub(super) async fn assert_healthy(app: &TestApp) {
    let (status, body) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (mut fresh, hello) = WsClient::open(app, &token(1)).await;
    assert_eq!(hello["user_id"], 1, "{hello}");
    fresh.send_json(json!({"type": "ping", "request_id": "healthy"})).await;
    assert_eq!(fresh.next_json().await, json!({"type": "pong", "request_id": "healthy"}));
}

/// The node under test: frames are not rate limited (the barrage is hundreds of frames a second
/// on one socket; flooding is abuse.rs's subject).
pub(super) async fn spawn_node() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, &[("HERALD_WS_FRAMES_PER_SECOND", "100000")]).await
}
