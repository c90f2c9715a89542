//! Changes made over REST are pushed to every socket of their user.

use super::QUIET;
use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[actix_web::test]
async fn connection_established_then_rest_creates_are_pushed_live() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let before = id_of(&app.create_for_self(1, "before").await);
    let (mut ws, hello) = WsClient::open(&app, &token(1)).await;
    assert_eq!(
        hello,
        json!({"type": "connection_established", "user_id": 1, "unread_count": 1, "unseen_count": 1, "last_id": before})
    );
    let created = app.create_for_self(1, "live").await;
    let push = ws.next_json().await;
    assert_eq!(push, json!({"type": "notification", "notification": created}));
    ws.send_json(json!({"type": "ping", "request_id": "p1"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong", "request_id": "p1"}));
    ws.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn rest_create_reaches_all_three_sockets_of_the_user_and_no_other_user() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(WsClient::open(&app, &token(1)).await.0);
    }
    let (mut other, _) = WsClient::open(&app, &token(2)).await;

    let created = app.create_for_self(1, "to every tab").await;
    let expected = json!({"type": "notification", "notification": created});
    for ws in &mut mine {
        assert_eq!(ws.next_json().await, expected);
    }
    for ws in &mut mine {
        ws.expect_silence(QUIET).await;
    }
    other.expect_silence(Duration::from_millis(50)).await;
}

#[actix_web::test]
async fn rest_read_unread_mark_all_read_and_delete_are_pushed_to_every_socket_of_the_user() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let me = token(1);
    let first = create_id(&app, 1, "first").await;
    let second = create_id(&app, 1, "second").await;
    let (mut a, hello) = WsClient::open(&app, &me).await;
    assert_eq!(hello["unread_count"], 2, "{hello}");
    let (mut b, _) = WsClient::open(&app, &me).await;
    let (mut stranger, _) = WsClient::open(&app, &token(2)).await;

    async fn both_get(a: &mut WsClient, b: &mut WsClient, expected: Value) {
        assert_eq!(a.next_json().await, expected, "socket A");
        assert_eq!(b.next_json().await, expected, "socket B");
    }

    let (status, body) = app.post_empty(&format!("/auth/notifications/{first}/read/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 1, "{body}");
    both_get(
        &mut a,
        &mut b,
        json!({"type": "notification_read", "notification_id": first, "unread_count": 1, "unseen_count": 1}),
    )
    .await;

    // Already read: 200, nothing changes, nothing is pushed.
    let (status, body) = app.post_empty(&format!("/auth/notifications/{first}/read/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 1, "{body}");
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::from_millis(50)).await;

    let (status, body) = app.post_empty(&format!("/auth/notifications/{first}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 2, "{body}");
    both_get(
        &mut a,
        &mut b,
        json!({"type": "notification_unread", "notification_id": first, "unread_count": 2, "unseen_count": 1}),
    )
    .await;

    let (status, body) = app.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"marked": 2, "unread_count": 0, "unseen_count": 0}));
    both_get(&mut a, &mut b, json!({"type": "all_read", "marked": 2, "unread_count": 0, "unseen_count": 0})).await;

    // Nothing left to mark: nothing changes, nothing is pushed.
    let (status, body) = app.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"marked": 0, "unread_count": 0, "unseen_count": 0}));
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::from_millis(50)).await;

    // Delete an unread one (the count drops) and a read one (it does not).
    let (status, _) = app.post_empty(&format!("/auth/notifications/{second}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK);
    both_get(
        &mut a,
        &mut b,
        json!({"type": "notification_unread", "notification_id": second, "unread_count": 1, "unseen_count": 0}),
    )
    .await;
    let (status, body) = app.delete(&format!("/auth/notifications/{second}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"deleted": true, "unread_count": 0, "unseen_count": 0}));
    both_get(
        &mut a,
        &mut b,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 0, "unseen_count": 0}),
    )
    .await;
    let (status, body) = app.delete(&format!("/auth/notifications/{first}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    both_get(
        &mut a,
        &mut b,
        json!({"type": "notification_deleted", "notification_id": first, "unread_count": 0, "unseen_count": 0}),
    )
    .await;

    // Deleting twice is 404 and pushes nothing.
    let (status, _) = app.delete(&format!("/auth/notifications/{first}/delete/"), &me).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::from_millis(50)).await;
    stranger.expect_silence(Duration::from_millis(50)).await;
}
