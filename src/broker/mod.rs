//! The broker carries committed changes to every node that has sessions of the user. Contract:
//! at most once, in order per publisher, a *hint only* — the database is the history and replay
//! repairs any gap. `inbox` is its only publisher. Each `Event` (`crate::event`) carries its frame
//! serialized once (`bytes::Bytes`, shared by refcount on fan-out).
//!
//! Implementations: `memory` (the embedded single-node default: a real bounded broker, not a test
//! double) and `redis` (multi-node deployments, on one Redis or on a Redis Cluster with sharded
//! pub/sub: `sharded`). `command_pool` holds the pooled connections for Redis commands off the
//! publish path. An enum rather than a trait object: two known
//! variants, static dispatch, and `async fn` without boxing.
//!
//! The interface: `publish`, `subscribe` (the stream of events arriving at this node), `checks`
//! (health), and for a broker that routes by user channel (Redis) `open_channels`: one
//! connection on which the node subscribes and unsubscribes users' channels in batches. What to
//! subscribe, when, and what to repair after a reconnect is decided by the node's one owner of
//! subscriptions (`crate::subscriptions`), not here; the broker knows nothing of the hub.

pub mod command_pool;
pub mod memory;
pub mod redis;
pub mod sharded;

use crate::domain::UserId;
use crate::event::Event;
use tokio::sync::broadcast;

/// The Redis channel of a user on one Redis (a cluster uses `sharded::user_channel`). The one
/// place this name is built.
pub fn user_channel(user: UserId) -> String {
    format!("herald:user:{user}")
}

#[derive(Clone)]
pub enum Broker {
    Memory(memory::MemoryBroker),
    Redis(redis::RedisBroker),
}

impl Broker {
    /// Publishes committed changes, in the order of the calls. Never fails nor waits for the
    /// broker: the change is already stored, so a lost event is logged and repaired by replay.
    pub fn publish(&self, events: Vec<Event>) {
        match self {
            Broker::Memory(broker) => broker.publish(events),
            Broker::Redis(broker) => broker.publish(events),
        }
    }

    /// Whether this node receives only the events of users whose channels it subscribed
    /// (Redis). The memory broker delivers every event to the node: always subscribed.
    pub fn routes_by_channel(&self) -> bool {
        matches!(self, Broker::Redis(_))
    }

    /// Opens the node's channel connection (only for a broker that `routes_by_channel`). Its
    /// messages arrive on `subscribe()`; it subscribes no user until told to.
    pub async fn open_channels(&self) -> Result<ChannelConnection, String> {
        match self {
            Broker::Memory(_) => Err("the memory broker has no channels: every event reaches this node".into()),
            Broker::Redis(broker) => broker.open_channels().await,
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

/// What a channel connection reports besides the answers to its commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Events were dropped somewhere in the cluster: every session repairs from the database.
    ResyncRequested,
    /// The connection ended: open another and subscribe everything again.
    Lost,
}

/// A broker's channel connection: batched subscribe/unsubscribe of users' channels, each
/// answered (true = confirmed) within a bounded time, and a ping.
pub enum ChannelConnection {
    Redis(redis::PubSubConnection),
    Sharded(sharded::ShardedConnection),
}

impl ChannelConnection {
    pub async fn subscribe(&mut self, users: &[UserId]) -> bool {
        match self {
            ChannelConnection::Redis(connection) => connection.subscribe(users).await,
            ChannelConnection::Sharded(connection) => connection.subscribe(users).await,
        }
    }

    pub async fn unsubscribe(&mut self, users: &[UserId]) -> bool {
        match self {
            ChannelConnection::Redis(connection) => connection.unsubscribe(users).await,
            ChannelConnection::Sharded(connection) => connection.unsubscribe(users).await,
        }
    }

    pub async fn ping(&mut self) -> bool {
        match self {
            ChannelConnection::Redis(connection) => connection.ping().await,
            ChannelConnection::Sharded(connection) => connection.ping().await,
        }
    }

    /// The next `Notice`; cancel-safe, for `select!`.
    pub async fn notice(&mut self) -> Notice {
        match self {
            ChannelConnection::Redis(connection) => connection.notice().await,
            ChannelConnection::Sharded(connection) => connection.notice().await,
        }
    }

    /// Every wanted channel is subscribed: the connection counts as up (readiness).
    pub fn ready(&self) {
        match self {
            ChannelConnection::Redis(connection) => connection.ready(),
            ChannelConnection::Sharded(connection) => connection.ready(),
        }
    }
}
