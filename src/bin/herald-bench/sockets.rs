//! The WebSocket side every mode shares: socket URLs, opening sockets (retrying a handshake
//! refused for load, as a real client does) and reading a replay to its end.

use crate::client::token_for;
use crate::error::BenchError;
use futures_util::StreamExt;
use herald::config::Config;
use std::time::Duration;

/// Handshakes refused for load that a client retries, at most.
const HANDSHAKE_RETRIES: u32 = 100;

pub type Socket = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

pub fn ws_url(base: &str, token: &str) -> String {
    format!("{}/ws/notifications/?token={token}", base.replacen("http", "ws", 1))
}

/// The socket URLs of `users`, one node (`base`).
pub fn urls_for(base: &str, config: &Config, users: std::ops::Range<i64>) -> Result<Vec<String>, BenchError> {
    users.map(|u| token_for(config, u).map(|t| ws_url(base, &t))).collect()
}

/// Opens one socket and waits for `connection_established`.
pub async fn open_socket(client: &awc::Client, url: &str) -> Result<Socket, BenchError> {
    open_greeted(client, url).await.map(|(framed, _)| framed)
}

/// Opens one socket; returns it and its `connection_established` greeting.
pub async fn open_greeted(client: &awc::Client, url: &str) -> Result<(Socket, serde_json::Value), BenchError> {
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
            Err(err) => return Err(err.into()),
        }
    };
    match framed.next().await {
        Some(Ok(awc::ws::Frame::Text(bytes))) => {
            let greeting = serde_json::from_slice(&bytes).map_err(BenchError::Greeting)?;
            Ok((framed, greeting))
        }
        other => Err(BenchError::Protocol(format!("no greeting: {other:?}"))),
    }
}

/// Opens a socket at each of `urls`, `concurrency` handshakes at a time; returns the open
/// sockets and how many failed.
pub async fn open_many(client: &awc::Client, urls: &[String], concurrency: usize) -> (Vec<Socket>, usize) {
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

/// Reads frames until `sync_complete`; returns the notification ids seen.
pub async fn read_replay(framed: &mut Socket) -> Result<Vec<i64>, BenchError> {
    let mut ids = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), framed.next()).await {
            Ok(Some(Ok(awc::ws::Frame::Text(bytes)))) => {
                let value: serde_json::Value = serde_json::from_slice(&bytes)?;
                match value["type"].as_str() {
                    Some("notification") => ids.extend(value["notification"]["id"].as_i64()),
                    Some("sync_complete") => return Ok(ids),
                    _ => {}
                }
            }
            Ok(Some(Ok(_))) => {}
            other => return Err(BenchError::Protocol(format!("no sync_complete: {other:?}"))),
        }
    }
}
