//! The broker carries committed changes to every node that has sessions of the user. Contract:
//! at most once, in order per publisher, a *hint only*: the database is the history and replay
//! repairs any gap. `inbox` is its only publisher. Each `Event` (`crate::event`) carries its
//! frame serialized once, shared by refcount on fan-out.
//!
//! Two implementations, an enum (static dispatch, `async fn` without boxing): `memory`, the
//! embedded single-node default (a real bounded broker, not a test double), and `redis`, for
//! several nodes on one Redis or a Redis Cluster. The interface: `publish`, `subscribe` (the
//! events arriving at this node), `checks` (health), for a broker that routes by user channel
//! `open_channels`, and the nodes' control channel (`publish_control`, `control_messages`,
//! `alive_nodes`) on which `crate::cluster` asks every node about itself. What to subscribe and when is `crate::subscriptions`'s; the broker
//! knows nothing of the hub.

pub mod error;
pub mod memory;
pub mod redis;

pub use self::redis::status::Notice;
pub use self::redis::ChannelConnection;
use crate::event::Event;
use error::ChannelError;
use tokio::sync::broadcast;

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
    pub async fn open_channels(&self) -> Result<ChannelConnection, ChannelError> {
        match self {
            Broker::Memory(_) => Err(ChannelError::NoChannels),
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

    /// Sends a control message to every node (this one too); false when the broker did not
    /// take it.
    pub async fn publish_control(&self, payload: &[u8]) -> bool {
        match self {
            Broker::Memory(broker) => broker.publish_control(payload),
            Broker::Redis(broker) => broker.publish_control(payload).await,
        }
    }

    /// The control messages arriving at this node.
    pub fn control_messages(&self) -> broadcast::Receiver<bytes::Bytes> {
        match self {
            Broker::Memory(broker) => broker.control_messages(),
            Broker::Redis(broker) => broker.control_messages(),
        }
    }

    /// The other nodes' instances alive by their heartbeats in Redis within `lease` (this
    /// node's included once its first heartbeat went); `None` for the memory broker, which has
    /// no other node.
    pub async fn alive_nodes(&self, lease: std::time::Duration) -> Result<Option<Vec<String>>, error::CommandError> {
        match self {
            Broker::Memory(_) => Ok(None),
            Broker::Redis(broker) => broker.alive_nodes(lease).await.map(Some),
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
