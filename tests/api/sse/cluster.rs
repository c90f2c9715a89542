//! Streams across nodes sharing one PostgreSQL database and one private Redis: notifications
//! created on one node reach a stream on another exactly once and in order; a stream whose node is
//! SIGKILLed resumes elsewhere with `Last-Event-ID` and gets exactly what it missed (and one
//! `resync` when a read happened meanwhile); a publish lost between commit and Redis still reaches
//! the stream, a lost read as `resync`.

use super::{create_at, mark_read, QUIET};
use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

#[actix_web::test]
async fn a_stream_on_node_b_gets_each_notification_created_on_node_a_once_in_order() {
    let (_db, redis, nodes) = cluster(2, &[]).await;
    let user = 11;
    let (mut sse, hello) = SseClient::open(nodes[1].port, &token(user)).await;
    assert_eq!(hello["last_id"], 0, "{hello}");
    wait_subscribed(&redis, user, 1).await;

    // Four clients creating at once on A only, ten each.
    let created = create_concurrently(&nodes[..1], user, 4, 10).await;
    let got = collect_sse_notifications(&mut sse, created.len(), Duration::from_secs(30), "the stream on B").await;
    let ids: Vec<i64> = got.iter().map(|d| d.notification_id).collect();
    assert_exactly_once_in_order(&ids, &created, "the stream on B");
    let positions: Vec<i64> = got.iter().map(|d| d.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "cursors move forward: {got:?}");
    expect_no_more_sse_events(&mut sse, QUIET, "the stream on B").await;
}

#[actix_web::test]
async fn after_its_node_is_killed_a_stream_resumes_with_last_event_id_and_gets_exactly_what_it_missed() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let a = process_node(&db.url, &redis.url(), &[]);
    let mut b = process_node(&db.url, &redis.url(), &[]);
    // `reader` reads a notification while away (one `resync` on resume); `quiet` only misses
    // new notifications (no `resync`).
    let (reader, quiet) = (21, 22);
    let (mut reader_sse, _) = SseClient::open(b.port, &token(reader)).await;
    let (mut quiet_sse, _) = SseClient::open(b.port, &token(quiet)).await;
    wait_numsub(&redis, &[(reader, 1), (quiet, 1)], WAIT).await;

    let mut seen_before = Vec::new();
    for n in 0..3 {
        seen_before.push(create_at(&a.base_url(), reader, &format!("before {n}")).await);
        create_at(&a.base_url(), quiet, &format!("before {n}")).await;
    }
    let got = collect_sse_notifications(&mut reader_sse, 3, WAIT, "reader before the kill").await;
    assert_eq!(got.iter().map(|d| d.notification_id).collect::<Vec<_>>(), seen_before);
    collect_sse_notifications(&mut quiet_sse, 3, WAIT, "quiet before the kill").await;
    let reader_cursor = reader_sse.last_event_id.clone().expect("an id received");
    let quiet_cursor = quiet_sse.last_event_id.clone().expect("an id received");

    b.kill();
    for (who, sse) in [("reader", &mut reader_sse), ("quiet", &mut quiet_sse)] {
        let after = sse.expect_end(WAIT).await;
        assert!(after.is_empty(), "{who}: nothing between the last notification and the kill: {after:?}");
    }
    assert_eq!(reader_sse.last_event_id.as_deref(), Some(reader_cursor.as_str()));

    // While away: new notifications for both, and the reader reads one it had seen.
    let mut missed_reader = Vec::new();
    let mut missed_quiet = Vec::new();
    for n in 0..5 {
        missed_reader.push(create_at(&a.base_url(), reader, &format!("missed {n}")).await);
        missed_quiet.push(create_at(&a.base_url(), quiet, &format!("missed {n}")).await);
    }
    mark_read(&a.base_url(), reader, seen_before[0]).await;

    // The reader resumes on A with the `Last-Event-ID` header...
    let (mut resumed, hello) = SseClient::resume(a.port, &token(reader), &reader_cursor).await;
    assert_eq!(hello["last_id"], *missed_reader.last().expect("ids"), "{hello}");
    let (count, before) = resumed.next_of_type("unread_count").await;
    let notifications: Vec<i64> =
        before.iter().filter(|e| e.event == "notification").map(|e| delivered(e).notification_id).collect();
    assert_eq!(notifications, missed_reader, "exactly the missed notifications, in order: {before:?}");
    let resyncs: Vec<&SseEvent> = before.iter().filter(|e| e.event == "resync").collect();
    assert_eq!(resyncs.len(), 1, "one resync for the read made while away: {before:?}");
    assert_eq!(before.len(), missed_reader.len() + 1, "nothing else: {before:?}");
    assert_eq!(before.last().map(|e| e.event.as_str()), Some("resync"), "after the notifications: {before:?}");
    assert_eq!(resyncs[0].data["unread_count"], 7, "{:?}", resyncs[0]);
    assert_eq!(count.data["unread_count"], 7, "{count:?}");
    let resumed_at = count.cursor();
    assert!(resumed_at.0 > parse_event_id(&reader_cursor).0, "{count:?} after {reader_cursor}");
    assert_eq!(resumed_at.1, *missed_reader.last().expect("ids"));

    // ...and the quiet user with `?last_event_id=` on B restarted (another process, its port).
    let b_again = process_node(&db.url, &redis.url(), &[]);
    let path = sse_path(&format!("?token={}&last_event_id={quiet_cursor}", token(quiet)));
    let (mut quiet_resumed, _) = SseClient::open_with(b_again.port, &path, &[]).await;
    let (_, before) = quiet_resumed.next_of_type("unread_count").await;
    assert!(before.iter().all(|e| e.event == "notification"), "notifications only, no resync: {before:?}");
    let notifications: Vec<i64> = before.iter().map(|e| delivered(e).notification_id).collect();
    assert_eq!(notifications, missed_quiet, "exactly the missed notifications: {before:?}");

    // Nothing more arrives, and each stream is live again: exactly once.
    wait_numsub(&redis, &[(reader, 1), (quiet, 1)], WAIT).await;
    expect_no_more_sse_events(&mut resumed, QUIET, "reader resumed").await;
    expect_no_more_sse_events(&mut quiet_resumed, QUIET, "quiet resumed").await;
    let live = create_at(&b_again.base_url(), reader, "live").await;
    let got = collect_sse_notifications(&mut resumed, 1, WAIT, "reader live").await;
    assert_eq!(got[0].notification_id, live);
    let live = create_at(&a.base_url(), quiet, "live").await;
    let got = collect_sse_notifications(&mut quiet_resumed, 1, WAIT, "quiet live").await;
    assert_eq!(got[0].notification_id, live);
    expect_no_more_sse_events(&mut resumed, QUIET, "reader resumed").await;
    expect_no_more_sse_events(&mut quiet_resumed, QUIET, "quiet resumed").await;

    // Resuming again from the newest cursor replays nothing.
    let newest = resumed.last_event_id.clone().expect("a cursor");
    drop(resumed);
    let (mut again, _) = SseClient::resume(a.port, &token(reader), &newest).await;
    expect_no_more_sse_events(&mut again, QUIET, "reader resumed from its newest cursor").await;
    drop((a, b_again, db));
}

/// Sends a request to a node and never looks at the answer: on a node that hangs before its
/// publish, the request never ends (the task is dropped with the test).
fn fire(base: &str, method: Method, path: &str, user: i64, body: Option<Value>) -> actix_web::rt::task::JoinHandle<()> {
    let url = format!("{base}{path}");
    actix_web::rt::spawn(async move {
        let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
        let _ = request(&client, method, &url, Some(&token(user)), body).await;
    })
}

/// Waits until the node at `base` lists a notification of `user` matching `committed`; returns it.
async fn wait_committed(base: &str, user: i64, what: &str, committed: impl Fn(&Value) -> bool) -> Value {
    let client = awc::Client::default();
    let url = format!("{base}/auth/notifications/");
    wait_for(what, WAIT, async || {
        let (status, body) = request(&client, Method::GET, &url, Some(&token(user)), None).await?;
        if status != StatusCode::OK {
            return Err(format!("{status}: {body}"));
        }
        let listed = body["notifications"].as_array().cloned().unwrap_or_default();
        listed.into_iter().find(|n| committed(n)).ok_or_else(|| "not in the database yet".to_owned())
    })
    .await
}

#[actix_web::test]
async fn a_publish_lost_with_its_node_still_reaches_the_stream_and_a_lost_read_is_a_resync() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let hang = [(herald::config::HANG_BEFORE_PUBLISH, "true")];
    let b = process_node(&db.url, &redis.url(), &[]);
    let user = 31;
    let (mut sse, _) = SseClient::open(b.port, &token(user)).await;
    wait_subscribed(&redis, user, 1).await;

    // A commits a create and dies before publishing it.
    let mut a = process_node(&db.url, &redis.url(), &hang);
    let pending =
        fire(&a.base_url(), Method::POST, "/auth/notifications/create/", user, Some(json!({"title": "lost"})));
    let stored = wait_committed(&b.base_url(), user, "the create committed", |n| n["title"] == "lost").await;
    a.kill();
    pending.abort();
    let (push, before) = sse.next_of_type("notification").await;
    assert!(before.is_empty(), "nothing else first: {before:?}");
    assert_eq!(push.data, json!({"type": "notification", "notification": stored}));
    let (count, before) = sse.next_of_type("unread_count").await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(count.data["unread_count"], 1);
    assert_eq!(count.cursor().1, id_of(&stored));

    // Another node commits a read and dies before publishing it: the stream cannot be told
    // which one changed, so it is told to fetch its list again.
    let mut c = process_node(&db.url, &redis.url(), &hang);
    let id = id_of(&stored);
    let pending = fire(&c.base_url(), Method::POST, &format!("/auth/notifications/{id}/read/"), user, None);
    wait_committed(&b.base_url(), user, "the read committed", |n| n["is_read"] == true).await;
    c.kill();
    pending.abort();
    let (resync, before) = sse.next_of_type("resync").await;
    assert!(before.is_empty(), "nothing else first: {before:?}");
    assert_eq!(resync.data, json!({"type": "resync", "unread_count": 0, "unseen_count": 0}));
    let (count, before) = sse.next_of_type("unread_count").await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(count.data["unread_count"], 0);
    assert!(count.cursor().0 >= resync.cursor().0, "{count:?} after {resync:?}");
    expect_no_more_sse_events(&mut sse, Duration::from_millis(1500), "after the repairs").await;
    drop((b, db));
}
