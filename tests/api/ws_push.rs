//! The live-push side of the WebSocket API (SPEC §3, §5; DESIGN §1 "Resume without loss"):
//! every change reaches every socket of its user (and no other user's), is not echoed to the
//! socket that made it, and notification ids arrive exactly once and in increasing order across
//! replays, live pushes, reconnects and concurrent writers.

use crate::helpers::*;
use awc::http::StatusCode;
use futures_util::future::{join, join_all};
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

const LIST: &str = "/auth/notifications/";
/// How long a socket must stay quiet to count as "got nothing".
const QUIET: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Fan-out of REST changes
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn rest_create_reaches_all_three_sockets_of_the_user_and_no_other_user() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(WsClient::open(&app, &token(1)).await.0);
    }
    let (mut other, _) = WsClient::open(&app, &token(2)).await;

    let created = app.create_for_self(1, "to every tab").await;
    let expected = json!({"type": "notification", "notification": created});
    for ws in &mut mine {
        assert_eq!(ws.next_json().await, expected);
    }
    for ws in &mut mine {
        ws.expect_silence(QUIET).await;
    }
    other.expect_silence(Duration::from_millis(50)).await;
}

#[actix_web::test]
async fn rest_read_unread_mark_all_read_and_delete_are_pushed_to_every_socket_of_the_user() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let me = token(1);
    let first = create_id(&app, 1, "first").await;
    let second = create_id(&app, 1, "second").await;
    let (mut a, hello) = WsClient::open(&app, &me).await;
    assert_eq!(hello["unread_count"], 2, "{hello}");
    let (mut b, _) = WsClient::open(&app, &me).await;
    let (mut stranger, _) = WsClient::open(&app, &token(2)).await;

    async fn both_get(a: &mut WsClient, b: &mut WsClient, expected: Value) {
        assert_eq!(a.next_json().await, expected, "socket A");
        assert_eq!(b.next_json().await, expected, "socket B");
    }

    let (status, body) = app.post_empty(&format!("/auth/notifications/{first}/read/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 1, "{body}");
    both_get(&mut a, &mut b, json!({"type": "notification_read", "notification_id": first, "unread_count": 1})).await;

    // Already read: 200, nothing changes, nothing is pushed.
    let (status, body) = app.post_empty(&format!("/auth/notifications/{first}/read/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 1, "{body}");
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::from_millis(50)).await;

    let (status, body) = app.post_empty(&format!("/auth/notifications/{first}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], 2, "{body}");
    both_get(&mut a, &mut b, json!({"type": "notification_unread", "notification_id": first, "unread_count": 2})).await;

    let (status, body) = app.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"marked": 2, "unread_count": 0}));
    both_get(&mut a, &mut b, json!({"type": "all_read", "marked": 2, "unread_count": 0})).await;

    // Nothing left to mark: nothing changes, nothing is pushed.
    let (status, body) = app.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"marked": 0, "unread_count": 0}));
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::from_millis(50)).await;

    // Delete an unread one (the count drops) and a read one (it does not).
    let (status, _) = app.post_empty(&format!("/auth/notifications/{second}/unread/"), &me).await;
    assert_eq!(status, StatusCode::OK);
    both_get(&mut a, &mut b, json!({"type": "notification_unread", "notification_id": second, "unread_count": 1}))
        .await;
    let (status, body) = app.delete(&format!("/auth/notifications/{second}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"deleted": true, "unread_count": 0}));
    both_get(&mut a, &mut b, json!({"type": "notification_deleted", "notification_id": second, "unread_count": 0}))
        .await;
    let (status, body) = app.delete(&format!("/auth/notifications/{first}/delete/"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    both_get(&mut a, &mut b, json!({"type": "notification_deleted", "notification_id": first, "unread_count": 0}))
        .await;

    // Deleting twice is 404 and pushes nothing.
    let (status, _) = app.delete(&format!("/auth/notifications/{first}/delete/"), &me).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::from_millis(50)).await;
    stranger.expect_silence(Duration::from_millis(50)).await;
}

// ---------------------------------------------------------------------------------------------
// Changes made on a socket
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_change_made_on_one_socket_is_pushed_to_the_users_other_sockets_and_not_echoed() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let me = token(1);
    let first = create_id(&app, 1, "first").await;
    let second = create_id(&app, 1, "second").await;
    let third = create_id(&app, 1, "third").await;
    let (mut a, hello) = WsClient::open(&app, &me).await;
    assert_eq!(hello["unread_count"], 3, "{hello}");
    let (mut b, _) = WsClient::open(&app, &me).await;

    a.send_json(json!({"type": "mark_read", "notification_id": first, "request_id": "r1"})).await;
    assert_eq!(
        a.next_json().await,
        json!({"type": "notification_read", "notification_id": first, "unread_count": 2, "request_id": "r1"})
    );
    assert_eq!(b.next_json().await, json!({"type": "notification_read", "notification_id": first, "unread_count": 2}));

    a.send_json(json!({"type": "delete_notification", "notification_id": second, "request_id": "r2"})).await;
    assert_eq!(
        a.next_json().await,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 1, "request_id": "r2"})
    );
    assert_eq!(
        b.next_json().await,
        json!({"type": "notification_deleted", "notification_id": second, "unread_count": 1})
    );

    a.send_json(json!({"type": "mark_all_read", "request_id": "r3"})).await;
    assert_eq!(a.next_json().await, json!({"type": "all_read", "marked": 1, "unread_count": 0, "request_id": "r3"}));
    assert_eq!(b.next_json().await, json!({"type": "all_read", "marked": 1, "unread_count": 0}));

    a.send_json(json!({
        "type": "send_notification", "request_id": "r4", "user_id": 1, "title": "note to self",
        "message": "from socket A", "notification_type": "general"
    }))
    .await;
    let sent = a.next_json().await;
    assert_eq!(sent["type"], "notification_sent", "{sent}");
    assert_eq!(sent["request_id"], "r4", "{sent}");
    let notification = sent["notification"].clone();
    assert_eq!(notification["user_id"], 1, "{sent}");
    assert_eq!(notification["title"], "note to self", "{sent}");
    assert!(id_of(&notification) > third, "{sent}");
    assert_eq!(b.next_json().await, json!({"type": "notification", "notification": notification}));

    // A got only its replies: none of its own changes came back to it as pushes.
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::from_millis(50)).await;

    // A staff socket may send to another user: it reaches that user's socket.
    let (mut staff, _) = WsClient::open(&app, &staff_token(100)).await;
    let (mut other, _) = WsClient::open(&app, &token(2)).await;
    staff
        .send_json(json!({
            "type": "send_notification", "request_id": 5, "user_id": 2, "title": "from staff",
            "message": "hello", "notification_type": "action_item", "data": {"task_id": 9}
        }))
        .await;
    let sent = staff.next_json().await;
    assert_eq!(sent["type"], "notification_sent", "{sent}");
    assert_eq!(sent["request_id"], 5, "{sent}");
    assert_eq!(sent["notification"]["user_id"], 2, "{sent}");
    assert_eq!(sent["notification"]["sender_id"], 100, "{sent}");
    assert_eq!(other.next_json().await, json!({"type": "notification", "notification": sent["notification"]}));
    other.expect_silence(QUIET).await;
    staff.expect_silence(Duration::from_millis(50)).await;
    a.expect_silence(Duration::from_millis(50)).await;
}

// ---------------------------------------------------------------------------------------------
// Broadcast and preferences
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn broadcast_pushes_once_to_each_recipient_except_one_who_turned_realtime_off() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (status, body) = app
        .put("/auth/notifications/preferences/", &token(3), json!({"preferences": {"general": {"realtime": false}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["preferences"]["general"], json!({"enabled": true, "realtime": false}), "{body}");

    let mut sockets = Vec::new();
    for user in [1, 2, 3] {
        sockets.push((user, WsClient::open(&app, &token(user)).await.0));
    }
    let (status, body) = app
        .post(
            "/auth/notifications/broadcast/",
            &staff_token(100),
            json!({"user_ids": [1, 2, 3, 2], "title": "maintenance tonight", "message": "22:00 UTC"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["created"], 3, "{body}");
    assert_eq!(body["suppressed"], 0, "{body}");
    let ids: BTreeSet<i64> =
        body["notification_ids"].as_array().expect("notification_ids").iter().filter_map(Value::as_i64).collect();
    assert_eq!(ids.len(), 3, "{body}");

    for (user, ws) in &mut sockets {
        let user = *user;
        if user == 3 {
            ws.expect_silence(QUIET).await;
            continue;
        }
        let push = ws.next_json().await;
        assert_eq!(push["type"], "notification", "user {user}: {push}");
        let (status, list) = app.get(LIST, &token(user)).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(push["notification"], list["notifications"][0], "user {user}: the push is the stored row");
        assert_eq!(push["notification"]["user_id"], user, "{push}");
        assert_eq!(push["notification"]["sender_id"], 100, "{push}");
        assert!(ids.contains(&id_of(&push["notification"])), "user {user}: {push} not in {ids:?}");
        ws.expect_silence(QUIET).await;
    }

    // User 3's copy is stored and counted, just not pushed.
    let (status, list) = app.get(LIST, &token(3)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["unread_count"], 1, "{list}");
    assert_eq!(list["notifications"][0]["title"], "maintenance tonight", "{list}");
    assert!(ids.contains(&id_of(&list["notifications"][0])), "{list}");
    let (status, count) = app.get("/auth/notifications/unread-count/", &token(3)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count, json!({"unread_count": 1}));
}

// ---------------------------------------------------------------------------------------------
// Replay: `since` on connect and the `sync` frame
// ---------------------------------------------------------------------------------------------

on_both_backends!(since_replays_what_was_missed_then_sync_complete, |app| {
    let me = token(1);
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(app.create_for_self(1, &format!("missed {n}")).await);
    }
    let ids: Vec<i64> = created.iter().map(id_of).collect();
    // Noise for another user must not leak into user 1's replay.
    app.create_for_self(2, "someone else's").await;

    let mut ws = WsClient::connect(&app, &me, Some(ids[1])).await;
    let hello = json!({"type": "connection_established", "user_id": 1, "unread_count": 5, "last_id": ids[4]});
    assert_eq!(ws.next_json().await, hello);
    for notification in &created[2..] {
        assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": notification}));
    }
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": ids[4]}));
    ws.expect_silence(QUIET).await;

    // A `sync` frame mid-session replays the same way and echoes the request_id on sync_complete.
    ws.send_json(json!({"type": "sync", "since": ids[1], "request_id": "s1"})).await;
    for notification in &created[2..] {
        assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": notification}));
    }
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": ids[4], "request_id": "s1"}));
    ws.send_json(json!({"type": "sync", "since": ids[4], "request_id": 2})).await;
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": ids[4], "request_id": 2}));
    ws.expect_silence(Duration::from_millis(100)).await;

    // Live pushes still flow after a replay, exactly once.
    let live = app.create_for_self(1, "live").await;
    assert_eq!(ws.next_json().await, json!({"type": "notification", "notification": live}));
    ws.expect_silence(Duration::from_millis(100)).await;
    ws.close().await;

    // Nothing newer than since: sync_complete carries since itself.
    let beyond = id_of(&live) + 1000;
    let mut ws = WsClient::connect(&app, &me, Some(beyond)).await;
    assert_eq!(ws.next_json().await["type"], "connection_established");
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": beyond}));
    ws.send_json(json!({"type": "sync", "since": beyond, "request_id": "s2"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": beyond, "request_id": "s2"}));
    ws.expect_silence(Duration::from_millis(100)).await;
});

// ---------------------------------------------------------------------------------------------
// Ordering and exactly-once under concurrency
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn concurrent_creates_reach_every_socket_once_each_in_increasing_id_order() {
    const USER: i64 = 9;
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(WsClient::open(&app, &token(USER)).await.0);
    }
    let readers = join_all(sockets.iter_mut().enumerate().map(|(n, ws)| async move {
        collect_notifications(ws, 200, Duration::from_secs(30), &format!("socket {n}")).await
    }));
    let (created, seen) = join(create_concurrently(std::slice::from_ref(&app), USER, 20, 10), readers).await;
    assert_eq!(created.len(), 200);
    for (n, ids) in seen.iter().enumerate() {
        assert_exactly_once_in_order(ids, &created, &format!("socket {n}"));
    }
    for (n, ws) in sockets.iter_mut().enumerate() {
        expect_no_more_notifications(ws, Duration::from_millis(200), &format!("socket {n}")).await;
    }
}

/// A small deterministic pseudo-random sequence (xorshift), so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides + 1
    }
}

/// What the resuming client has seen, over all its connections.
struct Seen {
    ids: Vec<i64>,
    /// (connection, id) in arrival order, for failure messages.
    log: Vec<(usize, i64)>,
    connections: usize,
    /// How many ids the client has seen, for the creators' window.
    progress: watch::Sender<usize>,
}

impl Seen {
    fn last(&self) -> i64 {
        self.ids.last().copied().unwrap_or(0)
    }

    /// Handles one frame of connection `conn`; true when it was `sync_complete`.
    fn take(&mut self, conn: usize, frame: &Value) -> bool {
        match frame["type"].as_str() {
            Some("notification") => {
                let id = id_of(&frame["notification"]);
                self.log.push((conn, id));
                self.ids.push(id);
                self.progress.send_replace(self.ids.len());
                false
            }
            Some("sync_complete") => {
                // Replay frames come before sync_complete, so it names the last one of them.
                assert_eq!(frame["last_id"], self.last(), "connection {conn}: {frame}; seen {:?}", self.log);
                true
            }
            Some("connection_established" | "unread_count") => false,
            _ => panic!("connection {conn}: unexpected frame {frame}"),
        }
    }
}

// 20 concurrent creators while a client keeps dropping its socket and resuming with `since` =
// the last id it saw. The creators stay a few notifications ahead of the client (not a sleep: they
// wait for its progress), so resumes have short backlogs and connections end at every point: in
// the greeting, in the replay, at sync_complete and among live pushes.
on_both_backends!(resuming_client_gets_every_id_once_in_order_despite_reconnects, |app| {
    const USER: i64 = 5;
    const CREATORS: usize = 20;
    const EACH: usize = 15;
    const TOTAL: usize = CREATORS * EACH;
    // How far the creators may run ahead of the client: phases of 50 creates with a short
    // backlog (resumes reach live pushes) and a long one (every creator in flight at once).
    let window = |started: usize| [4, 12, 20][(started / 50) % 3];
    let me = token(USER);
    let done = Cell::new(false);
    let started = Cell::new(0usize);
    let (progress, progress_rx) = watch::channel(0usize);
    let test_deadline = Instant::now() + Duration::from_secs(45);

    let creators = async {
        let tasks = (0..CREATORS).map(|creator| {
            let (app, started, mut progress) = (&app, &started, progress_rx.clone());
            async move {
                let mut ids = Vec::with_capacity(EACH);
                for n in 0..EACH {
                    let wait = progress.wait_for(|&seen| started.get() < seen + window(started.get()));
                    drop(tokio::time::timeout_at(test_deadline, wait).await.expect("client keeps up").expect("client"));
                    started.set(started.get() + 1);
                    ids.push(create_id(app, USER, &format!("creator {creator} #{n}")).await);
                }
                ids
            }
        });
        let ids: Vec<i64> = join_all(tasks).await.into_iter().flatten().collect();
        done.set(true);
        ids
    };
    let client = async {
        let mut seen = Seen { ids: Vec::new(), log: Vec::new(), connections: 0, progress };
        let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
        // Disconnect and resume while the creators run.
        while !done.get() {
            assert!(Instant::now() < test_deadline, "creators still running at the deadline");
            let conn = seen.connections;
            seen.connections += 1;
            let mut ws = WsClient::connect(&app, &me, Some(seen.last())).await;
            let frames = dice.roll(10);
            let deadline = Instant::now() + Duration::from_millis(500);
            for _ in 0..frames {
                match read_until(&mut ws, deadline).await {
                    Read::Frame(frame) => {
                        seen.take(conn, &frame);
                    }
                    Read::Closed(1013) | Read::Quiet => break,
                    Read::Closed(code) => panic!("connection {conn} closed with {code}"),
                }
            }
            // Half the time a clean close, half the time just gone.
            if dice.roll(2) == 1 {
                ws.close().await;
            } else {
                drop(ws);
            }
        }
        // Then one more connection drains the rest (another, should the server shed it: 1013).
        let mut synced = false;
        while !(synced && seen.ids.len() >= TOTAL) {
            let conn = seen.connections;
            seen.connections += 1;
            let mut ws = WsClient::connect(&app, &me, Some(seen.last())).await;
            synced = false;
            while !(synced && seen.ids.len() >= TOTAL) {
                match read_until(&mut ws, test_deadline).await {
                    Read::Frame(frame) => synced |= seen.take(conn, &frame),
                    Read::Closed(1013) => break,
                    Read::Closed(code) => panic!("final connection {conn} closed with {code}"),
                    Read::Quiet => panic!(
                        "final connection {conn}: {} of {TOTAL} ids by the deadline (synced: {synced})",
                        seen.ids.len()
                    ),
                }
            }
        }
        let mut ws = ws_for_silence(&app, &me, seen.last()).await;
        expect_no_more_notifications(&mut ws, QUIET, "a fresh resume from the last id").await;
        seen
    };
    let (created, seen) = join(creators, client).await;
    assert!(seen.connections > 1, "the client never reconnected");
    let who = format!("resuming client over {} connections", seen.connections);
    assert_exactly_once_in_order(&seen.ids, &created, &who);
});

/// A connection resumed from the newest id: its replay must be empty.
async fn ws_for_silence(app: &TestApp, token: &str, since: i64) -> WsClient {
    let mut ws = WsClient::connect(app, token, Some(since)).await;
    assert_eq!(ws.next_json().await["type"], "connection_established");
    assert_eq!(ws.next_json().await, json!({"type": "sync_complete", "last_id": since}));
    ws
}

#[actix_web::test]
async fn creates_during_a_two_page_replay_arrive_exactly_once_in_order() {
    const USER: i64 = 8;
    let app = TestApp::spawn(Backend::Postgres).await;
    let me = token(USER);
    // More than one replay page (500 rows).
    let mut created = create_concurrently(std::slice::from_ref(&app), USER, 20, 30).await;
    assert_eq!(created.len(), 600);

    let reader = async {
        let mut ws = WsClient::connect(&app, &me, Some(0)).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut ids = Vec::new();
        let mut sync_complete = None;
        while ids.len() < 620 || sync_complete.is_none() {
            match read_until(&mut ws, deadline).await {
                Read::Frame(frame) => match frame["type"].as_str() {
                    Some("notification") => ids.push(id_of(&frame["notification"])),
                    Some("sync_complete") => {
                        assert!(sync_complete.is_none(), "two sync_complete frames: {frame}");
                        assert_eq!(frame["last_id"], ids.last().copied().unwrap_or(0), "{frame}");
                        sync_complete = Some(ids.len());
                    }
                    Some("connection_established" | "unread_count") => {}
                    _ => panic!("unexpected frame {frame}"),
                },
                Read::Closed(code) => panic!("closed with {code} after {} ids", ids.len()),
                Read::Quiet => panic!("{} of 620 ids within 30 s (sync_complete: {sync_complete:?})", ids.len()),
            }
        }
        let replayed = sync_complete.unwrap_or(0);
        assert!(replayed >= 600, "sync_complete after only {replayed} notifications");
        expect_no_more_notifications(&mut ws, QUIET, "replaying socket").await;
        ids
    };
    let (late, seen) = join(create_concurrently(std::slice::from_ref(&app), USER, 20, 1), reader).await;
    created.extend(late);
    assert_exactly_once_in_order(&seen, &created, "socket connected with since=0");
}
