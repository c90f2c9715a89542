//! An SSE test client for `GET /sse/notifications/` over a raw TCP stream: it writes the request
//! itself, reads the status and headers, decodes the chunked body and parses it strictly into
//! events (`id`, `event`, `data` as JSON), comments (heartbeats) and `retry:`. Every wait is
//! bounded; a refusal comes back with its status, headers and JSON body.

use super::{id_of, is_repair, WAIT};
use serde_json::Value;
use std::fmt::Display;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The stream's path with a query (`?token=…`), as a client opens it.
pub fn sse_path(query: &str) -> String {
    format!("/sse/notifications/{query}")
}

/// One server-sent event: its `id:` (absent on the greeting), its `event:` name and its `data:`
/// parsed as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

impl SseEvent {
    /// The `id:` as `(position, notification id)`; panics when there is none or it is malformed.
    pub fn cursor(&self) -> (i64, i64) {
        let id = self.id.as_deref().unwrap_or_else(|| panic!("an event with an id: {self:?}"));
        parse_event_id(id)
    }
}

/// `<position>:<notification id>`, both non-negative integers.
pub fn parse_event_id(id: &str) -> (i64, i64) {
    let parsed = id.split_once(':').and_then(|(p, n)| Some((p.parse::<i64>().ok()?, n.parse::<i64>().ok()?)));
    match parsed {
        Some((position, last)) if position >= 0 && last >= 0 => (position, last),
        _ => panic!("event id {id:?} is not `<position>:<notification id>`"),
    }
}

/// A refused stream: status, headers (names lowercase) and the JSON body.
#[derive(Debug)]
pub struct SseRefused {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// One read from a stream before a deadline.
#[derive(Debug)]
pub enum SseRead {
    Event(SseEvent),
    /// The body ended (its last chunk, the connection closed, or a transport error: `why`).
    Ended(String),
    Quiet,
}

pub struct SseClient {
    stream: TcpStream,
    pub status: u16,
    /// Response headers, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// Bytes read and not yet decoded from their chunks.
    raw: Vec<u8>,
    /// Decoded body not yet parsed into events.
    body: Vec<u8>,
    chunked: bool,
    /// Whether the head was read (before it, `raw` is not decoded).
    in_body: bool,
    /// Why the body ended, once it did.
    ended: Option<String>,
    /// The text of the first block of the body (the `retry:` preamble).
    pub first_block: Option<String>,
    /// The last `retry:` value.
    pub retry_ms: Option<u64>,
    /// Comment-only blocks received (`: ping`).
    pub heartbeats: usize,
    /// The last `id:` received, as `EventSource` keeps it for `Last-Event-ID`.
    pub last_event_id: Option<String>,
}

impl SseClient {
    /// `GET path` on 127.0.0.1:`port` with `headers` (plus `Host` and `Accept`). `Ok` on 200,
    /// with the head read and nothing of the body yet.
    pub async fn request(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<SseClient, SseRefused> {
        let connect = TcpStream::connect(("127.0.0.1", port));
        let stream = tokio::time::timeout(WAIT, connect)
            .await
            .unwrap_or_else(|_| panic!("connect to 127.0.0.1:{port} within {WAIT:?}"))
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut client = SseClient {
            stream,
            status: 0,
            headers: Vec::new(),
            raw: Vec::new(),
            body: Vec::new(),
            chunked: false,
            in_body: false,
            ended: None,
            first_block: None,
            retry_ms: None,
            heartbeats: 0,
            last_event_id: None,
        };
        client.stream.write_all(request.as_bytes()).await.expect("send the request");
        let deadline = Instant::now() + WAIT;
        let head_end = loop {
            if let Some(end) = find(&client.raw, b"\r\n\r\n") {
                break end;
            }
            assert!(client.fill(deadline).await, "no response head within {WAIT:?} from {path}");
            assert!(client.ended.is_none(), "the connection ended before a response head: {:?}", client.ended);
        };
        let head = String::from_utf8(client.raw[..head_end].to_vec()).expect("the head is UTF-8");
        client.raw.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        client.status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a status line: {status_line:?}"));
        for line in lines {
            let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("a header line: {line:?}"));
            client.headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        client.chunked = client.header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
        client.in_body = true;
        client.decode();
        if client.status == 200 {
            return Ok(client);
        }
        Err(client.refusal().await)
    }

    /// Opens a stream with `?token=` and reads it to its greeting, which it returns.
    pub async fn open(port: u16, token: &str) -> (SseClient, Value) {
        Self::open_with(port, &sse_path(&format!("?token={token}")), &[]).await
    }

    /// Resumes with `Last-Event-ID: last_event_id`; returns the stream and its greeting.
    pub async fn resume(port: u16, token: &str, last_event_id: &str) -> (SseClient, Value) {
        Self::open_with(port, &sse_path(&format!("?token={token}")), &[("Last-Event-ID", last_event_id)]).await
    }

    /// Opens `path` with `headers`, asserts it was accepted as an event stream and reads it to
    /// its greeting (`connection_established`, without an `id:`).
    pub async fn open_with(port: u16, path: &str, headers: &[(&str, &str)]) -> (SseClient, Value) {
        let mut client = Self::request(port, path, headers)
            .await
            .unwrap_or_else(|refused| panic!("stream {path} refused: {refused:?}"));
        assert_eq!(client.header("content-type"), Some("text/event-stream"), "{:?}", client.headers);
        let greeting = client.next_event().await;
        assert_eq!(greeting.event, "connection_established", "{greeting:?}");
        assert_eq!(greeting.data["type"], "connection_established", "{greeting:?}");
        assert_eq!(greeting.id, None, "the greeting carries no id: {greeting:?}");
        (client, greeting.data)
    }

    /// A response header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The next event before `deadline` (heartbeats and `retry:` are recorded, not returned).
    pub async fn read_until(&mut self, deadline: impl Into<Instant>) -> SseRead {
        let deadline = deadline.into();
        loop {
            if let Some(event) = self.parse_block() {
                return SseRead::Event(event);
            }
            if let Some(why) = &self.ended {
                assert!(
                    self.body.is_empty(),
                    "the body ended inside an event: {:?}",
                    String::from_utf8_lossy(&self.body)
                );
                return SseRead::Ended(why.clone());
            }
            if !self.fill(deadline).await {
                return SseRead::Quiet;
            }
        }
    }

    /// The next event within `WAIT`; panics when the body ends or nothing comes.
    pub async fn next_event(&mut self) -> SseEvent {
        self.next_event_within(WAIT).await.unwrap_or_else(|| panic!("no event within {WAIT:?}"))
    }

    /// The next event within `wait`, `None` when nothing came; panics when the body ends.
    pub async fn next_event_within(&mut self, wait: Duration) -> Option<SseEvent> {
        match self.read_until(Instant::now() + wait).await {
            SseRead::Event(event) => Some(event),
            SseRead::Ended(why) => panic!("the stream ended: {why}"),
            SseRead::Quiet => None,
        }
    }

    /// Skips events until one named `kind` arrives (within `WAIT` in all); returns it and the
    /// events before it.
    pub async fn next_of_type(&mut self, kind: &str) -> (SseEvent, Vec<SseEvent>) {
        let deadline = Instant::now() + WAIT;
        let mut before = Vec::new();
        loop {
            match self.read_until(deadline).await {
                SseRead::Event(event) if event.event == kind => return (event, before),
                SseRead::Event(event) => before.push(event),
                SseRead::Ended(why) => panic!("the stream ended ({why}) waiting for {kind}; got {before:?}"),
                SseRead::Quiet => panic!("no {kind} within {WAIT:?}; got {before:?}"),
            }
        }
    }

    /// Reads until the server's `close` event (within `within`), then asserts the body ends right
    /// after it. Returns its code, its reason and the events before it.
    pub async fn expect_close(&mut self, within: Duration) -> (u16, String, Vec<SseEvent>) {
        let deadline = Instant::now() + within;
        let mut before = Vec::new();
        loop {
            match self.read_until(deadline).await {
                SseRead::Event(event) if event.event == "close" => {
                    assert_eq!(event.id, None, "a close event carries no id: {event:?}");
                    let code = event.data["code"].as_u64().unwrap_or_else(|| panic!("a close code: {event:?}"));
                    let reason = event.data["reason"].as_str().unwrap_or_else(|| panic!("a reason: {event:?}"));
                    let keys = event.data.as_object().map(|o| o.len());
                    assert_eq!(keys, Some(2), "close data is {{code, reason}}: {event:?}");
                    let (code, reason) = (code as u16, reason.to_owned());
                    match self.read_until(Instant::now() + WAIT).await {
                        SseRead::Ended(_) => return (code, reason, before),
                        other => panic!("after the close event the body must end; got {other:?}"),
                    }
                }
                SseRead::Event(event) => before.push(event),
                SseRead::Ended(why) => panic!("the stream ended ({why}) without a close event; got {before:?}"),
                SseRead::Quiet => panic!("no close event within {within:?}; got {before:?}"),
            }
        }
    }

    /// Reads until the body ends (within `within`), without a `close` event (its node died);
    /// returns the events before the end.
    pub async fn expect_end(&mut self, within: Duration) -> Vec<SseEvent> {
        let deadline = Instant::now() + within;
        let mut before = Vec::new();
        loop {
            match self.read_until(deadline).await {
                SseRead::Event(event) => {
                    assert_ne!(event.event, "close", "{event:?}");
                    before.push(event)
                }
                SseRead::Ended(_) => return before,
                SseRead::Quiet => panic!("the stream did not end within {within:?}; got {before:?}"),
            }
        }
    }

    /// Waits (bounded by `within`) until `n` more heartbeats came; panics on any event meanwhile.
    pub async fn expect_heartbeats(&mut self, n: usize, within: Duration) {
        let start = self.heartbeats;
        let deadline = Instant::now() + within;
        while self.heartbeats < start + n {
            if let Some(event) = self.parse_block() {
                panic!("expected heartbeats only, got {event:?}");
            }
            assert!(self.ended.is_none(), "the stream ended: {:?}", self.ended);
            let came = self.fill(deadline).await;
            assert!(came, "{} of {n} heartbeats within {within:?}", self.heartbeats - start);
        }
    }

    /// Reads more bytes before `deadline`; false when none came in time. The end of the
    /// connection (or a transport error) marks the body ended.
    async fn fill(&mut self, deadline: Instant) -> bool {
        if self.ended.is_some() {
            return true;
        }
        let mut buf = [0u8; 8192];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
            Err(_) => false,
            Ok(Ok(0)) => {
                self.ended = Some("the connection closed".into());
                self.decode();
                true
            }
            Ok(Ok(n)) => {
                self.raw.extend_from_slice(&buf[..n]);
                self.decode();
                true
            }
            Ok(Err(err)) => {
                self.ended = Some(format!("transport error: {err}"));
                true
            }
        }
    }

    /// Moves whole chunks from `raw` to `body`; the last (empty) chunk ends the body.
    fn decode(&mut self) {
        if !self.in_body {
            return;
        }
        if !self.chunked {
            self.body.append(&mut self.raw);
            return;
        }
        loop {
            let Some(line_end) = find(&self.raw, b"\r\n") else { return };
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).to_string();
            let size_text = size_text.split(';').next().unwrap_or_default().trim().to_owned();
            let size = usize::from_str_radix(&size_text, 16).unwrap_or_else(|_| panic!("a chunk size: {size_text:?}"));
            if size == 0 {
                self.ended.get_or_insert_with(|| "the last chunk".into());
                self.raw.clear();
                return;
            }
            let start = line_end + 2;
            if self.raw.len() < start + size + 2 {
                return;
            }
            assert_eq!(&self.raw[start + size..start + size + 2], b"\r\n", "a chunk ends with CRLF");
            self.body.extend_from_slice(&self.raw[start..start + size]);
            self.raw.drain(..start + size + 2);
        }
    }

    /// Parses whole blocks off `body`: returns the first event; records heartbeats and `retry:`.
    fn parse_block(&mut self) -> Option<SseEvent> {
        loop {
            let end = find(&self.body, b"\n\n")?;
            let block = String::from_utf8(self.body[..end].to_vec()).expect("events are UTF-8");
            self.body.drain(..end + 2);
            assert!(!block.contains('\r'), "the server ends lines with LF only: {block:?}");
            self.first_block.get_or_insert_with(|| block.clone());
            let (mut id, mut event, mut data, mut comments, mut retry) = (None, None, None::<String>, 0, None);
            for line in block.split('\n') {
                if line.starts_with(':') {
                    comments += 1;
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => id = Some(value.to_owned()),
                    "event" => event = Some(value.to_owned()),
                    "data" => {
                        let joined = match data.take() {
                            Some(before) => format!("{before}\n{value}"),
                            None => value.to_owned(),
                        };
                        data = Some(joined);
                    }
                    "retry" => retry = Some(value.parse::<u64>().unwrap_or_else(|_| panic!("retry: {value:?}"))),
                    other => panic!("unexpected field {other:?} in {block:?}"),
                }
            }
            if let Some(ms) = retry {
                self.retry_ms = Some(ms);
            }
            if let Some(id) = &id {
                self.last_event_id = Some(id.clone());
            }
            let Some(data) = data else {
                assert!(id.is_none() && event.is_none(), "a block with an id or event but no data: {block:?}");
                assert!(comments > 0 || retry.is_some(), "an empty block: {block:?}");
                if comments > 0 {
                    self.heartbeats += 1;
                }
                continue;
            };
            assert!(!data.contains('\n'), "one data line per event: {block:?}");
            let data: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("data is JSON ({e}): {block:?}"));
            let event = event.unwrap_or_else(|| "message".into());
            if event != "close" {
                assert_eq!(data["type"], event.as_str(), "the event is named by its frame's type: {block:?}");
            }
            return Some(SseEvent { id, event, data });
        }
    }

    /// Reads (bounded) what a refused request's body holds and returns the refusal.
    async fn refusal(mut self) -> SseRefused {
        let deadline = Instant::now() + WAIT;
        let length = self.header("content-length").and_then(|n| n.parse::<usize>().ok());
        loop {
            let complete = match length {
                Some(n) => self.body.len() >= n,
                None => self.ended.is_some(),
            };
            if complete || self.ended.is_some() {
                break;
            }
            if !self.fill(deadline).await {
                panic!("the refusal's body did not come within {WAIT:?}");
            }
        }
        let body = super::parse_body(&self.body);
        SseRefused { status: self.status, headers: self.headers, body }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A `notification` event as a stream delivered it: the notification's id and the event's cursor.
#[derive(Debug, Clone, Copy)]
pub struct SseDelivered {
    pub notification_id: i64,
    pub position: i64,
}

/// Reads until `count` notification events arrived (bounded by `wait`); only notifications and
/// repair `unread_count` events may come. Each notification's event id names it
/// (`<position>:<its id>`).
pub async fn collect_sse_notifications(
    sse: &mut SseClient,
    count: usize,
    wait: Duration,
    who: impl Display,
) -> Vec<SseDelivered> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        match sse.read_until(deadline).await {
            SseRead::Event(event) if event.event == "notification" => got.push(delivered(&event)),
            SseRead::Event(event) if is_repair(&event.data) => {}
            SseRead::Event(event) => panic!("{who}: unexpected event {event:?}"),
            SseRead::Ended(why) => panic!("{who}: the stream ended ({why}) after {} of {count}", got.len()),
            SseRead::Quiet => panic!("{who}: only {} of {count} notifications within {wait:?}: {got:?}", got.len()),
        }
    }
    got
}

/// The notification id and position of a `notification` event, checking its id names it.
pub fn delivered(event: &SseEvent) -> SseDelivered {
    let notification_id = id_of(&event.data["notification"]);
    let (position, last) = event.cursor();
    assert_eq!(last, notification_id, "a notification event's id ends with its id: {event:?}");
    SseDelivered { notification_id, position }
}

/// Asserts nothing but repair `unread_count` events arrive for `wait`.
pub async fn expect_no_more_sse_events(sse: &mut SseClient, wait: Duration, who: impl Display) {
    let deadline = Instant::now() + wait;
    loop {
        match sse.read_until(deadline).await {
            SseRead::Quiet => return,
            SseRead::Event(event) if is_repair(&event.data) => {}
            SseRead::Event(event) => panic!("{who}: expected nothing more, got {event:?}"),
            SseRead::Ended(why) => panic!("{who}: the stream ended: {why}"),
        }
    }
}
