//! Limits: per-user REST rate (429 + Retry-After; service tokens exempt) and socket caps.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::json;

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
