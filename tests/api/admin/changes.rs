//! Changes from the console are the owner's own: marked or deleted through the same use-cases,
//! counted the same, pushed to the owner's socket on another node; each one recorded in the
//! audit log with who, what, whose and which ids. A missing notification is 404 and records
//! nothing.

use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::json;

#[actix_web::test]
async fn a_change_from_the_console_reaches_the_owners_socket_on_another_node_and_is_audited() {
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    let first = create_id(&nodes[0], 7, "first").await;
    let second = create_id(&nodes[0], 7, "second").await;
    let (mut tab, hello) = WsClient::open(&nodes[1], &token(7)).await;
    assert_eq!(hello["unread_count"], 2, "{hello}");
    let admin = staff_token(42);

    let (status, marked) = nodes[0].post_empty(&format!("/admin/api/notifications/{first}/read/"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{marked}");
    assert_eq!((marked["notification"]["is_read"].as_bool(), marked["unread_count"].as_i64()), (Some(true), Some(1)));
    let pushed = tab.next_of_type("notification_read").await;
    assert_eq!(
        (pushed["notification_id"].as_i64(), pushed["unread_count"].as_i64()),
        (Some(first), Some(1)),
        "{pushed}"
    );

    let (status, unmarked) = nodes[1].post_empty(&format!("/admin/api/notifications/{first}/unread/"), &admin).await;
    assert_eq!((status, unmarked["unread_count"].as_i64()), (StatusCode::OK, Some(2)), "{unmarked}");
    assert_eq!(tab.next_of_type("notification_unread").await["unread_count"], 2);

    let (status, deleted) = nodes[0].delete(&format!("/admin/api/notifications/{second}/"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, json!({"deleted": true, "unread_count": 1, "unseen_count": 0}));
    let gone = tab.next_of_type("notification_deleted").await;
    assert_eq!((gone["notification_id"].as_i64(), gone["unread_count"].as_i64()), (Some(second), Some(1)), "{gone}");
    // The owner's own view agrees.
    assert_eq!(unread_count(&nodes[1], 7).await, 1);

    // Gone, or never there: 404, nothing recorded.
    for path in [format!("/admin/api/notifications/{second}/"), "/admin/api/notifications/99999/".to_owned()] {
        assert_eq!(nodes[0].delete(&path, &admin).await.0, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(nodes[0].get(&path, &admin).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, one) = nodes[0].get(&format!("/admin/api/notifications/{first}/"), &admin).await;
    assert_eq!((status, one["title"].as_str(), one["user_id"].as_i64()), (StatusCode::OK, Some("first"), Some(7)));

    let (status, audit) = nodes[1].get("/admin/api/audit/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let records: Vec<(String, i64, i64, serde_json::Value)> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let actor = r["actor_id"].as_i64().expect("actor");
            let whose = r["target_user_id"].as_i64().expect("target user");
            (r["action"].as_str().expect("action").to_owned(), actor, whose, r["target_ids"].clone())
        })
        .collect();
    assert_eq!(
        records,
        [
            ("notification.delete".to_owned(), 42, 7, json!([second])),
            ("notification.mark_unread".to_owned(), 42, 7, json!([first])),
            ("notification.mark_read".to_owned(), 42, 7, json!([first])),
        ],
        "newest first: {audit}"
    );
    assert!(audit["records"][0]["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{audit}");
    let (_, page) = nodes[1].get("/admin/api/audit/?limit=1", &admin).await;
    let next = page["next_before"].as_i64().expect("a next page");
    let (_, rest) = nodes[1].get(&format!("/admin/api/audit/?limit=5&before={next}"), &admin).await;
    assert_eq!(rest["records"].as_array().map(Vec::len), Some(2), "{rest}");
}

#[actix_web::test]
async fn resend_pushes_a_copy_to_the_owner_and_a_users_page_shows_their_inbox_and_preferences() {
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    let (status, created) = nodes[0]
        .post(
            "/auth/notifications/create/",
            &staff_token(100),
            json!({"user_id": 7, "title": "Approval needed", "message": "budget", "notification_type": "approval",
                   "data": {"amount": 12}, "link": "https://app.test/approvals/3"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let original = created["notification"]["id"].as_i64().expect("id");
    let (mut tab, _) = WsClient::open(&nodes[1], &token(7)).await;
    // An admin-scope token that is not a sender may still resend from the console.
    let admin = sign(&json!({"user_id": 42, "exp": now_secs() + 3600, "scope": "notifications:admin"}));

    let (status, resent) = nodes[0].post_empty(&format!("/admin/api/notifications/{original}/resend/"), &admin).await;
    assert_eq!(status, StatusCode::CREATED, "{resent}");
    let copy = &resent["notification"];
    assert!(copy["id"].as_i64() > Some(original), "{resent}");
    for field in ["title", "message", "notification_type", "data", "link", "user_id"] {
        assert_eq!(copy[field], created["notification"][field], "{field}");
    }
    assert_eq!(copy["sender_id"], 42, "the staff member sent it");
    let pushed = tab.next_of_type("notification").await;
    assert_eq!(pushed["notification"]["id"], copy["id"], "{pushed}");

    // The user's page: their inbox as they see it, and their preferences; an edit of them is
    // theirs (a resend of a type they turned off is suppressed).
    let (status, user) = nodes[1].get("/admin/api/users/7/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!((user["unread_count"].as_i64(), user["total"].as_i64()), (Some(2), Some(2)), "{user}");
    assert_eq!(user["notifications"][0]["id"], copy["id"]);
    assert_eq!(user["preferences"]["approval"], json!({"enabled": true, "realtime": true}));
    let (status, prefs) = nodes[0]
        .put("/admin/api/users/7/preferences/", &admin, json!({"preferences": {"approval": {"enabled": false}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{prefs}");
    assert_eq!(prefs["preferences"]["approval"]["enabled"], false, "{prefs}");
    let (_, own) = nodes[1].get("/auth/notifications/preferences/", &token(7)).await;
    assert_eq!(own["preferences"]["approval"]["enabled"], false, "the user sees the change: {own}");
    let (status, suppressed) =
        nodes[0].post_empty(&format!("/admin/api/notifications/{original}/resend/"), &admin).await;
    assert_eq!((status, suppressed["suppressed"].as_bool()), (StatusCode::OK, Some(true)), "{suppressed}");
    let (status, bad) = nodes[0]
        .put("/admin/api/users/7/preferences/", &admin, json!({"preferences": {"alert": {"enabled": false}}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(nodes[0].get("/admin/api/users/0/", &admin).await.0, StatusCode::NOT_FOUND);

    let (_, audit) = nodes[0].get("/admin/api/audit/", &admin).await;
    let actions: Vec<&str> =
        audit["records"].as_array().expect("records").iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(actions, ["notification.resend", "preferences.update", "notification.resend"], "{audit}");
    assert_eq!(audit["records"][2]["detail"]["new_id"], copy["id"], "{audit}");
    assert_eq!(audit["records"][1]["detail"], json!({"preferences": {"approval": {"enabled": false}}}), "{audit}");
    assert_eq!(audit["records"][0]["detail"]["new_id"], serde_json::Value::Null, "suppressed: no new id");
}

#[actix_web::test]
async fn a_broadcast_preview_says_what_the_broadcast_then_does() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_MAX_STORED_PER_USER", "2")]).await;
    let admin = staff_token(42);
    for (user, preference) in [(2, json!({"enabled": false})), (3, json!({"realtime": false}))] {
        let body = json!({"preferences": {"approval": preference}});
        assert_eq!(app.put("/auth/notifications/preferences/", &token(user), body).await.0, StatusCode::OK);
    }
    create_id(&app, 4, "one").await;
    create_id(&app, 4, "two").await; // user 4's inbox: 2 unread, the cap
    let recipients = json!([1, 2, 3, 4, 5, 1]);

    let (status, preview) = app
        .post("/admin/api/broadcast/preview/", &admin, json!({"user_ids": recipients, "notification_type": "approval"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        preview,
        json!({"recipients": 5, "delivered_live": 2, "stored_only": 1, "suppressed": [2], "inbox_full": [4]}),
        "1 and 5 live, 3 stored only"
    );
    let (status, sent) = app
        .post(
            "/auth/notifications/broadcast/",
            &admin,
            json!({"user_ids": recipients, "title": "t", "type": "approval"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!((sent["created"].as_i64(), sent["suppressed"].as_i64()), (Some(3), Some(1)), "{sent}");
    assert_eq!(sent["inbox_full"], json!([4]), "{sent}");
    // Another type: nobody turned it off.
    let (_, general) = app.post("/admin/api/broadcast/preview/", &admin, json!({"user_ids": [2, 3]})).await;
    assert_eq!(general["delivered_live"], 2, "{general}");
    let (status, bad) = app.post("/admin/api/broadcast/preview/", &admin, json!({"user_ids": []})).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("user_ids")), "{bad}");
    assert_eq!(
        app.post("/admin/api/broadcast/preview/", &token(1), json!({"user_ids": [1]})).await.0,
        StatusCode::FORBIDDEN
    );
}
