//! The WebSocket contract frame by frame (SPEC §2 handshake rules, SPEC §5): handshake refusals,
//! every client frame and its reply (request ids echoed as sent), bad input that must not close
//! the socket, and every close code the server uses.

use crate::helpers::*;
use awc::http::StatusCode;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// Lifts the per-socket frame rate limit for tests that send many frames on purpose.
const NO_FRAME_LIMIT: (&str, &str) = ("HERALD_WS_FRAMES_PER_SECOND", "1000");
/// The largest client frame the server accepts (SPEC §5: over 64 KiB closes with 1009).
const MAX_FRAME: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// helpers

/// Asserts the handshake was refused with `status` and the JSON error envelope `code`.
fn assert_refused(result: Result<WsClient, Refused>, status: u16, code: &str) -> Value {
    match result {
        Ok(_) => panic!("handshake was accepted; expected HTTP {status} {code}"),
        Err(Refused { status: got, body }) => {
            assert_eq!(got, status, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
            body
        }
    }
}

/// Asserts the handshake was accepted and the greeting names `user`.
async fn assert_accepted(result: Result<WsClient, Refused>, user: i64) -> WsClient {
    let mut ws = result.expect("handshake accepted");
    let hello = ws.next_json().await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    assert_eq!(hello["user_id"], user, "{hello}");
    ws
}

/// Sends a frame and returns the next text frame.
async fn request(ws: &mut WsClient, frame: Value) -> Value {
    ws.send_json(frame).await;
    ws.next_json().await
}

/// A ping with `request_id` gets exactly its pong: the socket is open and serving.
async fn ping_pong(ws: &mut WsClient, request_id: Value) {
    let pong = request(ws, json!({"type": "ping", "request_id": request_id})).await;
    assert_eq!(pong, json!({"type": "pong", "request_id": request_id}));
}

/// Asserts `frame` is `{"type":"error","code","message","field"?,"request_id"?}` as expected.
fn assert_error(frame: &Value, code: &str, field: Option<&str>, request_id: Option<&Value>) {
    let object = frame.as_object().unwrap_or_else(|| panic!("error frame is an object: {frame}"));
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], code, "{frame}");
    assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()), "message: {frame}");
    assert_eq!(object.get("field").and_then(Value::as_str), field, "field: {frame}");
    assert_eq!(object.get("request_id"), request_id, "request_id: {frame}");
    for key in object.keys() {
        assert!(["type", "code", "message", "field", "request_id"].contains(&key.as_str()), "extra key {key}: {frame}");
    }
}

fn ids(notifications: &Value) -> Vec<i64> {
    notifications.as_array().unwrap_or_else(|| panic!("an array: {notifications}")).iter().map(id_of).collect()
}

/// A token for `user` expiring at `exp` (seconds since the epoch).
fn token_expiring(user: i64, exp: i64) -> String {
    sign(&json!({ "token_type": "access", "user_id": user, "exp": exp }))
}

fn timestamp_of(rfc3339: &Value) -> i64 {
    let text = rfc3339.as_str().unwrap_or_else(|| panic!("a timestamp string: {rfc3339}"));
    assert!(text.ends_with('Z'), "UTC with a Z suffix: {text}");
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("RFC 3339 ({e}): {text}")).timestamp()
}

// ---------------------------------------------------------------------------------------------
// 1. handshake

#[actix_web::test]
async fn handshake_without_a_token_is_401_unauthorized_and_not_upgraded() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_refused(WsClient::try_connect(&ws_url(&app, ""), &[]).await, 401, "unauthorized");
    assert_refused(WsClient::try_connect(&ws_url(&app, "?token="), &[]).await, 401, "unauthorized");
    // A non-Bearer Authorization header is no token either.
    let basic = [("Authorization", "Basic dXNlcjpwYXNz")];
    assert_refused(WsClient::try_connect(&ws_url(&app, ""), &basic).await, 401, "unauthorized");
}

#[actix_web::test]
async fn handshake_with_a_bad_token_is_401() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_refused(WsClient::try_connect(&ws_url(&app, "?token=not-a-jwt"), &[]).await, 401, "unauthorized");
    let foreign = sign_with(
        &json!({"token_type": "access", "user_id": 1, "exp": now_secs() + 3600}),
        jsonwebtoken::Algorithm::HS256,
        "some-other-secret-0123456789abcdef",
    );
    let url = ws_url(&app, &format!("?token={foreign}"));
    assert_refused(WsClient::try_connect(&url, &[]).await, 401, "unauthorized");
    let refresh = sign(&json!({"token_type": "refresh", "user_id": 1, "exp": now_secs() + 3600}));
    let url = ws_url(&app, &format!("?token={refresh}"));
    assert_refused(WsClient::try_connect(&url, &[]).await, 401, "unauthorized");
}

#[actix_web::test]
async fn handshake_with_an_expired_token_is_401() {
    let app = TestApp::spawn(Backend::Postgres).await;
    // Expired well beyond the 30 s leeway.
    let expired = token_expiring(1, now_secs() - 120);
    let url = ws_url(&app, &format!("?token={expired}"));
    assert_refused(WsClient::try_connect(&url, &[]).await, 401, "unauthorized");
    let bearer = format!("Bearer {expired}");
    assert_refused(
        WsClient::try_connect(&ws_url(&app, ""), &[("Authorization", bearer.as_str())]).await,
        401,
        "unauthorized",
    );
}

#[actix_web::test]
async fn handshake_accepts_the_token_in_an_authorization_bearer_header() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let bearer = format!("Bearer {}", token(5));
    let mut ws =
        assert_accepted(WsClient::try_connect(&ws_url(&app, ""), &[("Authorization", &bearer)]).await, 5).await;
    ping_pong(&mut ws, json!("bearer")).await;
}

#[actix_web::test]
async fn handshake_checks_the_origin_against_allowed_origins() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let url = ws_url(&app, &format!("?token={}", token(3)));
    assert_refused(WsClient::try_connect(&url, &[("Origin", "https://evil.example.com")]).await, 403, "forbidden");
    // Refused on origin even without a token: the origin is checked first, never upgraded.
    assert_refused(
        WsClient::try_connect(&ws_url(&app, ""), &[("Origin", "https://evil.example.com")]).await,
        403,
        "forbidden",
    );
    let mut allowed =
        assert_accepted(WsClient::try_connect(&url, &[("Origin", "https://app.example.com")]).await, 3).await;
    ping_pong(&mut allowed, json!("origin")).await;
    let mut no_origin = assert_accepted(WsClient::try_connect(&url, &[]).await, 3).await;
    ping_pong(&mut no_origin, json!(1)).await;
}

#[actix_web::test]
async fn handshake_with_an_invalid_since_is_400() {
    let app = TestApp::spawn(Backend::Postgres).await;
    for since in ["abc", "-1", "1.5"] {
        let url = ws_url(&app, &format!("?token={}&since={since}", token(1)));
        let body = assert_refused(WsClient::try_connect(&url, &[]).await, 400, "validation_error");
        assert_eq!(body["error"]["field"], "since", "since={since}: {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. every client frame and its reply

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
    assert_eq!(hello, json!({"type": "connection_established", "user_id": 1, "unread_count": 2, "last_id": n3}));

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
        json!({"type": "notification_read", "notification_id": n1, "unread_count": 2, "request_id": "r1"})
    );
    let rows = list(&app, 1, "").await;
    let row = rows["notifications"].as_array().expect("array").iter().find(|n| id_of(n) == n1).cloned();
    let row = row.expect("n1 listed");
    assert_eq!(row["is_read"], true, "{row}");
    assert!(row["read_at"].is_string(), "{row}");
    assert_eq!(unread_count(&app, 1).await, 2);

    // Idempotent: marking it again changes nothing.
    let again = request(&mut ws, json!({"type": "mark_read", "notification_id": n1, "request_id": 11})).await;
    assert_eq!(again, json!({"type": "notification_read", "notification_id": n1, "unread_count": 2, "request_id": 11}));

    let deleted =
        request(&mut ws, json!({"type": "delete_notification", "notification_id": n2, "request_id": 42})).await;
    assert_eq!(
        deleted,
        json!({"type": "notification_deleted", "notification_id": n2, "unread_count": 1, "request_id": 42})
    );
    let rows = list(&app, 1, "").await;
    assert_eq!(ids(&rows["notifications"]), vec![n3, n1], "{rows}");
    assert_eq!(rows["total"], 2, "{rows}");
    let twice =
        request(&mut ws, json!({"type": "delete_notification", "notification_id": n2, "request_id": "d2"})).await;
    assert_error(&twice, "not_found", None, Some(&json!("d2")));

    let all = request(&mut ws, json!({"type": "mark_all_read", "request_id": "all"})).await;
    assert_eq!(all, json!({"type": "all_read", "marked": 1, "unread_count": 0, "request_id": "all"}));
    assert_eq!(unread_count(&app, 1).await, 0);
    let unread = list(&app, 1, "?unread=true").await;
    assert_eq!(unread["total"], 0, "{unread}");
    let none_left = request(&mut ws, json!({"type": "mark_all_read"})).await;
    assert_eq!(none_left, json!({"type": "all_read", "marked": 0, "unread_count": 0}));

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
    assert_eq!(count, json!({"type": "unread_count", "unread_count": 2, "request_id": "c"}));
    let (status, body) = app.post_empty(&format!("/auth/notifications/{n1}/read/"), &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let push = ws.next_json().await;
    assert_eq!(push["type"], "notification_read", "REST change pushed: {push}");
    assert_eq!(push["notification_id"], n1, "{push}");
    let count = request(&mut ws, json!({"type": "get_unread_count", "request_id": 3})).await;
    assert_eq!(count, json!({"type": "unread_count", "unread_count": 1, "request_id": 3}));

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

// ---------------------------------------------------------------------------------------------
// 3. bad input never closes the socket

#[actix_web::test]
async fn bad_frames_get_error_frames_and_the_socket_stays_open() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let theirs = id_of(&app.create_for_self(2, "user 2's").await);
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let long_title = "t".repeat(201);
    let cases: Vec<(String, &str, Option<&str>, Option<Value>)> = vec![
        ("this is not json".into(), "invalid_json", None, None),
        (r#"{"type":"ping","request_id":"cut""#.into(), "invalid_json", None, None),
        ("[1,2,3]".into(), "invalid_json", None, None),
        (r#""ping""#.into(), "invalid_json", None, None),
        ("42".into(), "invalid_json", None, None),
        (json!({"request_id": "m1"}).to_string(), "validation_error", Some("type"), Some(json!("m1"))),
        (json!({"type": 7, "request_id": 2}).to_string(), "validation_error", Some("type"), Some(json!(2))),
        (json!({"type": "explode", "request_id": 3}).to_string(), "validation_error", Some("type"), Some(json!(3))),
        (
            json!({"type": "mark_read", "request_id": "nr"}).to_string(),
            "validation_error",
            Some("notification_id"),
            Some(json!("nr")),
        ),
        (
            json!({"type": "mark_read", "notification_id": "abc", "request_id": "na"}).to_string(),
            "validation_error",
            Some("notification_id"),
            Some(json!("na")),
        ),
        (
            json!({"type": "mark_read", "notification_id": theirs, "request_id": "other"}).to_string(),
            "not_found",
            None,
            Some(json!("other")),
        ),
        (
            json!({"type": "mark_read", "notification_id": theirs + 1000, "request_id": 404}).to_string(),
            "not_found",
            None,
            Some(json!(404)),
        ),
        (
            json!({"type": "delete_notification", "notification_id": theirs, "request_id": "del"}).to_string(),
            "not_found",
            None,
            Some(json!("del")),
        ),
        (
            json!({"type": "send_notification", "title": long_title, "request_id": "long"}).to_string(),
            "validation_error",
            Some("title"),
            Some(json!("long")),
        ),
        (json!({"type": "ping", "request_id": {"a": 1}}).to_string(), "validation_error", Some("request_id"), None),
    ];
    for (i, (text, code, field, request_id)) in cases.iter().enumerate() {
        ws.send_text(text).await;
        let reply = ws.next_json().await;
        assert_error(&reply, code, *field, request_id.as_ref());
        ping_pong(&mut ws, json!(format!("after-{i}"))).await;
    }

    ws.stream.send(Message::binary(vec![0u8, 1, 2, 3])).await.expect("send binary frame");
    let reply = ws.next_json().await;
    assert_eq!(reply["type"], "error", "{reply}");
    let code = reply["code"].as_str().expect("code is a string").to_owned();
    assert_error(&reply, &code, None, None);
    ping_pong(&mut ws, json!("after-binary")).await;

    // Nothing changed: user 2's notification is unread and still there; nothing was created.
    let theirs_now = list(&app, 2, "").await;
    assert_eq!(theirs_now["notifications"][0]["is_read"], false, "{theirs_now}");
    assert_eq!(list(&app, 1, "").await["total"], 0);
    ws.expect_silence(Duration::from_millis(200)).await;
}

// ---------------------------------------------------------------------------------------------
// 4. close codes

#[actix_web::test]
async fn a_text_frame_over_64_kib_closes_with_1009() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let padded = json!({"type": "ping", "request_id": "x".repeat(MAX_FRAME + 1000)}).to_string();
    ws.stream.send(Message::text(padded)).await.expect("send huge frame");
    let (code, before) = ws.expect_close().await;
    assert_eq!(code, 1009, "frames before the close: {before:?}");
    assert!(before.is_empty(), "{before:?}");
}

#[actix_web::test]
async fn a_frame_just_under_64_kib_is_served() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let overhead = json!({"type": "ping", "request_id": ""}).to_string().len();
    let request_id = "r".repeat(MAX_FRAME - 16 - overhead);
    let frame = json!({"type": "ping", "request_id": request_id});
    let len = frame.to_string().len();
    assert!(len < MAX_FRAME && len > MAX_FRAME - 100, "frame of {len} bytes");
    ws.send_json(frame).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong", "request_id": request_id}));
    ping_pong(&mut ws, json!("small")).await;
}

#[actix_web::test]
async fn a_fragmented_message_over_64_kib_closes_with_1009_and_a_small_one_is_served() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    // Two fragments of one small ping: reassembled and answered.
    let text = json!({"type": "ping", "request_id": "frag"}).to_string();
    let (head, tail) = text.split_at(10);
    let first = Frame::message(head.as_bytes().to_vec(), OpCode::Data(Data::Text), false);
    let last = Frame::message(tail.as_bytes().to_vec(), OpCode::Data(Data::Continue), true);
    ws.stream.send(Message::Frame(first)).await.expect("send first fragment");
    ws.stream.send(Message::Frame(last)).await.expect("send last fragment");
    assert_eq!(ws.next_json().await, json!({"type": "pong", "request_id": "frag"}));

    // Three fragments of 30 000 bytes each: every frame is small, the message is not.
    let big = json!({"type": "ping", "request_id": "y".repeat(90_000)}).to_string();
    let chunks: Vec<&[u8]> = big.as_bytes().chunks(30_000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        let frame = Frame::message(chunk.to_vec(), opcode, i == chunks.len() - 1);
        // The server may close before the last fragment is written.
        if ws.stream.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    let (code, before) = ws.expect_close().await;
    assert_eq!(code, 1009, "frames before the close: {before:?}");
}

#[actix_web::test]
async fn flooding_past_the_rate_limit_gets_rate_limited_errors_then_close_1008() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_FRAMES_PER_SECOND", "5")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    for i in 0..100 {
        // The server may close before the last frames are written.
        if ws.stream.feed(Message::text(json!({"type": "ping", "request_id": i}).to_string())).await.is_err() {
            break;
        }
    }
    let _ = ws.stream.flush().await;
    let (code, before) = ws.expect_close().await;
    assert_eq!(code, 1008, "frames before the close: {before:?}");
    let limited: Vec<&Value> = before.iter().filter(|f| f["type"] == "error").collect();
    assert!(!limited.is_empty(), "some rate_limited errors before the close: {before:?}");
    for frame in &limited {
        assert!(frame["request_id"].is_i64(), "request_id echoed: {frame}");
        assert_error(frame, "rate_limited", None, Some(&frame["request_id"]));
    }
    let pongs: Vec<&Value> = before.iter().filter(|f| f["type"] == "pong").collect();
    assert!(!pongs.is_empty() && pongs.len() < 50, "the first frames within the limit are served: {before:?}");
    assert_eq!(pongs[0]["request_id"], 0, "{before:?}");
    assert_eq!(pongs.len() + limited.len(), before.len(), "only pongs and errors: {before:?}");
    // Replies keep the order of the frames.
    let order: Vec<i64> = before.iter().map(|f| f["request_id"].as_i64().expect("request_id")).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[actix_web::test]
async fn an_expiring_token_closes_the_socket_with_4001() {
    // The expiry timer applies the handshake's leeway: 1 s here, so the close comes ~4 s in.
    let app = TestApp::spawn_with(Backend::Postgres, &[("JWT_LEEWAY_SECONDS", "1")]).await;
    let started = Instant::now();
    let (mut ws, _) = WsClient::open(&app, &token_expiring(1, now_secs() + 3)).await;
    ping_pong(&mut ws, json!("alive")).await;
    let (code, before) = ws.expect_close().await;
    let elapsed = started.elapsed();
    assert_eq!(code, 4001, "frames before the close: {before:?}");
    assert!(before.is_empty(), "{before:?}");
    assert!(
        elapsed >= Duration::from_millis(2500) && elapsed <= Duration::from_secs(7),
        "closed after {elapsed:?}, expected about 4 s (3 s + 1 s leeway)"
    );
}

#[actix_web::test]
async fn refresh_token_before_expiry_keeps_the_socket_open() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let first_exp = now_secs() + 3;
    let (mut ws, _) = WsClient::open(&app, &token_expiring(1, first_exp)).await;
    // The scenario: the refresh comes a second into the first token's 3 s, well before expiry.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let exp = now_secs() + 3600;
    let refreshed =
        request(&mut ws, json!({"type": "refresh_token", "token": token_expiring(1, exp), "request_id": 1})).await;
    assert_eq!(refreshed["type"], "token_refreshed", "{refreshed}");
    assert_eq!(refreshed["request_id"], 1, "{refreshed}");
    assert_eq!(timestamp_of(&refreshed["expires_at"]), exp, "{refreshed}");
    // Past the first token's expiry by 5 s: nothing arrives, no close (expect_silence panics on one).
    let until_secs = u64::try_from(first_exp + 5 - now_secs()).unwrap_or(0);
    ws.expect_silence(Duration::from_secs(until_secs)).await;
    ping_pong(&mut ws, json!("later")).await;
}

#[actix_web::test]
async fn refresh_token_for_another_user_is_an_error_and_the_socket_stays() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let other = request(&mut ws, json!({"type": "refresh_token", "token": token(2), "request_id": "other"})).await;
    assert_error(&other, "forbidden", None, Some(&json!("other")));
    ping_pong(&mut ws, json!("still-open")).await;
    // The session is still user 1's.
    let created = app.create_for_self(1, "for one").await;
    assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": created}));
}

#[actix_web::test]
async fn a_client_that_never_answers_pings_is_closed_and_one_that_does_is_not() {
    let app = TestApp::spawn_with(
        Backend::Postgres,
        &[("HERALD_WS_PING_INTERVAL_SECS", "1"), ("HERALD_WS_PING_TIMEOUT_SECS", "2")],
    )
    .await;
    let (mut silent, _) = WsClient::open(&app, &token(1)).await;
    let (mut live, _) = WsClient::open(&app, &token(2)).await;
    // For 4 s, `live` reads (tungstenite answers the server's pings), `silent` is never polled.
    live.expect_silence(Duration::from_secs(4)).await;
    let (code, before) = silent.expect_close().await;
    assert!(before.is_empty(), "close code {code}, frames: {before:?}");
    ping_pong(&mut live, json!("alive")).await;
}

#[actix_web::test]
async fn a_client_too_slow_to_read_its_pushes_is_closed_with_1013_and_resumes_with_since() {
    const TASKS: usize = 6;
    const PER_TASK: usize = 250;
    let app =
        TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_OUTBOX", "4"), ("HERALD_WS_PING_TIMEOUT_SECS", "30")])
            .await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let user_token = token(1);
    let message = "m".repeat(4000);
    let creators = (0..TASKS).map(|task| {
        let (app, user_token, message) = (&app, &user_token, &message);
        async move {
            for i in 0..PER_TASK {
                let body = json!({"title": format!("slow {task}-{i}"), "message": message});
                let (status, body) = app.post("/auth/notifications/create/", user_token, body).await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
        }
    });
    futures_util::future::join_all(creators).await;
    let total = TASKS * PER_TASK;

    let (code, before) = ws.expect_close().await;
    assert_eq!(code, 1013, "after {} frames", before.len());
    assert!(before.len() < total, "closed before all {total} pushes: got {}", before.len());
    assert!(before.iter().all(|f| f["type"] == "notification"), "only pushes before the close");
    let pushed: Vec<i64> = before.iter().map(|f| id_of(&f["notification"])).collect();
    assert!(pushed.windows(2).all(|w| w[0] < w[1]), "strictly increasing ids");

    // Reconnecting with since = the last id seen replays exactly the rest: the pushes were a prefix.
    let since = pushed.last().copied().unwrap_or(0);
    let mut resumed = WsClient::connect(&app, &token(1), Some(since)).await;
    assert_eq!(resumed.next_json().await["type"], "connection_established");
    let mut replayed = Vec::new();
    loop {
        let frame = resumed.next_json().await;
        match frame["type"].as_str() {
            Some("notification") => replayed.push(id_of(&frame["notification"])),
            Some("sync_complete") => break,
            _ => panic!("unexpected frame during replay: {frame}"),
        }
    }
    let all: Vec<i64> = pushed.iter().chain(&replayed).copied().collect();
    assert_eq!(all.len(), total, "every notification exactly once");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in order, no duplicates");
    assert_eq!(list(&app, 1, "?limit=1").await["total"], total);
}

#[actix_web::test]
async fn server_shutdown_closes_sockets_with_1001() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    ping_pong(&mut ws, json!("before")).await;
    let ((code, before), ()) = tokio::join!(ws.expect_close(), app.stop());
    assert_eq!(code, 1001, "frames before the close: {before:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. sockets of one user are independent

#[actix_web::test]
async fn an_error_on_one_socket_does_not_affect_another_of_the_same_user() {
    let app = TestApp::spawn_with(Backend::Postgres, &[NO_FRAME_LIMIT]).await;
    let (mut a, _) = WsClient::open(&app, &token(1)).await;
    let (mut b, _) = WsClient::open(&app, &token(1)).await;

    a.send_text("{ not json").await;
    assert_error(&a.next_json().await, "invalid_json", None, None);
    let unknown = request(&mut a, json!({"type": "explode", "request_id": "x"})).await;
    assert_error(&unknown, "validation_error", Some("type"), Some(&json!("x")));
    b.expect_silence(Duration::from_millis(200)).await;
    ping_pong(&mut b, json!("b")).await;
    ping_pong(&mut a, json!("a")).await;

    // A fatal error (oversized frame) closes only that socket.
    a.stream.send(Message::text("z".repeat(MAX_FRAME + 1))).await.expect("send huge frame");
    let (code, _) = a.expect_close().await;
    assert_eq!(code, 1009);
    ping_pong(&mut b, json!(2)).await;
    let created = app.create_for_self(1, "after a closed").await;
    assert_eq!(b.next_json().await, json!({"type": "notification", "notification": created}));
}

// ---------------------------------------------------------------------------------------------
// rate limiting: every kind of data frame counts, and errors keep a readable request_id

#[actix_web::test]
async fn flooding_with_binary_frames_is_rate_limited_and_closed_with_1008() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_FRAMES_PER_SECOND", "5")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    for _ in 0..100 {
        if ws.stream.feed(Message::binary(vec![1u8, 2, 3])).await.is_err() {
            break;
        }
    }
    let _ = ws.stream.flush().await;
    let (code, before) = ws.close_within(WAIT).await;
    let limited = before.iter().filter(|f| f["code"] == "rate_limited").count();
    assert!(limited > 0, "some rate_limited errors; got {} frames: {:?}", before.len(), before.first());
    assert_eq!(code, Some(1008), "after {} frames", before.len());
}

#[actix_web::test]
async fn a_rate_limited_error_echoes_a_readable_request_id_even_for_an_invalid_frame() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_WS_FRAMES_PER_SECOND", "1")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    for frame in [
        json!({"type": "ping", "request_id": 1}),
        json!({"type": "ping", "request_id": 2}),
        json!({"type": "explode", "request_id": 3}),
    ] {
        ws.stream.feed(Message::text(frame.to_string())).await.expect("queue frame");
    }
    ws.stream.flush().await.expect("send frames");
    assert_eq!(ws.next_json().await, json!({"type": "pong", "request_id": 1}));
    assert_error(&ws.next_json().await, "rate_limited", None, Some(&json!(2)));
    assert_error(&ws.next_json().await, "rate_limited", None, Some(&json!(3)));
}
