//! A subscription confirmed after the socket connected: the session repairs from the database.

use super::{BURST, QUIET};
use crate::helpers::*;
use futures_util::future::{join, join_all};

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
