//! Fan-out across a cluster (SPEC §1, §5): several nodes on one PostgreSQL database and one
//! private Redis. A change made on any node — over REST or on a socket — reaches every socket of
//! its user on every node, in order and exactly once, is not echoed to the socket that made it,
//! and subscriptions follow the sockets (one per node with sockets, none once they are gone).
//!
//! A session whose channel subscription is confirmed after it connected repairs its stream from
//! the database and then sends an `unread_count` frame; the readers below accept such frames
//! wherever a repair may legitimately happen, and nothing else.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use futures_util::future::{join, join_all};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

const CREATE: &str = "/auth/notifications/create/";
const LIST: &str = "/auth/notifications/";
/// How long a socket must stay quiet to count as "got nothing more".
const QUIET: Duration = Duration::from_millis(300);
/// Bound for collecting the pushes of a burst of concurrent creates.
const BURST: Duration = Duration::from_secs(30);
/// Bound for subscriptions to settle (the unsubscribe is delayed ~1 s on purpose).
const SUBSCRIPTIONS_SETTLE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The next frame that is not a stream repair's `unread_count`, within `WAIT`.
async fn next_push(ws: &mut WsClient, who: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        match read_until(ws, deadline).await {
            Read::Frame(frame) if is_repair(&frame) => continue,
            Read::Frame(frame) => return frame,
            Read::Closed(code) => panic!("{who}: closed with {code}"),
            Read::Quiet => panic!("{who}: no frame within {WAIT:?}"),
        }
    }
}

/// Lets a fresh socket's post-subscription repair pass: a ping round trip, dropping repair
/// `unread_count` frames met on the way. Call after `wait_numsub` saw the subscriptions.
async fn settle(ws: &mut WsClient, who: &str) {
    ws.send_json(json!({"type": "ping", "request_id": "settle"})).await;
    let pong = next_push(ws, who).await;
    assert_eq!(pong, json!({"type": "pong", "request_id": "settle"}), "{who}");
}

// ---------------------------------------------------------------------------------------------
// 1. Many sockets, many writers
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn four_sockets_of_one_user_on_two_nodes_each_get_every_push_once_in_order() {
    const USER: i64 = 1;
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    let mut sockets = Vec::new();
    for node in [0, 0, 1, 1] {
        sockets.push((node, WsClient::open(&nodes[node], &token(USER)).await.0));
    }

    // No waiting for subscriptions: creates racing them are repaired from the database.
    let readers = sockets
        .iter_mut()
        .enumerate()
        .map(|(i, (node, ws))| collect_notifications(ws, 100, BURST, format!("socket {i} on node {node}")));
    let (created, seen) = join(create_concurrently(&nodes, USER, 10, 10), join_all(readers)).await;

    assert_eq!(created.len(), 100);
    for (i, ids) in seen.iter().enumerate() {
        assert_exactly_once_in_order(ids, &created, &format!("socket {i}"));
    }
    join_all(
        sockets
            .iter_mut()
            .enumerate()
            .map(|(i, (_, ws))| expect_no_more_notifications(ws, QUIET, format!("socket {i}"))),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 2. REST changes on one node reach sockets on the others
// ---------------------------------------------------------------------------------------------

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
    both_get(&mut on_b, &mut on_c, json!({"type": "notification_read", "notification_id": first, "unread_count": 1}))
        .await;

    let (status, body) = a.post_empty(&format!("/auth/notifications/{first}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 2, "{body}");
    both_get(&mut on_b, &mut on_c, json!({"type": "notification_unread", "notification_id": first, "unread_count": 2}))
        .await;

    let (status, body) = a.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"marked": 2, "unread_count": 0}));
    both_get(&mut on_b, &mut on_c, json!({"type": "all_read", "marked": 2, "unread_count": 0})).await;

    let (status, _) = a.post_empty(&format!("/auth/notifications/{second}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK);
    both_get(
        &mut on_b,
        &mut on_c,
        json!({"type": "notification_unread", "notification_id": second, "unread_count": 1}),
    )
    .await;

    let (status, body) = a.delete(&format!("/auth/notifications/{second}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"deleted": true, "unread_count": 0}));
    both_get(
        &mut on_b,
        &mut on_c,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 0}),
    )
    .await;

    let (status, body) = a.delete(&format!("/auth/notifications/{first}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"deleted": true, "unread_count": 0}));
    both_get(
        &mut on_b,
        &mut on_c,
        json!({"type": "notification_deleted", "notification_id": first, "unread_count": 0}),
    )
    .await;

    // Changes that change nothing push nothing, on any node.
    let (status, _) = a.delete(&format!("/auth/notifications/{first}/delete/"), &me).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = a.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"marked": 0, "unread_count": 0}));

    // A new one made on A arrives too, after everything above.
    let created = a.create_for_self(USER, "third").await;
    both_get(&mut on_b, &mut on_c, json!({"type": "notification", "notification": created})).await;
    on_b.expect_silence(QUIET).await;
    on_c.expect_silence(Duration::from_millis(50)).await;
    stranger.expect_silence(Duration::from_millis(50)).await;
}

// ---------------------------------------------------------------------------------------------
// 3. Changes made on a socket
// ---------------------------------------------------------------------------------------------

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
        json!({"type": "notification_read", "notification_id": first, "unread_count": 2, "request_id": "r1"})
    );
    assert_eq!(
        next_push(&mut y, "Y").await,
        json!({"type": "notification_read", "notification_id": first, "unread_count": 2})
    );

    x.send_json(json!({"type": "delete_notification", "notification_id": second, "request_id": "r2"})).await;
    assert_eq!(
        x.next_json().await,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 1, "request_id": "r2"})
    );
    assert_eq!(
        next_push(&mut y, "Y").await,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 1})
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
    assert_eq!(x.next_json().await, json!({"type": "all_read", "marked": 2, "unread_count": 0, "request_id": "r4"}));
    assert_eq!(next_push(&mut y, "Y").await, json!({"type": "all_read", "marked": 2, "unread_count": 0}));

    // X got only its replies: none of its changes came back to it through Redis.
    x.expect_silence(QUIET).await;
    y.expect_silence(Duration::from_millis(50)).await;

    // The same holds the other way round: Y's change reaches X once, and not Y.
    y.send_json(json!({"type": "delete_notification", "notification_id": third, "request_id": "r5"})).await;
    assert_eq!(
        y.next_json().await,
        json!({"type": "notification_deleted", "notification_id": third, "unread_count": 0, "request_id": "r5"})
    );
    assert_eq!(
        x.next_json().await,
        json!({"type": "notification_deleted", "notification_id": third, "unread_count": 0})
    );
    y.expect_silence(QUIET).await;
    x.expect_silence(Duration::from_millis(50)).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Broadcast over many users and nodes
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// 5. Subscriptions follow the sockets
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn tab_reload_churn_leaves_no_stale_subscription() {
    const USERS: i64 = 30;
    const KEPT: i64 = 10;
    let (_db, redis, nodes) = cluster(2, &[]).await;
    let nodes = &nodes;

    for round in 0..5i64 {
        join_all((1..=USERS).map(|user| async move {
            let (on_a, _) = WsClient::open(&nodes[0], &token(user)).await;
            let (on_b, _) = WsClient::open(&nodes[1], &token(user)).await;
            // Close politely or just drop the connection, in varying order.
            if (user + round) % 2 == 0 {
                on_a.close().await;
                drop(on_b);
            } else {
                drop(on_a);
                on_b.close().await;
            }
            // A tab reload: the page comes straight back, on either node.
            if (user + round) % 3 == 0 {
                let node = &nodes[((user + round) % 2) as usize];
                let (again, _) = WsClient::open(node, &token(user)).await;
                again.close().await;
            }
        }))
        .await;
    }

    // Last round: everyone opens on both nodes; users 1..=10 keep their socket on A, all else
    // closes.
    let opened: Vec<(i64, WsClient, WsClient)> = join_all((1..=USERS).map(|user| async move {
        let (on_a, _) = WsClient::open(&nodes[0], &token(user)).await;
        let (on_b, _) = WsClient::open(&nodes[1], &token(user)).await;
        (user, on_a, on_b)
    }))
    .await;
    let mut kept = Vec::new();
    let mut closing = Vec::new();
    for (user, on_a, on_b) in opened {
        closing.push(on_b.close());
        if user <= KEPT {
            kept.push((user, on_a));
        } else {
            closing.push(on_a.close());
        }
    }
    join_all(closing).await;

    let expected: Vec<(i64, i64)> = (1..=USERS).map(|u| (u, i64::from(u <= KEPT))).collect();
    wait_numsub(&redis, &expected, SUBSCRIPTIONS_SETTLE).await;

    // The surviving subscription still delivers, across nodes.
    let created = nodes[1].create_for_self(5, "after the churn").await;
    let (_, five) = kept.iter_mut().find(|(user, _)| *user == 5).expect("user 5 kept a socket");
    assert_eq!(next_push(five, "user 5").await, json!({"type": "notification", "notification": created}));
    join_all(kept.iter_mut().map(|(user, ws)| expect_no_more_notifications(ws, QUIET, format!("user {user}")))).await;
    assert_eq!(
        subscribers(&redis, &(1..=USERS).collect::<Vec<_>>()),
        expected.iter().map(|(_, n)| *n).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Idempotency and ordering across nodes
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn idempotency_and_ordering_hold_across_nodes() {
    const USER: i64 = 6;
    let (_db, _redis, nodes) = cluster(3, &[]).await;
    let mut sockets = Vec::new();
    for node in &nodes {
        sockets.push(WsClient::open(node, &token(USER)).await.0);
    }

    // The same key from the same caller, concurrently on all three nodes (twice each).
    let auth = format!("Bearer {}", token(USER));
    let body = json!({"title": "only once in the cluster", "data": {"n": 1}}).to_string();
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json"), ("Idempotency-Key", "k-1")];
    let replies =
        join_all((0..6).map(|i| nodes[i % 3].raw(Method::POST, CREATE, &headers, body.clone().into_bytes()))).await;
    let (first_status, _, first_body) = &replies[0];
    assert_eq!(*first_status, StatusCode::CREATED, "{first_body}");
    for (i, (status, _, reply)) in replies.iter().enumerate() {
        assert_eq!((status, reply), (first_status, first_body), "reply {i} (node {}) differs", i % 3);
    }
    let once = id_of(&first_body["notification"]);
    for node in nodes.iter() {
        let (status, list) = node.get(LIST, &token(USER)).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["total"], 1, "exactly one stored: {list}");
        assert_eq!(list["notifications"][0], first_body["notification"]);
    }
    let mut seen: Vec<Vec<i64>> = Vec::new();
    for (node, ws) in sockets.iter_mut().enumerate() {
        seen.push(collect_notifications(ws, 1, WAIT, format!("socket on node {node}")).await);
    }

    // 20 concurrent creators spread over the three nodes.
    let readers = sockets
        .iter_mut()
        .enumerate()
        .map(|(node, ws)| collect_notifications(ws, 100, BURST, format!("socket on node {node}")));
    let (created, later) = join(create_concurrently(&nodes, USER, 20, 5), join_all(readers)).await;
    let mut expected = created;
    expected.push(once);
    for (node, (ids, more)) in seen.iter_mut().zip(later).enumerate() {
        ids.extend(more);
        assert_exactly_once_in_order(ids, &expected, &format!("socket on node {node}"));
    }
    join_all(
        sockets
            .iter_mut()
            .enumerate()
            .map(|(node, ws)| expect_no_more_notifications(ws, QUIET, format!("node {node}"))),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 7. The subscribe race
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_socket_on_a_node_whose_user_has_no_other_sockets_gets_pushes_created_on_other_nodes_immediately() {
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    // Several users in turn, each with no socket anywhere before: more chances to hit the race.
    for user in 71..=74 {
        let (mut ws, hello) = WsClient::open(&nodes[1], &token(user)).await;
        assert_eq!(hello["unread_count"], 0, "{hello}");
        // No waiting for the subscription: create at once, in a tight loop, on the other node.
        let creates = async {
            let mut ids = Vec::with_capacity(20);
            for n in 0..20 {
                ids.push(create_id(&nodes[0], user, &format!("race #{n}")).await);
            }
            ids
        };
        let who = format!("user {user} on node B");
        let (ids, seen) = join(creates, collect_notifications(&mut ws, 20, BURST, who.clone())).await;
        assert_exactly_once_in_order(&seen, &ids, &who);
        expect_no_more_notifications(&mut ws, QUIET, who).await;
    }

    // A single create right after connecting: no later event reveals a gap, so only the repair
    // that follows the confirmed subscription can deliver it if it raced the SUBSCRIBE.
    let nodes = &nodes;
    join_all((81..=90).map(|user| async move {
        let (mut ws, _) = WsClient::open(&nodes[1], &token(user)).await;
        let id = create_id(&nodes[0], user, "the only one").await;
        let who = format!("user {user} on node B");
        let seen = collect_notifications(&mut ws, 1, WAIT, who.clone()).await;
        assert_eq!(seen, vec![id], "{who}");
        expect_no_more_notifications(&mut ws, QUIET, who).await;
    }))
    .await;

    // Tighter still: create while the handshake's session is still starting. What committed
    // before the session read its position is counted in the greeting (creates run one after
    // the other, so that is a prefix of `ids`); everything after must be pushed, once, in order.
    join_all((91..=95).map(|user| async move {
        let mut ws = WsClient::connect(&nodes[1], &token(user), None).await;
        let creates = async {
            let mut ids = Vec::with_capacity(10);
            for n in 0..10 {
                ids.push(create_id(&nodes[0], user, &format!("handshake race #{n}")).await);
            }
            ids
        };
        let who = format!("user {user} on node B");
        let reads = async {
            let hello = ws.next_json().await;
            assert_eq!(hello["type"], "connection_established", "{who}: {hello}");
            let before = hello["unread_count"].as_i64().expect("unread_count") as usize;
            assert!(before <= 10, "{who}: {hello}");
            (before, collect_notifications(&mut ws, 10 - before, BURST, who.clone()).await)
        };
        let (ids, (before, seen)) = join(creates, reads).await;
        assert_eq!(seen, ids[before..].to_vec(), "{who}: {before} counted in the greeting");
        expect_no_more_notifications(&mut ws, QUIET, who).await;
    }))
    .await;
}
