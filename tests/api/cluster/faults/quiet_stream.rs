//! After an outage, the first create's publish is not lost on a quiet stream.

use super::{kill_redis, restart_redis};
use crate::helpers::*;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn first_create_after_redis_returns_reaches_sockets_on_other_nodes() {
    let (_db, redis, nodes) = cluster(2, &[]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let user = 2;
    let me = token(user);
    let (on_b, _) = WsClient::open(b, &me).await;
    wait_subscribed(&redis, user, 1).await;
    let (seen, task) = record(on_b);
    let arrived = |id: i64| seen.borrow().ids.iter().find(|(seen_id, _)| *seen_id == id).map(|(_, at)| *at);

    let redis = kill_redis(redis).await;
    let during = id_of(&a.create_for_self(user, "during the outage").await);
    // The scenario: the outage lasts half a second past that create.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let (redis, restarted) = restart_redis(redis).await;
    // Redis is back, B has resubscribed and repaired the outage's notification...
    wait_subscribed(&redis, user, 1).await;
    wait_until("the outage's notification repaired", WAIT, async || arrived(during).is_some()).await;
    // ...and has been answering for a while: the next create on A is an ordinary one. (The
    // scenario, not synchronisation: the publish after a quiet second must not be lost.)
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let created = Instant::now();
    let after = id_of(&a.create_for_self(user, "after Redis returned").await);
    // (A miss is reported below, with what B got.)
    let _ = poll(Duration::from_secs(3).saturating_sub(created.elapsed()), async || arrived(after).ok_or(())).await;
    task.abort();
    let got: Vec<i64> = seen.borrow().ids.iter().map(|(id, _)| *id).collect();
    println!(
        "first create after the outage: created {:?} after Redis answered again; reached B after {:?}",
        created.duration_since(restarted),
        arrived(after).map(|at| at.duration_since(created))
    );
    assert_eq!(got, vec![during, after], "the socket on B gets the create made after Redis returned, within 3 s");
    drop(redis);
}
