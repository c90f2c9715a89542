//! The Redis broker, for several nodes: committed changes are published on the recipient's
//! channel (`channels`), and each node holds one channel connection on which it subscribes a
//! user's channel while that user has sockets on the node. On one Redis (`standalone`) or a
//! Redis Cluster with sharded pub/sub (`cluster`): `Topology` is where the two part ways.
//!
//! `publish` never waits for Redis: it queues the events (`publish_queue`; the change is
//! committed and the caller answers at once) and one publisher task drains the queue, oldest
//! first, a pipeline at a time through one multiplexed connection: what queued while one
//! pipeline was in flight goes as the next one, so a busy node sends few round trips, in the
//! order the changes were published. A failure is logged and counted, never returned; the
//! events stay queued and go once Redis takes them again. What to subscribe and when is the
//! node's subscription owner's (`crate::subscriptions`); this module knows nothing of the hub.

pub mod channels;
pub mod cluster;
pub mod codec;
pub mod pool;
pub mod publish_queue;
pub mod standalone;
pub mod status;
pub mod timing;
pub mod topology;

use crate::broker::error::{ChannelError, CommandError, StartError};
use crate::config::RedisTarget;
use crate::domain::UserId;
use crate::event::Event;
use pool::CommandPool;
use publish_queue::PublishQueue;
use status::{Inbound, Notice, RedisStatus};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use timing::Backoff;
use tokio::sync::{broadcast, watch, Notify};
use tokio::time::timeout;
use topology::Topology;

/// Events per publish pipeline, at most.
const PUBLISH_BATCH: usize = 1000;
/// Control messages received and not yet read by the node's cluster view, at most (the oldest
/// are dropped beyond: an unanswered question is bounded by its asker's wait).
pub const CONTROL_CAPACITY: usize = 256;

/// The publishing connection, once it is up.
type Publisher = Topology<standalone::Publisher, cluster::Publisher>;

/// A node's channel connection: batched subscribe/unsubscribe of users' channels, each
/// answered (true = confirmed) within a bounded time, and a ping.
pub type ChannelConnection = Topology<standalone::Subscriber, cluster::Subscriber>;

#[derive(Clone)]
pub struct RedisBroker {
    publisher: Arc<Publisher>,
    /// Connections for everything but publishing and the channel connection: readiness, the
    /// cluster's slot map, the cluster-wide limits.
    pool: Arc<CommandPool>,
    /// Events to publish, in order, drained by the publisher task. Events held back by a
    /// failure are late, which is harmless: sessions drop repeats by stream position, and late
    /// events fill the gaps they left.
    queue: Arc<Mutex<PublishQueue>>,
    /// Wakes the publisher task.
    wake: Arc<Notify>,
    /// Events and control messages received by this node's channel connection.
    inbound: Inbound,
    pub status: Arc<RedisStatus>,
}

impl RedisBroker {
    /// Starts the publisher connection and the publisher task in the background; the node
    /// serves meanwhile (not ready until Redis answers). The channel connection is opened by
    /// the node's subscription owner (`open_channels`).
    pub fn start(
        redis: &RedisTarget,
        capacity: usize,
        max_queued_bytes: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<RedisBroker, StartError> {
        let (variable, publisher, pool) = match redis {
            RedisTarget::Standalone(url) => (
                "REDIS_URL",
                standalone::Publisher::start(url, shutdown.clone()).map(Topology::Standalone),
                CommandPool::standalone(url),
            ),
            RedisTarget::Cluster(seeds) => (
                "REDIS_CLUSTER_URLS",
                cluster::Publisher::start(seeds, shutdown.clone()).map(Topology::Cluster),
                CommandPool::cluster(seeds),
            ),
        };
        let publisher = publisher.map_err(|source| StartError::Redis { variable, source })?;
        let pool = pool.map_err(|source| StartError::Pool { variable, source })?;
        let inbound =
            Inbound { events: broadcast::channel(capacity).0, control: broadcast::channel(CONTROL_CAPACITY).0 };
        let broker = RedisBroker {
            publisher: Arc::new(publisher),
            pool: Arc::new(pool),
            queue: Arc::new(Mutex::new(PublishQueue::new(max_queued_bytes))),
            wake: Arc::default(),
            inbound,
            status: Arc::default(),
        };
        tokio::spawn(broker.clone().publish_queued(shutdown));
        Ok(broker)
    }

    /// The pool for commands off the publish path (see `pool`).
    pub fn command_pool(&self) -> Arc<CommandPool> {
        self.pool.clone()
    }

    /// Queues committed changes for the publisher task; never waits for Redis.
    pub fn publish(&self, events: Vec<Event>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.is_failing() {
            self.status.publish_failures.fetch_add(events.len() as u64, Ordering::Relaxed);
        }
        queue.push_back(events);
        drop(queue);
        self.wake.notify_one();
    }

    /// The publisher task: publishes queued events, oldest first, a pipeline at a time, until
    /// the queue is empty; backs off while Redis refuses them. A resync owed after dropped
    /// events is sent first, before anything queued after the drop. At shutdown it goes on while
    /// requests in flight still publish, and stops once none has for `Backoff::MAX` (or while
    /// Redis refuses publishes).
    async fn publish_queued(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::default();
        loop {
            let (resync_owed, batch) = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if queue.resync_owed() {
                    (true, Vec::new())
                } else {
                    (false, queue.take(PUBLISH_BATCH))
                }
            };
            if !resync_owed && batch.is_empty() {
                if !self.wait_for_events(&mut shutdown).await {
                    return;
                }
                continue;
            }
            let published = if resync_owed { self.publish_resync().await } else { self.publish_batch(batch).await };
            if published {
                backoff.reset();
            } else if !backoff.wait(&mut shutdown).await {
                return;
            }
        }
    }

    /// Waits until events are queued; false when the task should stop: at shutdown, once none
    /// has come for `Backoff::MAX` (requests still in flight commit and publish meanwhile).
    async fn wait_for_events(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        if *shutdown.borrow() {
            return timeout(Backoff::MAX, self.wake.notified()).await.is_ok();
        }
        tokio::select! {
            changed = shutdown.changed() => changed.is_ok(),
            _ = self.wake.notified() => true,
        }
    }

    /// Publishes a batch; true when all of it went. What did not go is queued again in front,
    /// in order, and counted once per outage.
    async fn publish_batch(&self, batch: Vec<Event>) -> bool {
        let unpublished = match &*self.publisher {
            Topology::Standalone(publisher) => publisher.publish(batch).await,
            Topology::Cluster(publisher) => publisher.publish(batch).await,
        };
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if unpublished.is_empty() {
            queue.published();
            return true;
        }
        let count = unpublished.len() as u64;
        if queue.unpublished(unpublished) {
            self.status.publish_failures.fetch_add(count, Ordering::Relaxed);
        }
        false
    }

    /// Tells every node (this one too) to repair all its sessions from the database; true when
    /// it went, and the resync is no longer owed.
    async fn publish_resync(&self) -> bool {
        let published = match &*self.publisher {
            Topology::Standalone(publisher) => publisher.publish_resync().await,
            Topology::Cluster(publisher) => publisher.publish_resync().await,
        };
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if published {
            log::info!("published a resync: every node repairs its sessions from the database");
            queue.resynced();
        } else {
            queue.unpublished(Vec::new());
        }
        published
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inbound.events.subscribe()
    }

    /// The control messages arriving at this node (`crate::cluster`).
    pub fn control_messages(&self) -> broadcast::Receiver<bytes::Bytes> {
        self.inbound.control.subscribe()
    }

    /// Sends a message to every node's cluster view (this one's too); false when Redis did
    /// not take it.
    pub async fn publish_control(&self, payload: &[u8]) -> bool {
        match &*self.publisher {
            Topology::Standalone(publisher) => publisher.publish_control(payload).await,
            Topology::Cluster(publisher) => publisher.publish_control(payload).await,
        }
    }

    /// The node instances whose last heartbeat (`crate::limits::cluster`) is younger than
    /// `lease`.
    pub async fn alive_nodes(&self, lease: std::time::Duration) -> Result<Vec<String>, CommandError> {
        let since = timing::unix_ms().saturating_sub(lease.as_millis() as u64);
        self.pool.query(redis::cmd("ZRANGEBYSCORE").arg(channels::NODES_KEY).arg(since).arg("+inf")).await
    }

    /// Opens a channel connection subscribed to the resync channel (and to no user yet), with
    /// its reader. The caller subscribes the users it wants.
    pub async fn open_channels(&self) -> Result<ChannelConnection, ChannelError> {
        Ok(match &*self.publisher {
            Topology::Standalone(publisher) => Topology::Standalone(
                standalone::Subscriber::open(publisher.client(), &self.inbound, &self.status).await?,
            ),
            Topology::Cluster(publisher) => Topology::Cluster(
                cluster::Subscriber::open(publisher.seed(), &self.pool, &self.inbound, &self.status).await?,
            ),
        })
    }

    /// Whether Redis takes publishes now: the publisher connected once, and Redis answers
    /// through the command pool.
    pub async fn publisher_ready(&self) -> bool {
        let connected = match &*self.publisher {
            Topology::Standalone(publisher) => publisher.is_connected(),
            Topology::Cluster(publisher) => publisher.is_connected(),
        };
        connected && self.pool.answers().await
    }
}

impl ChannelConnection {
    pub async fn subscribe(&mut self, users: &[UserId]) -> bool {
        match self {
            Topology::Standalone(connection) => connection.subscribe(users).await,
            Topology::Cluster(connection) => connection.subscribe(users).await,
        }
    }

    pub async fn unsubscribe(&mut self, users: &[UserId]) -> bool {
        match self {
            Topology::Standalone(connection) => connection.unsubscribe(users).await,
            Topology::Cluster(connection) => connection.unsubscribe(users).await,
        }
    }

    pub async fn ping(&mut self) -> bool {
        match self {
            Topology::Standalone(connection) => connection.ping().await,
            Topology::Cluster(connection) => connection.ping().await,
        }
    }

    /// The next `Notice`; cancel-safe, for `select!`.
    pub async fn notice(&mut self) -> Notice {
        match self {
            Topology::Standalone(connection) => connection.notice().await,
            Topology::Cluster(connection) => connection.notice().await,
        }
    }

    /// Every wanted channel is subscribed: the connection counts as up (readiness).
    pub fn ready(&self) {
        match self {
            Topology::Standalone(connection) => connection.ready(),
            Topology::Cluster(connection) => connection.ready(),
        }
    }
}
