//! The vocabulary of what reaches a socket: `Event` (one committed change of one user, with its
//! place in the user's change stream), `SessionId` (the socket that made it) and `ServerFrame`,
//! every frame the server sends — pushes, replies and errors — serialized from one enum, once;
//! and `Notification`, what clients (REST and WebSocket) see of a stored notification.
//! No IO: the broker carries events, the hub fans them out, `ws` writes frames.

use crate::domain::{Category, NotificationId, Preference, Preferences, StreamPos, UserId};
use bytestring::ByteString;
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use view::optional_timestamp;

mod view;

pub use view::{format_timestamp, FilterView, Notification, Notifications, TIMESTAMP_FORMAT};

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
        unseen_count: i64,
    },
    /// The socket missed reads, unreads or deletes it cannot be told one by one (a lost
    /// publish, a gap, retention): the client's list may be stale and should be fetched again
    /// (`get_notifications`). New notifications it missed were sent before this frame.
    Resync {
        unread_count: i64,
        unseen_count: i64,
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
        unseen_count: i64,
    },
    NotificationRead {
        notification_id: i64,
        unread_count: i64,
        unseen_count: i64,
    },
    NotificationUnread {
        notification_id: i64,
        unread_count: i64,
        unseen_count: i64,
    },
    AllRead {
        marked: i64,
        unread_count: i64,
        unseen_count: i64,
    },
    NotificationDeleted {
        notification_id: i64,
        unread_count: i64,
        unseen_count: i64,
    },
    /// One state action on one or many notifications (seen, archive, unarchive, snooze, and
    /// every bulk action), in one frame: `ids` when at most 1,000 changed, else the `filter`
    /// the action was given (apply it to the list shown); `changed` counts them.
    NotificationsUpdated {
        action: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        ids: Option<&'a [i64]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        filter: Option<FilterView<'a>>,
        changed: usize,
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "optional_timestamp")]
        snooze_until: Option<NaiveDateTime>,
        unread_count: i64,
        unseen_count: i64,
    },
    /// Snoozed notifications whose time came: back, unread and unseen (a push, once across
    /// the cluster).
    NotificationsUnsnoozed {
        notifications: Notifications<'a>,
        unread_count: i64,
        unseen_count: i64,
    },
    /// The reply to `get_preferences` and `update_preferences`, as REST's body.
    Preferences {
        preferences: &'a Preferences,
        categories: BTreeMap<Category, Preference>,
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
        unseen_count: i64,
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
    use crate::domain::InboxFilter;
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
        let read = ServerFrame::NotificationRead { notification_id: 4, unread_count: 2, unseen_count: 1 };
        assert_eq!(
            parsed(&read.to_text()),
            json!({"type": "notification_read", "notification_id": 4, "unread_count": 2, "unseen_count": 1})
        );
        let suppressed = ServerFrame::NotificationSuppressed { suppressed: true, reason: "preference" };
        assert_eq!(
            parsed(&suppressed.to_text()),
            json!({"type": "notification_sent", "suppressed": true, "reason": "preference"})
        );
        let error =
            ServerFrame::Error { code: "validation_error", message: "bad".into(), field: None, retry_after: None };
        assert_eq!(parsed(&error.to_text()), json!({"type": "error", "code": "validation_error", "message": "bad"}));
        let hello = ServerFrame::ConnectionEstablished {
            user_id: UserId::new(3).expect("id"),
            unread_count: 1,
            last_id: 40,
            unseen_count: 1,
        };
        assert_eq!(
            parsed(&hello.to_text()),
            json!({"type": "connection_established", "user_id": 3, "unread_count": 1, "last_id": 40, "unseen_count": 1})
        );
        assert_eq!(
            parsed(&ServerFrame::Resync { unread_count: 2, unseen_count: 0 }.to_text()),
            json!({"type": "resync", "unread_count": 2, "unseen_count": 0})
        );
    }

    #[test]
    fn a_bulk_update_names_its_ids_or_repeats_its_filter() {
        let ids = [3, 5];
        let frame = ServerFrame::NotificationsUpdated {
            action: "archive",
            ids: Some(&ids),
            filter: None,
            changed: 2,
            snooze_until: None,
            unread_count: 1,
            unseen_count: 0,
        };
        assert_eq!(
            parsed(&frame.to_text()),
            json!({"type": "notifications_updated", "action": "archive", "ids": [3, 5], "changed": 2,
                   "unread_count": 1, "unseen_count": 0})
        );
        let filter = InboxFilter {
            read: Some(true),
            before: crate::domain::NotificationId::new(90),
            data: Some(r#"{"project":42}"#.into()),
            ..InboxFilter::default()
        };
        let frame = ServerFrame::NotificationsUpdated {
            action: "delete",
            ids: None,
            filter: Some(FilterView(&filter)),
            changed: 4000,
            snooze_until: None,
            unread_count: 0,
            unseen_count: 0,
        };
        assert_eq!(parsed(&frame.to_text())["filter"], json!({"read": true, "before": 90, "data": {"project": 42}}));
    }
}
