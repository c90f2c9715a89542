//! A small REST + WebSocket + SSE client of a live node (or load balancer), for `herald send` and
//! `herald selftest`: every wait bounded, every failure a `ClientError` saying what went wrong
//! in words. What the commands check is theirs, not this module's.

use actix_codec::Framed;
use awc::error::{PayloadError, SendRequestError, WsClientError, WsProtocolError};
use awc::ws::{CloseReason, Codec, Frame, Message};
use awc::BoxedSocket;
use bytes::Bytes;
use futures_util::stream::LocalBoxStream;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The longest any request, handshake or awaited frame may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// An open WebSocket to the node.
pub type Socket = Framed<BoxedSocket, Codec>;

/// An open SSE stream (`/sse/notifications/`) and what was read of it past the last event.
pub struct EventStream {
    body: LocalBoxStream<'static, Result<Bytes, PayloadError>>,
    unread: String,
}

/// One server-sent event: its `id:` (if any), its name, its `data:` as JSON.
#[derive(Debug)]
pub struct ServerEvent {
    pub id: Option<String>,
    pub name: String,
    pub data: Value,
}

/// How long an SSE stream may stay open here (the selftest's streams live for seconds).
const STREAM_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {base}: {source}")]
    Unreachable { base: String, source: SendRequestError },
    #[error("reading the reply: {0}")]
    Reply(#[source] PayloadError),
    /// The `error.message` of the node's 401 reply, as JSON.
    #[error("the node refused the token (401): {0}")]
    TokenRefused(Value),
    #[error("WebSocket handshake timed out")]
    HandshakeTimeout,
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[source] WsClientError),
    #[error("no {kind} frame within {TIMEOUT:?}")]
    NoFrame { kind: String },
    #[error("bad frame: {0}")]
    BadFrame(#[source] serde_json::Error),
    #[error("socket closed: {0:?}")]
    Closed(Option<CloseReason>),
    #[error("socket error: {0}")]
    Socket(#[source] WsProtocolError),
    #[error("socket ended")]
    Ended,
    #[error("SSE stream answered {0}")]
    StreamRefused(u16),
    #[error("sending a frame: {0}")]
    Send(#[source] WsProtocolError),
    /// The node answered a create with an error envelope.
    #[error("{status} {code}: {message}{}", field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Refused { status: u16, code: String, message: String, field: Option<String> },
}

/// A REST + WebSocket client of one node.
pub struct NodeClient {
    base: String,
    token: String,
    http: awc::Client,
}

impl NodeClient {
    pub fn new(base: &str, token: &str) -> NodeClient {
        let http = awc::Client::builder().timeout(TIMEOUT).finish();
        NodeClient { base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), http }
    }

    /// Sends a request; returns status and JSON body (`Null` when empty or not JSON). A 401 is
    /// an error: every later call would fail the same way.
    pub async fn call(
        &self,
        method: awc::http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        let sent = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        };
        let mut response = sent.map_err(|source| ClientError::Unreachable { base: self.base.clone(), source })?;
        let status = response.status().as_u16();
        let bytes = response.body().limit(8 << 20).await.map_err(ClientError::Reply)?;
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status == 401 {
            return Err(ClientError::TokenRefused(value["error"]["message"].clone()));
        }
        Ok((status, value))
    }

    /// `GET path` without the token (a page); status and text.
    pub async fn get_page(&self, path: &str) -> Result<(u16, String), ClientError> {
        let request = self.http.get(format!("{}{path}", self.base));
        let mut response =
            request.send().await.map_err(|source| ClientError::Unreachable { base: self.base.clone(), source })?;
        let bytes = response.body().limit(1 << 20).await.map_err(ClientError::Reply)?;
        Ok((response.status().as_u16(), String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Opens a WebSocket as this client's user, resuming after `since` when given.
    pub async fn open_socket(&self, since: Option<i64>) -> Result<Socket, ClientError> {
        let ws_base = self.base.replacen("http", "ws", 1);
        let since = since.map(|s| format!("&since={s}")).unwrap_or_default();
        let url = format!("{ws_base}/ws/notifications/?token={}{since}", self.token);
        let (_, socket) = tokio::time::timeout(TIMEOUT, self.http.ws(url).connect())
            .await
            .map_err(|_| ClientError::HandshakeTimeout)?
            .map_err(ClientError::Handshake)?;
        Ok(socket)
    }

    /// Opens an SSE stream as this client's user, resuming after `last_event_id` when given.
    pub async fn open_event_stream(&self, last_event_id: Option<&str>) -> Result<EventStream, ClientError> {
        let url = format!("{}/sse/notifications/", self.base);
        let mut request = self.http.get(url).bearer_auth(&self.token).timeout(STREAM_TIMEOUT);
        if let Some(id) = last_event_id {
            request = request.insert_header(("Last-Event-ID", id));
        }
        let response =
            request.send().await.map_err(|source| ClientError::Unreachable { base: self.base.clone(), source })?;
        if response.status() != 200 {
            return Err(ClientError::StreamRefused(response.status().as_u16()));
        }
        Ok(EventStream { body: Box::pin(response), unread: String::new() })
    }

    /// `herald send`: creates one notification, returns the stored one.
    pub async fn create(&self, body: &Value) -> Result<Value, ClientError> {
        let (status, reply) = self.call(awc::http::Method::POST, "/auth/notifications/create/", Some(body)).await?;
        match status {
            201 => Ok(reply["notification"].clone()),
            200 => Ok(reply),
            _ => {
                let error = &reply["error"];
                Err(ClientError::Refused {
                    status,
                    code: error["code"].as_str().unwrap_or("error").to_owned(),
                    message: error["message"].as_str().unwrap_or("unexpected reply").to_owned(),
                    field: error["field"].as_str().map(str::to_owned),
                })
            }
        }
    }
}

/// Reads frames until one of `kind` arrives (bounded), answering pings on the way.
pub async fn next_of_type(socket: &mut Socket, kind: &str) -> Result<Value, ClientError> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, socket.next())
            .await
            .map_err(|_| ClientError::NoFrame { kind: kind.to_owned() })?;
        match frame {
            Some(Ok(Frame::Text(bytes))) => {
                let value: Value = serde_json::from_slice(&bytes).map_err(ClientError::BadFrame)?;
                if value["type"] == kind {
                    return Ok(value);
                }
            }
            Some(Ok(Frame::Ping(payload))) => {
                let _ = socket.send(Message::Pong(payload)).await;
            }
            Some(Ok(Frame::Close(reason))) => return Err(ClientError::Closed(reason)),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(ClientError::Socket(e)),
            None => return Err(ClientError::Ended),
        }
    }
}

/// Reads events until one named `name` arrives (bounded), skipping comments and others.
pub async fn next_event(stream: &mut EventStream, name: &str) -> Result<ServerEvent, ClientError> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        while let Some(end) = stream.unread.find("\n\n") {
            let block: String = stream.unread.drain(..end + 2).collect();
            if let Some(event) = parse_event(&block)? {
                if event.name == name {
                    return Ok(event);
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.body.next())
            .await
            .map_err(|_| ClientError::NoFrame { kind: name.to_owned() })?;
        match chunk {
            Some(Ok(bytes)) => stream.unread.push_str(&String::from_utf8_lossy(&bytes)),
            Some(Err(e)) => return Err(ClientError::Reply(e)),
            None => return Err(ClientError::Ended),
        }
    }
}

/// One event block; `None` for a comment or `retry:` alone.
fn parse_event(block: &str) -> Result<Option<ServerEvent>, ClientError> {
    let (mut id, mut name, mut data) = (None, None, None);
    for line in block.lines() {
        match line.split_once(": ") {
            Some(("id", value)) => id = Some(value.to_owned()),
            Some(("event", value)) => name = Some(value.to_owned()),
            Some(("data", value)) => data = Some(serde_json::from_str(value).map_err(ClientError::BadFrame)?),
            _ => {}
        }
    }
    Ok(name.zip(data).map(|(name, data)| ServerEvent { id, name, data }))
}

/// Sends one JSON frame.
pub async fn send_frame(socket: &mut Socket, frame: Value) -> Result<(), ClientError> {
    socket.send(Message::Text(frame.to_string().into())).await.map_err(ClientError::Send)
}
