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
    assert_eq!(deleted, json!({"deleted": true, "unread_count": 0}));
    let (status, again) = app.delete(&format!("/auth/notifications/{id}/delete"), &me).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(again["error"]["code"], "not_found");
});
