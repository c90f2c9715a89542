//! Ordering and exactly-once under concurrency.

use super::QUIET;
use crate::helpers::*;
use futures_util::future::{join, join_all};
use serde_json::{json, Value};
use std::cell::Cell;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

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
