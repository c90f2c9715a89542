//! Inbox states across two nodes on one Redis: a bulk action reaches tabs on another node as
//! one compact frame, and a snooze comes back exactly once however many nodes look for it.

use crate::helpers::*;
use awc::http::StatusCode;
use diesel::RunQueryDsl;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    visible: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    archived: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    unread: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    kept_unread: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    kept_hidden: i64,
}

/// What the database holds for `user`: counted from the rows and as kept in `inbox_state`.
fn database_counts(db: &TestDb, user: i64) -> Counted {
    diesel::sql_query(format!(
        "SELECT count(*) FILTER (WHERE archived_at IS NULL AND snoozed_until IS NULL) AS visible, \
         count(*) FILTER (WHERE archived_at IS NOT NULL) AS archived, count(*) FILTER (WHERE NOT is_read) AS unread, \
         (SELECT unread_count FROM inbox_state WHERE user_id = {user}) AS kept_unread, \
         (SELECT hidden_count FROM inbox_state WHERE user_id = {user}) AS kept_hidden \
         FROM notifications WHERE user_id = {user}"
    ))
    .get_result(&mut db.connect())
    .expect("counts")
}

async fn ask(ws: &mut WsClient, frame: Value) -> Value {
    let mut frame = frame;
    frame["request_id"] = json!("q");
    ws.send_json(frame).await;
    loop {
        let reply = ws.next_json().await;
        if reply["request_id"] == "q" {
            return reply;
        }
    }
}

#[actix_web::test]
async fn a_bulk_archive_of_1000_rows_on_one_node_reaches_three_tabs_on_another_as_one_frame() {
    let (db, _redis, nodes) = cluster(2, &[]).await;
    let mut ids = create_concurrently(&nodes[..1], 11, 8, 125).await;
    ids.sort_unstable();
    assert_eq!(ids.len(), 1000);
    let mut tabs = Vec::new();
    for _ in 0..3 {
        tabs.push(WsClient::open(&nodes[1], &token(11)).await.0);
    }
    wait_subscribed(&_redis, 11, 1).await;
    let (status, reply) =
        nodes[0].post("/auth/notifications/bulk/", &token(11), json!({"action": "archive", "ids": ids})).await;
    assert_eq!((status, reply["changed"].clone()), (StatusCode::OK, json!(1000)), "{reply}");

    let kept = database_counts(&db, 11);
    assert_eq!(kept, Counted { visible: 0, archived: 1000, unread: 0, kept_unread: 0, kept_hidden: 1000 });
    for tab in &mut tabs {
        let frame = tab.next_of_type("notifications_updated").await;
        assert_eq!((frame["action"].clone(), frame["changed"].clone()), (json!("archive"), json!(1000)));
        let told: Vec<i64> = frame["ids"].as_array().expect("ids").iter().filter_map(Value::as_i64).collect();
        assert_eq!(told, ids, "one frame names every id");
        assert_eq!((frame["unread_count"].clone(), frame["unseen_count"].clone()), (json!(0), json!(0)));
        tab.expect_silence(Duration::from_millis(300)).await;
        let page = ask(tab, json!({"type": "get_notifications"})).await;
        assert_eq!(
            (page["total"].clone(), page["unread_count"].clone()),
            (json!(kept.visible), json!(kept.kept_unread))
        );
        let shelf = ask(tab, json!({"type": "get_notifications", "archived": true, "limit": 200})).await;
        assert_eq!(shelf["total"], json!(kept.archived), "{}", shelf["total"]);
    }
    for tab in tabs {
        tab.close().await;
    }
}

#[actix_web::test]
async fn a_snoozed_notification_comes_back_once_at_its_time_with_a_socket_on_each_node() {
    let (_db, redis, nodes) = cluster(2, &[]).await;
    let id = create_id(&nodes[0], 12, "later").await;
    let (mut first, _) = WsClient::open(&nodes[0], &token(12)).await;
    let (mut second, _) = WsClient::open(&nodes[1], &token(12)).await;
    wait_subscribed(&redis, 12, 2).await;
    let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, reply) =
        nodes[0].post(&format!("/auth/notifications/{id}/snooze/"), &token(12), json!({"snooze_until": until})).await;
    assert_eq!((status, reply["unread_count"].clone()), (StatusCode::OK, json!(0)), "{reply}");
    assert_eq!(list(&nodes[1], 12, "").await["total"], 0, "hidden while snoozed");
    for socket in [&mut first, &mut second] {
        assert_eq!(socket.next_of_type("notifications_updated").await["action"], "snooze");
        let back = socket.next_of_type("notifications_unsnoozed").await;
        assert_eq!(ids_of(&back), vec![id], "{back}");
        assert_eq!((back["unread_count"].clone(), back["unseen_count"].clone()), (json!(1), json!(1)), "{back}");
        assert_eq!(back["notifications"][0]["snoozed_until"], Value::Null);
    }
    // Both nodes' wakers look every second: a second wake would arrive within two looks.
    for socket in [&mut first, &mut second] {
        let (_, later) = socket.close_within(Duration::from_millis(2500)).await;
        assert!(later.iter().all(|frame| frame["type"] != "notifications_unsnoozed"), "woken twice: {later:?}");
    }
    let page = list(&nodes[1], 12, "").await;
    assert_eq!(
        (ids_of(&page), page["unread_count"].clone(), page["unseen_count"].clone()),
        (vec![id], json!(1), json!(1))
    );
}
