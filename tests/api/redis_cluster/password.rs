//! A Redis Cluster that requires a password: seeds carrying it in `REDIS_CLUSTER_URLS` are enough
//! for the nodes to publish, read the slot map and subscribe on every master (the channel
//! connection's per-master connections take the first seed's credentials), so users whose
//! channels land on all three masters get their pushes across nodes. Without it, Redis refuses.

use super::layout::{assert_spread_over_masters, users};
use super::NO_POSITION_CHECK;
use crate::helpers::*;
use serde_json::json;
use std::collections::BTreeMap;

const PASSWORD: &str = "c0ffee00c0ffee00c0ffee00c0ffee00-cluster";

/// `args` on the node at `port`, authenticated.
fn authenticated(redis: &RedisCluster, port: u16, args: &[&str]) -> Result<String, String> {
    redis.try_command(port, &[&["-a", PASSWORD, "--no-auth-warning"][..], args].concat())
}

#[actix_web::test]
async fn nodes_fan_out_over_a_redis_cluster_that_requires_a_password() {
    let redis = std::sync::Arc::new(blocking(RedisCluster::start).await);
    // One user per master (their shard channels' slots), chosen before the password is set.
    let owners = assert_spread_over_masters(&redis, &users()).await;
    let per_master: BTreeMap<u16, i64> = owners.iter().map(|(user, master)| (*master, *user)).collect();
    let refused = blocking({
        let redis = redis.clone();
        move || {
            // Replicas learn the password for their masters first, then every node requires it.
            for name in ["masterauth", "requirepass"] {
                for port in redis.ports() {
                    redis.try_command(port, &["CONFIG", "SET", name, PASSWORD]).expect("CONFIG SET");
                }
            }
            redis.try_command(redis.ports()[0], &["PING"])
        }
    })
    .await;
    assert!(refused.as_ref().is_err_and(|e| e.contains("NOAUTH")), "PING without the password: {refused:?}");

    let db = TestDb::new();
    let seeds: Vec<String> = redis.ports().iter().map(|port| format!("redis://:{PASSWORD}@127.0.0.1:{port}")).collect();
    let seeds = seeds.join(",");
    let nodes = ready_nodes(2, &db, &[("REDIS_CLUSTER_URLS", seeds.as_str()), NO_POSITION_CHECK]).await;
    for (&master, &user) in &per_master {
        let (mut on_b, _) = WsClient::open(&nodes[1], &token(user)).await;
        let channel = shard_channel(user);
        wait_for(&format!("node B subscribed to {channel} on {master}"), WAIT, async || {
            let (redis, channel) = (redis.clone(), channel.clone());
            let answer = blocking(move || authenticated(&redis, master, &["PUBSUB", "SHARDNUMSUB", &channel])).await;
            match answer {
                Ok(out) if out.lines().last().map(str::trim) == Some("1") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        let created = nodes[0].create_for_self(user, "through a cluster with a password").await;
        let expected = json!({"type": "notification", "notification": created});
        assert_eq!(on_b.next_of_type("notification").await, expected, "user {user} on master {master}");
    }
}
