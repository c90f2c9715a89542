//! Every inbox action over the WebSocket: the reply to the socket that asked (with its
//! `request_id`), the push to the user's other socket, and the same validation as REST.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::{json, Value};

/// Sends `frame` with `request_id` and returns the reply that echoes it.
async fn ask(ws: &mut WsClient, id: &str, mut frame: Value) -> Value {
    frame["request_id"] = json!(id);
    ws.send_json(frame).await;
    loop {
        let reply = ws.next_json().await;
        if reply["request_id"] == id {
            return reply;
        }
    }
}

on_both_backends!(every_action_has_a_frame_and_reaches_the_other_tab, |app| {
    let me = token(7);
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(create_id(&app, 7, &format!("w{n}")).await);
    }
    let (mut asker, hello) = WsClient::open(&app, &me).await;
    assert_eq!((hello["unread_count"].clone(), hello["unseen_count"].clone()), (json!(3), json!(3)), "{hello}");
    let (mut other, _) = WsClient::open(&app, &me).await;

    let seen = ask(&mut asker, "s", json!({"type": "mark_seen", "notification_id": ids[0]})).await;
    assert_eq!(
        (seen["type"].clone(), seen["ids"].clone(), seen["unseen_count"].clone()),
        (json!("notifications_updated"), json!([ids[0]]), json!(2)),
        "{seen}"
    );
    let pushed = other.next_of_type("notifications_updated").await;
    assert_eq!((pushed["action"].clone(), pushed["ids"].clone()), (json!("seen"), json!([ids[0]])), "{pushed}");

    let archived = ask(&mut asker, "a", json!({"type": "archive", "notification_id": ids[1]})).await;
    assert_eq!(
        (archived["action"].clone(), archived["unread_count"].clone()),
        (json!("archive"), json!(2)),
        "{archived}"
    );
    assert_eq!(other.next_of_type("notifications_updated").await["action"], "archive");
    let shelf = ask(&mut asker, "l", json!({"type": "get_notifications", "archived": true})).await;
    assert_eq!((ids_of(&shelf), shelf["unseen_count"].clone()), (vec![ids[1]], json!(1)), "{shelf}");
    let unarchived = ask(&mut asker, "u", json!({"type": "unarchive", "notification_id": ids[1]})).await;
    assert_eq!(unarchived["changed"], 1, "{unarchived}");
    assert_eq!(other.next_of_type("notifications_updated").await["action"], "unarchive");

    let unread = ask(&mut asker, "r", json!({"type": "mark_unread", "notification_id": ids[1]})).await;
    assert_eq!(
        (unread["type"].clone(), unread["unread_count"].clone()),
        (json!("notification_unread"), json!(3)),
        "{unread}"
    );
    assert_eq!(other.next_of_type("notification_unread").await["notification_id"], ids[1]);

    let until = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let snoozed =
        ask(&mut asker, "z", json!({"type": "snooze", "notification_id": ids[2], "snooze_until": until})).await;
    assert!(snoozed["snooze_until"].is_string(), "{snoozed}");
    assert_eq!(other.next_of_type("notifications_updated").await["action"], "snooze");

    create_id(&app, 7, "w3").await;
    let all_seen = ask(&mut asker, "as", json!({"type": "mark_all_seen"})).await;
    assert_eq!((all_seen["changed"].clone(), all_seen["unseen_count"].clone()), (json!(1), json!(0)), "{all_seen}");
    assert_eq!(other.next_of_type("notifications_updated").await["action"], "seen");
    let bulk = ask(&mut asker, "b", json!({"type": "bulk", "action": "archive", "filter": {"read": false}})).await;
    // Unread: the one only seen, the one marked unread, the new one.
    assert_eq!((bulk["changed"].clone(), bulk["unread_count"].clone()), (json!(3), json!(0)), "{bulk}");
    let pushed = other.next_of_type("notifications_updated").await;
    assert_eq!((pushed["action"].clone(), pushed["changed"].clone()), (json!("archive"), json!(3)), "{pushed}");

    let prefs = ask(&mut asker, "p", json!({"type": "get_preferences"})).await;
    assert_eq!(
        (prefs["type"].clone(), prefs["preferences"]["meeting"].clone()),
        (json!("preferences"), json!({"enabled": true, "realtime": true})),
        "{prefs}"
    );
    let changed =
        ask(&mut asker, "pu", json!({"type": "update_preferences", "preferences": {"meeting": {"realtime": false}}}))
            .await;
    assert_eq!(changed["preferences"]["meeting"], json!({"enabled": true, "realtime": false}), "{changed}");

    for (frame, field) in [
        (json!({"type": "bulk", "action": "archive", "ids": (1..=1001).collect::<Vec<i64>>()}), "ids"),
        (json!({"type": "bulk", "action": "vanish", "ids": [1]}), "action"),
        (json!({"type": "snooze", "notification_id": ids[0], "snooze_until": "yesterday"}), "snooze_until"),
        (json!({"type": "get_notifications", "types": ["alert"]}), "type"),
        (json!({"type": "update_preferences", "preferences": {"alert": {"enabled": false}}}), "preferences"),
    ] {
        let error = ask(&mut asker, "e", frame.clone()).await;
        assert_eq!(
            (error["type"].clone(), error["code"].clone(), error["field"].clone()),
            (json!("error"), json!("validation_error"), json!(field)),
            "{frame}: {error}"
        );
    }
    let missing = ask(&mut asker, "m", json!({"type": "archive", "notification_id": 999_999})).await;
    assert_eq!(missing["code"], "not_found", "{missing}");
    asker.close().await;
    other.close().await;
});
