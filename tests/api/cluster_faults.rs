//! Failure modes of a cluster (SPEC §1, §5; DESIGN §1 "Resume without loss", "Redis on the hot
//! path"): Redis killed and restarted (under load too), a node SIGKILLed mid-stream, a node
//! SIGTERMed, and one node's database cut. Whatever happens, every socket ends with exactly the
//! notifications its user was acknowledged, each once, in increasing order; the server repairs
//! what Redis dropped, and clients only resume with `since` when their node is gone.

use crate::cluster::{cluster, wait_ready};
use crate::helpers::*;
use crate::proxy::Proxy;
use crate::redis_server::RedisServer;
use crate::ws_client::WsClient;
use awc::http::{Method, StatusCode};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_herald");
const CREATE: &str = "/auth/notifications/create/";
const LIST: &str = "/auth/notifications/";
/// How long a socket must stay quiet after the last expected id to count as "no duplicates".
const SETTLE: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One read from a socket that may end (its node was killed, or it is shutting down).
enum Read {
    Frame(Value),
    Ended(String),
    Quiet,
}

/// The next text frame before `deadline`; the end of the socket (close frame, end of stream or
/// transport error, as when the node is killed) is reported, not a panic.
async fn read_until(ws: &mut WsClient, deadline: Instant) -> Read {
    loop {
        match tokio::time::timeout_at(deadline.into(), ws.stream.next()).await {
            Err(_) => return Read::Quiet,
            Ok(None) => return Read::Ended("end of stream".into()),
            Ok(Some(Err(err))) => return Read::Ended(format!("transport error: {err}")),
            Ok(Some(Ok(Message::Text(text)))) => {
                return Read::Frame(serde_json::from_str(text.as_str()).expect("text frames are JSON"))
            }
            Ok(Some(Ok(Message::Close(frame)))) => return Read::Ended(format!("close frame {frame:?}")),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

fn id_of(notification: &Value) -> i64 {
    notification["id"].as_i64().unwrap_or_else(|| panic!("notification without an integer id: {notification}"))
}

/// The id of a `notification` push frame; `None` for any other frame.
fn pushed_id(frame: &Value) -> Option<i64> {
    (frame["type"] == "notification").then(|| id_of(&frame["notification"]))
}

/// Describes how `got` differs from `expected` (both in arrival/creation order); `None` when
/// they are equal, i.e. every expected id exactly once, strictly increasing, nothing else.
fn stream_problems(got: &[i64], expected: &[i64]) -> Option<String> {
    if got == expected {
        return None;
    }
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for id in got {
        *counts.entry(*id).or_default() += 1;
    }
    let expected_set: std::collections::BTreeSet<i64> = expected.iter().copied().collect();
    let missing: Vec<i64> = expected.iter().copied().filter(|id| !counts.contains_key(id)).collect();
    let doubled: Vec<i64> = counts.iter().filter(|(_, n)| **n > 1).map(|(id, _)| *id).collect();
    let unexpected: Vec<i64> = counts.keys().copied().filter(|id| !expected_set.contains(id)).collect();
    let backwards: Vec<(i64, i64)> = got.windows(2).filter(|w| w[0] >= w[1]).map(|w| (w[0], w[1])).collect();
    let head = |v: &[i64]| v.iter().take(20).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    Some(format!(
        "{} received, {} expected; missing {} [{}]; doubled {} [{}]; unexpected {} [{}]; not increasing {} {:?}",
        got.len(),
        expected.len(),
        missing.len(),
        head(&missing),
        doubled.len(),
        head(&doubled),
        unexpected.len(),
        head(&unexpected),
        backwards.len(),
        backwards.iter().take(10).collect::<Vec<_>>(),
    ))
}

/// Sends a request to `url` (a node not run in this process); transport errors are returned.
async fn request(
    client: &awc::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(StatusCode, Value), String> {
    let mut req = client.request(method, url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let sent = match body {
        Some(body) => req.send_json(&body).await,
        None => req.send().await,
    };
    let mut res = sent.map_err(|e| format!("request to {url} failed: {e}"))?;
    let status = res.status();
    let bytes = res.body().limit(1024 * 1024).await.map_err(|e| format!("body of {url}: {e}"))?;
    Ok((status, parse_body(&bytes)))
}

/// Creates a notification for `user` (as that user) on the node at `base`.
async fn create_at(client: &awc::Client, base: &str, user: i64, title: &str) -> Result<(StatusCode, Value), String> {
    request(client, Method::POST, &format!("{base}{CREATE}"), Some(&token(user)), Some(json!({ "title": title }))).await
}

/// Polls `/readyz` of the node at `base` until it answers 200 (bounded by `WAIT`).
async fn wait_ready_at(client: &awc::Client, base: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let last = request(client, Method::GET, &format!("{base}/readyz"), None, None).await;
        if matches!(last, Ok((status, _)) if status == StatusCode::OK) {
            return;
        }
        assert!(Instant::now() < deadline, "node {base} not ready within {WAIT:?}: {last:?}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until `n` nodes' subscriber connections listen on the user's channel, so a
/// test starts from a settled cluster.
pub async fn wait_subscribed(redis: &RedisServer, user: i64, n: i64) {
    let channel = format!("herald:user:{user}");
    let deadline = Instant::now() + WAIT;
    loop {
        let subscribers = redis.numsub(&channel);
        if subscribers == n {
            return;
        }
        assert!(Instant::now() < deadline, "{channel}: {subscribers} subscriber(s) after {WAIT:?}, want {n}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGKILLs Redis off the runtime thread (the in-process nodes' broker tasks run on it).
async fn kill_redis(mut redis: RedisServer) -> RedisServer {
    tokio::task::spawn_blocking(move || {
        redis.stop();
        redis
    })
    .await
    .expect("stop redis")
}

/// Restarts Redis on its port; returns it with the instant it answered PING again.
async fn restart_redis(mut redis: RedisServer) -> (RedisServer, Instant) {
    tokio::task::spawn_blocking(move || {
        redis.restart();
        let answered = Instant::now();
        (redis, answered)
    })
    .await
    .expect("restart redis")
}

/// What one socket saw: notification ids with their arrival instants, and how it ended.
#[derive(Default)]
struct Seen {
    ids: Vec<(i64, Instant)>,
    ended: Option<String>,
}

/// Reads a socket in the background into `Seen` until aborted or the socket ends.
fn record(mut ws: WsClient) -> (Rc<RefCell<Seen>>, tokio::task::JoinHandle<()>) {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let sink = seen.clone();
    let task = actix_web::rt::spawn(async move {
        loop {
            match read_until(&mut ws, Instant::now() + Duration::from_secs(3600)).await {
                Read::Frame(frame) => {
                    if let Some(id) = pushed_id(&frame) {
                        sink.borrow_mut().ids.push((id, Instant::now()));
                    }
                }
                Read::Ended(why) => {
                    sink.borrow_mut().ended = Some(why);
                    return;
                }
                Read::Quiet => {}
            }
        }
    });
    (seen, task)
}

/// A `herald serve` process (so it can be SIGKILLed or SIGTERMed), killed by its own PID on
/// Drop. Its stderr goes to a temp file, shown when it fails to start.
struct ProcessNode {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl ProcessNode {
    async fn start(database_url: &str, redis_url: &str) -> ProcessNode {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url)
            .env("JWT_SECRET", SECRET)
            .env("HERALD_BIND", "127.0.0.1:0")
            .env("HERALD_WORKERS", "1")
            .env("HERALD_RATE_LIMIT_PER_SECOND", "100000")
            .env("HERALD_RATE_LIMIT_BURST", "100000")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.reopen().expect("reopen log file")))
            .spawn()
            .expect("start a herald node process");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut node = ProcessNode { child, port: 0, log };
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps draining stdout for the life of the process (a closed pipe would fail a print).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    if let Some(port) =
                        line.strip_prefix("Herald listening on http://127.0.0.1:").and_then(|p| p.trim().parse().ok())
                    {
                        node.port = port;
                        return node;
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    assert!(Instant::now() < deadline, "no banner within 20 s; stderr:\n{}", node.stderr());
                    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    panic!("node exited before listening: {:?}; stderr:\n{}", node.child.try_wait(), node.stderr())
                }
            }
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn ws_url(&self, token: &str, since: Option<i64>) -> String {
        match since {
            Some(since) => format!("ws://127.0.0.1:{}/ws/notifications/?token={token}&since={since}", self.port),
            None => format!("ws://127.0.0.1:{}/ws/notifications/?token={token}", self.port),
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Waits (bounded) for the process to exit.
    async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the node process") {
                return status;
            }
            assert!(Instant::now() < deadline, "node did not exit within {within:?}; stderr:\n{}", self.stderr());
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        // `Child::kill` signals this child's own PID, and not at all once it was reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a socket on a process node and consumes `connection_established`.
async fn open_at(node: &ProcessNode, user: i64, since: Option<i64>) -> (WsClient, Value) {
    let mut ws = WsClient::try_connect(&node.ws_url(&token(user), since), &[])
        .await
        .unwrap_or_else(|refused| panic!("handshake refused: {refused:?}"));
    let hello = ws.next_json().await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    (ws, hello)
}

// ---------------------------------------------------------------------------------------------
// 1. Redis outage: REST keeps working, sockets stay open, /readyz names Redis, repair on return
// ---------------------------------------------------------------------------------------------

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

    let deadline = Instant::now() + WAIT;
    let ready = loop {
        let (status, ready) = a.call(Method::GET, "/readyz", None, None).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break ready;
        }
        assert_eq!(status, StatusCode::OK, "{ready}");
        assert!(Instant::now() < deadline, "/readyz still 200 {WAIT:?} into the outage: {ready}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
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
        match read_until(&mut on_b, deadline).await {
            Read::Frame(frame) => {
                if let Some(id) = pushed_id(&frame) {
                    pushed.push(id);
                    arrived.get_or_insert_with(Instant::now);
                }
            }
            Read::Ended(why) => panic!("the socket on B ended after Redis returned: {why}"),
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

// ---------------------------------------------------------------------------------------------
// 2. THE TEST: Redis killed and restarted under load loses nothing, doubles nothing
// ---------------------------------------------------------------------------------------------

const LOAD_USERS: i64 = 4;
const LOAD_EVERY: Duration = Duration::from_millis(5);
const LOAD_FOR: Duration = Duration::from_secs(6);
const KILL_AFTER: Duration = Duration::from_secs(2);
const OUTAGE: Duration = Duration::from_millis(1500);
const RESUME_BOUND: Duration = Duration::from_secs(2);

/// One acknowledged create of the load writer.
struct Created {
    user: i64,
    id: i64,
    /// When its POST was sent.
    sent: Instant,
}

/// A writer on its own thread and runtime: one create every `LOAD_EVERY` for `LOAD_FOR`
/// (at most 64 in flight), round-robin over users 1..=4, each user's creates alternating
/// between the two nodes. Returns every outcome, in send order.
fn spawn_load_writer(bases: [String; 2]) -> std::thread::JoinHandle<Vec<Result<Created, String>>> {
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let client = awc::Client::builder().timeout(WAIT).finish();
            let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
            let mut tick = tokio::time::interval(LOAD_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let start = Instant::now();
            let mut tasks = Vec::new();
            let mut n = 0usize;
            while start.elapsed() < LOAD_FOR {
                tick.tick().await;
                let permit = in_flight.clone().acquire_owned().await.expect("semaphore stays open");
                let user = (n as i64 % LOAD_USERS) + 1;
                let base = bases[(n / LOAD_USERS as usize) % 2].clone();
                let client = client.clone();
                tasks.push(actix_web::rt::spawn(async move {
                    let sent = Instant::now();
                    let outcome = create_at(&client, &base, user, &format!("load #{n}")).await;
                    drop(permit);
                    match outcome {
                        Ok((status, body)) if status == StatusCode::CREATED => {
                            Ok(Created { user, id: id_of(&body["notification"]), sent })
                        }
                        Ok((status, body)) => Err(format!("create #{n} on {base}: {status} {body}")),
                        Err(err) => Err(format!("create #{n}: {err}")),
                    }
                }));
                n += 1;
            }
            let mut outcomes = Vec::with_capacity(tasks.len());
            for task in tasks {
                outcomes.push(task.await.unwrap_or_else(|e| Err(format!("create task failed: {e}"))));
            }
            outcomes
        })
    })
}

#[actix_web::test]
async fn redis_killed_and_restarted_under_load_loses_nothing() {
    let (_db, redis, nodes) = cluster(2, &[]).await;
    let mut sockets = Vec::new();
    for user in 1..=LOAD_USERS {
        for (name, node) in ["A", "B"].into_iter().zip(&nodes) {
            let (ws, _) = WsClient::open(node, &token(user)).await;
            let (seen, task) = record(ws);
            sockets.push((user, name, seen, task));
        }
    }
    for user in 1..=LOAD_USERS {
        wait_subscribed(&redis, user, 2).await;
    }

    let writer = spawn_load_writer([nodes[0].base_url.clone(), nodes[1].base_url.clone()]);
    let writer_started = Instant::now();
    actix_web::rt::time::sleep(KILL_AFTER).await;
    let redis = kill_redis(redis).await;
    let killed = Instant::now();
    actix_web::rt::time::sleep(OUTAGE).await;
    let (redis, restarted) = restart_redis(redis).await;

    let outcomes = tokio::task::spawn_blocking(move || writer.join())
        .await
        .expect("join the writer")
        .unwrap_or_else(|_| panic!("the writer thread panicked"));
    let writer_done = Instant::now();
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} of {} creates failed, e.g. {:?}", failures.len(), outcomes.len(), &failures[..]);
    let created: Vec<&Created> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let mut expected: HashMap<i64, Vec<i64>> = HashMap::new();
    for c in &created {
        expected.entry(c.user).or_default().push(c.id);
    }
    for ids in expected.values_mut() {
        ids.sort_unstable();
    }

    // Collect until every socket has all of its user's ids (or the deadline), then a quiet
    // spell in which a duplicate would show.
    let deadline = writer_done + Duration::from_secs(15);
    loop {
        let complete = sockets.iter().all(|(user, _, seen, _)| {
            let seen = seen.borrow();
            let got: std::collections::HashSet<i64> = seen.ids.iter().map(|(id, _)| *id).collect();
            expected.get(user).map(|ids| ids.iter().all(|id| got.contains(id))).unwrap_or(true)
        });
        if complete || Instant::now() >= deadline {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let all_in = Instant::now();
    actix_web::rt::time::sleep(SETTLE).await;
    for (_, _, _, task) in &sockets {
        task.abort();
    }

    // The first create sent after Redis answered again, and when it reached its sockets.
    let first_after = created.iter().filter(|c| c.sent >= restarted).min_by_key(|c| c.sent).expect("creates after");
    let mut resume_delays = Vec::new();
    for (user, name, seen, _) in &sockets {
        if *user == first_after.user {
            let arrival = seen.borrow().ids.iter().find(|(id, _)| *id == first_after.id).map(|(_, at)| *at);
            resume_delays.push((*name, arrival.map(|at| at.duration_since(restarted))));
        }
    }
    // The slowest notification created during the outage, measured from the restart.
    let outage_ids: std::collections::HashSet<i64> =
        created.iter().filter(|c| c.sent >= killed && c.sent < restarted).map(|c| c.id).collect();
    let slowest_outage_repair = sockets
        .iter()
        .flat_map(|(_, _, seen, _)| {
            seen.borrow()
                .ids
                .iter()
                .filter(|(id, _)| outage_ids.contains(id))
                .map(|(_, at)| at.saturating_duration_since(restarted))
                .collect::<Vec<_>>()
        })
        .max();
    println!(
        "redis under load: {} creates in {:?} ({} during the outage); redis killed at +{:?}, answered again \
         at +{:?}; first create after the restart (id {}, user {}, sent +{:?} after it) arrived after {:?}; \
         slowest outage notification arrived {:?} after the restart; all in {:?} after the writer ended",
        created.len(),
        writer_done.duration_since(writer_started),
        outage_ids.len(),
        killed.duration_since(writer_started),
        restarted.duration_since(writer_started),
        first_after.id,
        first_after.user,
        first_after.sent.duration_since(restarted),
        resume_delays,
        slowest_outage_repair,
        all_in.saturating_duration_since(writer_done),
    );

    let mut problems = Vec::new();
    for (user, name, seen, _) in &sockets {
        let seen = seen.borrow();
        if let Some(why) = &seen.ended {
            problems.push(format!("user {user} on {name}: socket ended: {why}"));
        }
        let got: Vec<i64> = seen.ids.iter().map(|(id, _)| *id).collect();
        let want = expected.get(user).cloned().unwrap_or_default();
        if let Some(problem) = stream_problems(&got, &want) {
            problems.push(format!("user {user} on {name}: {problem}"));
        }
    }
    assert!(problems.is_empty(), "sockets did not get exactly their ids once, in order:\n{}", problems.join("\n"));
    for (name, delay) in &resume_delays {
        let delay =
            delay.unwrap_or_else(|| panic!("first create after the restart never reached the socket on {name}"));
        assert!(
            delay <= RESUME_BOUND,
            "the first notification created after Redis returned reached the socket on {name} {delay:?} after \
             the restart (bound {RESUME_BOUND:?})"
        );
    }
    drop(redis);
}

// ---------------------------------------------------------------------------------------------
// 3. A node SIGKILLed mid-stream: the client resumes on the other node with `since`
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn node_killed_mid_stream_clients_resume_on_the_other_node_without_loss() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let mut first = ProcessNode::start(&db.url, &redis.url()).await;
    let second = ProcessNode::start(&db.url, &redis.url()).await;
    let client = awc::Client::builder().timeout(WAIT).finish();
    wait_ready_at(&client, &first.base()).await;
    wait_ready_at(&client, &second.base()).await;
    let user = 3;
    let (mut ws, _) = open_at(&first, user, None).await;
    wait_subscribed(&redis, user, 1).await;

    // The writer: creates for user 3 through the second node until told to stop.
    let stop = Rc::new(Cell::new(false));
    let writer = {
        let (stop, client, base) = (stop.clone(), client.clone(), second.base());
        actix_web::rt::spawn(async move {
            let mut ids = Vec::new();
            let mut n = 0;
            while !stop.get() {
                let (status, body) =
                    create_at(&client, &base, user, &format!("stream #{n}")).await.expect("create reaches node 2");
                assert_eq!(status, StatusCode::CREATED, "{body}");
                ids.push(id_of(&body["notification"]));
                n += 1;
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            ids
        })
    };

    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 20 {
        match read_until(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Ended(why) => panic!("socket on node 1 ended before the kill: {why}"),
            Read::Quiet => panic!("only {} notification(s) on node 1 within {WAIT:?}", seen.len()),
        }
    }
    let on_first = seen.len();
    first.child.kill().expect("SIGKILL node 1");
    let killed = Instant::now();
    let deadline = killed + WAIT;
    let ended = loop {
        match read_until(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Ended(why) => break why,
            Read::Quiet => panic!("the socket on the killed node did not end within {WAIT:?}"),
        }
    };
    let last = *seen.last().expect("saw some");
    let on_first_in_all = seen.len();
    drop(ws);
    // A client backs off before reconnecting: creates made meanwhile come back by replay.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;

    let (mut ws, hello) = open_at(&second, user, Some(last)).await;
    let mut synced = None;
    let resume_at = Instant::now();
    let deadline = resume_at + WAIT;
    while synced.is_none() {
        match read_until(&mut ws, deadline).await {
            Read::Frame(frame) if frame["type"] == "sync_complete" => synced = Some(frame),
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Ended(why) => panic!("socket on node 2 ended: {why}"),
            Read::Quiet => panic!("no sync_complete within {WAIT:?} after resuming with since={last}"),
        }
    }
    let replayed = seen.len() - on_first_in_all;
    assert!(replayed > 0, "creates made while the client was away come back by replay");
    let resumed_after = killed.elapsed();

    // More live traffic on the new node, then stop the writer and drain.
    let deadline = Instant::now() + Duration::from_millis(700);
    loop {
        match read_until(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Ended(why) => panic!("socket on node 2 ended: {why}"),
            Read::Quiet => break,
        }
    }
    stop.set(true);
    let created = writer.await.expect("the writer finishes");
    let deadline = Instant::now() + WAIT;
    let mut complete_at = None;
    loop {
        if complete_at.is_none() && created.last().is_none_or(|id| seen.contains(id)) {
            complete_at = Some(Instant::now());
        }
        let until = complete_at.map(|at| at + SETTLE).unwrap_or(deadline);
        match read_until(&mut ws, until).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Ended(why) => panic!("socket on node 2 ended: {why}"),
            Read::Quiet => break,
        }
    }
    println!(
        "node killed: {} created; {on_first} seen on node 1 before the kill, {on_first_in_all} in all there \
         (ended: {ended}); resumed on node 2 with since={last} ({hello}), {replayed} replayed before {} at \
         +{resumed_after:?} after the kill",
        created.len(),
        synced.unwrap_or_default(),
    );
    if let Some(problem) = stream_problems(&seen, &created) {
        panic!("across both connections: {problem}");
    }
    drop(second);
    drop(first);
    drop(redis);
    drop(db);
}

// ---------------------------------------------------------------------------------------------
// 4. SIGTERM: sockets close with 1001 (going away) and the process exits 0
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sigterm_closes_sockets_with_1001() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let mut node = ProcessNode::start(&db.url, &redis.url()).await;
    let client = awc::Client::builder().timeout(WAIT).finish();
    wait_ready_at(&client, &node.base()).await;
    let (mut ws, _) = open_at(&node, 4, None).await;

    let pid = node.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(status.success(), "kill -TERM {pid}: {status}");
    let signalled = Instant::now();
    let (code, before) = ws.expect_close().await;
    let closed_after = signalled.elapsed();
    assert_eq!(code, 1001, "going away; frames before it: {before:?}");
    // Complete the closing handshake (the client answers the close frame on its next read).
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.stream.next()).await;
    drop(ws);

    let exit = node.wait_exit(Duration::from_secs(15)).await;
    let exited_after = signalled.elapsed();
    println!("sigterm: socket closed 1001 after {closed_after:?}; process exited ({exit}) after {exited_after:?}");
    assert!(exit.success(), "exit status 0 after SIGTERM, got {exit}; stderr:\n{}", node.stderr());
    drop(redis);
    drop(db);
}

// ---------------------------------------------------------------------------------------------
// 5. One node's database cut: that node answers 503, the other keeps serving, both recover
// ---------------------------------------------------------------------------------------------

fn database_addr(url: &str) -> SocketAddr {
    let parsed = url::Url::parse(url).expect("database URL");
    let host = parsed.host_str().expect("database host").to_owned();
    (host.as_str(), parsed.port().unwrap_or(5432))
        .to_socket_addrs()
        .expect("resolve the database host")
        .next()
        .expect("an address for the database host")
}

#[actix_web::test]
async fn database_cut_on_a_cluster_node_answers_503_and_recovers() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let proxy = Proxy::start(database_addr(&db.url));
    let mut via_proxy = url::Url::parse(&db.url).expect("url");
    via_proxy.set_port(Some(proxy.port)).expect("port");
    let a = TestApp::spawn_on(
        DbGuard::None,
        via_proxy.as_str(),
        &[("REDIS_URL", redis_url.as_str()), ("HERALD_DB_TIMEOUT_MS", "500")],
    )
    .await;
    let b = TestApp::spawn_on(DbGuard::None, &db.url, &[("REDIS_URL", redis_url.as_str())]).await;
    wait_ready(&a).await;
    wait_ready(&b).await;
    let user = 5;
    let me = token(user);
    let (on_a, _) = WsClient::open(&a, &me).await;
    let (on_b, _) = WsClient::open(&b, &me).await;
    wait_subscribed(&redis, user, 2).await;
    let (seen_a, task_a) = record(on_a);
    let (seen_b, task_b) = record(on_b);
    let mut acknowledged = Vec::new();

    for node in [&a, &b] {
        acknowledged.push(id_of(&node.create_for_self(user, "before the cut").await));
    }

    proxy.cut();
    for attempt in 0..3 {
        let started = Instant::now();
        let (status, body) = a.post(CREATE, &me, json!({"title": format!("on A during the cut {attempt}")})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(started.elapsed() < Duration::from_secs(5), "503 comes fast, not after a hang");
    }
    let mut during_cut = Vec::new();
    for attempt in 0..3 {
        let (status, body) = b.post(CREATE, &me, json!({"title": format!("on B during the cut {attempt}")})).await;
        assert_eq!(status, StatusCode::CREATED, "B has its own database connection: {body}");
        during_cut.push(id_of(&body["notification"]));
    }
    acknowledged.extend(&during_cut);
    // Live pushes need no database on A: the socket there gets B's creates during the cut.
    let deadline = Instant::now() + WAIT;
    loop {
        let got: Vec<i64> = seen_a.borrow().ids.iter().map(|(id, _)| *id).collect();
        if during_cut.iter().all(|id| got.contains(id)) {
            break;
        }
        assert!(Instant::now() < deadline, "the socket on A did not get B's creates during the cut: {got:?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, ready) = a.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(ready["checks"]["database"].as_str().unwrap_or_default().starts_with("unavailable"), "{ready}");

    proxy.restore();
    let restored = Instant::now();
    let deadline = restored + WAIT;
    loop {
        let (status, body) = a.post(CREATE, &me, json!({"title": "on A after the cut"})).await;
        if status == StatusCode::CREATED {
            acknowledged.push(id_of(&body["notification"]));
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "A did not recover within {WAIT:?}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = restored.elapsed();
    acknowledged.push(id_of(&b.create_for_self(user, "on B after the cut").await));
    wait_ready(&a).await;

    let (status, list) = b.get(&format!("{LIST}?limit=100"), &me).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut stored: Vec<i64> = list["notifications"].as_array().expect("notifications").iter().map(id_of).collect();
    stored.sort_unstable();
    assert_eq!(stored, acknowledged, "exactly the acknowledged creates are stored");

    let deadline = Instant::now() + WAIT;
    loop {
        let complete = [&seen_a, &seen_b].iter().all(|seen| {
            let got: Vec<i64> = seen.borrow().ids.iter().map(|(id, _)| *id).collect();
            stored.iter().all(|id| got.contains(id))
        });
        if complete || Instant::now() >= deadline {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    actix_web::rt::time::sleep(SETTLE).await;
    task_a.abort();
    task_b.abort();
    println!("database cut on A: A created again {recovered_after:?} after the restore");
    for (name, seen) in [("A", &seen_a), ("B", &seen_b)] {
        let seen = seen.borrow();
        assert!(seen.ended.is_none(), "the socket on {name} ended: {:?}", seen.ended);
        let got: Vec<i64> = seen.ids.iter().map(|(id, _)| *id).collect();
        if let Some(problem) = stream_problems(&got, &stored) {
            panic!("socket on {name}: {problem}");
        }
    }
    drop((a, b, proxy, redis, db));
}

// ---------------------------------------------------------------------------------------------
// 6. After an outage, the first create's publish must not be lost on a quiet stream
// ---------------------------------------------------------------------------------------------

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
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let (redis, restarted) = restart_redis(redis).await;
    // Redis is back, B has resubscribed and repaired the outage's notification...
    wait_subscribed(&redis, user, 1).await;
    let deadline = Instant::now() + WAIT;
    while arrived(during).is_none() {
        assert!(Instant::now() < deadline, "the outage's notification was not repaired within {WAIT:?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    // ...and has been answering for a while: the next create on A is an ordinary one.
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let created = Instant::now();
    let after = id_of(&a.create_for_self(user, "after Redis returned").await);
    let deadline = created + Duration::from_secs(3);
    while arrived(after).is_none() && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
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
