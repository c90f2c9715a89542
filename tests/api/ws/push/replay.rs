//! Replay: `since` on connect and the `sync` frame.

use super::QUIET;
use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

on_both_backends!(since_replays_what_was_missed_then_sync_complete, |app| {
    let me = token(1);
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(app.create_for_self(1, &format!("missed {n}")).await);
    }
    let ids: Vec<i64> = created.iter().map(id_of).collect();
    // Noise for another user must not leak into user 1's replay.
    app.create_for_self(2, "someone else's").await;

    let mut ws = WsClient::connect(&app, &me, Some(ids[1])).await;
    let hello = json!({"type": "connection_established", "user_id": 1, "unread_count": 5, "unseen_count": 5, "last_id": ids[4]});
    assert_eq!(ws.next_json().await, hello);
    for notification in &created[2..] {
        assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": notification}));
    }
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": ids[4]}));
    ws.expect_silence(QUIET).await;

    // A `sync` frame mid-session replays the same way and echoes the request_id on sync_complete.
    ws.send_json(json!({"type": "sync", "since": ids[1], "request_id": "s1"})).await;
    for notification in &created[2..] {
        assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": notification}));
    }
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": ids[4], "request_id": "s1"}));
    ws.send_json(json!({"type": "sync", "since": ids[4], "request_id": 2})).await;
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": ids[4], "request_id": 2}));
    ws.expect_silence(Duration::from_millis(100)).await;

    // Live pushes still flow after a replay, exactly once.
    let live = app.create_for_self(1, "live").await;
    assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": live}));
    ws.expect_silence(Duration::from_millis(100)).await;
    ws.close().await;

    // Nothing newer than since: sync_complete carries since itself.
    let beyond = id_of(&live) + 1000;
    let mut ws = WsClient::connect(&app, &me, Some(beyond)).await;
    assert_eq!(ws.next_json().await["type"], "connection_established");
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": beyond}));
    ws.send_json(json!({"type": "sync", "since": beyond, "request_id": "s2"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": beyond, "request_id": "s2"}));
    ws.expect_silence(Duration::from_millis(100)).await;
});
