//! Nothing committed is left undelivered (SPEC §7): a change whose publish never happened (its node
//! died first, or Redis swallowed it) still reaches every open socket of its user through each
//! node's position check; a lost read or delete ends in a `resync` frame.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LIST: &str = "/auth/notifications/";

/// Sends a request to a node and never looks at the answer: on a node that hangs before its
/// publish, the request never ends (the task is dropped with the test).
fn fire(base: &str, method: Method, path: &str, user: i64, body: Option<Value>) -> actix_web::rt::task::JoinHandle<()> {
    let url = format!("{base}{path}");
    actix_web::rt::spawn(async move {
        let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
        let _ = request(&client, method, &url, Some(&token(user)), body).await;
    })
}

/// The user's notifications as the node at `base` lists them (read from the database).
async fn listed(base: &str, user: i64) -> Vec<Value> {
    let client = awc::Client::default();
    let (status, body) =
        request(&client, Method::GET, &format!("{base}{LIST}"), Some(&token(user)), None).await.expect("list");
    assert_eq!(status, StatusCode::OK, "{body}");
    body["notifications"].as_array().cloned().unwrap_or_default()
}

/// Waits until the node at `base` lists a notification matching `committed`: the change is in
/// the database. Returns it and when it was first seen there.
async fn wait_committed(base: &str, user: i64, what: &str, committed: impl Fn(&Value) -> bool) -> (Value, Instant) {
    let found = wait_for(what, WAIT, async || {
        listed(base, user).await.into_iter().find(|n| committed(n)).ok_or("not in the database yet")
    })
    .await;
    (found, Instant::now())
}

/// Reads frames until one of type `kind` arrives (bounded), returning it and the frames before.
async fn frame_of_type(ws: &mut WsClient, kind: &str) -> (Value, Vec<Value>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut before = Vec::new();
    loop {
        match read_until(ws, deadline).await {
            Read::Frame(frame) if frame["type"] == kind => return (frame, before),
            Read::Frame(frame) => before.push(frame),
            Read::Closed(code) => panic!("the socket closed ({code}) waiting for {kind}; got {before:?}"),
            Read::Quiet => panic!("no {kind} within {WAIT:?}; got {before:?}"),
        }
    }
}

#[actix_web::test]
async fn changes_committed_by_nodes_killed_before_their_publish_reach_sockets_on_other_nodes() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let hang = [(herald::config::HANG_BEFORE_PUBLISH, "true")];
    let b = process_node(&db.url, &redis.url(), &[]);
    let user = 1;
    let (mut on_b, _) = open_at(&b, user, None).await;
    wait_subscribed(&redis, user, 1).await;

    // A commits the create and dies before publishing it.
    let mut a = process_node(&db.url, &redis.url(), &hang);
    let pending =
        fire(&a.base_url(), Method::POST, "/auth/notifications/create/", user, Some(json!({"title": "lost"})));
    let (stored, committed) =
        wait_committed(&b.base_url(), user, "the create committed", |n| n["title"] == "lost").await;
    a.kill();
    pending.abort();
    let (push, before) = frame_of_type(&mut on_b, "notification").await;
    println!("lost publish of a create: on the socket {:?} after the commit was visible", committed.elapsed());
    assert_eq!(push["notification"], stored, "the stored notification, as stored");
    assert!(before.is_empty(), "nothing else first: {before:?}");
    assert_eq!(frame_of_type(&mut on_b, "unread_count").await.0["unread_count"], 1);

    // Another node commits a mark-read and dies before publishing it: the tab on B cannot be
    // told which one changed, so it is told to fetch its list again.
    let mut c = process_node(&db.url, &redis.url(), &hang);
    let id = stored["id"].as_i64().expect("id");
    let pending = fire(&c.base_url(), Method::POST, &format!("/auth/notifications/{id}/read/"), user, None);
    let (_, committed) = wait_committed(&b.base_url(), user, "the read committed", |n| n["is_read"] == true).await;
    c.kill();
    pending.abort();
    let (resync, before) = frame_of_type(&mut on_b, "resync").await;
    println!("lost publish of a read: resync on the socket {:?} after the commit was visible", committed.elapsed());
    assert_eq!(resync, json!({"type": "resync", "unread_count": 0, "unseen_count": 0}));
    assert!(before.is_empty(), "nothing else first: {before:?}");
    assert_eq!(frame_of_type(&mut on_b, "unread_count").await.0["unread_count"], 0);
    // The list the tab fetches then is the database's.
    on_b.send_json(json!({"type": "get_notifications", "request_id": 1})).await;
    let (page, _) = frame_of_type(&mut on_b, "notifications").await;
    assert_eq!(page["notifications"][0]["is_read"], true);
    on_b.expect_silence(Duration::from_millis(1500)).await;
    drop((b, db));
}

#[actix_web::test]
async fn a_publish_swallowed_by_a_paused_then_killed_redis_reaches_sockets_through_the_database() {
    let db = TestDb::new();
    let mut redis = RedisServer::start();
    let mut a = process_node(&db.url, &redis.url(), &[]);
    let b = process_node(&db.url, &redis.url(), &[]);
    let user = 2;
    let (mut on_b, _) = open_at(&b, user, None).await;
    wait_subscribed(&redis, user, 1).await;

    // Redis hangs while A publishes, then dies with the message, and A dies too: nothing is
    // left anywhere to deliver it but the database.
    redis.pause();
    let pending =
        fire(&a.base_url(), Method::POST, "/auth/notifications/create/", user, Some(json!({"title": "swallowed"})));
    let (stored, committed) =
        wait_committed(&b.base_url(), user, "the create committed", |n| n["title"] == "swallowed").await;
    redis.stop();
    a.kill();
    pending.abort();
    let (push, _) = frame_of_type(&mut on_b, "notification").await;
    println!("publish swallowed by Redis: on the socket {:?} after the commit was visible", committed.elapsed());
    assert_eq!(push["notification"], stored);
    // Exactly once, even once Redis is back and B resubscribes and resyncs.
    redis.restart();
    wait_subscribed(&redis, user, 1).await;
    let settle = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Read::Frame(frame) = read_until(&mut on_b, settle).await {
        assert_ne!(frame["type"], "notification", "a notification twice: {frame}");
    }
    drop((b, db));
}

/// The README's resume rule after a node loss: sockets opened without `since` keep their
/// greeting's `last_id` as the last id seen; after their node is SIGKILLed they resume on
/// another node from it and are replayed exactly what they missed, never the history.
#[actix_web::test]
async fn after_a_node_loss_sockets_resume_from_the_greeting_and_replay_only_what_they_missed() {
    const USERS: i64 = 20;
    let db = TestDb::new();
    let redis = RedisServer::start();
    let mut a = process_node(&db.url, &redis.url(), &[]);
    let b = process_node(&db.url, &redis.url(), &[]);
    let client = awc::Client::default();
    let create = async |base: &str, user: i64, title: &str| {
        let url = format!("{base}/auth/notifications/create/");
        let (status, body) = request(&client, Method::POST, &url, Some(&token(user)), Some(json!({"title": title})))
            .await
            .expect("create");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["notification"]["id"].as_i64().expect("id")
    };
    // A history a client resuming from 0 would be replayed whole.
    for user in 1..=USERS {
        for n in 0..3 {
            create(&b.base_url(), user, &format!("history {n}")).await;
        }
    }
    let mut last_ids = Vec::new();
    let mut sockets = Vec::new();
    for user in 1..=USERS {
        let (ws, hello) = open_at(&a, user, None).await;
        last_ids.push(hello["last_id"].as_i64().expect("the greeting's last_id"));
        sockets.push(ws);
    }
    a.kill();
    let mut missed = Vec::new();
    for user in 1..=USERS {
        missed.push(create(&b.base_url(), user, "while away").await);
    }
    let mut replayed_rows = 0;
    for (i, user) in (1..=USERS).enumerate() {
        let (mut ws, _) = open_at(&b, user, Some(last_ids[i])).await;
        let (complete, replayed) = frame_of_type(&mut ws, "sync_complete").await;
        let ids: Vec<i64> =
            replayed.iter().filter(|f| f["type"] == "notification").map(|f| id_of(&f["notification"])).collect();
        assert_eq!(ids, vec![missed[i]], "user {user} replays exactly what it missed");
        assert_eq!(complete["last_id"], missed[i]);
        replayed_rows += ids.len();
    }
    println!(
        "node loss: {USERS} sockets resumed from their greeting, rows replayed {replayed_rows}, rows missed {}",
        missed.len()
    );
    drop((sockets, b, db));
}
