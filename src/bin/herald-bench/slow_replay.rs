//! `slow-replay`: one user with `--rows` large notifications (~21 KB each); N sockets resume
//! with `since=0` and never read; prints the node's peak RSS growth per socket while the
//! replays are stuck on the unread sockets.

use crate::client::{staff_token, unlimited_client};
use crate::error::BenchError;
use crate::process::rss_kib;
use futures_util::StreamExt;
use herald::config::Config;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One `slow-replay` run against the node `pid`.
pub struct SlowReplay {
    pub rows: usize,
    pub sockets: usize,
    pub pid: u32,
    /// How long the stuck sockets are held while the RSS is sampled.
    pub hold: Duration,
}

pub async fn run(base: &str, config: &Config, run: SlowReplay) -> Result<(), BenchError> {
    let SlowReplay { rows, sockets, pid, hold } = run;
    let token = staff_token(config)?;
    // Held to the end, as its pooled connections are while the node's RSS is read.
    let client = unlimited_client();
    fill_inbox(&client, base, &token, rows).await?;
    // Let the node settle after the creates, then measure.
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid)?;
    let stuck = open_unread(base, &token, sockets)?;
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

/// Creates `rows` notifications of ~21 KB of stored content for user 1, eight at a time.
async fn fill_inbox(client: &awc::Client, base: &str, token: &str, rows: usize) -> Result<(), BenchError> {
    let body = serde_json::json!({
        "user_id": 1, "title": "large", "message": "m".repeat(5000), "data": {"blob": "d".repeat(16_000)},
    });
    let url = format!("{base}/auth/notifications/create/");
    let mut creates = futures_util::stream::iter(0..rows)
        .map(|_| {
            let request = client.post(&url).bearer_auth(token).send_json(&body);
            async move {
                let mut response = request.await?;
                let _ = response.body().await;
                response.status().is_success().then_some(()).ok_or(BenchError::Create(response.status()))
            }
        })
        .buffer_unordered(8);
    while let Some(created) = creates.next().await {
        created?;
    }
    Ok(())
}

/// Opens `sockets` raw WebSockets of user 1 with `since=0` that never read a byte past the
/// handshake's first line.
fn open_unread(base: &str, token: &str, sockets: usize) -> Result<Vec<TcpStream>, BenchError> {
    let addr = url::Url::parse(base)?;
    let host = format!("{}:{}", addr.host_str().unwrap_or("127.0.0.1"), addr.port_or_known_default().unwrap_or(80));
    let request = format!(
        "GET /ws/notifications/?token={token}&since=0 HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let mut stuck = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let mut stream =
            TcpStream::connect(&host).map_err(|source| BenchError::Connect { host: host.clone(), source })?;
        stream.write_all(request.as_bytes())?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        if !head.starts_with(b"HTTP/1.1 101") {
            return Err(BenchError::Protocol(format!("handshake refused: {}", String::from_utf8_lossy(&head))));
        }
        stuck.push(stream);
    }
    Ok(stuck)
}
