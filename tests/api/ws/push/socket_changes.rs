//! Changes made on a socket reach the user's other sockets, not the one that made them.

use super::QUIET;
use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

#[actix_web::test]
async fn a_change_made_on_one_socket_is_pushed_to_the_users_other_sockets_and_not_echoed() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let me = token(1);
    let first = create_id(&app, 1, "first").await;
    let second = create_id(&app, 1, "second").await;
    let third = create_id(&app, 1, "third").await;
    let (mut a, hello) = WsClient::open(&app, &me).await;
    assert_eq!(hello["unread_count"], 3, "{hello}");
    let (mut b, _) = WsClient::open(&app, &me).await;

    a.send_json(json!({"type": "mark_read", "notification_id": first, "request_id": "r1"})).await;
    assert_eq!(
        a.next_json().await,
        json!({"type": "notification_read", "notification_id": first, "unread_count": 2, "unseen_count": 2, "request_id": "r1"})
    );
    assert_eq!(
        b.next_json().await,
        json!({"type": "notification_read", "notification_id": first, "unread_count": 2, "unseen_count": 2})
    );

    a.send_json(json!({"type": "delete_notification", "notification_id": second, "request_id": "r2"})).await;
    assert_eq!(
        a.next_json().await,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 1, "unseen_count": 1, "request_id": "r2"})
    );
    assert_eq!(
        b.next_json().await,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 1, "unseen_count": 1})
    );

    a.send_json(json!({"type": "mark_all_read", "request_id": "r3"})).await;
    assert_eq!(
        a.next_json().await,
        json!({"type": "all_read", "marked": 1, "unread_count": 0, "unseen_count": 0, "request_id": "r3"})
    );
    assert_eq!(b.next_json().await, json!({"type": "all_read", "marked": 1, "unread_count": 0, "unseen_count": 0}));

    a.send_json(json!({
        "type": "send_notification", "request_id": "r4", "user_id": 1, "title": "note to self",
        "message": "from socket A", "notification_type": "general"
    }))
    .await;
    let sent = a.next_json().await;
    assert_eq!(sent["type"], "notification_sent", "{sent}");
    assert_eq!(sent["request_id"], "r4", "{sent}");
    let notification = sent["notification"].clone();
    assert_eq!(notification["user_id"], 1, "{sent}");
    assert_eq!(notification["title"], "note to self", "{sent}");
    assert!(id_of(&notification) > third, "{sent}");
    assert_eq!(b.next_json().await, json!({"type": "notification", "notification": notification}));

    // A got only its replies: none of its own changes came back to it as pushes.
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::from_millis(50)).await;

    // A staff socket may send to another user: it reaches that user's socket.
    let (mut staff, _) = WsClient::open(&app, &staff_token(100)).await;
    let (mut other, _) = WsClient::open(&app, &token(2)).await;
    staff
        .send_json(json!({
            "type": "send_notification", "request_id": 5, "user_id": 2, "title": "from staff",
            "message": "hello", "notification_type": "action_item", "data": {"task_id": 9}
        }))
        .await;
    let sent = staff.next_json().await;
    assert_eq!(sent["type"], "notification_sent", "{sent}");
    assert_eq!(sent["request_id"], 5, "{sent}");
    assert_eq!(sent["notification"]["user_id"], 2, "{sent}");
    assert_eq!(sent["notification"]["sender_id"], 100, "{sent}");
    assert_eq!(other.next_json().await, json!({"type": "notification", "notification": sent["notification"]}));
    other.expect_silence(QUIET).await;
    staff.expect_silence(Duration::from_millis(50)).await;
    a.expect_silence(Duration::from_millis(50)).await;
}
