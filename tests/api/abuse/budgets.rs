//! One budget per principal, shared by REST and every WebSocket of the user on every node: an
//! end user's frames spread over sockets on two nodes are refused once it is spent (an `error`
//! frame with `retry_after`, the socket stays open), REST and frames draw from the same budget,
//! refusals ignored past the flood tolerance close the socket with 1008, and a service's
//! notifications written (a broadcast costs one per recipient) have their own budget.

use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const UNREAD: &str = "/auth/notifications/unread-count/";
const CREATE: &str = "/auth/notifications/create/";

/// One unit a second, six at once: reads cost 1, changes 2.
const SMALL_BUDGET: [(&str, &str); 2] = [("HERALD_RATE_LIMIT_PER_SECOND", "1"), ("HERALD_RATE_LIMIT_BURST", "6")];

/// Sends `frame` with `request_id` and returns the reply to it (pushes skipped).
async fn ask(ws: &mut WsClient, mut frame: Value, request_id: i64) -> Value {
    frame["request_id"] = json!(request_id);
    ws.send_json(frame).await;
    loop {
        let reply = ws.next_json().await;
        if reply["request_id"] == request_id {
            return reply;
        }
    }
}

fn assert_refused(reply: &Value) -> u64 {
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "rate_limited", "{reply}");
    let retry_after = reply["retry_after"].as_u64().unwrap_or_else(|| panic!("retry_after in seconds: {reply}"));
    assert!((1..=6).contains(&retry_after), "{reply}");
    retry_after
}

#[actix_web::test]
async fn one_users_frames_over_sockets_on_two_nodes_are_refused_once_the_shared_budget_is_spent() {
    let (_db, _redis, nodes) = cluster(2, &SMALL_BUDGET).await;
    // Two handshakes cost 2 of the 6 units.
    let (mut on_a, _) = WsClient::open(&nodes[0], &token(1)).await;
    let (mut on_b, _) = WsClient::open(&nodes[1], &token(1)).await;
    let unread = json!({"type": "get_unread_count"});
    let mut replies = Vec::new();
    for i in 0..12 {
        let ws = if i % 2 == 0 { &mut on_a } else { &mut on_b };
        let reply = ask(ws, unread.clone(), i).await;
        let refused = reply["type"] == "error";
        replies.push(reply);
        if refused {
            break;
        }
    }
    let admitted = replies.len() - 1;
    // 4 units were left for both sockets together (5 if a second passed meanwhile); a budget
    // per node would have admitted 10.
    assert!((4..=5).contains(&admitted), "{admitted} admitted: {replies:?}");
    let retry_after = assert_refused(replies.last().expect("a reply"));

    // The sockets stay open: a ping costs nothing and is answered.
    assert_eq!(ask(&mut on_b, json!({"type": "ping"}), 10).await["type"], "pong");
    // After the wait the frame is admitted. (The wait is the scenario.)
    actix_web::rt::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    assert_eq!(ask(&mut on_a, unread.clone(), 11).await["type"], "unread_count");
    // Another user has their own budget.
    let (mut other, _) = WsClient::open(&nodes[1], &token(2)).await;
    assert_eq!(ask(&mut other, unread, 12).await["type"], "unread_count");
}

#[actix_web::test]
async fn rest_and_frames_draw_from_one_budget_and_changes_cost_more_than_reads() {
    let (_db, _redis, nodes) = cluster(2, &SMALL_BUDGET).await;
    let me = token(3);
    let (mut ws, _) = WsClient::open(&nodes[1], &me).await; // 1 unit
    let (status, body) = nodes[0].post(CREATE, &me, json!({"user_id": 3, "title": "rest"})).await; // 2
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sent = ask(&mut ws, json!({"type": "send_notification", "user_id": 3, "title": "ws"}), 1).await; // 2
    assert_eq!(sent["type"], "notification_sent", "{sent}");
    let (status, _) = nodes[0].get(UNREAD, &me).await; // 1: six spent
    assert_eq!(status, StatusCode::OK);

    // Spent (unless a second passed meanwhile: then one more read gets through first).
    let mut refused = ask(&mut ws, json!({"type": "get_unread_count"}), 2).await;
    if refused["type"] == "unread_count" {
        refused = ask(&mut ws, json!({"type": "get_unread_count"}), 20).await;
    }
    assert_refused(&refused);
    let (status, body) = nodes[1].get(UNREAD, &me).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "REST shares the spent budget: {body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    // A refused create stored nothing.
    let refused = ask(&mut ws, json!({"type": "send_notification", "user_id": 3, "title": "no"}), 3).await;
    assert_refused(&refused);
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    let (status, list) = nodes[0].get("/auth/notifications/", &me).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let titles: Vec<&str> =
        list["notifications"].as_array().expect("list").iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, ["ws", "rest"], "{list}");
}

#[actix_web::test]
async fn a_socket_that_keeps_sending_past_its_users_budget_is_closed_with_1008() {
    let app = TestApp::spawn_with(Backend::Sqlite, &SMALL_BUDGET).await;
    let (mut ws, _) = WsClient::open(&app, &token(4)).await;
    // 30 reads at once: under the socket's own limit (20 frames at once) for the first 20,
    // but the budget admits 5; the refusals past 20 within 10 s close the socket.
    for i in 0..30 {
        ws.send_json(json!({"type": "get_unread_count", "request_id": i})).await;
    }
    let (code, before) = ws.close_within(WAIT).await;
    assert_eq!(code, Some(1008), "{before:?}");
    let admitted = before.iter().filter(|f| f["type"] == "unread_count").count();
    assert!((5..=6).contains(&admitted), "5 units were left: {before:?}");
    assert!(before.iter().filter(|f| f["code"] == "rate_limited").all(|f| f["retry_after"].as_u64().is_some()));
}

#[actix_web::test]
async fn a_service_broadcast_beyond_its_budget_is_refused_and_writes_nothing() {
    let service_budget = [
        ("HERALD_SERVICE_RATE_LIMIT_PER_SECOND", "1"),
        ("HERALD_SERVICE_RATE_LIMIT_BURST", "10"),
        ("HERALD_MAX_BROADCAST_RECIPIENTS", "10"),
    ];
    let (_db, _redis, nodes) = cluster(2, &service_budget).await;
    let service = staff_token(1000);
    let broadcast = |users: std::ops::Range<i64>| json!({"user_ids": users.collect::<Vec<_>>(), "title": "all"});
    let (status, body) = nodes[0].post("/auth/notifications/broadcast/", &service, broadcast(1..7)).await;
    assert_eq!(status, StatusCode::CREATED, "6 of 10: {body}");
    let (status, headers, body) = nodes[1]
        .raw(
            awc::http::Method::POST,
            "/auth/notifications/broadcast/",
            &[("Authorization", &format!("Bearer {service}")), ("Content-Type", "application/json")],
            broadcast(7..13).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "6 more do not fit on the other node either: {body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let retry: u64 = headers.get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).expect("Retry-After");
    assert!((1..=3).contains(&retry), "2 notifications short at 1/s: {retry}");
    for user in 7..13 {
        assert_eq!(unread_count(&nodes[0], user).await, 0, "the refused broadcast wrote nothing for {user}");
    }
    // A create costs one: 3 of the 4 left.
    let (status, body) = nodes[1].post(CREATE, &service, json!({"user_id": 20, "title": "one"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Its other requests are not limited.
    for _ in 0..20 {
        assert_eq!(nodes[0].get(UNREAD, &service).await.0, StatusCode::OK);
    }
}

#[actix_web::test]
async fn an_end_users_large_creates_cost_by_their_size_on_both_transports() {
    // 1 unit a second, 30 at once; a create costs 2, and 1 more per KiB as sent.
    let budget = [("HERALD_RATE_LIMIT_PER_SECOND", "1"), ("HERALD_RATE_LIMIT_BURST", "30")];
    let (_db, _redis, nodes) = cluster(2, &budget).await;
    let me = token(5);
    let (mut ws, _) = WsClient::open(&nodes[1], &me).await; // 1 unit
                                                            // About 10.2 KiB as sent: 10 units more.
    let (message, data) = ("x".repeat(4000), json!({"pad": "x".repeat(6400)}));
    let (status, body) =
        nodes[0].post(CREATE, &me, json!({"user_id": 5, "title": "rest", "message": message, "data": data})).await;
    assert_eq!(status, StatusCode::CREATED, "2 + 10 units: {body}"); // 13 spent
    let frame = json!({"type": "send_notification", "user_id": 5, "title": "ws", "message": message, "data": data});
    let sent = ask(&mut ws, frame.clone(), 1).await;
    assert_eq!(sent["type"], "notification_sent", "2 + 10 units: {sent}"); // 25 spent
                                                                           // The same create again does not fit in the 5 left (6 if a second passed), on either
                                                                           // transport; a small one still does.
    assert_refused(&ask(&mut ws, frame, 2).await);
    let (status, body) =
        nodes[1].post(CREATE, &me, json!({"user_id": 5, "title": "big", "message": message, "data": data})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let small = ask(&mut ws, json!({"type": "send_notification", "user_id": 5, "title": "small"}), 3).await;
    assert_eq!(small["type"], "notification_sent", "a small create costs 2: {small}");
    // Nothing refused was stored (the REST refusal took its 2 for the request: 1 unit is left
    // for this read).
    let (status, list) = nodes[0].get("/auth/notifications/", &me).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let titles: Vec<&str> =
        list["notifications"].as_array().expect("list").iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, ["small", "ws", "rest"], "{list}");
}
