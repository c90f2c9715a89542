//! Per-user REST rate (429 + Retry-After; service tokens exempt), socket caps, and handshakes
//! through the per-user limiter and a per-node budget (503 + Retry-After).

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

#[actix_web::test]
async fn an_end_user_past_the_rate_gets_429_with_retry_after_and_others_do_not() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("HERALD_RATE_LIMIT_PER_SECOND", "1"), ("HERALD_RATE_LIMIT_BURST", "3")],
    )
    .await;
    let me = token(1);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, headers, body) = app
            .raw(
                Method::GET,
                "/auth/notifications/unread-count/",
                &[("Authorization", &format!("Bearer {me}"))],
                Vec::new(),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"]["code"], "rate_limited");
            let retry: u64 = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("Retry-After");
            assert!((1..=2).contains(&retry), "retry after {retry}");
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");

    let (status, _) = app.get("/auth/notifications/unread-count/", &token(2)).await;
    assert_eq!(status, StatusCode::OK, "another user has their own budget");
    let staff = staff_token(3);
    for i in 0..10 {
        let (status, body) =
            app.post("/auth/notifications/create/", &staff, json!({"user_id": 4, "title": format!("s{i}")})).await;
        assert_eq!(status, StatusCode::CREATED, "service tokens are not limited: {body}");
    }
}

#[actix_web::test]
async fn sockets_past_the_per_user_and_per_node_caps_are_refused() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, &[("HERALD_MAX_SOCKETS_PER_USER", "2"), ("HERALD_MAX_SOCKETS", "3")])
            .await;
    let (_a, _) = WsClient::open(&app, &token(1)).await;
    let (_b, _) = WsClient::open(&app, &token(1)).await;
    let refused = WsClient::try_connect(&ws_url(&app, &format!("?token={}", token(1))), &[])
        .await
        .err()
        .expect("third socket refused");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["error"]["code"], "rate_limited");
    let (_c, _) = WsClient::open(&app, &token(2)).await;
    let refused =
        WsClient::try_connect(&ws_url(&app, &format!("?token={}", token(5))), &[]).await.err().expect("node full");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.body["error"]["code"], "unavailable");
}

/// Opens a socket at each URL in turn until a handshake is refused: the open sockets, and the
/// refusal if there was one.
async fn connect_until_refused(urls: impl Iterator<Item = String>) -> (Vec<WsClient>, Option<Refused>) {
    let mut open = Vec::new();
    for url in urls {
        match WsClient::try_connect(&url, &[]).await {
            Ok(ws) => open.push(ws),
            Err(refused) => return (open, Some(refused)),
        }
    }
    (open, None)
}

#[actix_web::test]
async fn handshakes_count_against_the_users_rate_limit() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("HERALD_RATE_LIMIT_PER_SECOND", "1"), ("HERALD_RATE_LIMIT_BURST", "3")],
    )
    .await;
    let url = ws_url(&app, &format!("?token={}", token(1)));
    let (open, refused) = connect_until_refused(std::iter::repeat_n(url, 6)).await;
    let refused = refused.expect("a user churning handshakes is refused");
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "rate_limited");
    assert!(open.len() <= 3, "at most the burst gets through: {}", open.len());
    // Another user is not affected.
    let other = WsClient::try_connect(&ws_url(&app, &format!("?token={}", token(2))), &[]).await;
    assert!(other.is_ok(), "user 2 connects: {:?}", other.err());
}

#[actix_web::test]
async fn handshakes_beyond_the_node_budget_get_503_with_retry_after() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HERALD_WS_HANDSHAKES_PER_SECOND", "3")]).await;
    let urls = (1..=10).map(|user| ws_url(&app, &format!("?token={}", token(user))));
    let (open, refused) = connect_until_refused(urls).await;
    let accepted = open.len();
    let refused = refused.expect("the node budget refuses handshakes beyond it");
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "unavailable");
    assert!(accepted <= 3, "{accepted} accepted");
    // The budget refills: a second later handshakes go through again. (Waiting past the refill
    // is the scenario: the test is about the timer.)
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert!(WsClient::try_connect(&ws_url(&app, &format!("?token={}", token(11))), &[]).await.is_ok());
    let (_, headers, _) = app.raw(Method::GET, "/healthz", &[], Vec::new()).await;
    assert!(headers.get("retry-after").is_none(), "only 503s carry Retry-After");
}

#[actix_web::test]
async fn a_503_carries_retry_after() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HERALD_WS_HANDSHAKES_PER_SECOND", "1")]).await;
    let url = ws_url(&app, &format!("?token={}", token(1)));
    let headers = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let path = url.trim_start_matches(&format!("ws://127.0.0.1:{}", app.port)).to_owned();
    let mut last = None;
    for _ in 0..3 {
        let (status, headers, _) = app.raw(Method::GET, &path, &headers, Vec::new()).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            last = headers.get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
            break;
        }
    }
    assert_eq!(last.as_deref(), Some("1"), "503 with Retry-After: 1");
}
