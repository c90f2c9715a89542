//! Redis down: REST keeps working, sockets stay open, /readyz names Redis, repair on return.

use super::{kill_redis, restart_redis, CREATE, LIST, SETTLE};
use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn redis_outage_keeps_rest_working_sockets_open_and_readyz_names_redis() {
    let (_db, redis, nodes) = cluster(2, &[]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let user = 1;
    let me = token(user);
    let (mut on_b, _) = WsClient::open(b, &me).await;
    wait_subscribed(&redis, user, 1).await;

    let redis = kill_redis(redis).await;

    let started = Instant::now();
    let (status, body) = a.post(CREATE, &me, json!({"title": "during the redis outage"})).await;
    let create_took = started.elapsed();
    assert_eq!(status, StatusCode::CREATED, "a create is stored while Redis is down: {body}");
    assert!(create_took < Duration::from_secs(5), "the failed publish fails fast, took {create_took:?}");
    let during = id_of(&body["notification"]);
    let (status, list) = a.get(LIST, &me).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed: Vec<i64> = list["notifications"].as_array().expect("notifications").iter().map(id_of).collect();
    assert_eq!(listed, vec![during], "the list shows what was stored during the outage");

    let ready = wait_for("/readyz answering 503 in the outage", WAIT, async || {
        let (status, ready) = a.call(Method::GET, "/readyz", None, None).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return Ok(ready);
        }
        assert_eq!(status, StatusCode::OK, "{ready}");
        Err(ready)
    })
    .await;
    assert_eq!(ready["status"], "unavailable", "{ready}");
    assert_eq!(ready["checks"]["database"], "ok", "the database is fine: {ready}");
    let redis_checks = [&ready["checks"]["redis_publisher"], &ready["checks"]["redis_subscriber"]];
    assert!(redis_checks.iter().all(|c| *c == "ok" || *c == "unavailable"), "{ready}");
    assert!(redis_checks.iter().any(|c| *c == "unavailable"), "/readyz names Redis: {ready}");

    // (The socket may hold an `unread_count` push from the repair that followed its channel's
    // subscription; nothing else may come before the pong.)
    on_b.send_json(json!({"type": "ping", "request_id": "outage"})).await;
    let mut before_pong = Vec::new();
    let pong = loop {
        let frame = on_b.next_json().await;
        if frame["type"] != "unread_count" {
            break frame;
        }
        before_pong.push(frame);
    };
    assert_eq!(
        pong,
        json!({"type": "pong", "request_id": "outage"}),
        "the socket on B stays open and served; before it: {before_pong:?}"
    );

    let (redis, restarted) = restart_redis(redis).await;
    let repaired_by = restarted + Duration::from_secs(3);
    let mut pushed = Vec::new();
    let mut arrived = None;
    loop {
        let deadline = arrived.map(|at: Instant| at + SETTLE).unwrap_or(repaired_by);
        match read_until_end(&mut on_b, deadline).await {
            Read::Frame(frame) => {
                if let Some(id) = pushed_id(&frame) {
                    pushed.push(id);
                    arrived.get_or_insert_with(Instant::now);
                }
            }
            Read::Closed(why) => panic!("the socket on B ended after Redis returned: {why}"),
            Read::Quiet => break,
        }
    }
    let delay = arrived.map(|at| at.duration_since(restarted));
    println!("redis outage: create took {create_took:?}; repair reached B {delay:?} after Redis answered again");
    assert_eq!(pushed, vec![during], "the socket on B got the outage's notification once, within 3 s of the restart");

    wait_ready(a).await;
    wait_ready(b).await;
    let (status, ready) = a.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["checks"], json!({"database": "ok", "redis_publisher": "ok", "redis_subscriber": "ok"}));
    drop(redis);
}
