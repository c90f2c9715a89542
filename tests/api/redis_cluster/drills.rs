//! Drills under load: connections killed, slots migrated, failover, master killed, restart.

use super::drill::{drill, master_of_user, Phase};
use crate::helpers::*;
use std::sync::Arc;

#[actix_web::test]
async fn pubsub_connections_killed_on_every_master_lose_nothing() {
    let phases: Vec<Phase> = (0..3)
        .map(|i| -> Phase {
            Box::new(move |redis: &RedisCluster| {
                let master = redis.masters()[i];
                let killed = redis.client_kill_pubsub(master);
                assert!(killed > 0, "master {master} had subscriber connections to kill");
                format!("CLIENT KILL TYPE pubsub on master {master}: {killed} connection(s)")
            })
        })
        .collect();
    drill("pubsub connections killed", phases).await;
}

#[actix_web::test]
async fn slot_of_live_users_migrated_between_masters_loses_nothing() {
    // Users 1, 129 and 257 share partition 1, so its slot carries three users' channels. It
    // moves to another master, then back.
    let moved = Arc::new(std::sync::Mutex::new(None));
    let away: Phase = {
        let moved = moved.clone();
        Box::new(move |redis: &RedisCluster| {
            let slot = redis.slot_of(&shard_channel(1));
            let from = redis.master_of_slot(slot);
            let to = *redis.masters().iter().find(|m| **m != from).expect("another master");
            let took = redis.migrate_slot(slot, from, to);
            *moved.lock().expect("lock") = Some((slot, from, to));
            format!("slot {slot} (users 1, 129, 257) migrated from {from} to {to} in {took:?}")
        })
    };
    let back: Phase = Box::new(move |redis: &RedisCluster| {
        let (slot, from, to) = moved.lock().expect("lock").expect("the first migration ran");
        let took = redis.migrate_slot(slot, to, from);
        format!("slot {slot} migrated back from {to} to {from} in {took:?}")
    });
    drill("slot migrated", vec![away, back]).await;
}

#[actix_web::test]
async fn replica_failover_loses_nothing() {
    let failover = |again: bool| -> Phase {
        Box::new(move |redis: &RedisCluster| {
            let master = master_of_user(redis, 2);
            let replica = redis.replica_of(master).expect("the master has a replica");
            let took = redis.failover(replica);
            let again = if again { " again" } else { "" };
            format!("CLUSTER FAILOVER{again} of user 2's master {master} to its replica {replica}: {took:?}")
        })
    };
    drill("replica failover", vec![failover(false), failover(true)]).await;
}

#[actix_web::test]
async fn master_killed_and_replica_promoted_loses_nothing() {
    let killed = Arc::new(std::sync::Mutex::new(None));
    let kill: Phase = {
        let killed = killed.clone();
        Box::new(move |redis: &RedisCluster| {
            let master = master_of_user(redis, 3);
            let replica = redis.replica_of(master).expect("the master has a replica");
            redis.kill(master);
            let took = redis.wait_promoted(replica);
            *killed.lock().expect("lock") = Some((master, replica));
            format!("master {master} (user 3's) SIGKILLed, replica {replica} promoted and healthy after {took:?}")
        })
    };
    let rejoin: Phase = Box::new(move |redis: &RedisCluster| {
        let (master, replica) = killed.lock().expect("lock").expect("the kill phase ran");
        let took = redis.restart(master);
        assert_eq!(redis.master_of(master), Some(replica), "the old master rejoins as its replica's replica");
        format!("old master {master} restarted, rejoined as a replica of {replica} in {took:?}")
    });
    drill("master killed", vec![kill, rejoin]).await;
}

#[actix_web::test]
async fn whole_cluster_restarted_loses_nothing() {
    let restart: Phase = Box::new(|redis: &RedisCluster| {
        let took = redis.restart_all();
        format!("all 6 redis nodes SIGKILLed and restarted, healthy {took:?} after they started again")
    });
    drill("cluster restarted", vec![restart]).await;
}
