//! The broker carries committed changes to every node that has sessions of the user. Contract:
//! at most once, in order per publisher, a *hint only* — the database is the history and replay
//! repairs any gap. `inbox` is its only publisher. Each `Event` carries its frame serialized once
//! (`bytes::Bytes`, shared by refcount on fan-out).
//!
//! Implementations: `memory` (the embedded single-node default: a real bounded broker, not a test
//! double). The Redis implementation joins this enum for multi-node clusters. An enum rather
//! than a trait object: two known variants, static dispatch, and `async fn` without boxing.

pub mod memory;
pub mod redis;

use crate::db::models::NotificationRow;
use crate::domain::{NotificationId, UserId};
use bytestring::ByteString;
use serde::Serialize;
use tokio::sync::broadcast;

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
    /// The serialized `PushFrame`, shared by every socket it goes to.
    pub frame: ByteString,
    /// When it was published (Unix microseconds), for the publish → delivery histogram.
    pub published_at_us: u64,
}

/// The frames pushed to a user's sockets when something changes (SPEC §5).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PushFrame<'a> {
    Notification { notification: &'a NotificationRow },
    NotificationRead { notification_id: i64, unread_count: i64 },
    NotificationUnread { notification_id: i64, unread_count: i64 },
    AllRead { marked: i64, unread_count: i64 },
    NotificationDeleted { notification_id: i64, unread_count: i64 },
}

impl Event {
    pub fn new(user_id: UserId, seq: i64, origin: Option<SessionId>, frame: &PushFrame<'_>) -> Event {
        let notification_id = match frame {
            PushFrame::Notification { notification } => NotificationId::new(notification.id),
            _ => None,
        };
        Event { user_id, seq, notification_id, origin, frame: frame.to_text(), published_at_us: unix_micros() }
    }
}

/// Now, in microseconds since the Unix epoch.
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

impl PushFrame<'_> {
    /// Serialized once, as a text frame.
    pub fn to_text(&self) -> ByteString {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).map(ByteString::from).unwrap_or_default()
    }
}

/// The Redis channel of a user. The one place this name is built.
pub fn user_channel(user: UserId) -> String {
    format!("herald:user:{user}")
}

#[derive(Clone)]
pub enum Broker {
    Memory(memory::MemoryBroker),
    Redis(redis::RedisBroker),
}

impl Broker {
    /// Publishes committed changes. Never fails the caller: the change is already stored, so a
    /// lost event is logged and repaired by replay.
    pub async fn publish(&self, events: Vec<Event>) {
        match self {
            Broker::Memory(broker) => broker.publish(events),
            Broker::Redis(broker) => broker.publish(events).await,
        }
    }

    /// The user has a first socket on this node: start receiving their events.
    /// Never waits (see `redis::RedisBroker::watch`).
    pub fn watch(&self, user: UserId) {
        if let Broker::Redis(broker) = self {
            broker.watch(user);
        }
    }

    /// The user's last socket on this node closed.
    pub fn unwatch(&self, user: UserId) {
        if let Broker::Redis(broker) = self {
            broker.unwatch(user);
        }
    }

    /// The stream of events arriving at this node, for its delivery task.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        match self {
            Broker::Memory(broker) => broker.subscribe(),
            Broker::Redis(broker) => broker.subscribe(),
        }
    }

    /// Readiness of the broker's parts, by name; `true` when that part works now.
    pub async fn checks(&self) -> Vec<(&'static str, bool)> {
        match self {
            Broker::Memory(_) => vec![("broker", true)],
            Broker::Redis(broker) => vec![
                ("redis_publisher", broker.publisher_ready().await),
                ("redis_subscriber", broker.status.subscriber_up.load(std::sync::atomic::Ordering::Acquire)),
            ],
        }
    }
}
