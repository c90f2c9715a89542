//! A caller without the permission is refused before its body is read; a token accepted within
//! the handshake's leeway is not closed right after the greeting.

use crate::helpers::*;
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;

/// Sends the head of a request whose body would be `content_length` bytes, and only `{`.
/// Returns the status line the server answers before the body is complete, if it does
/// within `within`.
fn answer_before_the_body(port: u16, token: &str, content_length: usize, within: Duration) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(within)).expect("timeout");
    write!(
        stream,
        "POST /auth/notifications/broadcast/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n{{"
    )
    .expect("write head");
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(n) if n > 0 => String::from_utf8_lossy(&buf[..n]).lines().next().map(str::to_owned),
        _ => None,
    }
}

#[actix_web::test]
async fn broadcast_refuses_a_caller_without_permission_before_reading_the_body() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let port = app.port;
    let plain = token(5);
    let status = actix_web::rt::task::spawn_blocking(move || {
        answer_before_the_body(port, &plain, 1_000_000, Duration::from_secs(3))
    })
    .await
    .expect("thread");
    let status = status.expect("an answer while the 1 MB body is still unsent");
    assert!(status.contains(" 403 "), "{status}");
    // A caller with the permission is answered only once the body is read: nothing within 1 s.
    let staff = staff_token(1);
    let status = actix_web::rt::task::spawn_blocking(move || {
        answer_before_the_body(port, &staff, 1_000_000, Duration::from_secs(1))
    })
    .await
    .expect("thread");
    assert_eq!(status, None, "the permitted caller's body is awaited");
}

#[actix_web::test]
async fn a_token_accepted_within_the_leeway_is_not_closed_right_after_the_greeting() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("JWT_LEEWAY_SECONDS", "4")]).await;
    let just_expired = sign(&json!({"token_type": "access", "user_id": 3, "exp": now_secs() - 1}));
    let (mut ws, _) = WsClient::open(&app, &just_expired).await;
    let (code, _) = ws.close_within(Duration::from_millis(1500)).await;
    assert_eq!(code, None, "accepted within the leeway, so not closed at once");
    let (code, _) = ws.close_within(WAIT).await;
    assert_eq!(code, Some(4001), "closed once the leeway is over too");
}
