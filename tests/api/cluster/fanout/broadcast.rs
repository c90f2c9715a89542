//! Broadcast over many users and nodes.

use super::{next_push, LIST, QUIET};
use crate::helpers::*;
use awc::http::StatusCode;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[actix_web::test]
async fn broadcast_to_200_users_spread_over_3_nodes_reaches_each_exactly_once() {
    const USERS: i64 = 200;
    let (_db, redis, nodes) = cluster(3, &[]).await;
    let nodes = &nodes;
    let users: Vec<i64> = (1..=USERS).collect();
    let mut sockets: Vec<(i64, WsClient)> = join_all(users.iter().map(|&user| async move {
        let (ws, hello) = WsClient::open(&nodes[(user % 3) as usize], &token(user)).await;
        assert_eq!(hello["user_id"], user, "{hello}");
        (user, ws)
    }))
    .await;
    let all_once: Vec<(i64, i64)> = users.iter().map(|&u| (u, 1)).collect();
    wait_numsub(&redis, &all_once, WAIT).await;

    // Recipients out of order and with a duplicate: both are ignored.
    let mut recipients: Vec<i64> = users.iter().rev().copied().collect();
    recipients.push(7);
    let (status, body) = nodes[0]
        .post(
            "/auth/notifications/broadcast/",
            &staff_token(1000),
            json!({"user_ids": recipients, "title": "cluster-wide", "message": "to 200 users on 3 nodes"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["created"], USERS, "{body}");
    assert_eq!(body["suppressed"], 0, "{body}");
    let ids: Vec<i64> =
        body["notification_ids"].as_array().expect("notification_ids").iter().filter_map(Value::as_i64).collect();
    assert_eq!(ids.len(), USERS as usize, "{body}");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "distinct ids: {body}");

    // notification_ids follow the recipients in ascending user order.
    let checks = sockets.iter_mut().map(|(user, ws)| {
        let user = *user;
        let expected_id = ids[(user - 1) as usize];
        async move {
            let who = format!("user {user} on node {}", user % 3);
            let push = next_push(ws, &who).await;
            assert_eq!(push["type"], "notification", "{who}: {push}");
            assert_eq!(push["notification"]["user_id"], user, "{who}: {push}");
            assert_eq!(push["notification"]["sender_id"], 1000, "{who}: {push}");
            assert_eq!(push["notification"]["title"], "cluster-wide", "{who}: {push}");
            assert_eq!(id_of(&push["notification"]), expected_id, "{who}: {push}");
            expect_no_more_notifications(ws, QUIET, who).await;
            push
        }
    });
    let pushes = join_all(checks).await;

    // The push is the stored row (checked on a few users, on other nodes than the sender's).
    for user in [1, 2, 3, 100, 200] {
        let (status, list) = nodes[(user % 3) as usize].get(LIST, &token(user)).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(pushes[(user - 1) as usize]["notification"], list["notifications"][0], "user {user}");
    }
    for user in [1, 2, 3, 100, 199, 200] {
        assert_eq!(redis.numsub(&channel(user)), 1, "one subscriber for user {user}, on its node");
    }
}
