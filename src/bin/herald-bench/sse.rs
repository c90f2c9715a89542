//! The SSE side the modes share (`--transport sse`): streams of `GET /sse/notifications/` over a
//! raw TCP connection, as a browser's `EventSource` opens them with `?token=` (no HTTP client:
//! a held stream costs this process one socket and two small buffers), read as chunked
//! server-sent events. A handshake refused for load is retried, as for a WebSocket.

use crate::error::BenchError;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Handshakes refused for load (503, 429) that a client retries, at most.
const HANDSHAKE_RETRIES: u32 = 100;
/// How long a stream may take to answer its head and greeting.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Which live stream a mode's clients hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// `GET /ws/notifications/`, a WebSocket.
    Ws,
    /// `GET /sse/notifications/`, server-sent events.
    Sse,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Ws => "ws",
            Transport::Sse => "sse",
        })
    }
}

/// One open stream, its head read.
pub struct SseStream {
    stream: TcpStream,
    /// Bytes read and not yet decoded from their chunks.
    raw: Vec<u8>,
    /// Decoded body not yet split into events.
    body: Vec<u8>,
}

/// One server-sent event with data: its name and its `data:` line.
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// Opens a stream for `token` on the node at `base` and reads it to its greeting.
pub async fn open_stream(base: &str, token: &str) -> Result<SseStream, BenchError> {
    let url = url::Url::parse(base)?;
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let request = format!(
        "GET /sse/notifications/?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
    );
    let mut attempts = 0;
    loop {
        let connect = TcpStream::connect((host.as_str(), port));
        let stream = match tokio::time::timeout(OPEN_TIMEOUT, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => return Err(BenchError::Connect { host: format!("{host}:{port}"), source }),
            Err(_) => return Err(BenchError::Protocol(format!("connect {host}:{port}: timed out"))),
        };
        let mut sse = SseStream { stream, raw: Vec::with_capacity(1024), body: Vec::new() };
        sse.stream.write_all(request.as_bytes()).await?;
        let status = tokio::time::timeout(OPEN_TIMEOUT, sse.read_head())
            .await
            .map_err(|_| BenchError::Protocol("no SSE response head".into()))??;
        match status {
            200 => {
                let greeting = tokio::time::timeout(OPEN_TIMEOUT, sse.next_event())
                    .await
                    .map_err(|_| BenchError::Protocol("no SSE greeting".into()))??;
                return match greeting {
                    Some(event) if event.event == "connection_established" => {
                        // Held idle from here: keep no spare capacity.
                        sse.raw.shrink_to_fit();
                        sse.body.shrink_to_fit();
                        Ok(sse)
                    }
                    Some(event) => Err(BenchError::Protocol(format!("SSE greeting: {}", event.event))),
                    None => Err(BenchError::Protocol("SSE stream ended before its greeting".into())),
                };
            }
            503 | 429 if attempts < HANDSHAKE_RETRIES => {
                attempts += 1;
                let pause = Duration::from_millis(50 + rand::random::<u64>() % 200);
                actix_web::rt::time::sleep(pause).await;
            }
            other => return Err(BenchError::Protocol(format!("SSE handshake: HTTP {other}"))),
        }
    }
}

/// Opens a stream for each of `tokens` on `base`, `concurrency` at a time; returns the open
/// streams and how many failed.
pub async fn open_many_streams(base: &str, tokens: &[String], concurrency: usize) -> (Vec<SseStream>, usize) {
    let mut held = Vec::with_capacity(tokens.len());
    let mut failed = 0usize;
    let mut opening =
        futures_util::stream::iter(tokens.iter().map(|token| open_stream(base, token))).buffer_unordered(concurrency);
    while let Some(result) = opening.next().await {
        match result {
            Ok(stream) => held.push(stream),
            Err(_) => failed += 1,
        }
    }
    (held, failed)
}

impl SseStream {
    /// Reads the response head; returns its status. A 200 must be a chunked body.
    async fn read_head(&mut self) -> Result<u16, BenchError> {
        let end = loop {
            if let Some(end) = find(&self.raw, b"\r\n\r\n") {
                break end;
            }
            if !self.read_more().await? {
                return Err(BenchError::Protocol("the connection closed before a response head".into()));
            }
        };
        let head = String::from_utf8_lossy(&self.raw[..end]).to_ascii_lowercase();
        self.raw.drain(..end + 4);
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok());
        let status = status.ok_or_else(|| BenchError::Protocol(format!("a status line: {head:?}")))?;
        if status == 200 && !head.contains("transfer-encoding: chunked") {
            return Err(BenchError::Protocol(format!("an SSE body is chunked: {head:?}")));
        }
        Ok(status)
    }

    /// The next event with data (the `retry:` preamble and `: ping` comments are skipped);
    /// `None` when the body or the connection ended.
    pub async fn next_event(&mut self) -> Result<Option<SseEvent>, BenchError> {
        loop {
            match self.take_event()? {
                Some(Some(event)) => return Ok(Some(event)),
                Some(None) => continue,
                None => {}
            }
            if !self.read_more().await? {
                return Ok(None);
            }
        }
    }

    /// Reads what the connection has; false when it ended.
    async fn read_more(&mut self) -> Result<bool, BenchError> {
        let mut buf = [0u8; 4096];
        let n = self.stream.read(&mut buf).await?;
        self.raw.extend_from_slice(&buf[..n]);
        Ok(n > 0)
    }

    /// Decodes whole chunks, then parses one block: `None` when no whole block is there yet,
    /// `Some(None)` for a block without data (a comment, `retry:`), else the event.
    fn take_event(&mut self) -> Result<Option<Option<SseEvent>>, BenchError> {
        self.decode()?;
        let Some(end) = find(&self.body, b"\n\n") else { return Ok(None) };
        let block = String::from_utf8_lossy(&self.body[..end]).into_owned();
        self.body.drain(..end + 2);
        let (mut event, mut data) = (None, None);
        for line in block.lines() {
            if let Some(name) = line.strip_prefix("event: ") {
                event = Some(name.to_owned());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = Some(value.to_owned());
            }
        }
        Ok(Some(data.map(|data| SseEvent { event: event.unwrap_or_else(|| "message".into()), data })))
    }

    /// Moves whole chunks from `raw` to `body`.
    fn decode(&mut self) -> Result<(), BenchError> {
        while let Some(line_end) = find(&self.raw, b"\r\n") {
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
                .map_err(|_| BenchError::Protocol(format!("a chunk size: {size_text:?}")))?;
            let start = line_end + 2;
            if size == 0 || self.raw.len() < start + size + 2 {
                return Ok(());
            }
            self.body.extend_from_slice(&self.raw[start..start + size]);
            self.raw.drain(..start + size + 2);
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
