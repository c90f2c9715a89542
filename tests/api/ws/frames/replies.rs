//! Every client frame and its reply (request ids echoed as sent).

use super::{assert_error, ids, ping_pong, request, timestamp_of, token_expiring, NO_FRAME_LIMIT};
use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[actix_web::test]
async fn get_notifications_pages_filters_and_echoes_the_request_id() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let n1 = id_of(&app.create_for_self(1, "one").await);
    let n2 = id_of(&app.create_for_self(1, "two").await);
    let n3 = id_of(&app.create_for_self(1, "three").await);
    app.create_for_self(2, "someone else's").await;
    let (status, body) = app.post_empty(&format!("/auth/notifications/{n1}/read/"), &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (mut ws, hello) = WsClient::open(&app, &token(1)).await;
    assert_eq!(
        hello,
        json!({"type": "connection_established", "user_id": 1, "unread_count": 2, "unseen_count": 2, "last_id": n3})
    );

    let all = request(&mut ws, json!({"type": "get_notifications", "request_id": "all"})).await;
    assert_eq!(all["type"], "notifications", "{all}");
    assert_eq!(all["request_id"], "all", "{all}");
    assert_eq!(all["total"], 3, "{all}");
    assert_eq!(all["unread_count"], 2, "{all}");
    assert_eq!(ids(&all["notifications"]), vec![n3, n2, n1], "newest first, own only: {all}");
    // The rows are exactly what REST shows.
    assert_eq!(all["notifications"], list(&app, 1, "").await["notifications"]);

    let page = request(&mut ws, json!({"type": "get_notifications", "limit": 2, "request_id": 1})).await;
    assert_eq!(page["type"], "notifications", "{page}");
    assert_eq!(page["request_id"], 1, "{page}");
    assert_eq!(ids(&page["notifications"]), vec![n3, n2], "{page}");
    assert_eq!(page["total"], 3, "total ignores limit: {page}");
    assert_eq!(page["unread_count"], 2, "{page}");

    let older = request(&mut ws, json!({"type": "get_notifications", "limit": 2, "before": n2, "request_id": 2})).await;
    assert_eq!(older["request_id"], 2, "{older}");
    assert_eq!(ids(&older["notifications"]), vec![n1], "{older}");
    assert_eq!(older["total"], 3, "total ignores before: {older}");

    let unread = request(&mut ws, json!({"type": "get_notifications", "unread": true, "request_id": "u"})).await;
    assert_eq!(unread["request_id"], "u", "{unread}");
    assert_eq!(ids(&unread["notifications"]), vec![n3, n2], "{unread}");
    assert_eq!(unread["total"], 2, "{unread}");
    assert_eq!(unread["unread_count"], 2, "{unread}");
    assert!(unread["notifications"].as_array().expect("array").iter().all(|n| n["is_read"] == false), "{unread}");

    // No request_id: none in the reply.
    let bare = request(&mut ws, json!({"type": "get_notifications", "limit": 1})).await;
    assert_eq!(bare["type"], "notifications", "{bare}");
    assert!(bare.get("request_id").is_none(), "{bare}");

    let bad = request(&mut ws, json!({"type": "get_notifications", "limit": 0, "request_id": "z"})).await;
    assert_error(&bad, "validation_error", Some("limit"), Some(&json!("z")));
    ws.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn mark_read_mark_all_read_and_delete_reply_and_change_the_database() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let n1 = id_of(&app.create_for_self(1, "one").await);
    let n2 = id_of(&app.create_for_self(1, "two").await);
    let n3 = id_of(&app.create_for_self(1, "three").await);
    let (mut ws, hello) = WsClient::open(&app, &token(1)).await;
    assert_eq!(hello["unread_count"], 3, "{hello}");

    let read = request(&mut ws, json!({"type": "mark_read", "notification_id": n1, "request_id": "r1"})).await;
    assert_eq!(
        read,
        json!({"type": "notification_read", "notification_id": n1, "unread_count": 2, "unseen_count": 2, "request_id": "r1"})
    );
    let rows = list(&app, 1, "").await;
    let row = rows["notifications"].as_array().expect("array").iter().find(|n| id_of(n) == n1).cloned();
    let row = row.expect("n1 listed");
    assert_eq!(row["is_read"], true, "{row}");
    assert!(row["read_at"].is_string(), "{row}");
    assert_eq!(unread_count(&app, 1).await, 2);

    // Idempotent: marking it again changes nothing.
    let again = request(&mut ws, json!({"type": "mark_read", "notification_id": n1, "request_id": 11})).await;
    assert_eq!(
        again,
        json!({"type": "notification_read", "notification_id": n1, "unread_count": 2, "unseen_count": 2, "request_id": 11})
    );

    let deleted =
        request(&mut ws, json!({"type": "delete_notification", "notification_id": n2, "request_id": 42})).await;
    assert_eq!(
        deleted,
        json!({"type": "notification_deleted", "notification_id": n2, "unread_count": 1, "unseen_count": 1, "request_id": 42})
    );
    let rows = list(&app, 1, "").await;
    assert_eq!(ids(&rows["notifications"]), vec![n3, n1], "{rows}");
    assert_eq!(rows["total"], 2, "{rows}");
    let twice =
        request(&mut ws, json!({"type": "delete_notification", "notification_id": n2, "request_id": "d2"})).await;
    assert_error(&twice, "not_found", None, Some(&json!("d2")));

    let all = request(&mut ws, json!({"type": "mark_all_read", "request_id": "all"})).await;
    assert_eq!(
        all,
        json!({"type": "all_read", "marked": 1, "unread_count": 0, "unseen_count": 0, "request_id": "all"})
    );
    assert_eq!(unread_count(&app, 1).await, 0);
    let unread = list(&app, 1, "?unread=true").await;
    assert_eq!(unread["total"], 0, "{unread}");
    let none_left = request(&mut ws, json!({"type": "mark_all_read"})).await;
    assert_eq!(none_left, json!({"type": "all_read", "marked": 0, "unread_count": 0, "unseen_count": 0}));

    // The session's own changes are not echoed back to it as pushes.
    ws.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn send_notification_to_self_to_others_as_staff_and_forbidden_for_plain_tokens() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let (mut ws1, _) = WsClient::open(&app, &token(1)).await;
    let (mut staff, _) = WsClient::open(&app, &staff_token(9)).await;
    let (mut plain, _) = WsClient::open(&app, &token(2)).await;

    let own = request(
        &mut ws1,
        json!({"type": "send_notification", "request_id": "s1", "user_id": 1, "title": "Self note",
               "message": "remember", "notification_type": "meeting", "data": {"k": 1},
               "link": "https://example.com/x"}),
    )
    .await;
    assert_eq!(own["type"], "notification_sent", "{own}");
    assert_eq!(own["request_id"], "s1", "{own}");
    let note = &own["notification"];
    assert!(note["id"].is_i64(), "{own}");
    assert_eq!(note["user_id"], 1, "{own}");
    assert_eq!(note["sender_id"], 1, "{own}");
    assert_eq!(note["title"], "Self note", "{own}");
    assert_eq!(note["message"], "remember", "{own}");
    assert_eq!(note["notification_type"], "meeting", "{own}");
    assert_eq!(note["data"], json!({"k": 1}), "{own}");
    assert_eq!(note["link"], "https://example.com/x", "{own}");
    assert_eq!(note["is_read"], false, "{own}");
    assert_eq!(note["read_at"], Value::Null, "{own}");
    timestamp_of(&note["created_at"]);
    assert_eq!(list(&app, 1, "").await["notifications"], json!([note.clone()]));
    ws1.expect_silence(Duration::from_millis(200)).await;

    let sent = request(
        &mut staff,
        json!({"type": "send_notification", "request_id": 77, "user_id": 1, "title": "From staff"}),
    )
    .await;
    assert_eq!(sent["type"], "notification_sent", "{sent}");
    assert_eq!(sent["request_id"], 77, "{sent}");
    assert_eq!(sent["notification"]["user_id"], 1, "{sent}");
    assert_eq!(sent["notification"]["sender_id"], 9, "{sent}");
    assert_eq!(sent["notification"]["notification_type"], "general", "{sent}");
    // The recipient's socket gets it live, and the database has it.
    assert_eq!(ws1.next_json().await, json!({"type": "notification", "notification": sent["notification"]}));
    let rows = list(&app, 1, "").await;
    assert_eq!(rows["total"], 2, "{rows}");
    assert_eq!(rows["notifications"][0], sent["notification"], "{rows}");

    let refused = request(
        &mut plain,
        json!({"type": "send_notification", "request_id": "nope", "user_id": 1, "title": "Not allowed"}),
    )
    .await;
    assert_error(&refused, "forbidden", None, Some(&json!("nope")));
    assert_eq!(list(&app, 1, "").await["total"], 2);
    ws1.expect_silence(Duration::from_millis(200)).await;
    // The plain user's socket is still fine.
    ping_pong(&mut plain, json!("still")).await;
}

#[actix_web::test]
async fn get_unread_count_ping_and_refresh_token_replies() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let n1 = id_of(&app.create_for_self(1, "one").await);
    app.create_for_self(1, "two").await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;

    let count = request(&mut ws, json!({"type": "get_unread_count", "request_id": "c"})).await;
    assert_eq!(count, json!({"type": "unread_count", "unread_count": 2, "unseen_count": 2, "request_id": "c"}));
    let (status, body) = app.post_empty(&format!("/auth/notifications/{n1}/read/"), &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let push = ws.next_json().await;
    assert_eq!(push["type"], "notification_read", "REST change pushed: {push}");
    assert_eq!(push["notification_id"], n1, "{push}");
    let count = request(&mut ws, json!({"type": "get_unread_count", "request_id": 3})).await;
    assert_eq!(count, json!({"type": "unread_count", "unread_count": 1, "unseen_count": 1, "request_id": 3}));

    ping_pong(&mut ws, json!(12345)).await;
    ping_pong(&mut ws, json!("p-1")).await;
    assert_eq!(request(&mut ws, json!({"type": "ping"})).await, json!({"type": "pong"}));

    let exp = now_secs() + 7200;
    let refreshed =
        request(&mut ws, json!({"type": "refresh_token", "token": token_expiring(1, exp), "request_id": "rt"})).await;
    assert_eq!(refreshed["type"], "token_refreshed", "{refreshed}");
    assert_eq!(refreshed["request_id"], "rt", "{refreshed}");
    assert_eq!(timestamp_of(&refreshed["expires_at"]), exp, "{refreshed}");
    let missing = request(&mut ws, json!({"type": "refresh_token", "request_id": 8})).await;
    assert_error(&missing, "validation_error", Some("token"), Some(&json!(8)));
    let garbage = request(&mut ws, json!({"type": "refresh_token", "token": "garbage", "request_id": 9})).await;
    assert_error(&garbage, "unauthorized", None, Some(&json!(9)));
    ping_pong(&mut ws, json!("after")).await;
}

#[actix_web::test]
async fn sync_replays_newer_notifications_in_order_then_sync_complete() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let mut created = Vec::new();
    for title in ["one", "two", "three", "four"] {
        created.push(app.create_for_self(1, title).await);
    }
    app.create_for_self(2, "not mine").await;
    let all_ids: Vec<i64> = created.iter().map(id_of).collect();
    let (n2, n4) = (all_ids[1], all_ids[3]);
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;

    ws.send_json(json!({"type": "sync", "since": n2, "request_id": "sy"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": created[2]}));
    assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": created[3]}));
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": n4, "request_id": "sy"}));

    // Nothing newer: last_id is `since` itself.
    let empty = request(&mut ws, json!({"type": "sync", "since": n4, "request_id": 5})).await;
    assert_eq!(empty, json!({"type": "sync_complete", "last_id": n4, "request_id": 5}));
    let beyond = request(&mut ws, json!({"type": "sync", "since": n4 + 100, "request_id": 6})).await;
    assert_eq!(beyond, json!({"type": "sync_complete", "last_id": n4 + 100, "request_id": 6}));

    // No since, or a null one, is refused: the whole history is replayed only when asked with 0.
    for frame in [json!({"type": "sync", "request_id": 7}), json!({"type": "sync", "since": null, "request_id": 8})] {
        let refused = request(&mut ws, frame.clone()).await;
        assert_eq!(refused["type"], "error", "{frame}: {refused}");
        assert_eq!((refused["code"].as_str(), refused["field"].as_str()), (Some("validation_error"), Some("since")));
    }
    ws.send_json(json!({"type": "sync", "since": 0})).await;
    for note in &created {
        assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": note}));
    }
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": n4}));

    let bad = request(&mut ws, json!({"type": "sync", "since": -1, "request_id": "neg"})).await;
    assert_error(&bad, "validation_error", Some("since"), Some(&json!("neg")));

    // The same replay on connect with ?since=.
    let mut resumed = WsClient::connect(&app, &token(1), Some(all_ids[2])).await;
    assert_eq!(resumed.next_json().await["type"], "connection_established");
    assert_eq!(resumed.next_json().await, json!({"type": "notification", "notification": created[3]}));
    assert_eq!(resumed.next_json().await, json!({"type": "sync_complete", "last_id": n4}));
    ws.expect_silence(Duration::from_millis(200)).await;
}
