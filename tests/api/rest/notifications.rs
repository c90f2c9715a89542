//! REST endpoints of SPEC §4 end to end, on PostgreSQL and on SQLite.

use crate::helpers::*;
use crate::on_both_backends;
use awc::http::StatusCode;
use serde_json::json;

on_both_backends!(create_then_list_read_unread_delete_round_trip, |app| {
    let me = token(1);
    let (status, body) = app
        .post(
            "/auth/notifications/create/",
            &me,
            json!({"title": " New Task Assigned ", "message": "You have a task", "type": "meeting", "data": {"task_id": 123}, "link": "https://example.com/tasks/123"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let n = &body["notification"];
    assert_eq!(n["user_id"], 1);
    assert_eq!(n["sender_id"], 1);
    assert_eq!(n["title"], "New Task Assigned");
    assert_eq!(n["notification_type"], "meeting");
    assert_eq!(n["data"], json!({"task_id": 123}));
    assert_eq!(n["is_read"], false);
    assert_eq!(n["read_at"], json!(null));
    let created_at = n["created_at"].as_str().expect("created_at");
    assert!(created_at.ends_with('Z') && created_at.len() == "2026-11-24T09:10:44.123456Z".len(), "{created_at}");
    let id = n["id"].as_i64().expect("id");

    let (status, list) = app.get("/auth/notifications/", &me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["notifications"][0], *n);
    assert_eq!(list["total"], 1);
    assert_eq!(list["unread_count"], 1);
    assert_eq!(list["next_before"], json!(null));

    let (status, read) = app.post_empty(&format!("/auth/notifications/{id}/read/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["notification"]["is_read"], true);
    assert_eq!(read["unread_count"], 0);
    let read_at = read["notification"]["read_at"].clone();
    assert!(read_at.is_string());
    let (_, again) = app.post_empty(&format!("/auth/notifications/{id}/read"), &me).await;
    assert_eq!(again["notification"]["read_at"], read_at, "read_at keeps its first value");
    assert_eq!(again["unread_count"], 0);

    let (status, unread) = app.post_empty(&format!("/auth/notifications/{id}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unread["notification"]["is_read"], false);
    assert_eq!(unread["notification"]["read_at"], json!(null));
    assert_eq!(unread["unread_count"], 1);

    let (status, deleted) = app.delete(&format!("/auth/notifications/{id}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted, json!({"deleted": true, "unread_count": 0, "unseen_count": 0}));
    let (status, again) = app.delete(&format!("/auth/notifications/{id}/delete"), &me).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(again["error"]["code"], "not_found");
});

on_both_backends!(mark_all_read_and_unread_count_track_every_change, |app| {
    let me = token(2);
    for i in 0..3 {
        app.create_for_self(2, &format!("n{i}")).await;
    }
    let (status, count) = app.get("/auth/notifications/unread-count/", &me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count, json!({"unread_count": 3, "unseen_count": 3}));
    let (status, marked) = app.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(marked, json!({"marked": 3, "unread_count": 0, "unseen_count": 0}));
    let (_, marked) = app.post_empty("/auth/notifications/mark-all-read", &me).await;
    assert_eq!(marked, json!({"marked": 0, "unread_count": 0, "unseen_count": 0}), "idempotent");
    let (_, count) = app.get("/auth/notifications/unread-count", &me).await;
    assert_eq!(count["unread_count"], 0);
    let (_, list) = app.get("/auth/notifications/?unread=true", &me).await;
    assert_eq!(list["total"], 0);
    let (_, list) = app.get("/auth/notifications/", &me).await;
    assert!(list["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .all(|n| n["is_read"] == true && n["read_at"].is_string()));
});

on_both_backends!(staff_creates_for_others_and_broadcasts, |app| {
    let staff = staff_token(9);
    let (status, body) = app
        .post(
            "/auth/notifications/create/",
            &staff,
            json!({"user_id": 4, "title": "Hi", "notification_type": "action_item"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["notification"]["user_id"], 4);
    assert_eq!(body["notification"]["sender_id"], 9);
    assert_eq!(body["notification"]["notification_type"], "action_item");

    let (status, body) = app
        .post(
            "/auth/notifications/broadcast/",
            &staff,
            json!({"user_ids": [5, 4, 5, "6"], "title": "All hands", "type": "meeting"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["created"], 3);
    assert_eq!(body["suppressed"], 0);
    let ids: Vec<i64> =
        body["notification_ids"].as_array().expect("ids").iter().map(|v| v.as_i64().expect("id")).collect();
    assert_eq!(ids.len(), 3);
    for (user, id) in [(4, ids[0]), (5, ids[1]), (6, ids[2])] {
        let (_, list) = app.get("/auth/notifications/", &token(user)).await;
        assert_eq!(list["notifications"][0]["id"], id, "user {user}");
        assert_eq!(list["notifications"][0]["title"], "All hands");
        assert_eq!(list["notifications"][0]["sender_id"], 9);
    }
    let (_, list) = app.get("/auth/notifications/", &token(4)).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["unread_count"], 2);
});

on_both_backends!(preferences_get_and_partial_put, |app| {
    let me = token(8);
    let (status, body) = app.get("/auth/notifications/preferences/", &me).await;
    assert_eq!(status, StatusCode::OK);
    let prefs = body["preferences"].as_object().expect("preferences");
    assert_eq!(prefs.len(), 8);
    assert!(prefs.values().all(|p| *p == json!({"enabled": true, "realtime": true})));

    let (status, body) =
        app.put("/auth/notifications/preferences", &me, json!({"preferences": {"meeting": {"realtime": false}}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["preferences"]["meeting"], json!({"enabled": true, "realtime": false}));
    assert_eq!(body["preferences"].as_object().expect("all").len(), 8);
    let (_, body) =
        app.put("/auth/notifications/preferences/", &me, json!({"preferences": {"meeting": {"enabled": false}}})).await;
    assert_eq!(body["preferences"]["meeting"], json!({"enabled": false, "realtime": false}), "earlier change kept");
    let (_, other) = app.get("/auth/notifications/preferences/", &token(80)).await;
    assert_eq!(other["preferences"]["meeting"], json!({"enabled": true, "realtime": true}), "per user");
});

#[actix_web::test]
async fn healthz_and_readyz_answer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, body) = app.call(awc::http::Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.call(awc::http::Method::GET, "/readyz/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["checks"]["database"], "ok");
}
