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
