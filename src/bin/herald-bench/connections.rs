//! `connections`: opens N idle WebSockets, or SSE streams with `--transport sse` (one user each),
//! from several client processes (a process may hold 20,000 open files here) and prints the
//! node's RSS growth per socket, read from `/proc/<pid>/status`, and its CPU (and PostgreSQL's)
//! while they idle.

use crate::client::{token_for, unlimited_client};
use crate::error::BenchError;
use crate::process::{clock_ticks_per_second, cpu_ticks, postgres_ticks, rss_kib};
use crate::sockets::{open_many, urls_for, Socket};
use crate::sse::{open_many_streams, SseStream, Transport};
use herald::config::Config;
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `connections` run: `sockets` over `processes` client processes, against the node `pid`.
pub struct Connections {
    pub sockets: usize,
    pub pid: u32,
    pub concurrency: usize,
    pub processes: usize,
    pub transport: Transport,
}

/// What a process holds open: sockets or streams.
enum Held {
    Sockets(Vec<Socket>),
    Streams(Vec<SseStream>),
}

impl Held {
    fn len(&self) -> usize {
        match self {
            Held::Sockets(sockets) => sockets.len(),
            Held::Streams(streams) => streams.len(),
        }
    }
}

/// Opens one idle socket or stream for each of `users` on `base`; returns them and how many failed.
async fn open_idle(
    base: &str,
    config: &Config,
    users: std::ops::Range<i64>,
    concurrency: usize,
    transport: Transport,
) -> Result<(Held, usize), BenchError> {
    Ok(match transport {
        Transport::Ws => {
            let urls = urls_for(base, config, users)?;
            let (held, failed) = open_many(&unlimited_client(), &urls, concurrency).await;
            (Held::Sockets(held), failed)
        }
        Transport::Sse => {
            let tokens = users.map(|u| token_for(config, u)).collect::<Result<Vec<_>, _>>()?;
            let (held, failed) = open_many_streams(base, &tokens, concurrency).await;
            (Held::Streams(held), failed)
        }
    })
}

/// A child of `connections`: opens its share, reports `opened <ok> <failed>` on stdout, and
/// holds the sockets until the parent closes its stdin.
pub async fn hold(
    base: &str,
    config: &Config,
    first: i64,
    sockets: usize,
    concurrency: usize,
    transport: Transport,
) -> Result<(), BenchError> {
    let (held, failed) = open_idle(base, config, first..first + sockets as i64, concurrency, transport).await?;
    println!("opened {} {failed}", held.len());
    std::io::stdout().flush()?;
    let _ = actix_web::rt::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    drop(held);
    Ok(())
}

pub async fn run(base: &str, config: &Config, run: Connections) -> Result<(), BenchError> {
    let Connections { sockets, pid, concurrency, processes, transport } = run;
    let before = rss_kib(pid)?;
    let started = Instant::now();
    // Shares as even as possible; this process takes the first.
    let share = |i: usize| sockets / processes + usize::from(i < sockets % processes);
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    let mut first = 1 + share(0) as i64;
    for i in 1..processes {
        let child = Command::new(&exe)
            .args(["--url", base, "connections", "--pid", &pid.to_string()])
            .args(["--sockets", &share(i).to_string(), "--concurrency", &concurrency.to_string()])
            .args(["--first-user", &first.to_string(), "--transport", &transport.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(BenchError::Spawn)?;
        children.push(child);
        first += share(i) as i64;
    }
    let (held, mut failed) = open_idle(base, config, 1..1 + share(0) as i64, concurrency, transport).await?;
    let mut open = held.len();
    for child in &mut children {
        let (ok, bad) = child_report(child).await?;
        open += ok;
        failed += bad;
    }
    let opened_in = started.elapsed().as_secs_f64();
    // Let the node settle (allocator, timers) before reading its RSS.
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    let (idle_cpu, idle_postgres_cpu) = idle_cpu(pid).await?;
    let per_socket = if open > 0 { (after.saturating_sub(before)) as f64 * 1024.0 / open as f64 } else { 0.0 };
    println!(
        "connections: transport={transport} open={open} failed={failed} processes={processes} opened_in={opened_in:.1}s node_rss_before={before}KiB node_rss_after={after}KiB per_socket={:.0}B ({:.1}KiB) idle_cpu={idle_cpu:.1}% idle_postgres_cpu={idle_postgres_cpu:.1}%",
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

/// The `opened <ok> <failed>` line of a child process.
async fn child_report(child: &mut Child) -> Result<(usize, usize), BenchError> {
    let stdout = child.stdout.take().ok_or(BenchError::ChildStdout)?;
    let line = actix_web::rt::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await??;
    let counts: Vec<usize> = line.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect();
    let [ok, bad] = counts[..] else { return Err(BenchError::ChildReport(line)) };
    Ok((ok, bad))
}

/// CPU of the node while it holds the idle sockets (pings included), and of PostgreSQL
/// meanwhile (the node's position check reads every socket's user), in percent of one core.
async fn idle_cpu(pid: u32) -> Result<(f64, f64), BenchError> {
    let idle_window = Duration::from_secs(10);
    let ticks_before = cpu_ticks(pid)?;
    let postgres_before = postgres_ticks();
    actix_web::rt::time::sleep(idle_window).await;
    let percent = |ticks: u64| ticks as f64 / clock_ticks_per_second() / idle_window.as_secs_f64() * 100.0;
    let node = percent(cpu_ticks(pid)? - ticks_before);
    let postgres = percent(postgres_ticks().saturating_sub(postgres_before));
    Ok((node, postgres))
}
