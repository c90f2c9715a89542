//! Where a session's frames go: a WebSocket, or an SSE response (`text/event-stream`). On SSE each
//! frame is one event named by its `type`, with the same JSON as `data:` and the stream cursor
//! (`EventId`) as `id:`, so a browser's `EventSource` resumes where it stopped with
//! `Last-Event-ID`; heartbeats are comments and the close code and reason go in a last `close`
//! event. The SSE body is a bounded channel: a client that does not read fills it and its writes
//! time out like a WebSocket's.

use crate::domain::StreamPos;
use actix_ws::CloseReason;
use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use std::fmt::{self, Write};
use tokio::sync::mpsc;

/// Chunks an SSE response holds before its writes wait for the client (each a whole event).
pub const EVENT_STREAM_CHUNKS: usize = 16;

/// A session's writing side.
pub(super) enum Outlet {
    WebSocket(actix_ws::Session),
    EventStream(mpsc::Sender<Bytes>),
}

/// The position in a user's stream an SSE client has handled: the change-stream position and
/// the highest notification id it was sent. Written `<position>:<notification id>` as each
/// event's `id:`; a reconnect's `Last-Event-ID` (or `?last_event_id=`) resumes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId {
    pub position: StreamPos,
    pub last_id: i64,
}

impl EventId {
    /// Parses `<position>:<notification id>`, both non-negative integers.
    pub fn parse(raw: &str) -> Option<EventId> {
        let (position, last_id) = raw.trim().split_once(':')?;
        let number = |text: &str| text.parse::<i64>().ok().filter(|n| *n >= 0);
        Some(EventId { position: StreamPos::new(number(position)?), last_id: number(last_id)? })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.position.get(), self.last_id)
    }
}

/// The greeting carries no `id:`: a client that loses the stream right after it must resume
/// from where it stood before, not from the greeting's snapshot.
const GREETING: &str = "connection_established";

/// One SSE event for a frame (a JSON object whose first key is `type`), with `id` unless it is
/// the greeting.
pub fn sse_event(frame: &ByteString, id: EventId) -> Bytes {
    let kind = frame_type(frame).unwrap_or("message");
    let mut event = BytesMut::with_capacity(frame.len() + kind.len() + 64);
    if kind != GREETING {
        // Writing into a `BytesMut` cannot fail.
        let _ = writeln!(event, "id: {id}");
    }
    event.put_slice(b"event: ");
    event.put_slice(kind.as_bytes());
    event.put_slice(b"\ndata: ");
    // Compact JSON: no raw line breaks, so one `data:` line holds it.
    event.put_slice(frame.as_bytes());
    event.put_slice(b"\n\n");
    event.freeze()
}

/// The last event of a stream: why the server ends it (the WebSocket close code and reason).
pub fn sse_close(reason: &CloseReason) -> Bytes {
    let data = serde_json::json!({ "code": u16::from(reason.code), "reason": reason.description });
    Bytes::from(format!("event: close\ndata: {data}\n\n"))
}

/// A heartbeat: a comment, which `EventSource` ignores and proxies see as traffic.
pub const SSE_HEARTBEAT: &[u8] = b": ping\n\n";

/// The stream's first chunk: how long a browser waits before reconnecting, spread over
/// 1–3 s so the clients of a restarted node do not all come back in the same instant.
pub fn sse_preamble() -> Bytes {
    let retry_ms = 1000 + rand::random::<u16>() % 2000;
    Bytes::from(format!("retry: {retry_ms}\n\n"))
}

/// The `type` of a serialized frame: frames are written with `type` first (`{"type":"…"`).
fn frame_type(frame: &str) -> Option<&str> {
    let rest = frame.strip_prefix("{\"type\":\"")?;
    rest.split_once('"').map(|(kind, _)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ServerFrame;

    #[test]
    fn an_event_id_round_trips_and_bad_ones_are_refused() {
        let id = EventId { position: StreamPos::new(12), last_id: 3456 };
        assert_eq!(id.to_string(), "12:3456");
        assert_eq!(EventId::parse("12:3456"), Some(id));
        assert_eq!(EventId::parse(" 0:0 "), Some(EventId { position: StreamPos::ZERO, last_id: 0 }));
        for bad in ["", "12", "12:", ":5", "-1:5", "1:-5", "a:b", "1:2:3", "1.5:2"] {
            assert_eq!(EventId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_frame_becomes_one_event_named_by_its_type() {
        let frame = ServerFrame::UnreadCount { unread_count: 3, unseen_count: 2 }.to_text();
        let id = EventId { position: StreamPos::new(7), last_id: 9 };
        let event = sse_event(&frame, id);
        let expected = format!("id: 7:9\nevent: unread_count\ndata: {frame}\n\n");
        assert_eq!(std::str::from_utf8(&event).expect("utf-8"), expected);
    }

    #[test]
    fn the_greeting_carries_no_id() {
        let frame = ServerFrame::ConnectionEstablished {
            user_id: crate::domain::UserId::new(1).expect("id"),
            unread_count: 0,
            last_id: 0,
            unseen_count: 0,
        }
        .to_text();
        let event = sse_event(&frame, EventId { position: StreamPos::new(1), last_id: 1 });
        let text = std::str::from_utf8(&event).expect("utf-8");
        assert!(text.starts_with("event: connection_established\ndata: {"), "{text}");
    }
}
