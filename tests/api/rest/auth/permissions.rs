//! What a caller may do (create for others and broadcast only with `is_staff` or the
//! `notifications:send` scope), and isolation (another user's notification answers like a missing one).

use super::{claims_with, CREATE};
use crate::helpers::*;
use crate::on_both_backends;
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};

const BROADCAST: &str = "/auth/notifications/broadcast/";

const LIST: &str = "/auth/notifications/";

fn assert_forbidden(status: StatusCode, body: &Value, case: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{case}: {body}");
    assert_eq!(body["error"]["code"], "forbidden", "{case}: {body}");
    assert!(body["error"]["message"].is_string(), "{case}: {body}");
}

#[actix_web::test]
async fn a_plain_user_may_create_only_for_themselves() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = token(1);
    for (case, body) in [
        ("user_id omitted", json!({"title": "mine"})),
        ("user_id equal", json!({"title": "mine", "user_id": 1})),
        ("user_id equal as a string", json!({"title": "mine", "user_id": "1"})),
    ] {
        let (status, body) = app.post(CREATE, &me, body).await;
        assert_eq!(status, StatusCode::CREATED, "{case}: {body}");
        assert_eq!(body["notification"]["user_id"], 1, "{case}");
        assert_eq!(body["notification"]["sender_id"], 1, "{case}");
    }
    let (status, body) = app.post(CREATE, &me, json!({"title": "yours", "user_id": 2})).await;
    assert_forbidden(status, &body, "plain user for user 2");
    let (status, body) = app.post(CREATE, &me, json!({"title": "yours", "user_id": "2"})).await;
    assert_forbidden(status, &body, "plain user for user \"2\"");
    assert_eq!(unread_count(&app, 2).await, 0, "nothing was stored for user 2");
    assert_eq!(unread_count(&app, 1).await, 3);
}

#[actix_web::test]
async fn staff_and_the_send_scope_may_create_for_others() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let allowed = [
        ("is_staff true", staff_token(9)),
        ("scope string", sign(&claims_with(9, json!({"scope": "read notifications:send"})))),
        ("scope string alone", sign(&claims_with(9, json!({"scope": "notifications:send"})))),
        ("scopes array", sign(&claims_with(9, json!({"scopes": ["notifications:send"]})))),
        ("scopes array among others", sign(&claims_with(9, json!({"scopes": ["read", "notifications:send"]})))),
    ];
    for (i, (case, token)) in allowed.iter().enumerate() {
        let (status, body) = app.post(CREATE, token, json!({"title": case, "user_id": 2})).await;
        assert_eq!(status, StatusCode::CREATED, "{case}: {body}");
        assert_eq!(body["notification"]["user_id"], 2, "{case}");
        assert_eq!(body["notification"]["sender_id"], 9, "{case}");
        assert_eq!(unread_count(&app, 2).await, i as i64 + 1, "{case}");
    }
    let denied = [
        ("is_staff false", sign(&claims_with(9, json!({"is_staff": false})))),
        ("scope without send", sign(&claims_with(9, json!({"scope": "read write"})))),
        ("scope with a longer name", sign(&claims_with(9, json!({"scope": "notifications:sender"})))),
        ("scope as a comma list", sign(&claims_with(9, json!({"scope": "read,notifications:send"})))),
        ("scopes without send", sign(&claims_with(9, json!({"scopes": ["read", "notifications"]})))),
    ];
    for (case, token) in &denied {
        let (status, body) = app.post(CREATE, token, json!({"title": case, "user_id": 2})).await;
        assert_forbidden(status, &body, case);
    }
    assert_eq!(unread_count(&app, 2).await, allowed.len() as i64, "denied creates stored nothing");
}

#[actix_web::test]
async fn broadcast_needs_staff_or_the_send_scope() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = json!({"user_ids": [2, 3], "title": "all hands"});
    let (status, reply) = app.post(BROADCAST, &token(1), body.clone()).await;
    assert_forbidden(status, &reply, "plain user broadcast");
    let (status, reply) = app.post(BROADCAST, &token(1), json!({"user_ids": [1], "title": "only me"})).await;
    assert_forbidden(status, &reply, "plain user broadcast to themselves only");
    assert_eq!(unread_count(&app, 1).await, 0);
    assert_eq!(unread_count(&app, 2).await, 0);

    let (status, reply) = app.post(BROADCAST, &staff_token(9), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["created"], 2);
    let scoped = sign(&claims_with(9, json!({"scopes": ["notifications:send"]})));
    let (status, reply) = app.post(BROADCAST, &scoped, body).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(unread_count(&app, 2).await, 2);
    assert_eq!(unread_count(&app, 3).await, 2);
}

on_both_backends!(another_users_notification_answers_exactly_like_a_missing_one, |app| {
    let owner = token(1);
    let intruder = token(2);
    let notification = app.create_for_self(1, "private").await;
    let id = notification["id"].as_i64().expect("id");
    let missing = 999_999;
    assert_ne!(id, missing);

    let paths = |id: i64| {
        [
            (Method::POST, format!("/auth/notifications/{id}/read/")),
            (Method::POST, format!("/auth/notifications/{id}/unread/")),
            (Method::DELETE, format!("/auth/notifications/{id}/delete/")),
        ]
    };
    for ((method, foreign), (_, absent)) in paths(id).into_iter().zip(paths(missing)) {
        let (status, foreign_body) = app.call(method.clone(), &foreign, Some(&intruder), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {foreign}: {foreign_body}");
        assert_eq!(foreign_body["error"]["code"], "not_found", "{foreign_body}");
        let (status, absent_body) = app.call(method.clone(), &absent, Some(&intruder), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {absent}: {absent_body}");
        assert_eq!(foreign_body, absent_body, "{method}: another user's id must look exactly like a missing one");
    }

    let (status, list) = app.get(LIST, &intruder).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["notifications"], json!([]));
    assert_eq!(list["total"], 0);
    assert_eq!(list["unread_count"], 0);
    assert_eq!(unread_count(&app, 2).await, 0);
    let (status, marked) = app.post_empty("/auth/notifications/mark-all-read/", &intruder).await;
    assert_eq!(status, StatusCode::OK, "{marked}");
    assert_eq!(marked["marked"], 0);

    let (status, list) = app.get(LIST, &owner).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1);
    assert_eq!(list["unread_count"], 1);
    assert_eq!(list["notifications"][0], notification, "the owner's notification is untouched");
    assert_eq!(list["notifications"][0]["is_read"], false);
});
