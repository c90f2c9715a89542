//! Idempotency and ordering across nodes.

use super::{BURST, LIST, QUIET};
use crate::helpers::*;
use awc::http::{Method, StatusCode};
use futures_util::future::{join, join_all};
use serde_json::json;

const CREATE: &str = "/auth/notifications/create/";

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
