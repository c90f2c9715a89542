//! Broadcasts and preferences on live sockets.

use super::QUIET;
use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const LIST: &str = "/auth/notifications/";

#[actix_web::test]
async fn broadcast_pushes_once_to_each_recipient_except_one_who_turned_realtime_off() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (status, body) = app
        .put("/auth/notifications/preferences/", &token(3), json!({"preferences": {"general": {"realtime": false}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["preferences"]["general"], json!({"enabled": true, "realtime": false}), "{body}");

    let mut sockets = Vec::new();
    for user in [1, 2, 3] {
        sockets.push((user, WsClient::open(&app, &token(user)).await.0));
    }
    let (status, body) = app
        .post(
            "/auth/notifications/broadcast/",
            &staff_token(100),
            json!({"user_ids": [1, 2, 3, 2], "title": "maintenance tonight", "message": "22:00 UTC"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["created"], 3, "{body}");
    assert_eq!(body["suppressed"], 0, "{body}");
    let ids: BTreeSet<i64> =
        body["notification_ids"].as_array().expect("notification_ids").iter().filter_map(Value::as_i64).collect();
    assert_eq!(ids.len(), 3, "{body}");

    for (user, ws) in &mut sockets {
        let user = *user;
        if user == 3 {
            ws.expect_silence(QUIET).await;
            continue;
        }
        let push = ws.next_json().await;
        assert_eq!(push["type"], "notification", "user {user}: {push}");
        let (status, list) = app.get(LIST, &token(user)).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(push["notification"], list["notifications"][0], "user {user}: the push is the stored row");
        assert_eq!(push["notification"]["user_id"], user, "{push}");
        assert_eq!(push["notification"]["sender_id"], 100, "{push}");
        assert!(ids.contains(&id_of(&push["notification"])), "user {user}: {push} not in {ids:?}");
        ws.expect_silence(QUIET).await;
    }

    // User 3's copy is stored and counted, just not pushed.
    let (status, list) = app.get(LIST, &token(3)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["unread_count"], 1, "{list}");
    assert_eq!(list["notifications"][0]["title"], "maintenance tonight", "{list}");
    assert!(ids.contains(&id_of(&list["notifications"][0])), "{list}");
    let (status, count) = app.get("/auth/notifications/unread-count/", &token(3)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count, json!({"unread_count": 1, "unseen_count": 1}));
}
