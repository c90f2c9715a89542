//! A WebSocket test client (tokio-tungstenite, small read buffer) with bounded waits:
//! `next_json`, `next_of_type`, `expect_close`, `expect_silence`; `read_until` for readers that
//! must tell a frame, a close and silence apart.

use super::{TestApp, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// A refused handshake: HTTP status and JSON body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

pub fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://127.0.0.1:{}/ws/notifications/{query}", app.port)
}

impl WsClient {
    /// Connects with `?token=`; `since` adds `&since=`. Panics if refused.
    pub async fn connect(app: &TestApp, token: &str, since: Option<i64>) -> WsClient {
        let query = match since {
            Some(since) => format!("?token={token}&since={since}"),
            None => format!("?token={token}"),
        };
        Self::try_connect(&ws_url(app, &query), &[]).await.expect("handshake accepted")
    }

    /// Connects and consumes `connection_established`, returning it too.
    pub async fn open(app: &TestApp, token: &str) -> (WsClient, Value) {
        let mut client = Self::connect(app, token, None).await;
        let hello = client.next_json().await;
        assert_eq!(hello["type"], "connection_established", "{hello}");
        (client, hello)
    }

    pub async fn try_connect(url: &str, headers: &[(&str, &str)]) -> Result<WsClient, Refused> {
        let mut request = url.into_client_request().expect("ws request");
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                value.parse().expect("header value"),
            );
        }
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        match tokio::time::timeout(WAIT, connecting).await.expect("handshake within WAIT") {
            Ok((stream, _)) => Ok(WsClient { stream }),
            Err(Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response.body().as_ref().map(|b| super::parse_body(b)).unwrap_or(Value::Null);
                Err(Refused { status, body })
            }
            Err(other) => panic!("handshake failed: {other}"),
        }
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.expect("send frame");
    }

    /// The next text frame as JSON (pings and pongs skipped). Panics on close or timeout.
    pub async fn next_json(&mut self) -> Value {
        self.next_json_within(WAIT).await.unwrap_or_else(|| panic!("no frame within {WAIT:?}"))
    }

    pub async fn next_json_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) => panic!("socket ended"),
                Ok(Some(Err(err))) => panic!("socket error: {err}"),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => return Some(serde_json::from_str(text.as_str()).expect("text frames are JSON")),
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Skips frames until one of `kind` arrives.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Reads until the server closes; returns the close code. Text frames before it are
    /// returned too, in order.
    pub async fn expect_close(&mut self) -> (u16, Vec<Value>) {
        let mut before = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("no close within {WAIT:?}; got {before:?}"),
                Ok(None) => panic!("socket ended without a close frame; got {before:?}"),
                Ok(Some(Err(err))) => panic!("socket error before close: {err}"),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (frame.map(|f| u16::from(f.code)).unwrap_or(1005), before);
                }
                Ok(Some(Ok(Message::Text(text)))) => {
                    before.push(serde_json::from_str(text.as_str()).expect("JSON"));
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads until the server closes or `within` passes: the close code (`None`: no close; 1006
    /// when the socket ended without a close frame) and the text frames before it, in order.
    pub async fn close_within(&mut self, within: Duration) -> (Option<u16>, Vec<Value>) {
        let deadline = tokio::time::Instant::now() + within;
        let mut before = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return (None, before),
                Ok(None) | Ok(Some(Err(_))) => return (Some(1006), before),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005)), before)
                }
                Ok(Some(Ok(Message::Text(text)))) => before.push(serde_json::from_str(text.as_str()).expect("JSON")),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Asserts that no text frame arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(frame) = self.next_json_within(wait).await {
            panic!("expected no frame, got {frame}");
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// One read from a socket before a deadline: a frame, a close (frame or end of stream; the
/// server may legitimately close, e.g. 1013 "resume with since"), or nothing.
pub enum Read {
    Frame(Value),
    Closed(u16),
    Quiet,
}

/// The next text frame before `deadline`. A transport error is a failure.
pub async fn read_until(ws: &mut WsClient, deadline: impl Into<tokio::time::Instant>) -> Read {
    next_read(ws, deadline.into()).await.unwrap_or_else(|err| panic!("socket error: {err}"))
}

/// As `read_until`, for a socket whose node may be killed: a transport error ends the socket
/// like an abnormal closure (`Closed(1006)`) instead of failing the test.
pub async fn read_until_end(ws: &mut WsClient, deadline: impl Into<tokio::time::Instant>) -> Read {
    next_read(ws, deadline.into()).await.unwrap_or(Read::Closed(1006))
}

async fn next_read(ws: &mut WsClient, deadline: tokio::time::Instant) -> Result<Read, Error> {
    loop {
        match tokio::time::timeout_at(deadline, ws.stream.next()).await {
            Err(_) => return Ok(Read::Quiet),
            Ok(None) => return Ok(Read::Closed(1006)),
            Ok(Some(Err(err))) => return Err(err),
            Ok(Some(Ok(Message::Text(text)))) => {
                return Ok(Read::Frame(serde_json::from_str(text.as_str()).expect("text frames are JSON")))
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Ok(Read::Closed(frame.map(|f| u16::from(f.code)).unwrap_or(1005)));
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}
