//! REST changes on one node reach sockets on the others.

use super::{next_push, settle, QUIET};
use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[actix_web::test]
async fn notification_created_on_node_a_reaches_sockets_on_node_b_and_c() {
    let (_db, redis, nodes) = cluster(3, &[]).await;
    let (mut on_b, _) = WsClient::open(&nodes[1], &token(1)).await;
    let (mut on_c, _) = WsClient::open(&nodes[2], &token(1)).await;
    let created = nodes[0].create_for_self(1, "from A").await;
    let expected = json!({"type": "notification", "notification": created});
    assert_eq!(on_b.next_of_type("notification").await, expected);
    assert_eq!(on_c.next_of_type("notification").await, expected);
    assert_eq!(redis.numsub("herald:user:1"), 2, "one subscriber connection per node with sockets");
    let (status, ready) = nodes[0].call(awc::http::Method::GET, "/readyz", None, None).await;
    assert!(status.is_success());
    assert_eq!(ready["checks"], json!({"database": "ok", "redis_publisher": "ok", "redis_subscriber": "ok"}));
}

#[actix_web::test]
async fn read_all_read_and_delete_from_rest_on_one_node_reach_sockets_on_the_others() {
    const USER: i64 = 2;
    let (_db, redis, nodes) = cluster(3, &[]).await;
    let me = token(USER);
    let a = &nodes[0];
    let first = create_id(a, USER, "first").await;
    let second = create_id(a, USER, "second").await;

    let (mut on_b, hello) = WsClient::open(&nodes[1], &me).await;
    assert_eq!(hello["unread_count"], 2, "{hello}");
    let (mut on_c, hello) = WsClient::open(&nodes[2], &me).await;
    assert_eq!(hello["unread_count"], 2, "{hello}");
    let (mut stranger, _) = WsClient::open(&nodes[1], &token(USER + 1)).await;
    wait_numsub(&redis, &[(USER, 2), (USER + 1, 1)], WAIT).await;
    settle(&mut on_b, "B").await;
    settle(&mut on_c, "C").await;
    settle(&mut stranger, "stranger").await;

    async fn both_get(b: &mut WsClient, c: &mut WsClient, expected: Value) {
        assert_eq!(next_push(b, "B").await, expected, "socket on B");
        assert_eq!(next_push(c, "C").await, expected, "socket on C");
    }

    let (status, body) = a.post_empty(&format!("/auth/notifications/{first}/read/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 1, "{body}");
    both_get(
        &mut on_b,
        &mut on_c,
        json!({"type": "notification_read", "notification_id": first, "unread_count": 1, "unseen_count": 1}),
    )
    .await;

    let (status, body) = a.post_empty(&format!("/auth/notifications/{first}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 2, "{body}");
    both_get(
        &mut on_b,
        &mut on_c,
        json!({"type": "notification_unread", "notification_id": first, "unread_count": 2, "unseen_count": 1}),
    )
    .await;

    let (status, body) = a.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"marked": 2, "unread_count": 0, "unseen_count": 0}));
    both_get(&mut on_b, &mut on_c, json!({"type": "all_read", "marked": 2, "unread_count": 0, "unseen_count": 0}))
        .await;

    let (status, _) = a.post_empty(&format!("/auth/notifications/{second}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK);
    both_get(
        &mut on_b,
        &mut on_c,
        json!({"type": "notification_unread", "notification_id": second, "unread_count": 1, "unseen_count": 0}),
    )
    .await;

    let (status, body) = a.delete(&format!("/auth/notifications/{second}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"deleted": true, "unread_count": 0, "unseen_count": 0}));
    both_get(
        &mut on_b,
        &mut on_c,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 0, "unseen_count": 0}),
    )
    .await;

    let (status, body) = a.delete(&format!("/auth/notifications/{first}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"deleted": true, "unread_count": 0, "unseen_count": 0}));
    both_get(
        &mut on_b,
        &mut on_c,
        json!({"type": "notification_deleted", "notification_id": first, "unread_count": 0, "unseen_count": 0}),
    )
    .await;

    // Changes that change nothing push nothing, on any node.
    let (status, _) = a.delete(&format!("/auth/notifications/{first}/delete/"), &me).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = a.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"marked": 0, "unread_count": 0, "unseen_count": 0}));

    // A new one made on A arrives too, after everything above.
    let created = a.create_for_self(USER, "third").await;
    both_get(&mut on_b, &mut on_c, json!({"type": "notification", "notification": created})).await;
    on_b.expect_silence(QUIET).await;
    on_c.expect_silence(Duration::from_millis(50)).await;
    stranger.expect_silence(Duration::from_millis(50)).await;
}
