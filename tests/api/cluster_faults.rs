//! Failure modes of a cluster (SPEC §1, §5; DESIGN §1 "Resume without loss", "Redis on the hot
//! path"): Redis killed and restarted (under load too), a node SIGKILLed mid-stream, a node
//! SIGTERMed, and one node's database cut. Whatever happens, every socket ends with exactly the
//! notifications its user was acknowledged, each once, in increasing order; the server repairs
//! what Redis dropped, and clients only resume with `since` when their node is gone.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CREATE: &str = "/auth/notifications/create/";
const LIST: &str = "/auth/notifications/";
/// How long a socket must stay quiet after the last expected id to count as "no duplicates".
const SETTLE: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Creates a notification for `user` (as that user) on the node at `base`.
async fn create_at(client: &awc::Client, base: &str, user: i64, title: &str) -> Result<(StatusCode, Value), String> {
    request(client, Method::POST, &format!("{base}{CREATE}"), Some(&token(user)), Some(json!({ "title": title }))).await
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

/// Restarts Redis on its port; returns it with the instant it answered again.
async fn restart_redis(mut redis: RedisServer) -> (RedisServer, Instant) {
    tokio::task::spawn_blocking(move || {
        redis.restart();
        let answered = Instant::now();
        (redis, answered)
    })
    .await
    .expect("restart redis")
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
    // The scenario's timeline, not synchronisation: Redis dies 2 s into the load and stays down
    // for 1.5 s while the writer keeps creating.
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
    // (Incomplete sockets are reported below, with what they got.)
    let _ = poll(Duration::from_secs(15).saturating_sub(writer_done.elapsed()), async || {
        let complete = sockets.iter().all(|(user, _, seen, _)| {
            let seen = seen.borrow();
            let got: std::collections::HashSet<i64> = seen.ids.iter().map(|(id, _)| *id).collect();
            expected.get(user).map(|ids| ids.iter().all(|id| got.contains(id))).unwrap_or(true)
        });
        if complete {
            Ok(())
        } else {
            Err(())
        }
    })
    .await;
    let all_in = Instant::now();
    // The quiet spell is the check: a duplicate arriving late would show in it.
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
            problems.push(format!("user {user} on {name}: socket ended with close code {why}"));
        }
        // Only creates: the repairs send the missed notifications, and nothing else is untold.
        if seen.resyncs > 0 {
            problems.push(format!("user {user} on {name}: {} needless `resync` frame(s)", seen.resyncs));
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
    let mut first = process_node(&db.url, &redis.url(), &[]);
    let second = process_node(&db.url, &redis.url(), &[]);
    let client = awc::Client::builder().timeout(WAIT).finish();
    wait_ready_at(&client, &first.base_url()).await;
    wait_ready_at(&client, &second.base_url()).await;
    let user = 3;
    let (mut ws, _) = open_at(&first, user, None).await;
    wait_subscribed(&redis, user, 1).await;

    // The writer: creates for user 3 through the second node until told to stop.
    let stop = Rc::new(Cell::new(false));
    let newest = Rc::new(Cell::new(0));
    let writer = {
        let (stop, newest, client, base) = (stop.clone(), newest.clone(), client.clone(), second.base_url());
        actix_web::rt::spawn(async move {
            let mut ids = Vec::new();
            let mut n = 0;
            while !stop.get() {
                let (status, body) =
                    create_at(&client, &base, user, &format!("stream #{n}")).await.expect("create reaches node 2");
                assert_eq!(status, StatusCode::CREATED, "{body}");
                ids.push(id_of(&body["notification"]));
                newest.set(id_of(&body["notification"]));
                n += 1;
                // Pacing: a steady stream, not a flood.
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            ids
        })
    };

    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 20 {
        match read_until_end(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => panic!("socket on node 1 ended before the kill: {why}"),
            Read::Quiet => panic!("only {} notification(s) on node 1 within {WAIT:?}", seen.len()),
        }
    }
    let on_first = seen.len();
    first.kill();
    let killed = Instant::now();
    let deadline = killed + WAIT;
    let ended = loop {
        match read_until_end(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => break why,
            Read::Quiet => panic!("the socket on the killed node did not end within {WAIT:?}"),
        }
    };
    let last = *seen.last().expect("saw some");
    let on_first_in_all = seen.len();
    drop(ws);
    // The client is away (as a client backing off before it reconnects) until a create was made
    // meanwhile: that one comes back by replay.
    wait_until("a create acknowledged while the client is away", WAIT, async || newest.get() > last).await;

    let (mut ws, hello) = open_at(&second, user, Some(last)).await;
    let mut synced = None;
    let resume_at = Instant::now();
    let deadline = resume_at + WAIT;
    while synced.is_none() {
        match read_until_end(&mut ws, deadline).await {
            Read::Frame(frame) if frame["type"] == "sync_complete" => synced = Some(frame),
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => panic!("socket on node 2 ended with close code {why}"),
            Read::Quiet => panic!("no sync_complete within {WAIT:?} after resuming with since={last}"),
        }
    }
    let replayed = seen.len() - on_first_in_all;
    assert!(replayed > 0, "creates made while the client was away come back by replay");
    let resumed_after = killed.elapsed();

    // More live traffic on the new node, then stop the writer and drain.
    let deadline = Instant::now() + Duration::from_millis(700);
    loop {
        match read_until_end(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => panic!("socket on node 2 ended with close code {why}"),
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
        match read_until_end(&mut ws, until).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => panic!("socket on node 2 ended with close code {why}"),
            Read::Quiet => break,
        }
    }
    println!(
        "node killed: {} created; {on_first} seen on node 1 before the kill, {on_first_in_all} in all there \
         (ended with close code {ended}); resumed on node 2 with since={last} ({hello}), {replayed} replayed before {} at \
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
    let mut node = process_node(&db.url, &redis.url(), &[]);
    let client = awc::Client::builder().timeout(WAIT).finish();
    wait_ready_at(&client, &node.base_url()).await;
    let (mut ws, _) = open_at(&node, 4, None).await;

    let pid = node.pid().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(status.success(), "kill -TERM {pid}: {status}");
    let signalled = Instant::now();
    let (code, before) = ws.expect_close().await;
    let closed_after = signalled.elapsed();
    assert_eq!(code, 1001, "going away; frames before it: {before:?}");
    // Complete the closing handshake (the client answers the close frame on its next read).
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.stream.next()).await;
    drop(ws);

    let exit = node
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("node did not exit within 15 s; stderr:\n{}", node.stderr()));
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
    wait_for("the socket on A getting B's creates during the cut", WAIT, async || {
        let got: Vec<i64> = seen_a.borrow().ids.iter().map(|(id, _)| *id).collect();
        if during_cut.iter().all(|id| got.contains(id)) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    let (status, ready) = a.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(ready["checks"]["database"].as_str().unwrap_or_default().starts_with("unavailable"), "{ready}");

    proxy.restore();
    let restored = Instant::now();
    let recovered = poll_every(Duration::from_millis(100), WAIT, async || {
        let (status, body) = a.post(CREATE, &me, json!({"title": "on A after the cut"})).await;
        if status == StatusCode::CREATED {
            return Ok(id_of(&body["notification"]));
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        Err(body)
    })
    .await;
    acknowledged.push(recovered.unwrap_or_else(|last| panic!("A did not recover within {WAIT:?}: {last}")));
    let recovered_after = restored.elapsed();
    acknowledged.push(id_of(&b.create_for_self(user, "on B after the cut").await));
    wait_ready(&a).await;

    let (status, list) = b.get(&format!("{LIST}?limit=100"), &me).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut stored: Vec<i64> = list["notifications"].as_array().expect("notifications").iter().map(id_of).collect();
    stored.sort_unstable();
    assert_eq!(stored, acknowledged, "exactly the acknowledged creates are stored");

    // (Incomplete sockets are reported below, with what they got.)
    let _ = poll(WAIT, async || {
        let complete = [&seen_a, &seen_b].iter().all(|seen| {
            let got: Vec<i64> = seen.borrow().ids.iter().map(|(id, _)| *id).collect();
            stored.iter().all(|id| got.contains(id))
        });
        if complete {
            Ok(())
        } else {
            Err(())
        }
    })
    .await;
    // The quiet spell is the check: a duplicate arriving late would show in it.
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
