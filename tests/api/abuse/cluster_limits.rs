//! Per-user limits across nodes: with Redis, two nodes allow a user the REST rate and the socket cap
//! once, not twice; a closed socket gives its place back; while Redis is down each node applies its
//! own limits and no request waits for Redis.

use crate::helpers::*;
use awc::http::StatusCode;
use std::time::{Duration, Instant};

const UNREAD: &str = "/auth/notifications/unread-count/";

/// Statuses of `n` requests of `user`, alternating between the nodes.
async fn alternate(nodes: &[TestApp], user: i64, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let (status, body) = nodes[i % nodes.len()].get(UNREAD, &token(user)).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
        statuses.push(status.as_u16());
    }
    statuses
}

fn socket_url(node: &TestApp, user: i64) -> String {
    ws_url(node, &format!("?token={}", token(user)))
}

#[actix_web::test]
async fn the_rate_limit_holds_across_two_nodes() {
    let (_db, _redis, nodes) =
        cluster(2, &[("HERALD_RATE_LIMIT_PER_SECOND", "1"), ("HERALD_RATE_LIMIT_BURST", "4")]).await;
    let statuses = alternate(&nodes, 1, 8).await;
    // A burst of 4 in all (a per-node limit would have allowed 8).
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 4, "{statuses:?}");
    assert_eq!(&statuses[..4], &[200, 200, 200, 200], "{statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another user has their own budget; services are not limited.
    assert_eq!(alternate(&nodes, 2, 2).await, [200, 200]);
    for node in &nodes {
        let (status, _) = node.get(UNREAD, &staff_token(1)).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[actix_web::test]
async fn the_socket_cap_holds_across_two_nodes_and_a_closed_socket_gives_its_place_back() {
    let (_db, _redis, nodes) = cluster(2, &[("HERALD_MAX_SOCKETS_PER_USER", "2")]).await;
    let (mut first, _) = WsClient::open(&nodes[0], &token(7)).await;
    let (_second, _) = WsClient::open(&nodes[1], &token(7)).await;
    for node in &nodes {
        let refused = WsClient::try_connect(&socket_url(node, 7), &[]).await.err().expect("a third socket is refused");
        assert_eq!(refused.status, 429, "{:?}", refused.body);
        assert_eq!(refused.body["error"]["code"], "rate_limited");
    }
    // Another user is not affected.
    let (_other, _) = WsClient::open(&nodes[0], &token(8)).await;

    first.stream.close(None).await.expect("close");
    drop(first);
    let reopened = poll(WAIT, async || match WsClient::try_connect(&socket_url(&nodes[1], 7), &[]).await {
        Ok(ws) => Ok(ws),
        Err(refused) => Err(refused.status),
    })
    .await;
    let mut reopened = reopened.expect("the closed socket's place is free again");
    assert_eq!(reopened.next_json().await["type"], "connection_established");
}

#[actix_web::test]
async fn while_redis_is_down_each_node_applies_its_own_limits_without_waiting_for_redis() {
    let (_db, redis, nodes) = cluster(
        2,
        &[
            ("HERALD_RATE_LIMIT_PER_SECOND", "1"),
            ("HERALD_RATE_LIMIT_BURST", "2"),
            ("HERALD_MAX_SOCKETS_PER_USER", "1"),
        ],
    )
    .await;
    let _stopped = tokio::task::spawn_blocking(move || {
        let mut redis = redis;
        redis.stop();
        redis
    })
    .await
    .expect("stop redis");
    let started = Instant::now();
    let statuses = alternate(&nodes, 3, 6).await;
    // Each node allows its own burst of 2: 4 in all, then 429.
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 4, "{statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
    // One socket per node: the cap falls back to each node's own.
    let (_a, _) = WsClient::open(&nodes[0], &token(4)).await;
    let (_b, _) = WsClient::open(&nodes[1], &token(4)).await;
    let refused = WsClient::try_connect(&socket_url(&nodes[0], 4), &[]).await.err().expect("node cap");
    assert_eq!(refused.status, 429);
    // Bounded: 6 requests and 3 handshakes did not each wait for the missing Redis.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[actix_web::test]
async fn after_redis_lost_its_keys_the_nodes_register_their_sockets_again() {
    let (_db, redis, nodes) = cluster(2, &[("HERALD_MAX_SOCKETS_PER_USER", "1")]).await;
    let (_held, _) = WsClient::open(&nodes[0], &token(9)).await;
    let refused = WsClient::try_connect(&socket_url(&nodes[1], 9), &[]).await.err().expect("cap of 1 across nodes");
    assert_eq!(refused.status, 429);

    // A restart of a Redis that persists nothing: every socket set and node key is gone.
    let _redis = tokio::task::spawn_blocking(move || {
        let mut redis = redis;
        redis.stop();
        redis.restart();
        redis
    })
    .await
    .expect("restart redis");
    // Within a heartbeat (10 s) node A finds its keys gone and writes its socket back: from then
    // on the cap holds again. A socket admitted meanwhile is closed at once (giving it back).
    let started = Instant::now();
    let refused_again = poll_every(Duration::from_millis(500), Duration::from_secs(20), async || {
        match WsClient::try_connect(&socket_url(&nodes[1], 9), &[]).await {
            Err(refused) if refused.status == 429 => Ok(()),
            Err(refused) => Err(format!("refused with {}", refused.status)),
            Ok(mut admitted) => {
                let _ = admitted.stream.close(None).await;
                Err("admitted: not registered again yet".to_owned())
            }
        }
    })
    .await;
    refused_again.unwrap_or_else(|last| panic!("the held socket was not registered again: {last}"));
    eprintln!("socket registered again {:?} after the Redis restart", started.elapsed());
}

/// The same limits on a Redis Cluster: every script touches one slot (the user's partition tag),
/// on whichever master owns it, and nothing is refused with CROSSSLOT.
#[actix_web::test]
async fn on_a_redis_cluster_the_rate_and_the_socket_cap_hold_across_two_nodes() {
    let (_db, redis, nodes) = cluster_on_redis_cluster(
        2,
        &[
            ("HERALD_RATE_LIMIT_PER_SECOND", "1"),
            ("HERALD_RATE_LIMIT_BURST", "3"),
            ("HERALD_MAX_SOCKETS_PER_USER", "2"),
        ],
    )
    .await;
    // Users of three partitions: three slots, each checked on the master that owns it.
    for user in [1_i64, 2, 3] {
        let statuses = alternate(&nodes, user, 6).await;
        assert_eq!(&statuses[..3], &[200, 200, 200], "user {user}: {statuses:?}");
        assert!(statuses[3..].iter().all(|s| *s == 429), "user {user}: {statuses:?}");
    }
    let (_a, _) = WsClient::open(&nodes[0], &token(5)).await;
    let (_b, _) = WsClient::open(&nodes[1], &token(5)).await;
    for node in &nodes {
        let refused = WsClient::try_connect(&socket_url(node, 5), &[]).await.err().expect("a third socket is refused");
        assert_eq!(refused.status, 429, "{:?}", refused.body);
    }
    let crossslot = blocking({
        let redis = redis.clone();
        move || redis.crossslot_errors()
    })
    .await;
    assert_eq!(crossslot, 0, "no command was refused with CROSSSLOT");
}

#[actix_web::test]
async fn when_redis_stops_answering_the_nodes_go_on_from_the_spent_budget_not_a_fresh_burst() {
    let (_db, redis, nodes) =
        cluster(2, &[("HERALD_RATE_LIMIT_PER_SECOND", "1"), ("HERALD_RATE_LIMIT_BURST", "8")]).await;
    let spent_at = Instant::now();
    let statuses = alternate(&nodes, 5, 10).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 8, "{statuses:?}");
    // Redis hangs (SIGSTOP: its connections stay open, nothing answers).
    redis.pause();
    let statuses = alternate(&nodes, 5, 8).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count() as u64;
    // Each node knows from Redis' last answer that the budget is spent: it admits only what
    // came back since (1 a second, on each node). A fresh burst would have admitted all 8.
    let came_back = 2 * (spent_at.elapsed().as_secs() + 1);
    assert!(admitted <= came_back && admitted < 8, "{admitted} admitted while Redis hung: {statuses:?}");
    // Another user, unseen by either node, gets each node's own budget as before.
    assert_eq!(alternate(&nodes, 6, 2).await, [200, 200]);
}
