//! The vocabulary of what reaches a socket: `Event` (one committed change of one user, with its
//! place in the user's change stream), `SessionId` (the socket that made it) and `ServerFrame`,
//! every frame the server sends — pushes, replies and errors — serialized from one enum, once.
//! No IO: the broker carries events, the hub fans them out, `ws` writes frames.

use crate::db::models::NotificationRow;
use crate::domain::{NotificationId, UserId};
use bytestring::ByteString;
use serde::Serialize;
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
    pub seq: i64,
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
    pub fn new(user_id: UserId, seq: i64, origin: Option<SessionId>, frame: &ServerFrame<'_>) -> Event {
        let notification_id = match frame {
            ServerFrame::Notification { notification } => NotificationId::new(notification.id),
            _ => None,
        };
        Event { user_id, seq, notification_id, origin, frame: frame.to_text(), published_at_us: unix_micros() }
    }
}

/// Now, in microseconds since the Unix epoch.
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Every frame the server sends (SPEC §5). Pushes travel as `Event`s; replies echo the request's
/// `request_id` (`to_reply`).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    ConnectionEstablished {
        user_id: UserId,
        unread_count: i64,
    },
    /// A new notification (push, replay and repair).
    Notification {
        notification: &'a NotificationRow,
    },
    Notifications {
        notifications: &'a [NotificationRow],
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
        notification: &'a NotificationRow,
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
        let mut text = serde_json::to_string(self).unwrap_or_default();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let error = ServerFrame::Error { code: "validation_error", message: "bad".into(), field: None };
        assert_eq!(parsed(&error.to_text()), json!({"type": "error", "code": "validation_error", "message": "bad"}));
        let hello = ServerFrame::ConnectionEstablished { user_id: UserId::new(3).expect("id"), unread_count: 1 };
        assert_eq!(
            parsed(&hello.to_text()),
            json!({"type": "connection_established", "user_id": 3, "unread_count": 1})
        );
    }
}
