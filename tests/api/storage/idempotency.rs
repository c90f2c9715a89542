//! Idempotency keys replay the first response per caller and operation.

use crate::helpers::*;
use crate::on_both_backends;
use awc::http::{Method, StatusCode};
use futures_util::future::join_all;
use serde_json::{json, Value};

/// POST with raw headers (for `Idempotency-Key`); returns status and body.
async fn post_with_key(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    let (status, _, body) = app
        .raw(
            Method::POST,
            path,
            &[("Authorization", &auth), ("Content-Type", "application/json"), ("Idempotency-Key", key)],
            serde_json::to_vec(body).expect("serialize body"),
        )
        .await;
    (status, body)
}

on_both_backends!(idempotency_keys_replay_the_first_response_per_caller_and_operation, |app| {
    const CREATE: &str = "/auth/notifications/create/";
    const BROADCAST: &str = "/auth/notifications/broadcast/";
    let alice = token(20);
    let body = json!({"title": "only once", "data": {"n": 1}});

    let replies = join_all((0..10).map(|_| post_with_key(&app, CREATE, &alice, "key-1", &body))).await;
    let (first_status, first_body) = replies[0].clone();
    assert_eq!(first_status, StatusCode::CREATED, "{first_body}");
    for (status, reply) in &replies {
        assert_eq!((*status, reply), (first_status, &first_body), "all 10 concurrent replies are identical");
    }
    let first_id = first_body["notification"]["id"].as_i64().expect("id");
    let page = list(&app, 20, "").await;
    assert_eq!(page["total"], json!(1), "exactly one stored: {page}");
    assert_eq!(page["unread_count"], json!(1));
    assert_eq!(page["notifications"][0], first_body["notification"]);

    let later = post_with_key(&app, CREATE, &alice, "key-1", &body).await;
    assert_eq!(later, (first_status, first_body.clone()), "a later repeat replays the first reply");
    assert_eq!(list(&app, 20, "").await["total"], json!(1));

    // Another caller's identical key is its own.
    let (status, bob_reply) = post_with_key(&app, CREATE, &token(21), "key-1", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{bob_reply}");
    assert_eq!(bob_reply["notification"]["user_id"], json!(21));
    assert_ne!(bob_reply["notification"]["id"].as_i64(), Some(first_id));
    assert_eq!(list(&app, 21, "").await["total"], json!(1));
    assert_eq!(list(&app, 20, "").await["total"], json!(1));

    // Another key from the same caller creates another.
    let (status, second) = post_with_key(&app, CREATE, &alice, "key-2", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["notification"]["id"].as_i64(), Some(first_id));
    assert_eq!(list(&app, 20, "").await["total"], json!(2));

    // Broadcast: a repeat returns the same body and stores nothing.
    let staff = staff_token(30);
    let cast = json!({"user_ids": [40, 41], "title": "to everyone"});
    let (status, cast_reply) = post_with_key(&app, BROADCAST, &staff, "b-1", &cast).await;
    assert_eq!(status, StatusCode::CREATED, "{cast_reply}");
    assert_eq!(cast_reply["created"], json!(2));
    let again = post_with_key(&app, BROADCAST, &staff, "b-1", &cast).await;
    assert_eq!(again, (StatusCode::CREATED, cast_reply.clone()));
    assert_eq!(list(&app, 40, "").await["total"], json!(1));
    assert_eq!(list(&app, 41, "").await["total"], json!(1));

    // One key, two operations: the scopes do not collide.
    let (status, created) =
        post_with_key(&app, CREATE, &staff, "shared", &json!({"user_id": 40, "title": "one"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["notification"]["user_id"], json!(40));
    let (status, cast_shared) = post_with_key(&app, BROADCAST, &staff, "shared", &cast).await;
    assert_eq!(status, StatusCode::CREATED, "{cast_shared}");
    assert_eq!(cast_shared["created"], json!(2), "the broadcast ran, not a replay of the create: {cast_shared}");
    assert!(cast_shared.get("notification").is_none(), "{cast_shared}");
    assert_eq!(list(&app, 40, "").await["total"], json!(3));
    assert_eq!(list(&app, 41, "").await["total"], json!(2));
    let replay = post_with_key(&app, CREATE, &staff, "shared", &json!({"user_id": 40, "title": "one"})).await;
    assert_eq!(replay, (StatusCode::CREATED, created));
    assert_eq!(list(&app, 40, "").await["total"], json!(3));
});

on_both_backends!(an_idempotency_key_reused_with_another_request_is_refused_and_stores_nothing, |app| {
    const CREATE: &str = "/auth/notifications/create/";
    const BROADCAST: &str = "/auth/notifications/broadcast/";
    let alice = token(20);
    let first =
        json!({"title": "Quarterly report", "message": "due Friday", "type": "meeting", "data": {"a": 1, "b": 2}});
    let (status, created) = post_with_key(&app, CREATE, &alice, "k-1", &first).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // The same request spelled otherwise (whitespace, key order, the other name of `type`) is the
    // same request: the first reply again.
    let respelled = json!({"data": {"b": 2, "a": 1}, "notification_type": "meeting", "message": "due Friday",
                           "title": "  Quarterly report "});
    assert_eq!(post_with_key(&app, CREATE, &alice, "k-1", &respelled).await, (StatusCode::CREATED, created.clone()));

    // Another request under the key: 422, and its content is not silently dropped for the first reply.
    for (changed, body) in [
        (
            "title",
            json!({"title": "Something else", "message": "due Friday", "type": "meeting", "data": {"a": 1, "b": 2}}),
        ),
        ("data", json!({"title": "Quarterly report", "message": "due Friday", "type": "meeting", "data": {"a": 1}})),
        (
            "recipient",
            json!({"user_id": 21, "title": "Quarterly report", "message": "due Friday", "type": "meeting",
                             "data": {"a": 1, "b": 2}}),
        ),
        (
            "link",
            json!({"title": "Quarterly report", "message": "due Friday", "type": "meeting", "data": {"a": 1, "b": 2},
                        "link": "https://x.test/"}),
        ),
    ] {
        let (status, reply) = post_with_key(&app, CREATE, &staff_token(20), "k-1", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{changed}: {reply}");
        assert_eq!(reply["error"]["code"], "idempotency_key_reused", "{changed}: {reply}");
    }
    assert_eq!(list(&app, 20, "").await["total"], json!(1));
    assert_eq!(list(&app, 21, "").await["total"], json!(0));
    // The first request still replays after the refusals.
    assert_eq!(post_with_key(&app, CREATE, &alice, "k-1", &first).await, (StatusCode::CREATED, created));

    // Broadcast: the recipients are part of the request (as a set: order and repeats do not count).
    let staff = staff_token(30);
    let cast = json!({"user_ids": [40, 41], "title": "to everyone"});
    let (status, cast_reply) = post_with_key(&app, BROADCAST, &staff, "b-1", &cast).await;
    assert_eq!(status, StatusCode::CREATED, "{cast_reply}");
    let same = json!({"user_ids": [41, 40, 41], "title": "to everyone"});
    assert_eq!(post_with_key(&app, BROADCAST, &staff, "b-1", &same).await, (StatusCode::CREATED, cast_reply));
    let (status, reply) =
        post_with_key(&app, BROADCAST, &staff, "b-1", &json!({"user_ids": [40, 42], "title": "to everyone"})).await;
    assert_eq!((status, &reply["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("idempotency_key_reused")));
    assert_eq!(list(&app, 42, "").await["total"], json!(0));

    // Concurrent requests under one new key, two bodies: one is created, each repeat of it
    // replays it, each of the other is refused.
    let bodies = [json!({"title": "one"}), json!({"title": "two"})];
    let replies = join_all((0..10).map(|i| post_with_key(&app, CREATE, &alice, "race", &bodies[i % 2]))).await;
    let created: Vec<&Value> = replies.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b).collect();
    let refused = replies
        .iter()
        .filter(|(s, b)| *s == StatusCode::UNPROCESSABLE_ENTITY && b["error"]["code"] == "idempotency_key_reused");
    assert_eq!(created.len() + refused.count(), 10, "{replies:?}");
    assert_eq!(created.len(), 5, "the winner's five requests replay it: {replies:?}");
    assert!(created.iter().all(|b| *b == created[0]), "{replies:?}");
    assert_eq!(list(&app, 20, "").await["total"], json!(2));
});

/// A `send_notification` frame with an `idempotency_key`, answered on `ws` (no push to wait past:
/// the sender's own socket is not sent its notification).
async fn send_keyed(ws: &mut WsClient, request_id: &str, key: &str, title: &str) -> Value {
    ws.send_json(json!({"type": "send_notification", "request_id": request_id, "idempotency_key": key,
                        "title": title, "data": {"n": 1}}))
        .await;
    ws.next_json().await
}

on_both_backends!(send_notification_with_an_idempotency_key_creates_once_across_sockets, |app| {
    let (mut ws, _) = WsClient::open(&app, &token(50)).await;
    let first = send_keyed(&mut ws, "a", "retry-1", "sent once").await;
    assert_eq!(first["type"], "notification_sent", "{first}");
    assert_eq!(first["request_id"], "a", "{first}");
    ws.close().await;

    // The client lost the socket before it read the reply and sends again on a new one: the first
    // reply again, under the new request id, and nothing new stored.
    let (mut ws, _) = WsClient::open(&app, &token(50)).await;
    let again = send_keyed(&mut ws, "b", "retry-1", "sent once").await;
    let mut expected = first.clone();
    expected["request_id"] = json!("b");
    assert_eq!(again, expected);
    assert_eq!(list(&app, 50, "").await["total"], json!(1));

    // Another request under the key is refused with an error frame; the socket stays open.
    let reused = send_keyed(&mut ws, "c", "retry-1", "something else").await;
    assert_eq!((&reused["type"], &reused["code"]), (&json!("error"), &json!("idempotency_key_reused")), "{reused}");
    assert_eq!(reused["request_id"], "c", "{reused}");
    for (key, why) in [(json!(""), "empty"), (json!(5), "not a string"), (json!("k".repeat(256)), "too long")] {
        ws.send_json(json!({"type": "send_notification", "request_id": "d", "idempotency_key": key, "title": "t"}))
            .await;
        let bad = ws.next_json().await;
        assert_eq!(
            (&bad["code"], &bad["field"]),
            (&json!("validation_error"), &json!("idempotency_key")),
            "{why}: {bad}"
        );
    }
    assert_eq!(list(&app, 50, "").await["total"], json!(1));

    // Keys are per operation: the same key over REST is a request of its own.
    let (status, rest) =
        post_with_key(&app, "/auth/notifications/create/", &token(50), "retry-1", &json!({"title": "rest"})).await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    let pushed = ws.next_of_type("notification").await;
    assert_eq!(pushed["notification"], rest["notification"], "the socket gets the REST one live");
    assert_eq!(list(&app, 50, "").await["total"], json!(2));
});
