//! The vocabulary of what reaches a socket: `Event` (one committed change of one user, with its
//! place in the user's change stream), `SessionId` (the socket that made it) and `ServerFrame`,
//! every frame the server sends — pushes, replies and errors — serialized from one enum, once;
//! and `Notification`, what clients (REST and WebSocket) see of a stored notification.
//! No IO: the broker carries events, the hub fans them out, `ws` writes frames.

use crate::domain::{NotificationId, StoredNotification, StreamPos, UserId};
use bytestring::ByteString;
use chrono::format::{Fixed, Item, Numeric, Pad};
use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// Identifies the socket that made a change, so the change is not echoed back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u64);

/// One committed change for one user, ready to write to each of the user's sockets.
#[derive(Debug, Clone)]
pub struct Event {
    pub user_id: UserId,
    /// The change's position in the user's stream (`inbox_state.last_seq` after it): sessions
    /// deliver positions in order, drop repeats and repair gaps from the database.
    pub position: StreamPos,
    /// Set for new notifications: sessions drop one already sent by a replay.
    pub notification_id: Option<NotificationId>,
    pub origin: Option<SessionId>,
    /// The serialized push (`ServerFrame`), shared by every socket it goes to.
    pub frame: ByteString,
    /// When it was published (Unix microseconds), for the publish → delivery histogram.
    pub published_at_us: u64,
}

impl Event {
    /// A change to push: `frame` is one of the push frames (`Notification`, `NotificationRead`,
    /// `NotificationUnread`, `AllRead`, `NotificationDeleted`), serialized here once.
    pub fn new(user_id: UserId, position: StreamPos, origin: Option<SessionId>, frame: &ServerFrame<'_>) -> Event {
        let notification_id = match frame {
            ServerFrame::Notification { notification } => NotificationId::new(notification.id),
            _ => None,
        };
        Event { user_id, position, notification_id, origin, frame: frame.to_text(), published_at_us: unix_micros() }
    }
}

/// Now, in microseconds since the Unix epoch.
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A notification as clients see it (SPEC §3): a view of the stored row with `data` embedded as
/// raw JSON, timestamps in RFC 3339 UTC with microseconds and a `Z`, and internal columns
/// (`realtime`) left out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(
    description = "A notification, as every reply shows it (SPEC §3; `crate::event::Notification`).",
    example = json!({
        "id": 42, "user_id": 1, "sender_id": 7, "notification_type": "general", "title": "New Task Assigned",
        "message": "You have been assigned a new task", "data": {"task_id": 123},
        "link": "https://example.com/tasks/123", "is_read": false, "read_at": null,
        "created_at": "2026-11-24T09:10:44.123456Z"
    })
)]
pub struct Notification<'a> {
    #[schema(minimum = 1, format = Int64)]
    pub id: i64,
    #[schema(minimum = 1, format = Int64)]
    pub user_id: i64,
    /// The user whose token created it.
    #[schema(minimum = 1, format = Int64, required = true)]
    pub sender_id: Option<i64>,
    #[schema(value_type = crate::domain::NotificationType)]
    pub notification_type: &'a str,
    /// 1 to 200 characters, trimmed.
    #[schema(min_length = 1, max_length = 200)]
    pub title: &'a str,
    #[schema(max_length = 5000)]
    pub message: &'a str,
    /// A JSON object of at most 16 KiB serialized.
    #[serde(serialize_with = "raw_json")]
    #[schema(value_type = Object)]
    pub data: &'a str,
    /// An absolute http(s) URL, as given (trimmed).
    #[schema(required = true)]
    pub link: Option<&'a str>,
    pub is_read: bool,
    /// When it was first read (RFC 3339, UTC, microseconds); null while unread.
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub read_at: Option<NaiveDateTime>,
    /// RFC 3339, UTC, microseconds, e.g. `2026-11-24T09:10:44.123456Z`.
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
}

impl<'a> From<&'a StoredNotification> for Notification<'a> {
    fn from(row: &'a StoredNotification) -> Self {
        Notification {
            id: row.id,
            user_id: row.user_id,
            sender_id: row.sender_id,
            notification_type: &row.notification_type,
            title: &row.title,
            message: &row.message,
            data: &row.data,
            link: row.link.as_deref(),
            is_read: row.is_read,
            read_at: row.read_at,
            created_at: row.created_at,
        }
    }
}

/// Stored rows as a JSON array of `Notification`s.
#[derive(Debug)]
pub struct Notifications<'a>(pub &'a [StoredNotification]);

impl Serialize for Notifications<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Notification::from))
    }
}

/// The timestamp format, `%Y-%m-%dT%H:%M:%S%.6fZ`, as parsed items: formatting with them skips
/// parsing the format string on every timestamp (it showed in profiles of the create path).
pub const TIMESTAMP_FORMAT: &[Item<'static>] = &[
    Item::Numeric(Numeric::Year, Pad::Zero),
    Item::Literal("-"),
    Item::Numeric(Numeric::Month, Pad::Zero),
    Item::Literal("-"),
    Item::Numeric(Numeric::Day, Pad::Zero),
    Item::Literal("T"),
    Item::Numeric(Numeric::Hour, Pad::Zero),
    Item::Literal(":"),
    Item::Numeric(Numeric::Minute, Pad::Zero),
    Item::Literal(":"),
    Item::Numeric(Numeric::Second, Pad::Zero),
    Item::Fixed(Fixed::Nanosecond6),
    Item::Literal("Z"),
];

/// `at` in `TIMESTAMP_FORMAT`.
pub fn format_timestamp(at: &NaiveDateTime) -> impl std::fmt::Display {
    at.format_with_items(TIMESTAMP_FORMAT.iter())
}

fn timestamp<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_timestamp(at))
}

fn optional_timestamp<S: Serializer>(at: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => timestamp(at, s),
        None => s.serialize_none(),
    }
}

/// `data` is stored as serialized JSON; embed it as is (it was validated before it was stored).
fn raw_json<S: Serializer>(data: &&str, s: S) -> Result<S::Ok, S::Error> {
    let raw: &serde_json::value::RawValue = serde_json::from_str(data).map_err(serde::ser::Error::custom)?;
    raw.serialize(s)
}

/// Every frame the server sends (SPEC §5). Pushes travel as `Event`s; replies echo the request's
/// `request_id` (`to_reply`).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// The greeting. `last_id` is the user's newest notification id when it was read (0 when
    /// none): every change after it reaches this socket, so a client that has seen nothing
    /// resumes from it (`since=last_id`), never from 0.
    ConnectionEstablished {
        user_id: UserId,
        unread_count: i64,
        last_id: i64,
    },
    /// The socket missed reads, unreads or deletes it cannot be told one by one (a lost
    /// publish, a gap, retention): the client's list may be stale and should be fetched again
    /// (`get_notifications`). New notifications it missed were sent before this frame.
    Resync {
        unread_count: i64,
    },
    /// A new notification (push, replay and repair).
    Notification {
        notification: Notification<'a>,
    },
    Notifications {
        notifications: Notifications<'a>,
        total: i64,
        unread_count: i64,
        next_before: Option<i64>,
    },
    NotificationRead {
        notification_id: i64,
        unread_count: i64,
    },
    NotificationUnread {
        notification_id: i64,
        unread_count: i64,
    },
    AllRead {
        marked: i64,
        unread_count: i64,
    },
    NotificationDeleted {
        notification_id: i64,
        unread_count: i64,
    },
    NotificationSent {
        notification: Notification<'a>,
    },
    /// `notification_sent` when the recipient's preference suppressed it.
    #[serde(rename = "notification_sent")]
    NotificationSuppressed {
        suppressed: bool,
        reason: &'static str,
    },
    UnreadCount {
        unread_count: i64,
    },
    SyncComplete {
        last_id: i64,
    },
    Pong,
    TokenRefreshed {
        expires_at: String,
    },
    Error {
        code: &'static str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<&'static str>,
        /// `rate_limited`: seconds until a retry can be admitted (REST's `Retry-After`).
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
}

impl ServerFrame<'_> {
    /// Serialized once, as a text frame.
    pub fn to_text(&self) -> ByteString {
        // Serializing these plain values cannot fail.
        serde_json::to_string(self).map(ByteString::from).unwrap_or_default()
    }

    /// The frame as the reply to a request: its `request_id` (a string or number, as sent)
    /// appended when it had one.
    pub fn to_reply(&self, request_id: &Option<Value>) -> ByteString {
        with_request_id(serde_json::to_string(self).unwrap_or_default(), request_id)
    }
}

/// A serialized frame (a JSON object) with `request_id` appended when there is one: a reply, or a
/// reply recorded earlier and sent again (an idempotency key's replay).
pub fn with_request_id(mut text: String, request_id: &Option<Value>) -> ByteString {
    if let Some(id) = request_id {
        if text.ends_with('}') {
            text.pop();
            text.push_str(",\"request_id\":");
            text.push_str(&id.to_string());
            text.push('}');
        }
    }
    ByteString::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_format_as_rfc3339_utc_with_microseconds() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .and_then(|d| d.and_hms_micro_opt(3, 4, 5, 60))
            .expect("a valid time");
        assert_eq!(format_timestamp(&at).to_string(), "2026-01-02T03:04:05.000060Z");
        assert_eq!(format_timestamp(&at).to_string(), at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
    }

    fn parsed(text: &ByteString) -> Value {
        serde_json::from_str(text).expect("JSON")
    }

    #[test]
    fn frames_have_the_spec_shapes_and_replies_echo_the_request_id() {
        let pong = ServerFrame::Pong;
        assert_eq!(parsed(&pong.to_text()), json!({"type": "pong"}));
        assert_eq!(parsed(&pong.to_reply(&Some(json!("a\"1")))), json!({"type": "pong", "request_id": "a\"1"}));
        assert_eq!(parsed(&pong.to_reply(&Some(json!(7)))), json!({"type": "pong", "request_id": 7}));
        let read = ServerFrame::NotificationRead { notification_id: 4, unread_count: 2 };
        assert_eq!(
            parsed(&read.to_text()),
            json!({"type": "notification_read", "notification_id": 4, "unread_count": 2})
        );
        let suppressed = ServerFrame::NotificationSuppressed { suppressed: true, reason: "preference" };
        assert_eq!(
            parsed(&suppressed.to_text()),
            json!({"type": "notification_sent", "suppressed": true, "reason": "preference"})
        );
        let error =
            ServerFrame::Error { code: "validation_error", message: "bad".into(), field: None, retry_after: None };
        assert_eq!(parsed(&error.to_text()), json!({"type": "error", "code": "validation_error", "message": "bad"}));
        let hello =
            ServerFrame::ConnectionEstablished { user_id: UserId::new(3).expect("id"), unread_count: 1, last_id: 40 };
        assert_eq!(
            parsed(&hello.to_text()),
            json!({"type": "connection_established", "user_id": 3, "unread_count": 1, "last_id": 40})
        );
        assert_eq!(
            parsed(&ServerFrame::Resync { unread_count: 2 }.to_text()),
            json!({"type": "resync", "unread_count": 2})
        );
    }
}
