//! `herald-bench`: load against a running Herald node (loopback only), printing its figures.
//! Benchmarks print numbers; they are never timed tests.
//!
//! - `create`: closed-loop REST creates from N concurrent clients for a fixed time, each for a
//!   random user among `--users`; prints creates/s and latency percentiles.
//! - `connections`: opens N idle WebSockets (one user each) from several client processes
//!   (a process may hold 20,000 open files here) and prints the node's RSS growth per socket,
//!   read from `/proc/<pid>/status`, and its CPU while they idle.
//! - `latency`: sockets for `--users` users, then open-loop REST creates at a fixed rate for
//!   them; prints create → socket delivery latency percentiles and how many were lost.
//! - `max-rate`: `latency` at rising rates until a step loses a push, misses its rate or has
//!   p99 above `--max-p99-ms` twice in a row; prints every step and the highest good rate.
//! - `broadcast`: N online users (one socket each, over the `--ws-url` nodes); one broadcast
//!   to all of them: POST → last push.
//! - `storm`: N sockets drop at once and resume with `since`: time until all are back, lost.
//! - `slow-replay`: one user with `--rows` large notifications (~21 KB each); N sockets resume
//!   with `since=0` and never read; prints the node's peak RSS growth per socket while the
//!   replays are stuck on the unread sockets.

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use herald::auth::mint::mint_token;
use herald::config::Config;
use herald::domain::UserId;
use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(name = "herald-bench", about = "Load a running Herald node and print figures")]
struct Cli {
    /// Base URL of the node that receives REST calls (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8000", global = true)]
    url: String,
    /// Comma-separated base URLs of the nodes that hold the sockets (round-robin); default: --url.
    #[arg(long, global = true)]
    ws_url: Option<String>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// REST creates/s with N concurrent clients.
    Create {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Recipients are drawn from 1..=users.
        #[arg(long, default_value_t = 1000)]
        users: i64,
    },
    /// RSS per idle WebSocket held on the node.
    Connections {
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        /// The node's process id (its RSS is read from /proc).
        #[arg(long)]
        pid: u32,
        /// Handshakes in flight at once, per process.
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
        /// Client processes holding the sockets (this one and `processes - 1` children).
        #[arg(long, default_value_t = 2)]
        processes: usize,
        /// Set for a child process: hold sockets for users from this id on until stdin closes.
        #[arg(long, hide = true)]
        first_user: Option<i64>,
    },
    /// One broadcast to N online users (one socket each): POST → last push.
    Broadcast {
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
    /// N sockets drop at once and resume with `since`: time until all are back, lost count.
    Storm {
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        #[arg(long, default_value_t = 500)]
        concurrency: usize,
    },
    /// N sockets open without `since` on the `--ws-url` node, which is then SIGKILLed (`--kill`);
    /// one notification each while they are away; all resume on `--resume-url` with
    /// `since` = their greeting's `last_id`: rows replayed against rows missed.
    NodeLoss {
        #[arg(long, default_value_t = 2000)]
        sockets: usize,
        #[arg(long, default_value_t = 500)]
        concurrency: usize,
        /// The PID of the node holding the sockets, killed with SIGKILL (a node this run started).
        #[arg(long)]
        kill: u32,
        /// Base URL of the node the sockets resume on.
        #[arg(long)]
        resume_url: String,
    },
    /// Node RSS while N sockets that never read each replay `--rows` large notifications.
    SlowReplay {
        #[arg(long, default_value_t = 1000)]
        rows: usize,
        #[arg(long, default_value_t = 20)]
        sockets: usize,
        /// The node's process id (its RSS is read from /proc).
        #[arg(long)]
        pid: u32,
        /// How long the stuck sockets are held while the RSS is sampled.
        #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
        hold: Duration,
    },
    /// REST create → WebSocket delivery latency at a fixed rate.
    Latency {
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 100)]
        users: i64,
    },
    /// Steps the `latency` rate up until loss, a missed rate or p99 above the bound.
    MaxRate {
        #[arg(long, default_value_t = 1000)]
        start: u64,
        #[arg(long, default_value_t = 1000)]
        step: u64,
        /// The last rate tried, at most.
        #[arg(long, default_value_t = 20_000)]
        max: u64,
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 200)]
        users: i64,
        #[arg(long, default_value_t = 20.0)]
        max_p99_ms: f64,
    },
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    latency_us: Option<Histogram<u64>>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ws_urls: Vec<String> =
        cli.ws_url.as_deref().unwrap_or(&cli.url).split(',').map(|u| u.trim().to_owned()).collect();
    if !is_loopback(&cli.url) || !ws_urls.iter().all(|u| is_loopback(u)) {
        eprintln!("herald-bench: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(config) if !config.jwt.secret_is_generated => config,
        Ok(_) => {
            eprintln!("herald-bench: set JWT_SECRET to the node's secret");
            return ExitCode::from(2);
        }
        Err(err) => {
            eprintln!("herald-bench: {err}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.mode {
        Mode::Create { clients, duration, users } => {
            actix_web::rt::System::new().block_on(create(&cli.url, &config, clients, duration, users))
        }
        Mode::Connections { sockets, concurrency, first_user: Some(first), .. } => {
            actix_web::rt::System::new().block_on(hold_sockets(&ws_urls[0], &config, first, sockets, concurrency))
        }
        Mode::Connections { sockets, pid, concurrency, processes, first_user: None } => actix_web::rt::System::new()
            .block_on(connections(&ws_urls[0], &config, sockets, pid, concurrency, processes.max(1))),
        Mode::Latency { rate, duration, users } => actix_web::rt::System::new()
            .block_on(latency(&cli.url, &ws_urls, &config, rate, duration, users))
            .map(|figures| println!("{figures}")),
        Mode::MaxRate { start, step, max, duration, users, max_p99_ms } => {
            let steps = Steps { start, step: step.max(1), max, duration, users, max_p99_ms };
            actix_web::rt::System::new().block_on(max_rate(&cli.url, &ws_urls, &config, steps))
        }
        Mode::Storm { sockets, concurrency } => {
            actix_web::rt::System::new().block_on(storm(&cli.url, &ws_urls, &config, sockets, concurrency))
        }
        Mode::NodeLoss { sockets, concurrency, kill, resume_url } => {
            if !is_loopback(&resume_url) {
                eprintln!("herald-bench: only loopback targets are allowed");
                return ExitCode::from(2);
            }
            let run = NodeLoss { sockets, concurrency, kill, resume_url };
            actix_web::rt::System::new().block_on(node_loss(&cli.url, &ws_urls[0], &config, run))
        }
        Mode::Broadcast { users, concurrency } => {
            actix_web::rt::System::new().block_on(broadcast(&cli.url, &ws_urls, &config, users, concurrency))
        }
        Mode::SlowReplay { rows, sockets, pid, hold } => {
            actix_web::rt::System::new().block_on(slow_replay(&cli.url, &config, rows, sockets, pid, hold))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herald-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_owned())) {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

async fn create(base: &str, config: &Config, clients: usize, duration: Duration, users: i64) -> Result<(), String> {
    let sender = UserId::new(1).ok_or("user id")?;
    let token = mint_token(&config.jwt, sender, true, Duration::from_secs(3600))?;
    let url = format!("{base}/auth/notifications/create/");
    let tally = Rc::new(RefCell::new(Tally {
        latency_us: Some(Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?),
        ..Tally::default()
    }));
    let connector = awc::Connector::new().limit(clients);
    let client = awc::Client::builder().connector(connector).timeout(Duration::from_secs(30)).finish();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for worker in 0..clients {
        let (client, url, token, tally) = (client.clone(), url.clone(), token.clone(), tally.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let mut n: i64 = worker as i64;
            while Instant::now() < deadline {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let user = (n.rem_euclid(users)) + 1;
                let body = serde_json::json!({"user_id": user, "title": "bench", "message": "load", "type": "general"});
                let sent = Instant::now();
                let outcome = client.post(&url).bearer_auth(&token).send_json(&body).await;
                let ok = match outcome {
                    Ok(mut res) => {
                        let _ = res.body().await;
                        res.status().as_u16() == 201
                    }
                    Err(_) => false,
                };
                let mut t = tally.borrow_mut();
                if ok {
                    t.ok += 1;
                    if let Some(h) = t.latency_us.as_mut() {
                        let _ = h.record(sent.elapsed().as_micros() as u64);
                    }
                } else {
                    t.failed += 1;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let t = tally.borrow();
    let h = t.latency_us.as_ref().ok_or("histogram")?;
    println!(
        "create: clients={clients} duration={elapsed:.1}s ok={} failed={} rate={:.0}/s latency_ms p50={:.2} p99={:.2} max={:.2}",
        t.ok,
        t.failed,
        t.ok as f64 / elapsed,
        h.value_at_quantile(0.50) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
    );
    Ok(())
}

/// A client without awc's default cap of 100 connections.
fn unlimited_client() -> awc::Client {
    let connector = awc::Connector::new().limit(0).timeout(Duration::from_secs(10));
    awc::Client::builder().connector(connector).timeout(Duration::from_secs(30)).finish()
}

fn ws_url(base: &str, token: &str) -> String {
    format!("{}/ws/notifications/?token={token}", base.replacen("http", "ws", 1))
}

fn token_for(config: &Config, user: i64) -> Result<String, String> {
    mint_token(&config.jwt, UserId::new(user).ok_or("user id")?, false, Duration::from_secs(3600)).map_err(String::from)
}

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("bad stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or("bad stat field");
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    Ok(field(11)? + field(12)?)
}

/// CPU ticks of every `postgres` process of this machine (the benches' own server).
fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres"))
        .filter_map(|pid| cpu_ticks(pid).ok())
        .sum()
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on Linux for every architecture Herald builds for.
    100.0
}

fn rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".to_owned())
}

/// Handshakes refused for load that a client retries, at most.
const HANDSHAKE_RETRIES: u32 = 100;

type Socket = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

/// Opens one socket and waits for `connection_established`.
async fn open_socket(client: &awc::Client, url: &str) -> Result<Socket, String> {
    open_greeted(client, url).await.map(|(framed, _)| framed)
}

/// Opens one socket; returns it and its `connection_established` greeting.
async fn open_greeted(client: &awc::Client, url: &str) -> Result<(Socket, serde_json::Value), String> {
    use futures_util::StreamExt;
    // As a real client does: a handshake refused for load (503 from the node's handshake
    // budget, 429) is retried after a short random pause, a bounded number of times.
    let mut attempts = 0;
    let mut framed = loop {
        match client.ws(url).max_frame_size(1 << 20).connect().await {
            Ok((_, framed)) => break framed,
            Err(awc::error::WsClientError::InvalidResponseStatus(status))
                if (status.as_u16() == 503 || status.as_u16() == 429) && attempts < HANDSHAKE_RETRIES =>
            {
                attempts += 1;
                let pause = Duration::from_millis(50 + rand::random::<u64>() % 200);
                actix_web::rt::time::sleep(pause).await;
            }
            Err(err) => return Err(err.to_string()),
        }
    };
    match framed.next().await {
        Some(Ok(awc::ws::Frame::Text(bytes))) => {
            let greeting = serde_json::from_slice(&bytes).map_err(|e| format!("greeting: {e}"))?;
            Ok((framed, greeting))
        }
        other => Err(format!("no greeting: {other:?}")),
    }
}

/// Opens a socket at each of `urls`, `concurrency` handshakes at a time; returns the open
/// sockets and how many failed.
async fn open_many(
    client: &awc::Client,
    urls: &[String],
    concurrency: usize,
) -> (Vec<actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>>, usize) {
    use futures_util::StreamExt;
    let mut held = Vec::with_capacity(urls.len());
    let mut failed = 0usize;
    let mut opening =
        futures_util::stream::iter(urls.iter().map(|url| open_socket(client, url))).buffer_unordered(concurrency);
    while let Some(result) = opening.next().await {
        match result {
            Ok(framed) => held.push(framed),
            Err(_) => failed += 1,
        }
    }
    (held, failed)
}

/// The socket URLs of `users`, one node (`base`).
fn urls_for(base: &str, config: &Config, users: std::ops::Range<i64>) -> Result<Vec<String>, String> {
    users.map(|u| token_for(config, u).map(|t| ws_url(base, &t))).collect()
}

/// A child of `connections`: opens its share, reports `opened <ok> <failed>` on stdout, and
/// holds the sockets until the parent closes its stdin.
async fn hold_sockets(
    base: &str,
    config: &Config,
    first: i64,
    sockets: usize,
    concurrency: usize,
) -> Result<(), String> {
    use std::io::Write;
    let urls = urls_for(base, config, first..first + sockets as i64)?;
    let (held, failed) = open_many(&unlimited_client(), &urls, concurrency).await;
    println!("opened {} {failed}", held.len());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let _ = actix_web::rt::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    drop(held);
    Ok(())
}

async fn connections(
    base: &str,
    config: &Config,
    sockets: usize,
    pid: u32,
    concurrency: usize,
    processes: usize,
) -> Result<(), String> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let before = rss_kib(pid)?;
    let started = Instant::now();
    // Shares as even as possible; this process takes the first.
    let share = |i: usize| sockets / processes + usize::from(i < sockets % processes);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    let mut first = 1 + share(0) as i64;
    for i in 1..processes {
        let child = Command::new(&exe)
            .args(["--url", base, "connections", "--pid", &pid.to_string()])
            .args(["--sockets", &share(i).to_string(), "--concurrency", &concurrency.to_string()])
            .args(["--first-user", &first.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start a client process: {e}"))?;
        children.push(child);
        first += share(i) as i64;
    }
    let urls = urls_for(base, config, 1..1 + share(0) as i64)?;
    let (held, mut failed) = open_many(&unlimited_client(), &urls, concurrency).await;
    let mut open = held.len();
    for child in &mut children {
        let stdout = child.stdout.take().ok_or("no child stdout")?;
        let line = actix_web::rt::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let counts: Vec<usize> = line.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect();
        let [ok, bad] = counts[..] else { return Err(format!("a client process reported {line:?}")) };
        open += ok;
        failed += bad;
    }
    let opened_in = started.elapsed().as_secs_f64();
    // Let the node settle (allocator, timers) before reading its RSS.
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    // CPU of the node while it holds the idle sockets (pings included).
    // And of PostgreSQL meanwhile (the node's position check reads every socket's user).
    let idle_window = Duration::from_secs(10);
    let ticks_before = cpu_ticks(pid)?;
    let postgres_before = postgres_ticks();
    actix_web::rt::time::sleep(idle_window).await;
    let percent = |ticks: u64| ticks as f64 / clock_ticks_per_second() / idle_window.as_secs_f64() * 100.0;
    let idle_cpu = percent(cpu_ticks(pid)? - ticks_before);
    let idle_postgres_cpu = percent(postgres_ticks().saturating_sub(postgres_before));
    let per_socket = if open > 0 { (after.saturating_sub(before)) as f64 * 1024.0 / open as f64 } else { 0.0 };
    println!(
        "connections: open={open} failed={failed} processes={processes} opened_in={opened_in:.1}s node_rss_before={before}KiB node_rss_after={after}KiB per_socket={:.0}B ({:.1}KiB) idle_cpu={idle_cpu:.1}% idle_postgres_cpu={idle_postgres_cpu:.1}%",
        per_socket,
        per_socket / 1024.0
    );
    drop(held);
    for mut child in children {
        drop(child.stdin.take());
        let _ = child.wait();
    }
    Ok(())
}

async fn latency(
    base: &str,
    ws_bases: &[String],
    config: &Config,
    rate: u64,
    duration: Duration,
    users: i64,
) -> Result<LatencyFigures, String> {
    use futures_util::StreamExt;
    let origin = Instant::now();
    let hist = Rc::new(RefCell::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?));
    let received = Rc::new(RefCell::new(0u64));
    let client = unlimited_client();
    let mut readers = Vec::new();
    for user in 1..=users {
        let ws_base = &ws_bases[user as usize % ws_bases.len()];
        let mut framed = open_socket(&client, &ws_url(ws_base, &token_for(config, user)?)).await?;
        let (hist, received) = (hist.clone(), received.clone());
        readers.push(actix_web::rt::spawn(async move {
            while let Some(Ok(frame)) = framed.next().await {
                if let awc::ws::Frame::Text(bytes) = frame {
                    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
                    if value["type"] != "notification" {
                        continue;
                    }
                    let sent_us = value["notification"]["data"]["t"].as_u64().unwrap_or(0);
                    let now_us = origin.elapsed().as_micros() as u64;
                    let _ = hist.borrow_mut().record(now_us.saturating_sub(sent_us).max(1));
                    *received.borrow_mut() += 1;
                }
            }
        }));
    }
    let staff = mint_token(&config.jwt, UserId::new(1).ok_or("user id")?, true, Duration::from_secs(3600))?;
    let url = format!("{base}/auth/notifications/create/");
    let total = rate * duration.as_secs();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let sent_ok = Rc::new(RefCell::new(0u64));
    let start = Instant::now();
    let mut inflight = Vec::new();
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            actix_web::rt::time::sleep(wait).await;
        }
        let user = (i as i64 % users) + 1;
        let (client, url, staff, sent_ok) = (client.clone(), url.clone(), staff.clone(), sent_ok.clone());
        inflight.push(actix_web::rt::spawn(async move {
            let t = origin.elapsed().as_micros() as u64;
            let body = serde_json::json!({"user_id": user, "title": "latency", "data": {"t": t}});
            if let Ok(mut res) = client.post(&url).bearer_auth(&staff).send_json(&body).await {
                // Read to the end, or the pool closes the connection instead of reusing it
                // (a new TCP connection per create loads both ends).
                let read = res.body().await.is_ok();
                if read && res.status().as_u16() == 201 {
                    *sent_ok.borrow_mut() += 1;
                }
            }
        }));
    }
    for task in inflight {
        let _ = task.await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while *received.borrow() < *sent_ok.borrow() && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let achieved = *sent_ok.borrow() as f64 / start.elapsed().as_secs_f64();
    for reader in readers {
        reader.abort();
    }
    let h = hist.borrow();
    let (created, delivered) = (*sent_ok.borrow(), *received.borrow());
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(LatencyFigures {
        rate,
        achieved,
        users,
        created,
        delivered,
        p50_ms: ms(0.50),
        p90_ms: ms(0.90),
        p99_ms: ms(0.99),
        max_ms: h.max() as f64 / 1000.0,
    })
}

/// What one `latency` run measured.
struct LatencyFigures {
    rate: u64,
    achieved: f64,
    users: i64,
    created: u64,
    delivered: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl LatencyFigures {
    fn lost(&self) -> u64 {
        self.created.saturating_sub(self.delivered)
    }
}

impl std::fmt::Display for LatencyFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "latency: rate={}/s achieved={:.0}/s users={} created={} delivered={} lost={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
            self.rate, self.achieved, self.users, self.created, self.delivered, self.lost(),
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms
        )
    }
}

/// The rates `max-rate` tries and what counts as good.
struct Steps {
    start: u64,
    step: u64,
    max: u64,
    duration: Duration,
    users: i64,
    max_p99_ms: f64,
}

async fn max_rate(base: &str, ws_bases: &[String], config: &Config, steps: Steps) -> Result<(), String> {
    let mut best = 0;
    let mut rate = steps.start;
    let mut retried = false;
    while rate <= steps.max {
        let figures = latency(base, ws_bases, config, rate, steps.duration, steps.users).await?;
        println!("{figures}");
        let good = figures.lost() == 0 && figures.p99_ms <= steps.max_p99_ms && figures.achieved >= rate as f64 * 0.95;
        if !good {
            // One spike of a shared machine should not end the search: a failed step runs once
            // more, and the search ends when it fails again.
            if retried {
                break;
            }
            retried = true;
            println!("max-rate: {rate}/s failed; running it once more");
            continue;
        }
        retried = false;
        best = rate;
        rate += steps.step;
    }
    println!("max-rate: highest good rate={best}/s (0 lost, p99 <= {} ms, rate achieved)", steps.max_p99_ms);
    Ok(())
}

async fn broadcast(
    base: &str,
    ws_bases: &[String],
    config: &Config,
    users: usize,
    concurrency: usize,
) -> Result<(), String> {
    use futures_util::StreamExt;
    let client = unlimited_client();
    let urls: Vec<String> = (1..=users as i64)
        .map(|u| token_for(config, u).map(|t| ws_url(&ws_bases[u as usize % ws_bases.len()], &t)))
        .collect::<Result<_, _>>()?;
    let (sockets, failed) = open_many(&client, &urls, concurrency).await;
    if failed > 0 {
        return Err(format!("{failed} of {users} sockets did not open"));
    }
    // Let every node confirm its subscriptions (and finish the repairs they trigger).
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let received = Rc::new(RefCell::new(0usize));
    let last_at = Rc::new(RefCell::new(None::<Instant>));
    let mut readers = Vec::new();
    for mut framed in sockets {
        let (received, last_at) = (received.clone(), last_at.clone());
        readers.push(actix_web::rt::spawn(async move {
            let mut counted = false;
            while let Some(Ok(frame)) = framed.next().await {
                if let awc::ws::Frame::Text(bytes) = frame {
                    const PUSH: &[u8] = b"\"type\":\"notification\"";
                    if !counted && bytes.windows(PUSH.len()).any(|w| w == PUSH) {
                        // Counted once; the socket stays open (closing it here would add the
                        // node's teardown work to the delivery being measured).
                        counted = true;
                        *received.borrow_mut() += 1;
                        *last_at.borrow_mut() = Some(Instant::now());
                    }
                }
            }
        }));
    }
    let staff = mint_token(&config.jwt, UserId::new(1).ok_or("user id")?, true, Duration::from_secs(3600))?;
    let ids: Vec<usize> = (1..=users).collect();
    let started = Instant::now();
    let mut res = client
        .post(format!("{base}/auth/notifications/broadcast/"))
        .bearer_auth(&staff)
        .send_json(&serde_json::json!({"user_ids": ids, "title": "broadcast bench"}))
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let _ = res.body().limit(4 << 20).await;
    let responded = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while *received.borrow() < users && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let last = last_at.borrow().map(|t| t.duration_since(started)).unwrap_or_default();
    println!(
        "broadcast: users={users} nodes={} status={status} response_ms={:.1} delivered={} lost={} post_to_last_push_ms={:.1}",
        ws_bases.len(),
        responded.as_secs_f64() * 1000.0,
        received.borrow(),
        users - *received.borrow(),
        last.as_secs_f64() * 1000.0
    );
    for reader in readers {
        reader.abort();
    }
    Ok(())
}

/// Reads frames until `sync_complete`; returns the notification ids seen.
async fn read_replay(framed: &mut actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>) -> Result<Vec<i64>, String> {
    use futures_util::StreamExt;
    let mut ids = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), framed.next()).await {
            Ok(Some(Ok(awc::ws::Frame::Text(bytes)))) => {
                let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                match value["type"].as_str() {
                    Some("notification") => ids.extend(value["notification"]["id"].as_i64()),
                    Some("sync_complete") => return Ok(ids),
                    _ => {}
                }
            }
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("no sync_complete: {other:?}")),
        }
    }
}

async fn broadcast_to(
    client: &awc::Client,
    base: &str,
    staff: &str,
    users: usize,
    title: &str,
) -> Result<Vec<i64>, String> {
    let ids: Vec<usize> = (1..=users).collect();
    let mut res = client
        .post(format!("{base}/auth/notifications/broadcast/"))
        .bearer_auth(staff)
        .send_json(&serde_json::json!({"user_ids": ids, "title": title}))
        .await
        .map_err(|e| e.to_string())?;
    let body: serde_json::Value = res.json().limit(4 << 20).await.map_err(|e| e.to_string())?;
    Ok(body["notification_ids"].as_array().map(|a| a.iter().filter_map(|v| v.as_i64()).collect()).unwrap_or_default())
}

async fn storm(
    base: &str,
    ws_bases: &[String],
    config: &Config,
    sockets: usize,
    concurrency: usize,
) -> Result<(), String> {
    use futures_util::StreamExt;
    let client = unlimited_client();
    let staff = mint_token(&config.jwt, UserId::new(1).ok_or("user id")?, true, Duration::from_secs(3600))?;
    let tokens: Vec<String> = (1..=sockets as i64).map(|u| token_for(config, u)).collect::<Result<_, _>>()?;
    let url_for = |user: usize, since: i64| {
        format!("{}&since={since}", ws_url(&ws_bases[user % ws_bases.len()], &tokens[user - 1]))
    };
    // Everyone online and caught up with one notification.
    let seen = broadcast_to(&client, base, &staff, sockets, "storm: before").await?;
    let mut opening = futures_util::stream::iter((1..=sockets).map(|user| {
        let (client, url) = (client.clone(), url_for(user, 0));
        async move {
            let mut framed = open_socket(&client, &url).await?;
            read_replay(&mut framed).await?;
            Ok::<_, String>(framed)
        }
    }))
    .buffer_unordered(concurrency);
    let mut online = Vec::with_capacity(sockets);
    while let Some(socket) = opening.next().await {
        online.push(socket?);
    }
    // All drop at once; one notification each while they are away; all come back at once.
    drop(online);
    let missed = broadcast_to(&client, base, &staff, sockets, "storm: while away").await?;
    let started = Instant::now();
    let mut resuming = futures_util::stream::iter((1..=sockets).map(|user| {
        let (client, url) = (client.clone(), url_for(user, seen[user - 1]));
        let expected = missed[user - 1];
        async move {
            let mut framed = open_socket(&client, &url).await?;
            let ids = read_replay(&mut framed).await?;
            Ok::<bool, String>(ids == [expected])
        }
    }))
    .buffer_unordered(concurrency);
    let (mut back, mut lost, mut failed) = (0usize, 0usize, 0usize);
    while let Some(result) = resuming.next().await {
        match result {
            Ok(true) => back += 1,
            Ok(false) => lost += 1,
            Err(_) => failed += 1,
        }
    }
    println!(
        "storm: sockets={sockets} nodes={} resumed={back} lost_or_duplicated={lost} failed={failed} all_back_ms={:.0}",
        ws_bases.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

struct NodeLoss {
    sockets: usize,
    concurrency: usize,
    kill: u32,
    resume_url: String,
}

/// See `Mode::NodeLoss`. A client following the README's rule resumes from the greeting's
/// `last_id` when it saw nothing else: it must be replayed exactly what it missed (one row
/// each), never the history.
async fn node_loss(base: &str, ws_base: &str, config: &Config, run: NodeLoss) -> Result<(), String> {
    use futures_util::StreamExt;
    let NodeLoss { sockets, concurrency, kill, resume_url } = run;
    let client = unlimited_client();
    let staff = mint_token(&config.jwt, UserId::new(1).ok_or("user id")?, true, Duration::from_secs(3600))?;
    let tokens: Vec<String> = (1..=sockets as i64).map(|u| token_for(config, u)).collect::<Result<_, _>>()?;
    // A history first: what a client resuming from 0 would be replayed.
    for round in 0..3 {
        broadcast_to(&client, base, &staff, sockets, &format!("node loss: history {round}")).await?;
    }
    let mut opening = futures_util::stream::iter((1..=sockets).map(|user| {
        let (client, url) = (client.clone(), ws_url(ws_base, &tokens[user - 1]));
        async move {
            let (framed, greeting) = open_greeted(&client, &url).await?;
            let last_id = greeting["last_id"].as_i64().ok_or("the greeting has no last_id")?;
            Ok::<_, String>((user, last_id, framed))
        }
    }))
    .buffer_unordered(concurrency);
    let mut last_ids = vec![0; sockets + 1];
    let mut online = Vec::with_capacity(sockets);
    while let Some(socket) = opening.next().await {
        let (user, last_id, framed) = socket?;
        last_ids[user] = last_id;
        online.push(framed);
    }
    let killed = std::process::Command::new("kill").args(["-KILL", &kill.to_string()]).status();
    if !killed.map(|s| s.success()).unwrap_or(false) {
        return Err(format!("could not SIGKILL {kill}"));
    }
    drop(online);
    let missed = broadcast_to(&client, base, &staff, sockets, "node loss: while away").await?;
    let started = Instant::now();
    let mut resuming = futures_util::stream::iter((1..=sockets).map(|user| {
        let url = format!("{}&since={}", ws_url(&resume_url, &tokens[user - 1]), last_ids[user]);
        let (client, expected) = (client.clone(), missed[user - 1]);
        async move {
            let mut framed = open_socket(&client, &url).await?;
            read_replay(&mut framed).await.map(|ids| (ids.len(), ids == [expected]))
        }
    }))
    .buffer_unordered(concurrency);
    let (mut resumed, mut replayed, mut failed, mut exact) = (0usize, 0usize, 0usize, 0usize);
    while let Some(result) = resuming.next().await {
        match result {
            Ok((rows, own_row_only)) => {
                resumed += 1;
                replayed += rows;
                exact += usize::from(own_row_only);
            }
            Err(_) => failed += 1,
        }
    }
    println!(
        "node loss: sockets={sockets} resumed={resumed} exact={exact} rows_missed={} rows_replayed={replayed} failed={failed} all_back_ms={:.0}",
        missed.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Fills one user's inbox with `rows` notifications of ~21 KB of stored content, then opens
/// `sockets` raw WebSockets with `since=0` that never read a byte, and samples the node's RSS.
async fn slow_replay(
    base: &str,
    config: &Config,
    rows: usize,
    sockets: usize,
    pid: u32,
    hold: Duration,
) -> Result<(), String> {
    use futures_util::StreamExt;
    let token = mint_token(&config.jwt, UserId::new(1).ok_or("user id")?, true, Duration::from_secs(3600))?;
    let client = unlimited_client();
    let body = serde_json::json!({
        "user_id": 1, "title": "large", "message": "m".repeat(5000), "data": {"blob": "d".repeat(16_000)},
    });
    let url = format!("{base}/auth/notifications/create/");
    let mut creates = futures_util::stream::iter(0..rows)
        .map(|_| {
            let request = client.post(&url).bearer_auth(&token).send_json(&body);
            async move {
                let mut response = request.await.map_err(|e| e.to_string())?;
                let _ = response.body().await;
                response.status().is_success().then_some(()).ok_or_else(|| format!("create: {}", response.status()))
            }
        })
        .buffer_unordered(8);
    while let Some(created) = creates.next().await {
        created?;
    }
    // Let the node settle after the creates, then measure.
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid)?;
    let addr = url::Url::parse(base).map_err(|e| e.to_string())?;
    let host = format!("{}:{}", addr.host_str().unwrap_or("127.0.0.1"), addr.port_or_known_default().unwrap_or(80));
    let request = format!(
        "GET /ws/notifications/?token={token}&since=0 HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let mut stuck = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&host).map_err(|e| format!("connect {host}: {e}"))?;
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).map_err(|e| e.to_string())?;
        if !head.starts_with(b"HTTP/1.1 101") {
            return Err(format!("handshake refused: {}", String::from_utf8_lossy(&head)));
        }
        stuck.push(stream);
    }
    let mut peak = before;
    let until = Instant::now() + hold;
    while Instant::now() < until {
        peak = peak.max(rss_kib(pid)?);
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    drop(stuck);
    let per_socket = (peak.saturating_sub(before)) * 1024 / sockets.max(1) as u64;
    println!(
        "slow-replay: rows={rows} row_bytes~21000 sockets={sockets} node_rss_before={before}KiB node_rss_peak={peak}KiB \
         per_socket={per_socket}B ({:.1}MiB)",
        per_socket as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}
