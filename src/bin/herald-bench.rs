//! `herald-bench`: load against a running Herald node (loopback only), printing its figures.
//! Benchmarks print numbers; they are never timed tests.
//!
//! Mode `create`: closed-loop REST creates from N concurrent clients for a fixed time, each
//! create for a random user among `--users`; prints creates/s and latency percentiles.

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
    /// Base URL of the node (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8000", global = true)]
    url: String,
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
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    latency_us: Option<Histogram<u64>>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !is_loopback(&cli.url) {
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
