//! Subscriptions follow the sockets.

use super::{next_push, QUIET};
use crate::helpers::*;
use futures_util::future::join_all;
use serde_json::json;
use std::time::Duration;

/// Bound for subscriptions to settle (the unsubscribe is delayed ~1 s on purpose).
const SUBSCRIPTIONS_SETTLE: Duration = Duration::from_secs(5);

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
