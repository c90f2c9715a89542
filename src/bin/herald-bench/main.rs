//! `herald-bench`: load against a running Herald node (loopback only), printing its figures,
//! one module per mode. Benchmarks print numbers; they are never timed tests.

mod abuse;
mod broadcast;
mod client;
mod connections;
mod create;
mod error;
mod histogram;
mod latency;
mod max_rate;
mod node_loss;
mod process;
mod slow_replay;
mod sockets;
mod sse;
mod storm;

use clap::{Parser, Subcommand};
use error::BenchError;
use herald::config::Config;
use sse::Transport;
use std::process::ExitCode;
use std::time::Duration;

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
    /// RSS per idle WebSocket (or SSE stream, `--transport sse`) held on the node.
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
        /// What the clients hold: WebSockets or SSE streams.
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
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
    /// REST create → WebSocket (or SSE stream, `--transport sse`) delivery latency at a fixed rate.
    Latency {
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 100)]
        users: i64,
        /// What the receiving clients hold: WebSockets or SSE streams.
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
    },
    /// One abusive end user for `--duration`: sockets sending the largest creates as fast as
    /// admitted, plus REST; prints what it got written (`bench/abuse.sh` times another user's
    /// delivery meanwhile, from another process).
    Abuse {
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// The abuser's sockets (at most HERALD_MAX_SOCKETS_PER_USER open at once).
        #[arg(long, default_value_t = 20)]
        sockets: usize,
        /// The abuser's REST clients creating in a loop.
        #[arg(long, default_value_t = 4)]
        rest: usize,
        #[arg(long, default_value_t = 1_000_000)]
        abuser: i64,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ws_urls: Vec<String> =
        cli.ws_url.as_deref().unwrap_or(&cli.url).split(',').map(|u| u.trim().to_owned()).collect();
    let resume_url = match &cli.mode {
        Mode::NodeLoss { resume_url, .. } => Some(resume_url.as_str()),
        _ => None,
    };
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
    if resume_url.is_some_and(|url| !is_loopback(url)) {
        eprintln!("herald-bench: only loopback targets are allowed");
        return ExitCode::from(2);
    }
    let result = actix_web::rt::System::new().block_on(run(cli.mode, &cli.url, &ws_urls, &config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herald-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one mode against `url` (REST) and `ws_urls` (sockets).
async fn run(mode: Mode, url: &str, ws_urls: &[String], config: &Config) -> Result<(), BenchError> {
    match mode {
        Mode::Create { clients, duration, users } => create::run(url, config, clients, duration, users).await,
        Mode::Connections { sockets, concurrency, first_user: Some(first), transport, .. } => {
            connections::hold(&ws_urls[0], config, first, sockets, concurrency, transport).await
        }
        Mode::Connections { sockets, pid, concurrency, processes, first_user: None, transport } => {
            let run = connections::Connections { sockets, pid, concurrency, processes: processes.max(1), transport };
            connections::run(&ws_urls[0], config, run).await
        }
        Mode::Latency { rate, duration, users, transport } => {
            let load = latency::Load { rate, duration, users, transport };
            latency::run(url, ws_urls, config, load).await.map(|figures| println!("{figures}"))
        }
        Mode::MaxRate { start, step, max, duration, users, max_p99_ms } => {
            let steps = max_rate::Steps { start, step: step.max(1), max, duration, users, max_p99_ms };
            max_rate::run(url, ws_urls, config, steps).await
        }
        Mode::Storm { sockets, concurrency } => storm::run(url, ws_urls, config, sockets, concurrency).await,
        Mode::NodeLoss { sockets, concurrency, kill, resume_url } => {
            let run = node_loss::NodeLoss { sockets, concurrency, kill, resume_url };
            node_loss::run(url, &ws_urls[0], config, run).await
        }
        Mode::Abuse { duration, sockets, rest, abuser } => {
            abuse::run(url, ws_urls, config, abuse::Abuse { duration, sockets, rest, abuser }).await
        }
        Mode::Broadcast { users, concurrency } => broadcast::run(url, ws_urls, config, users, concurrency).await,
        Mode::SlowReplay { rows, sockets, pid, hold } => {
            slow_replay::run(url, config, slow_replay::SlowReplay { rows, sockets, pid, hold }).await
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
