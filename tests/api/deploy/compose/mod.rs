//! The production shape built and run for real: `docker compose up --build` of this
//! repository's docker-compose.yml (PostgreSQL, Redis on a network of its own, the migrator,
//! three Herald replicas, nginx with TLS and the `monitoring` profile's Prometheus), then, from
//! the host and through nginx only (https and wss with the dev certificate): `herald selftest`,
//! and with 360 sockets open and creates flowing, one drill after another: a replica killed, a
//! rolling restart, scaling to 5 replicas (nginx and Prometheus find them without a reload) and
//! down to 2, Redis restarted, PostgreSQL restarted, a replica cut off from Redis and healed.
//! After each, every socket holds every notification of its user exactly once, in order
//! (clients resume with `since`), and the drill's figures are printed.
//!
//! Ignored by a plain `cargo test`: it needs a Docker Engine and the images (minutes to build).
//! `.ci/run` runs it: `cargo test --test api compose -- --ignored --nocapture`; on a machine
//! without a registry, `bash deploy/offline/images.sh` first.

use crate::helpers::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

/// Users with sockets at the start, and sockets per user (three tabs each).
const USERS: i64 = 120;
const TABS: usize = 3;
/// Users whose sockets open once the stack has 5 replicas (nginx must spread them over all 5).
const LATE_USERS: i64 = 50;
/// Creates per second through nginx while drills run, by this many concurrent creators.
const CREATES_PER_SECOND: u64 = 40;
const CREATORS: u64 = 4;
/// The staff identity that creates for everyone.
const CREATOR_ID: i64 = 1_000_000;

/// Every bound of the test: a stack and a drill each have one.
const BUILD: Duration = Duration::from_secs(1800);
const STEP: Duration = Duration::from_secs(180);
const RECOVERY: Duration = Duration::from_secs(120);
/// How long a replica stays cut off from Redis.
const PARTITION: Duration = Duration::from_secs(10);

/// Runs a blocking `Stack` call off the runtime, so sockets keep reading meanwhile.
async fn blocking<T: Send + 'static>(stack: &Arc<Stack>, f: impl FnOnce(&Stack) -> T + Send + 'static) -> T {
    let stack = stack.clone();
    actix_web::rt::task::spawn_blocking(move || f(&stack)).await.expect("blocking task")
}

fn cert_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/certs/herald.crt")
}

/// An HTTPS client that trusts the dev certificate.
fn https_client() -> awc::Client {
    let mut tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).expect("openssl");
    tls.set_ca_file(cert_path()).expect("the dev certificate");
    awc::Client::builder()
        .connector(awc::Connector::new().openssl(tls.build()).timeout(Duration::from_secs(5)))
        .timeout(Duration::from_secs(10))
        .finish()
}

/// What one resuming socket saw: every pushed or replayed notification id with its arrival,
/// how often it connected, how it was closed, how long it was down at most.
#[derive(Default)]
struct SocketLog {
    ids: Vec<(i64, Instant)>,
    connected: bool,
    connects: u32,
    closes: BTreeMap<u16, u32>,
    down_since: Option<Instant>,
    longest_down: Duration,
    unexpected: Vec<String>,
}

impl SocketLog {
    fn last_id(&self) -> i64 {
        self.ids.last().map_or(0, |(id, _)| *id)
    }

    fn went_down(&mut self, code: u16) {
        if self.connected {
            self.connected = false;
            self.down_since = Some(Instant::now());
            *self.closes.entry(code).or_default() += 1;
        }
    }

    fn came_up(&mut self) {
        self.connected = true;
        self.connects += 1;
        if let Some(since) = self.down_since.take() {
            self.longest_down = self.longest_down.max(since.elapsed());
        }
    }
}

/// A browser tab: connects through nginx over wss, and whenever the socket ends, reconnects with
/// `since` = the last id it saw (backoff 100 ms doubling to 2 s, with jitter), until `stop`.
async fn resuming_socket(
    url: String,
    token: String,
    tls: native_tls::TlsConnector,
    log: Rc<RefCell<SocketLog>>,
    stop: Rc<Cell<bool>>,
    seed: u64,
) {
    let mut attempt: u32 = 0;
    while !stop.get() {
        let since = log.borrow().last_id();
        let request = format!("{url}?token={token}&since={since}").into_client_request().expect("ws request");
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            false,
            Some(Connector::NativeTls(tls.clone())),
        );
        if let Ok(Ok((mut ws, _))) = tokio::time::timeout(Duration::from_secs(5), connecting).await {
            attempt = 0;
            log.borrow_mut().came_up();
            let code = loop {
                if stop.get() {
                    let _ = ws.close(None).await;
                    return;
                }
                let message = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                    Err(_) => continue,
                    Ok(None) | Ok(Some(Err(_))) => break 1006,
                    Ok(Some(Ok(message))) => message,
                };
                match message {
                    Message::Text(text) => {
                        let frame: Value = serde_json::from_str(text.as_str()).expect("frames are JSON");
                        let mut log = log.borrow_mut();
                        match frame["type"].as_str() {
                            Some("notification") => log.ids.push((id_of(&frame["notification"]), Instant::now())),
                            Some("connection_established" | "sync_complete" | "unread_count" | "resync") => {}
                            _ => log.unexpected.push(frame.to_string()),
                        }
                    }
                    Message::Close(frame) => break frame.map_or(1005, |f| u16::from(f.code)),
                    _ => {}
                }
            };
            log.borrow_mut().went_down(code);
        } else {
            log.borrow_mut().went_down(1006);
        }
        attempt = attempt.saturating_add(1);
        let backoff = Duration::from_millis((100u64 << attempt.min(5)).min(2000));
        let jitter = Duration::from_millis((seed.wrapping_mul(7919).wrapping_add(u64::from(attempt) * 104_729)) % 150);
        actix_web::rt::time::sleep(backoff + jitter).await;
    }
}

/// The sockets of every user, each resuming on its own.
struct Fleet {
    sockets: Vec<(i64, Rc<RefCell<SocketLog>>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: Rc<Cell<bool>>,
    url: String,
    tls: native_tls::TlsConnector,
}

impl Fleet {
    fn new(https_port: u16) -> Fleet {
        let pem = std::fs::read(cert_path()).expect("deploy/certs/herald.crt");
        let tls = native_tls::TlsConnector::builder()
            .add_root_certificate(native_tls::Certificate::from_pem(&pem).expect("PEM"))
            .build()
            .expect("TLS connector");
        Fleet {
            sockets: Vec::new(),
            tasks: Vec::new(),
            stop: Rc::new(Cell::new(false)),
            url: format!("wss://127.0.0.1:{https_port}/ws/notifications/"),
            tls,
        }
    }

    fn open(&mut self, users: impl Iterator<Item = i64>, tabs: usize) {
        for user in users {
            for _ in 0..tabs {
                let log = Rc::new(RefCell::new(SocketLog::default()));
                let seed = self.sockets.len() as u64;
                self.sockets.push((user, log.clone()));
                let task =
                    resuming_socket(self.url.clone(), token(user), self.tls.clone(), log, self.stop.clone(), seed);
                self.tasks.push(actix_web::rt::spawn(task));
            }
        }
    }

    fn connected(&self) -> usize {
        self.sockets.iter().filter(|(_, log)| log.borrow().connected).count()
    }

    async fn wait_all_connected(&self, what: &str) -> Duration {
        let started = Instant::now();
        let n = self.sockets.len();
        wait_until(&format!("{what}: all {n} sockets connected"), RECOVERY, async || self.connected() == n).await;
        started.elapsed()
    }

    async fn close(self) {
        self.stop.set(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// What the creators made: ids per user and when each create was answered, failed attempts
/// (retried with the same Idempotency-Key until 201), the longest time without a success.
#[derive(Default)]
struct Created {
    by_user: BTreeMap<i64, Vec<i64>>,
    answered_at: HashMap<i64, Instant>,
    failed_attempts: u64,
    failures: BTreeMap<String, u64>,
    last_success: Option<Instant>,
    longest_gap: Duration,
    in_flight: usize,
}

impl Created {
    fn stored(&mut self, user: i64, id: i64) {
        let now = Instant::now();
        self.in_flight -= 1;
        self.by_user.entry(user).or_default().push(id);
        self.answered_at.insert(id, now);
        if let Some(last) = self.last_success.replace(now) {
            self.longest_gap = self.longest_gap.max(now - last);
        }
    }
}

struct Creators {
    created: Rc<RefCell<Created>>,
    users: Rc<RefCell<Vec<i64>>>,
    paused: Rc<Cell<bool>>,
    stop: Rc<Cell<bool>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Creators {
    /// `CREATORS` tasks creating `CREATES_PER_SECOND` in all, round-robin over `users`.
    fn start(https_port: u16, users: Vec<i64>) -> Creators {
        let created = Rc::new(RefCell::new(Created::default()));
        let users = Rc::new(RefCell::new(users));
        let (paused, stop) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
        let sequence = Rc::new(Cell::new(0u64));
        let run = std::process::id();
        let tasks = (0..CREATORS)
            .map(|_| {
                let (created, users, paused, stop, sequence) =
                    (created.clone(), users.clone(), paused.clone(), stop.clone(), sequence.clone());
                actix_web::rt::spawn(async move {
                    let client = https_client();
                    let url = format!("https://127.0.0.1:{https_port}/auth/notifications/create/");
                    let staff = staff_token(CREATOR_ID);
                    let pace = Duration::from_millis(1000 * CREATORS / CREATES_PER_SECOND);
                    while !stop.get() {
                        if paused.get() {
                            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        let n = sequence.get();
                        sequence.set(n + 1);
                        let user = {
                            let users = users.borrow();
                            users[(n % users.len() as u64) as usize]
                        };
                        created.borrow_mut().in_flight += 1;
                        let id =
                            create_until_stored(&client, &url, &staff, user, &format!("e2e-{run}-{n}"), &created).await;
                        created.borrow_mut().stored(user, id);
                        actix_web::rt::time::sleep(pace).await;
                    }
                })
            })
            .collect();
        Creators { created, users, paused, stop, tasks }
    }

    /// Pauses new creates and waits until none is in flight.
    async fn pause(&self) {
        self.paused.set(true);
        wait_until("creates in flight finished", STEP, async || self.created.borrow().in_flight == 0).await;
    }

    fn resume(&self) {
        self.created.borrow_mut().last_success = Some(Instant::now());
        self.paused.set(false);
    }

    async fn close(self) {
        self.pause().await;
        self.stop.set(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// POSTs one create through nginx, retrying with the same Idempotency-Key (so a create whose
/// answer was lost is not made twice) until it is answered 201; returns its id.
async fn create_until_stored(
    client: &awc::Client,
    url: &str,
    staff: &str,
    user: i64,
    key: &str,
    created: &RefCell<Created>,
) -> i64 {
    let body = json!({ "user_id": user, "title": key, "message": "drill", "type": "general" });
    let deadline = Instant::now() + STEP;
    loop {
        let outcome =
            match client.post(url).bearer_auth(staff).insert_header(("Idempotency-Key", key)).send_json(&body).await {
                Ok(mut res) => {
                    let status = res.status().as_u16();
                    let bytes = res.body().limit(1 << 20).await.unwrap_or_default();
                    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if status == 201 {
                        return id_of(&value["notification"]);
                    }
                    assert!(matches!(status, 429 | 500..=599), "create {key}: {status} {value}");
                    format!("{status} {}", value["error"]["code"].as_str().unwrap_or(""))
                }
                Err(e) => format!("transport: {}", e.to_string().split(':').next().unwrap_or("")),
            };
        {
            let mut c = created.borrow_mut();
            c.failed_attempts += 1;
            *c.failures.entry(outcome.clone()).or_default() += 1;
        }
        assert!(Instant::now() < deadline, "create {key} never stored within {STEP:?}; last: {outcome}");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A drill's figures, printed as one line.
struct Report {
    drill: String,
    sockets_dropped: usize,
    reconnects: u32,
    closes: BTreeMap<u16, u32>,
    longest_socket_down: Duration,
    sockets_back_after: Duration,
    failed_creates: u64,
    failures: BTreeMap<String, u64>,
    longest_create_gap: Duration,
    created: usize,
    delay_p50: Duration,
    delay_p99: Duration,
    delay_max: Duration,
    caught_up_after: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<26} dropped {:>3} sockets, {:>3} reconnects (closes {:?}), longest down {:>6.2}s, recovered {:>6.2}s after the fault began | creates: {:>4} stored, {:>3} attempts retried {:?}, longest gap {:>6.2}s | delivery delay p50 {:>7.1}ms p99 {:>7.1}ms max {:>7.1}ms; all delivered {:>5.2}s after creates paused",
            self.drill,
            self.sockets_dropped,
            self.reconnects,
            self.closes,
            self.longest_socket_down.as_secs_f64(),
            self.sockets_back_after.as_secs_f64(),
            self.created,
            self.failed_creates,
            self.failures,
            self.longest_create_gap.as_secs_f64(),
            self.delay_p50.as_secs_f64() * 1e3,
            self.delay_p99.as_secs_f64() * 1e3,
            self.delay_max.as_secs_f64() * 1e3,
            self.caught_up_after.as_secs_f64(),
        )
    }
}

/// Runs `fault` with creates flowing, waits until every socket is connected again, lets creates
/// flow 3 s more, pauses them, waits until every socket holds every notification of its user,
/// and asserts exactly once, in order, for the whole run so far. Returns the figures.
async fn drill<F: std::future::Future<Output = ()>>(
    name: &str,
    fleet: &Fleet,
    creators: &Creators,
    dropped: std::ops::RangeInclusive<usize>,
    fault: F,
) -> Report {
    let connects_before: Vec<u32> = fleet.sockets.iter().map(|(_, l)| l.borrow().connects).collect();
    let closes_before: BTreeMap<u16, u32> = all_closes(fleet);
    for (_, log) in &fleet.sockets {
        log.borrow_mut().longest_down = Duration::ZERO;
    }
    let (failed_before, failures_before, created_before) = {
        let mut c = creators.created.borrow_mut();
        c.longest_gap = Duration::ZERO;
        (c.failed_attempts, c.failures.clone(), c.answered_at.len())
    };
    let started = Instant::now();
    fault.await;
    fleet.wait_all_connected(name).await;
    let back = started.elapsed();
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    creators.pause().await;
    let paused = Instant::now();
    let caught_up = wait_delivered(name, fleet, creators).await;
    let caught_up_after = caught_up.saturating_duration_since(paused);
    assert_every_socket_exactly_once_in_order(name, fleet, creators);

    let c = creators.created.borrow();
    let mut delays = Vec::new();
    for (user, log) in &fleet.sockets {
        let log = log.borrow();
        let arrived: HashMap<i64, Instant> = log.ids.iter().copied().collect();
        for id in c.by_user.get(user).into_iter().flatten() {
            let answered = c.answered_at[id];
            if answered >= started {
                delays.push(arrived[id].saturating_duration_since(answered));
            }
        }
    }
    delays.sort_unstable();
    let at = |q: f64| delays.get(((delays.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    let mut closes = all_closes(fleet);
    for (code, n) in closes_before {
        *closes.entry(code).or_default() -= n;
    }
    closes.retain(|_, n| *n > 0);
    let mut failures = c.failures.clone();
    for (why, n) in failures_before {
        *failures.entry(why).or_default() -= n;
    }
    failures.retain(|_, n| *n > 0);
    // Sockets opened during the drill count from 0.
    let reconnects: Vec<u32> = fleet
        .sockets
        .iter()
        .zip(connects_before.iter().chain(std::iter::repeat(&0)))
        .map(|((_, l), before)| l.borrow().connects.saturating_sub(*before))
        .collect();
    let report = Report {
        drill: name.to_owned(),
        sockets_dropped: reconnects.iter().filter(|n| **n > 0).count(),
        reconnects: reconnects.iter().sum(),
        closes,
        longest_socket_down: fleet.sockets.iter().map(|(_, l)| l.borrow().longest_down).max().unwrap_or_default(),
        sockets_back_after: back,
        failed_creates: c.failed_attempts - failed_before,
        failures,
        longest_create_gap: c.longest_gap,
        created: c.answered_at.len() - created_before,
        delay_p50: at(0.5),
        delay_p99: at(0.99),
        delay_max: delays.last().copied().unwrap_or_default(),
        caught_up_after,
    };
    drop(c);
    println!("drill: {report}");
    let n = report.sockets_dropped;
    assert!(dropped.contains(&n), "{name}: {n} sockets dropped, expected {dropped:?}");
    creators.resume();
    report
}

fn all_closes(fleet: &Fleet) -> BTreeMap<u16, u32> {
    let mut all = BTreeMap::new();
    for (_, log) in &fleet.sockets {
        for (code, n) in &log.borrow().closes {
            *all.entry(*code).or_default() += n;
        }
    }
    all
}

/// Waits until every socket holds as many notifications as were created for its user; returns
/// when that was first seen.
async fn wait_delivered(name: &str, fleet: &Fleet, creators: &Creators) -> Instant {
    let behind = || {
        let c = creators.created.borrow();
        fleet
            .sockets
            .iter()
            .filter(|(user, log)| log.borrow().ids.len() < c.by_user.get(user).map_or(0, Vec::len))
            .count()
    };
    let done = poll_every(Duration::from_millis(50), RECOVERY, async || match behind() {
        0 => Ok(Instant::now()),
        n => Err(n),
    })
    .await;
    done.unwrap_or_else(|n| {
        assert_every_socket_exactly_once_in_order(name, fleet, creators);
        panic!("{name}: {n} sockets still short of their notifications after {RECOVERY:?}")
    })
}

fn assert_every_socket_exactly_once_in_order(name: &str, fleet: &Fleet, creators: &Creators) {
    let c = creators.created.borrow();
    let mut problems = Vec::new();
    for (n, (user, log)) in fleet.sockets.iter().enumerate() {
        let log = log.borrow();
        let got: Vec<i64> = log.ids.iter().map(|(id, _)| *id).collect();
        let mut expected = c.by_user.get(user).cloned().unwrap_or_default();
        expected.sort_unstable();
        if let Some(problem) = stream_problems(&got, &expected) {
            problems.push(format!("socket {n} (user {user}): {problem}"));
        }
        if !log.unexpected.is_empty() {
            problems.push(format!("socket {n} (user {user}): unexpected frames {:?}", log.unexpected));
        }
    }
    assert!(
        problems.is_empty(),
        "{name}: {} sockets wrong:\n{}",
        problems.len(),
        problems.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Waits until every running replica is healthy (Docker's healthcheck) and ready (`/readyz`).
async fn wait_replicas_ready(stack: &Arc<Stack>, expected: usize, what: &str) -> Duration {
    let started = Instant::now();
    let probe = async || {
        blocking(stack, move |s| {
            let replicas = s.containers("herald");
            if replicas.len() != expected {
                return Err(format!("{} replicas running: {replicas:?}", replicas.len()));
            }
            for replica in &replicas {
                let state = s.state(replica);
                if state != "running healthy" {
                    return Err(format!("{replica}: {state}"));
                }
                match s.inside(replica, "/readyz") {
                    Ok(out) if out.trim_end().ends_with("200") => {}
                    Ok(out) => return Err(format!("{replica} /readyz: {out}")),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await
    };
    poll_every(Duration::from_millis(250), STEP, probe)
        .await
        .unwrap_or_else(|e| panic!("{what}: replicas not ready: {e}"));
    started.elapsed()
}

/// `docker <args>` off the runtime; fails the test if it fails.
async fn docker(stack: &Arc<Stack>, args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    blocking(stack, move |s| s.docker(&args.iter().map(String::as_str).collect::<Vec<_>>(), STEP))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Scales the `herald` service to `replicas` (the others untouched) and waits until all are ready.
async fn scale(stack: &Arc<Stack>, replicas: usize) {
    let scale = format!("herald={replicas}");
    blocking(stack, move |s| s.compose(&["up", "-d", "--no-deps", "--no-recreate", "--scale", &scale, "herald"], STEP))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_replicas_ready(stack, replicas, &format!("scaled to {replicas}")).await;
}

/// Each running replica with the sockets open on it.
async fn sockets_per_replica(stack: &Arc<Stack>) -> Vec<(String, i64)> {
    blocking(stack, |s| {
        s.containers("herald")
            .into_iter()
            .map(|c| {
                let n = s.open_sockets(&c).unwrap_or_else(|e| panic!("{e}"));
                (c, n)
            })
            .collect()
    })
    .await
}

/// The replica holding the most of this test's sockets.
async fn busiest_replica(stack: &Arc<Stack>) -> (String, i64) {
    sockets_per_replica(stack).await.into_iter().max_by_key(|(_, n)| *n).expect("a replica")
}

/// Waits until Prometheus scrapes exactly `replicas` targets of job `herald`, all up.
async fn wait_prometheus_targets(client: &awc::Client, port: u16, replicas: usize) -> Duration {
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/api/v1/targets?state=active");
    wait_for(&format!("Prometheus scraping {replicas} replicas"), STEP, async || {
        let (_, body) = request(client, awc::http::Method::GET, &url, None, None).await?;
        let targets = body["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        let herald: Vec<&Value> = targets.iter().filter(|t| t["labels"]["job"] == "herald").collect();
        let up = herald.iter().filter(|t| t["health"] == "up").count();
        if herald.len() == replicas && up == replicas {
            Ok(())
        } else {
            Err(format!("{} herald targets, {up} up: {herald:?}", herald.len()))
        }
    })
    .await;
    started.elapsed()
}

#[actix_web::test]
#[ignore = "needs a Docker Engine and builds images (minutes); .ci/run runs it"]
async fn compose_stack_serves_through_nginx_and_loses_nothing_through_every_drill() {
    if !cert_path().exists() {
        run_bounded("bash", &["deploy/gen-dev-cert.sh"], &[], std::path::Path::new(env!("CARGO_MANIFEST_DIR")), STEP)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let ports = candidate_ports(3);
    let stack = Arc::new(Stack::new(&format!("heralde2e{}", std::process::id()), ports[0], ports[1], ports[2], SECRET));

    let started = Instant::now();
    blocking(&stack, |s| s.compose(&["build"], BUILD)).await.unwrap_or_else(|e| panic!("{e}"));
    let built = started.elapsed();
    let started = Instant::now();
    blocking(&stack, |s| s.compose(&["up", "-d"], STEP)).await.unwrap_or_else(|e| panic!("{e}"));
    wait_replicas_ready(&stack, 3, "up").await;
    let base = format!("https://127.0.0.1:{}", stack.https_port);
    let client = https_client();
    wait_for("nginx answers /readyz over https", STEP, async || {
        match request(&client, awc::http::Method::GET, &format!("{base}/readyz"), None, None).await {
            Ok((status, _)) if status == 200 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    println!(
        "compose: images built in {:.1}s, stack up and ready through nginx in {:.1}s",
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // The operator's check of a deployment, through nginx over https and wss.
    let selftest = {
        let (url, cert) = (base.clone(), cert_path().display().to_string());
        actix_web::rt::task::spawn_blocking(move || {
            run_herald(
                &std::env::temp_dir(),
                &["selftest", "--url", &url, "--user", "999999"],
                &[("RUST_LOG", "warn"), ("JWT_SECRET", SECRET), ("SSL_CERT_FILE", &cert)],
            )
        })
        .await
        .expect("blocking task")
    };
    let printed = String::from_utf8_lossy(&selftest.stdout);
    assert!(
        selftest.status.success(),
        "selftest through nginx:\n{printed}\n{}",
        String::from_utf8_lossy(&selftest.stderr)
    );
    println!("compose: herald selftest through nginx: {}", printed.lines().last().unwrap_or(""));

    let prometheus = awc::Client::default();
    let scraped = wait_prometheus_targets(&prometheus, stack.prometheus_port, 3).await;
    let rules = request(
        &prometheus,
        awc::http::Method::GET,
        &format!("http://127.0.0.1:{}/api/v1/rules", stack.prometheus_port),
        None,
        None,
    )
    .await
    .expect("Prometheus rules");
    let loaded: usize = rules.1["data"]["groups"]
        .as_array()
        .map_or(0, |g| g.iter().map(|g| g["rules"].as_array().map_or(0, Vec::len)).sum());
    assert!(loaded >= 5, "Prometheus loaded the alert rules: {}", rules.1);
    println!(
        "compose: Prometheus scrapes all 3 replicas ({:.1}s after ready), {loaded} alert rules loaded",
        scraped.as_secs_f64()
    );

    let mut fleet = Fleet::new(stack.https_port);
    fleet.open(1..=USERS, TABS);
    let opened = fleet.wait_all_connected("open").await;
    let per_replica: Vec<i64> = sockets_per_replica(&stack).await.into_iter().map(|(_, n)| n).collect();
    println!(
        "compose: {} sockets open through nginx in {:.1}s, per replica {per_replica:?}",
        fleet.sockets.len(),
        opened.as_secs_f64()
    );
    let creators = Creators::start(stack.https_port, (1..=USERS).collect());
    let mut reports = Vec::new();

    reports.push(
        drill("steady (no fault)", &fleet, &creators, 0..=0, actix_web::rt::time::sleep(Duration::from_secs(5))).await,
    );

    let (victim, held) = busiest_replica(&stack).await;
    reports.push(
        drill(&format!("docker kill ({held} sockets)"), &fleet, &creators, held as usize..=held as usize, async {
            docker(&stack, &["kill", &victim]).await;
        })
        .await,
    );
    // `restart: unless-stopped` does not bring back a container `docker kill` stopped: the
    // operator (or an orchestrator) starts it again.
    let v = victim.clone();
    let state = blocking(&stack, move |s| s.state(&v)).await;
    println!("compose: the killed replica is `{state}` afterwards; starting it again");
    if !state.starts_with("running") {
        docker(&stack, &["start", &victim]).await;
    }
    wait_replicas_ready(&stack, 3, "after the kill").await;

    let all = fleet.sockets.len();
    reports.push(
        drill("rolling restart (3, one by one)", &fleet, &creators, all..=all, async {
            for replica in blocking(&stack, |s| s.containers("herald")).await {
                docker(&stack, &["restart", "-t", "15", &replica]).await;
                wait_replicas_ready(&stack, 3, &format!("after restarting {replica}")).await;
            }
        })
        .await,
    );

    let before: Vec<String> = blocking(&stack, |s| s.containers("herald")).await;
    reports.push(drill("scale 3 -> 5", &fleet, &creators, 0..=0, scale(&stack, 5)).await);
    // New sockets through the unchanged nginx reach the new replicas: it asks Docker's DNS.
    fleet.open(USERS + 1..=USERS + LATE_USERS, 1);
    fleet.wait_all_connected("late users").await;
    creators.users.borrow_mut().extend(USERS + 1..=USERS + LATE_USERS);
    let now = sockets_per_replica(&stack).await;
    println!("compose: after scaling to 5 and {LATE_USERS} new sockets, per replica {now:?}");
    let new: Vec<&(String, i64)> = now.iter().filter(|(c, _)| !before.contains(c)).collect();
    assert_eq!(new.len(), 2, "two new replicas: {now:?}");
    assert!(new.iter().all(|(_, n)| *n > 0), "nginx sends new sockets to the new replicas without a reload: {now:?}");
    let scraped = wait_prometheus_targets(&prometheus, stack.prometheus_port, 5).await;
    println!("compose: Prometheus scrapes all 5 replicas {:.1}s later (DNS service discovery)", scraped.as_secs_f64());

    reports.push(drill("scale 5 -> 2", &fleet, &creators, 1..=fleet.sockets.len(), scale(&stack, 2)).await);
    wait_prometheus_targets(&prometheus, stack.prometheus_port, 2).await;

    for service in ["redis", "postgres"] {
        reports.push(
            drill(&format!("{service} restarted"), &fleet, &creators, 0..=0, async {
                let container = blocking(&stack, move |s| s.containers(service).pop()).await.expect("its container");
                docker(&stack, &["restart", "-t", "10", &container]).await;
                wait_replicas_ready(&stack, 2, &format!("after {service} restarted")).await;
            })
            .await,
        );
    }

    let (cut, held) = busiest_replica(&stack).await;
    reports.push(
        drill(&format!("replica cut from Redis 10s ({held} sockets)"), &fleet, &creators, 0..=0, async {
            docker(&stack, &["network", "disconnect", &stack.network("broker"), &cut]).await;
            let cut_at = Instant::now();
            // The cut is real: the replica itself sees Redis gone (its /readyz names it) while
            // nginx still reaches it.
            let noticed = wait_for("the cut replica's /readyz turns 503 naming Redis", PARTITION, async || {
                let c = cut.clone();
                match blocking(&stack, move |s| s.inside(&c, "/readyz")).await {
                    Ok(out) if out.trim_end().ends_with("503") && out.to_lowercase().contains("redis") => {
                        Ok(cut_at.elapsed())
                    }
                    other => Err(format!("{other:?}")),
                }
            })
            .await;
            println!(
                "compose: the replica cut from Redis answered /readyz 503 (Redis) {:.1}s after the cut",
                noticed.as_secs_f64()
            );
            actix_web::rt::time::sleep(PARTITION.saturating_sub(cut_at.elapsed())).await;
            docker(&stack, &["network", "connect", &stack.network("broker"), &cut]).await;
            wait_replicas_ready(&stack, 2, "after the partition healed").await;
        })
        .await,
    );

    let total: usize = creators.created.borrow().answered_at.len();
    creators.close().await;
    fleet.close().await;
    println!("compose: {total} notifications created through nginx; every socket had every one of its user's exactly once, in order, after each drill");
    println!("compose: figures");
    for report in &reports {
        println!("  {report}");
    }
}
