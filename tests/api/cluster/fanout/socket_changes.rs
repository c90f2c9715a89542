//! Changes made on a socket reach the user's sockets on every node.

use super::{next_push, settle, QUIET};
use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

#[actix_web::test]
async fn changes_made_on_a_socket_reach_the_users_sockets_on_other_nodes_and_are_not_echoed() {
    const USER: i64 = 3;
    let (_db, redis, nodes) = cluster(2, &[]).await;
    let me = token(USER);
    let first = create_id(&nodes[0], USER, "first").await;
    let second = create_id(&nodes[1], USER, "second").await;
    let third = create_id(&nodes[0], USER, "third").await;

    let (mut x, hello) = WsClient::open(&nodes[0], &me).await;
    assert_eq!(hello["unread_count"], 3, "{hello}");
    let (mut y, _) = WsClient::open(&nodes[1], &me).await;
    wait_numsub(&redis, &[(USER, 2)], WAIT).await;
    settle(&mut x, "X").await;
    settle(&mut y, "Y").await;

    x.send_json(json!({"type": "mark_read", "notification_id": first, "request_id": "r1"})).await;
    assert_eq!(
        x.next_json().await,
        json!({"type": "notification_read", "notification_id": first, "unread_count": 2, "unseen_count": 2, "request_id": "r1"})
    );
    assert_eq!(
        next_push(&mut y, "Y").await,
        json!({"type": "notification_read", "notification_id": first, "unread_count": 2, "unseen_count": 2})
    );

    x.send_json(json!({"type": "delete_notification", "notification_id": second, "request_id": "r2"})).await;
    assert_eq!(
        x.next_json().await,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 1, "unseen_count": 1, "request_id": "r2"})
    );
    assert_eq!(
        next_push(&mut y, "Y").await,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 1, "unseen_count": 1})
    );

    x.send_json(json!({
        "type": "send_notification", "request_id": "r3", "user_id": USER, "title": "note to self",
        "message": "from socket X on node A", "notification_type": "general"
    }))
    .await;
    let sent = x.next_json().await;
    assert_eq!(sent["type"], "notification_sent", "{sent}");
    assert_eq!(sent["request_id"], "r3", "{sent}");
    let notification = sent["notification"].clone();
    assert_eq!(notification["user_id"], USER, "{sent}");
    assert_eq!(notification["title"], "note to self", "{sent}");
    assert!(id_of(&notification) > third, "{sent}");
    assert_eq!(next_push(&mut y, "Y").await, json!({"type": "notification", "notification": notification}));

    x.send_json(json!({"type": "mark_all_read", "request_id": "r4"})).await;
    assert_eq!(
        x.next_json().await,
        json!({"type": "all_read", "marked": 2, "unread_count": 0, "unseen_count": 0, "request_id": "r4"})
    );
    assert_eq!(
        next_push(&mut y, "Y").await,
        json!({"type": "all_read", "marked": 2, "unread_count": 0, "unseen_count": 0})
    );

    // X got only its replies: none of its changes came back to it through Redis.
    x.expect_silence(QUIET).await;
    y.expect_silence(Duration::from_millis(50)).await;

    // The same holds the other way round: Y's change reaches X once, and not Y.
    y.send_json(json!({"type": "delete_notification", "notification_id": third, "request_id": "r5"})).await;
    assert_eq!(
        y.next_json().await,
        json!({"type": "notification_deleted", "notification_id": third, "unread_count": 0, "unseen_count": 0, "request_id": "r5"})
    );
    assert_eq!(
        x.next_json().await,
        json!({"type": "notification_deleted", "notification_id": third, "unread_count": 0, "unseen_count": 0})
    );
    y.expect_silence(QUIET).await;
    x.expect_silence(Duration::from_millis(50)).await;
}
