//! Steady state: cross-node delivery, subscriptions follow the sockets, no CROSSSLOT.

use super::layout::{assert_spread_over_masters, distinct_nodes, users};
use super::{NO_POSITION_CHECK, SUBSCRIPTIONS_SETTLE};
use crate::helpers::*;
use awc::http::StatusCode;
use futures_util::future::join_all;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// How long a socket must stay quiet to count as "got nothing more".
const QUIET: Duration = Duration::from_millis(300);

/// The nodes a user keeps sockets on after the churn of test (a), one entry per socket: users
/// `4k` none, `4k+1` one node, `4k+2` two (users that are also multiples of 5: two sockets on
/// node 0), `4k+3` all three.
fn steady_layout(user: i64) -> Vec<usize> {
    match user % 4 {
        0 => vec![],
        1 => vec![(user % 3) as usize],
        2 if user % 5 == 0 => vec![0, 0, 1],
        2 => vec![0, 1],
        _ => vec![0, 1, 2],
    }
}

/// Every user opens a socket on every node and closes it (politely or by dropping the
/// connection), three times; a tab reload in between.
async fn churn(nodes: &[TestApp], users: &[i64]) {
    for round in 0..3i64 {
        join_all(users.iter().map(|&user| async move {
            let mut open = Vec::new();
            for node in nodes.iter() {
                open.push(WsClient::open(node, &token(user)).await.0);
            }
            for (i, ws) in open.into_iter().enumerate() {
                if (user + round + i as i64) % 2 == 0 {
                    ws.close().await;
                } else {
                    drop(ws);
                }
            }
            if (user + round) % 3 == 0 {
                let (again, _) = WsClient::open(&nodes[((user + round) % 3) as usize], &token(user)).await;
                again.close().await;
            }
        }))
        .await;
    }
}

/// Opens `steady_layout`'s sockets (kept: user, node, socket), plus sockets on the other nodes
/// that close at once.
async fn open_steady_layout(nodes: &[TestApp], users: &[i64]) -> Vec<(i64, usize, WsClient)> {
    let mut kept: Vec<(i64, usize, WsClient)> = Vec::new();
    let mut closing = Vec::new();
    for &user in users {
        let layout = steady_layout(user);
        for (index, node) in nodes.iter().enumerate() {
            if !layout.contains(&index) {
                closing.push(WsClient::open(node, &token(user)).await.0);
            }
        }
        for node in layout {
            kept.push((user, node, WsClient::open(&nodes[node], &token(user)).await.0));
        }
    }
    join_all(closing.into_iter().map(WsClient::close)).await;
    kept
}

#[actix_web::test]
async fn sharded_pubsub_delivers_across_nodes_and_subscriptions_follow_the_sockets() {
    const EACH: usize = 3;
    let (_db, redis, nodes) = cluster_on_redis_cluster(3, &[NO_POSITION_CHECK]).await;
    let nodes = &nodes;
    let users = users();
    let owners = assert_spread_over_masters(&redis, &users).await;

    churn(nodes, &users).await;
    let mut kept = open_steady_layout(nodes, &users).await;

    let expected: Vec<(i64, i64)> = users.iter().map(|u| (*u, distinct_nodes(&steady_layout(*u)))).collect();
    wait_shard_subscribers(&redis, &expected, SUBSCRIPTIONS_SETTLE).await;
    // Past the unsubscribe delay, the counts still hold: nothing was about to change.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let (on_masters, on_replicas) = shard_subscribers(&redis, &users).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        on_masters,
        expected.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        "one subscriber per node holding a socket of the user, none for users without"
    );
    assert_eq!(on_replicas, vec![0; users.len()], "nodes subscribe on masters only");
    let (resync, spublish_before) = blocking({
        let redis = redis.clone();
        move || (redis.shardnumsub_total(&[RESYNC_CHANNEL])[0], redis.cmdstat_calls("spublish"))
    })
    .await;
    assert_eq!(resync, nodes.len() as i64, "every node subscribes {RESYNC_CHANNEL} once");

    // Creates for every user (those without sockets too), each user's round-robin over the
    // three nodes.
    let created: HashMap<i64, Vec<i64>> = join_all(users.iter().map(|&user| async move {
        let mut ids = Vec::new();
        for k in 0..EACH {
            ids.push(create_id(&nodes[(user as usize + k) % nodes.len()], user, &format!("steady #{k}")).await);
        }
        (user, ids)
    }))
    .await
    .into_iter()
    .collect();
    let readers = kept.iter_mut().map(|(user, node, ws)| {
        let want = created[user].clone();
        let who = format!("user {user} on node {node}");
        async move {
            let ids = collect_notifications(ws, want.len(), WAIT, &who).await;
            assert_exactly_once_in_order(&ids, &want, &who);
            expect_no_more_notifications(ws, QUIET, &who).await;
        }
    });
    join_all(readers).await;

    let total_creates = (users.len() * EACH) as u64;
    let (crossslot, spublish, publish) = blocking({
        let redis = redis.clone();
        move || (redis.crossslot_errors(), redis.cmdstat_calls("spublish"), redis.cmdstat_calls("publish"))
    })
    .await;
    eprintln!(
        "steady state: {} sockets kept of {} users on masters {:?}; {total_creates} creates: SPUBLISH calls {}, \
         PUBLISH calls {publish}, CROSSSLOT errors {crossslot}",
        kept.len(),
        users.len(),
        owners.values().collect::<BTreeSet<_>>(),
        spublish - spublish_before,
    );
    assert_eq!(crossslot, 0, "no command answered CROSSSLOT");
    assert!(spublish - spublish_before >= total_creates, "every create was SPUBLISHed: {spublish} calls");
    assert_eq!(publish, 0, "nothing goes through classic PUBLISH (broadcast to every cluster node)");
    // The subscriptions did not move while the creates flowed.
    wait_shard_subscribers(&redis, &expected, Duration::ZERO).await;

    admin_sees_and_disconnects_across_the_cluster(nodes, &mut kept).await;
}

/// The console over the Redis Cluster (its control channel is a shard channel): the overview
/// lists the three nodes, a user's sockets on all three are listed and closed with 4003.
async fn admin_sees_and_disconnects_across_the_cluster(nodes: &[TestApp], kept: &mut [(i64, usize, WsClient)]) {
    let admin = staff_token(1);
    let (status, overview) = nodes[0].get("/admin/api/cluster/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let answered = overview["nodes"].as_array().expect("nodes").iter().filter(|n| n["answered"] == true).count();
    assert_eq!(answered, 3, "{overview}");
    let everywhere =
        kept.iter().map(|(user, ..)| *user).find(|user| steady_layout(*user) == [0, 1, 2]).expect("a user");
    let (_, listed) = nodes[1].get(&format!("/admin/api/users/{everywhere}/sockets/"), &admin).await;
    let instances: BTreeSet<&str> =
        listed["sockets"].as_array().expect("sockets").iter().filter_map(|s| s["instance"].as_str()).collect();
    assert_eq!(instances.len(), 3, "one socket on each node: {listed}");
    let (status, done) = nodes[2].post_empty(&format!("/admin/api/users/{everywhere}/disconnect/"), &admin).await;
    assert_eq!((status, done["disconnected"].as_i64()), (StatusCode::OK, Some(3)), "{done}");
    for (_, _, ws) in kept.iter_mut().filter(|(user, ..)| *user == everywhere) {
        assert_eq!(ws.expect_close().await.0, 4003);
    }
}
