//! The Redis broker, for clusters: committed changes are PUBLISHed on the recipient's channel
//! `herald:user:{id}`; each node holds ONE subscriber connection and subscribes to a user's
//! channel while that user has sockets on the node.
//!
//! - `publish` never waits for Redis: it queues the events (the change is committed; a caller
//!   answers at once) and one publisher task drains the queue, oldest first, as PUBLISH
//!   pipelines through one multiplexed, auto-reconnecting `ConnectionManager` with short
//!   timeouts: what queued while one pipeline was in flight goes as the next one, so a busy node
//!   sends few round trips, in the order the changes were published. A failure is logged and
//!   counted, never returned; the events stay queued and go once Redis takes them again.
//! - The pub/sub connection (`PubSubConnection`) is opened and driven by the node's
//!   `subscriptions` owner, which decides what to subscribe, when, and what to do after a
//!   reconnect. This module only speaks Redis: SUBSCRIBE/UNSUBSCRIBE of user channels and PING,
//!   each bounded by `COMMAND_TIMEOUT`. Messages are read by a separate task, so a SUBSCRIBE in
//!   flight never delays pushes to other users; it forwards events to the broker's event stream
//!   and reports a resync request or the connection's end to the owner (`Notice`).
//! - While Redis refuses publishes the queue is bounded by bytes. When it overflows, the whole
//!   queue is dropped and, once Redis takes publishes again, a message on `herald:resync` makes
//!   every node's sessions repair from the database (the history): nothing is lost, however long
//!   the outage. While Redis answers, the queue holds what arrived during one pipeline (each
//!   bounded by `REDIS_TIMEOUT`).
//!
//! It knows nothing of the hub or of sessions.

use super::command_pool::CommandPool;
use super::sharded::{self, ShardedConnection};
use super::{user_channel, ChannelConnection, Notice};
use crate::config::RedisTarget;
use crate::domain::{NotificationId, UserId};
use crate::event::{Event, SessionId};
use bytestring::ByteString;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch, OnceCell};
use tokio::time::{sleep, timeout};

const CHANNEL_PREFIX: &str = "herald:user:";
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest a SUBSCRIBE, UNSUBSCRIBE or PING on the pub/sub connection may take before the
/// connection counts as lost.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Capped so pushes resume within about a second of Redis answering again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Events per PUBLISH pipeline, at most.
const PUBLISH_BATCH: usize = 1000;
/// Every node subscribes to this channel: a message on it makes every session repair its stream
/// from the database (sent after a publisher dropped events it could not publish).
const RESYNC_CHANNEL: &str = "herald:resync";

/// Health and counters of the Redis connections, for readiness and metrics.
#[derive(Default)]
pub struct RedisStatus {
    pub subscriber_up: AtomicBool,
    /// A pub/sub connection has been ready before: the next one is a reconnect.
    subscriber_was_up: AtomicBool,
    pub reconnects: AtomicU64,
    pub publish_failures: AtomicU64,
}

impl RedisStatus {
    /// Everything wanted is subscribed: the subscriber counts as up (readiness), and a
    /// connection after the first counts as a reconnect (metrics).
    pub fn mark_subscriber_ready(&self) {
        self.subscriber_up.store(true, Ordering::Release);
        if self.subscriber_was_up.swap(true, Ordering::AcqRel) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Events not yet published, in order, and what they weigh.
#[derive(Default)]
struct Outbox {
    events: std::collections::VecDeque<Event>,
    bytes: usize,
    /// The last PUBLISH failed: Redis refuses publishes until one succeeds.
    failing: bool,
    /// Events were dropped: every node must resync once Redis takes publishes again.
    resync_owed: bool,
}

impl Outbox {
    fn weight(event: &Event) -> usize {
        std::mem::size_of::<Event>() + event.frame.len()
    }

    fn push_back(&mut self, event: Event) {
        self.bytes += Self::weight(&event);
        self.events.push_back(event);
    }

    fn push_front(&mut self, event: Event) {
        self.bytes += Self::weight(&event);
        self.events.push_front(event);
    }

    fn take(&mut self, n: usize) -> Vec<Event> {
        let taken: Vec<Event> = self.events.drain(..n.min(self.events.len())).collect();
        self.bytes -= taken.iter().map(Self::weight).sum::<usize>();
        taken
    }

    /// Drops everything queued; the database repairs it (see `resync_owed`).
    fn drop_all(&mut self) -> usize {
        let dropped = self.events.len();
        self.events.clear();
        self.bytes = 0;
        self.resync_owed = true;
        dropped
    }
}

/// The Redis the broker talks to, with its publishing connection once it is up.
#[derive(Clone)]
enum Target {
    /// One Redis: classic PUBLISH/SUBSCRIBE on `herald:user:{id}`.
    Standalone { client: redis::Client, publisher: Arc<OnceCell<ConnectionManager>> },
    /// A Redis Cluster: sharded pub/sub (`super::sharded`); `seed` names the first seed node,
    /// whose credentials and TLS settings the per-master subscriber connections reuse.
    Cluster { seed: String, publisher: Arc<OnceCell<ClusterConnection>> },
}

#[derive(Clone)]
pub struct RedisBroker {
    target: Arc<Target>,
    /// Connections for everything but publishing and the pub/sub connection: readiness, the
    /// cluster's slot map, the cluster-wide limits.
    pool: Arc<CommandPool>,
    /// Events to publish, in order, drained by the publisher task. Events held back by a
    /// failure are late, which is harmless: sessions drop repeats by stream position, and late
    /// events fill the gaps they left.
    outbox: Arc<std::sync::Mutex<Outbox>>,
    /// Most bytes `outbox` may hold while Redis refuses publishes (`HERALD_REDIS_REPUBLISH_BYTES`).
    max_unpublished_bytes: usize,
    /// Wakes the publisher task.
    wake: Arc<tokio::sync::Notify>,
    /// Events received by this node's pub/sub connection.
    inbound: broadcast::Sender<Event>,
    pub status: Arc<RedisStatus>,
}

impl RedisBroker {
    /// Starts the publisher connection and its publisher task in the background; the node serves
    /// meanwhile (not ready until Redis answers). The pub/sub connection is opened by the
    /// node's `subscriptions` owner (`open_channels`).
    pub fn start(
        redis: &RedisTarget,
        capacity: usize,
        max_unpublished_bytes: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<RedisBroker, String> {
        let (target, pool) = match redis {
            RedisTarget::Standalone(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| format!("REDIS_URL: {e}"))?;
                let publisher = Arc::new(OnceCell::new());
                tokio::spawn(connect_publisher(client.clone(), publisher.clone(), shutdown.clone()));
                let pool = CommandPool::standalone(url).map_err(|e| format!("REDIS_URL: {e}"))?;
                (Target::Standalone { client, publisher }, pool)
            }
            RedisTarget::Cluster(seeds) => {
                let client = ClusterClient::builder(seeds.iter().map(String::as_str))
                    .connection_timeout(REDIS_TIMEOUT)
                    .response_timeout(REDIS_TIMEOUT)
                    .retries(2)
                    .min_retry_wait(50)
                    .max_retry_wait(500)
                    .build()
                    .map_err(|e| format!("REDIS_CLUSTER_URLS: {e}"))?;
                let publisher = Arc::new(OnceCell::new());
                tokio::spawn(connect_cluster_publisher(client, publisher.clone(), shutdown.clone()));
                let pool = CommandPool::cluster(seeds).map_err(|e| format!("REDIS_CLUSTER_URLS: {e}"))?;
                (Target::Cluster { seed: seeds[0].clone(), publisher }, pool)
            }
        };
        let (inbound, _) = broadcast::channel(capacity);
        let broker = RedisBroker {
            target: Arc::new(target),
            pool: Arc::new(pool),
            outbox: Arc::default(),
            max_unpublished_bytes,
            wake: Arc::default(),
            inbound,
            status: Arc::default(),
        };
        tokio::spawn(broker.clone().publish_queued(shutdown));
        Ok(broker)
    }

    /// The pool for commands off the publish path (see `command_pool`).
    pub fn command_pool(&self) -> Arc<CommandPool> {
        self.pool.clone()
    }

    /// Queues committed changes for the publisher task; never waits for Redis.
    pub fn publish(&self, events: Vec<Event>) {
        let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        if outbox.failing {
            self.status.publish_failures.fetch_add(events.len() as u64, Ordering::Relaxed);
        }
        for event in events {
            outbox.push_back(event);
        }
        self.drop_if_overflowing(&mut outbox);
        drop(outbox);
        self.wake.notify_one();
    }

    /// While Redis refuses publishes, a queue over its bound is dropped whole (see the module).
    fn drop_if_overflowing(&self, outbox: &mut Outbox) {
        if outbox.failing && outbox.bytes > self.max_unpublished_bytes {
            let dropped = outbox.drop_all();
            log::warn!(
                "republish queue over {} bytes: dropped {dropped} event(s); every node resyncs from the database once Redis is back",
                self.max_unpublished_bytes
            );
        }
    }

    /// Publishes a batch; returns the events that were not published, in order. On one Redis,
    /// one PUBLISH pipeline, retried once at once, since the connection manager answers the
    /// first command after an outage with the stale error and reconnects only then. On a
    /// cluster, one SPUBLISH pipeline per partition (`sharded::publish`).
    async fn try_publish(&self, events: Vec<Event>) -> Vec<Event> {
        match &*self.target {
            Target::Standalone { publisher, .. } => {
                let Some(manager) = publisher.get() else { return events };
                let mut pipe = redis::pipe();
                for event in &events {
                    pipe.publish(user_channel(event.user_id), encode(event)).ignore();
                }
                for attempt in 0..2 {
                    let mut conn = manager.clone();
                    match pipe.query_async::<()>(&mut conn).await {
                        Ok(()) => return Vec::new(),
                        Err(err) if attempt == 1 => {
                            log::warn!("redis publish failed ({} event(s) queued for retry): {err}", events.len())
                        }
                        Err(_) => {}
                    }
                }
                events
            }
            Target::Cluster { publisher, .. } => {
                let Some(connection) = publisher.get() else { return events };
                let count = events.len();
                let unpublished = sharded::publish(connection, events, REDIS_TIMEOUT).await;
                if !unpublished.is_empty() {
                    log::warn!(
                        "redis cluster publish failed for {} of {count} event(s), queued for retry",
                        unpublished.len()
                    );
                }
                unpublished
            }
        }
    }

    /// The publisher task: publishes queued events, oldest first, a pipeline at a time, until
    /// the queue is empty; backs off while Redis refuses them. A resync owed after dropped
    /// events is sent first, before anything queued after the drop. At shutdown it goes on while
    /// requests in flight still publish, and stops once none has for `MAX_BACKOFF` (or while
    /// Redis refuses publishes).
    async fn publish_queued(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let (resync_owed, batch) = {
                let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
                if outbox.resync_owed {
                    (true, Vec::new())
                } else {
                    (false, outbox.take(PUBLISH_BATCH))
                }
            };
            if !resync_owed && batch.is_empty() {
                if *shutdown.borrow() {
                    // Stopping: requests still in flight commit and publish; serve them until
                    // none has come for a while.
                    if timeout(MAX_BACKOFF, self.wake.notified()).await.is_err() {
                        return;
                    }
                    continue;
                }
                tokio::select! {
                    changed = shutdown.changed() => if changed.is_err() { return },
                    _ = self.wake.notified() => {}
                }
                continue;
            }
            let (published, unpublished) = if resync_owed {
                (self.publish_resync().await, Vec::new())
            } else {
                let unpublished = self.try_publish(batch).await;
                (unpublished.is_empty(), unpublished)
            };
            {
                let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
                if published {
                    outbox.failing = false;
                    outbox.resync_owed &= !resync_owed;
                } else {
                    if !outbox.failing {
                        self.status.publish_failures.fetch_add(unpublished.len() as u64, Ordering::Relaxed);
                        outbox.failing = true;
                    }
                    for event in unpublished.into_iter().rev() {
                        outbox.push_front(event);
                    }
                    self.drop_if_overflowing(&mut outbox);
                }
            }
            if published {
                backoff = MIN_BACKOFF;
                continue;
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Tells every node (this one too) to repair all its sessions from the database.
    async fn publish_resync(&self) -> bool {
        let published = match &*self.target {
            Target::Standalone { publisher, .. } => {
                let Some(manager) = publisher.get() else { return false };
                let mut published = false;
                for _ in 0..2 {
                    let mut conn = manager.clone();
                    let mut publish = redis::cmd("PUBLISH");
                    publish.arg(RESYNC_CHANNEL).arg("events dropped");
                    if matches!(timeout(REDIS_TIMEOUT, publish.query_async::<i64>(&mut conn)).await, Ok(Ok(_))) {
                        published = true;
                        break;
                    }
                }
                published
            }
            Target::Cluster { publisher, .. } => {
                let Some(connection) = publisher.get() else { return false };
                sharded::publish_resync(connection, REDIS_TIMEOUT).await
            }
        };
        if published {
            log::info!("published a resync: every node repairs its sessions from the database");
        }
        published
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inbound.subscribe()
    }

    /// Opens a pub/sub connection subscribed to `herald:resync` (and to no user yet), with its
    /// reader task. The caller subscribes the users it wants.
    pub async fn open_channels(&self) -> Result<ChannelConnection, String> {
        let client = match &*self.target {
            Target::Standalone { client, .. } => client,
            Target::Cluster { seed, .. } => {
                return ShardedConnection::open(seed, &self.pool, &self.inbound, &self.status)
                    .await
                    .map(ChannelConnection::Sharded);
            }
        };
        let pubsub = match timeout(REDIS_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(err)) => return Err(err.to_string()),
            Err(_) => return Err(format!("no connection within {REDIS_TIMEOUT:?}")),
        };
        let (sink, mut stream) = pubsub.split();
        // One pending request is enough: it repairs every session.
        let (notices, notices_rx) = mpsc::channel(1);
        let forward_to = self.inbound.clone();
        let reader = tokio::spawn(async move {
            while let Some(message) = stream.next().await {
                let channel = message.get_channel_name();
                if channel == RESYNC_CHANNEL {
                    log::info!("resync requested through redis: every session repairs from the database");
                    let _ = notices.try_send(Notice::ResyncRequested);
                    continue;
                }
                match decode(channel, message.get_payload_bytes()) {
                    Some(event) => {
                        let _ = forward_to.send(event);
                    }
                    None => log::warn!("ignoring malformed message on {channel}"),
                }
            }
            // Dropping `notices` tells the connection's owner that the connection ended.
        });
        let mut connection = PubSubConnection { sink, notices: notices_rx, reader, status: self.status.clone() };
        if !matches!(timeout(COMMAND_TIMEOUT, connection.sink.subscribe(RESYNC_CHANNEL)).await, Ok(Ok(()))) {
            return Err(format!("SUBSCRIBE {RESYNC_CHANNEL} failed"));
        }
        Ok(ChannelConnection::Redis(connection))
    }

    /// Whether Redis answers now, through the command pool (whose checkout drops a connection
    /// an outage broke): a PING, or on a cluster `CLUSTER INFO` saying `cluster_state:ok`.
    pub async fn publisher_ready(&self) -> bool {
        let published_before = match &*self.target {
            Target::Standalone { publisher, .. } => publisher.get().is_some(),
            Target::Cluster { publisher, .. } => publisher.get().is_some(),
        };
        if !published_before {
            return false;
        }
        match &*self.target {
            Target::Standalone { .. } => self.pool.query::<String>(&redis::cmd("PING")).await.is_ok(),
            Target::Cluster { .. } => self
                .pool
                .query::<String>(redis::cmd("CLUSTER").arg("INFO"))
                .await
                .is_ok_and(|info| info.lines().any(|line| line.trim() == "cluster_state:ok")),
        }
    }
}

/// `"{seq} {notification_id or 0} {origin or 0} {published_at_us}\n{frame}"`.
pub(super) fn encode(event: &Event) -> Vec<u8> {
    let header = format!(
        "{} {} {} {}\n",
        event.seq,
        event.notification_id.map(NotificationId::get).unwrap_or(0),
        event.origin.map(|o| o.0).unwrap_or(0),
        event.published_at_us
    );
    let mut payload = Vec::with_capacity(header.len() + event.frame.len());
    payload.extend_from_slice(header.as_bytes());
    payload.extend_from_slice(event.frame.as_bytes());
    payload
}

fn decode(channel: &str, payload: &[u8]) -> Option<Event> {
    let user_id = UserId::parse_str(channel.strip_prefix(CHANNEL_PREFIX)?)?;
    decode_payload(user_id, bytes::Bytes::copy_from_slice(payload))
}

/// The event in a message's payload, for the user its channel names. The frame is a slice of
/// `payload`, not a copy.
pub(super) fn decode_payload(user_id: UserId, mut payload: bytes::Bytes) -> Option<Event> {
    let split = payload.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&payload[..split]).ok()?;
    let mut fields = header.split(' ');
    let seq = fields.next()?.parse::<i64>().ok()?;
    let notification_id = NotificationId::new(fields.next()?.parse().ok()?);
    let origin = fields.next()?.parse::<u64>().ok().filter(|o| *o != 0).map(SessionId);
    let published_at_us = fields.next()?.parse::<u64>().ok()?;
    let frame = ByteString::try_from(payload.split_off(split + 1)).ok()?;
    Some(Event { user_id, seq, notification_id, origin, frame, published_at_us })
}

async fn connect_cluster_publisher(
    client: ClusterClient,
    cell: Arc<OnceCell<ClusterConnection>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match timeout(REDIS_TIMEOUT * 2, client.get_async_connection()).await {
            Ok(Ok(connection)) => {
                let _ = cell.set(connection);
                return;
            }
            Ok(Err(err)) => log::warn!("redis cluster publisher cannot connect yet: {err}"),
            Err(_) => log::warn!("redis cluster publisher cannot connect yet: no answer"),
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect_publisher(
    client: redis::Client,
    cell: Arc<OnceCell<ConnectionManager>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_min_delay(MIN_BACKOFF)
        .set_max_delay(MAX_BACKOFF);
    let mut backoff = MIN_BACKOFF;
    loop {
        match client.get_connection_manager_with_config(config.clone()).await {
            Ok(manager) => {
                let _ = cell.set(manager);
                return;
            }
            Err(err) => log::warn!("redis publisher cannot connect yet: {err}"),
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The node's pub/sub connection. Dropping it closes it and marks the subscriber down.
pub struct PubSubConnection {
    sink: redis::aio::PubSubSink,
    notices: mpsc::Receiver<Notice>,
    reader: tokio::task::JoinHandle<()>,
    status: Arc<RedisStatus>,
}

impl PubSubConnection {
    /// SUBSCRIBEs the users' channels; true once Redis confirmed it.
    pub async fn subscribe(&mut self, users: &[UserId]) -> bool {
        let channels: Vec<String> = users.iter().map(|u| user_channel(*u)).collect();
        matches!(timeout(COMMAND_TIMEOUT, self.sink.subscribe(channels)).await, Ok(Ok(())))
    }

    /// UNSUBSCRIBEs the users' channels; true once Redis confirmed it.
    pub async fn unsubscribe(&mut self, users: &[UserId]) -> bool {
        let channels: Vec<String> = users.iter().map(|u| user_channel(*u)).collect();
        matches!(timeout(COMMAND_TIMEOUT, self.sink.unsubscribe(channels)).await, Ok(Ok(())))
    }

    /// In subscribed mode PING answers a list, hence `redis::Value`.
    pub async fn ping(&mut self) -> bool {
        matches!(timeout(COMMAND_TIMEOUT, self.sink.ping::<redis::Value>()).await, Ok(Ok(_)))
    }

    /// Waits for the reader's next report; `Lost` once the connection ended. Cancel-safe.
    pub async fn notice(&mut self) -> Notice {
        self.notices.recv().await.unwrap_or(Notice::Lost)
    }

    /// Everything wanted is subscribed: the subscriber counts as up (readiness), and a
    /// connection after the first counts as a reconnect (metrics).
    pub fn ready(&self) {
        self.status.mark_subscriber_ready();
    }
}

impl Drop for PubSubConnection {
    fn drop(&mut self) {
        self.reader.abort();
        self.status.subscriber_up.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_the_wire_format() {
        let event = Event {
            user_id: UserId::new(42).expect("id"),
            seq: 7,
            notification_id: NotificationId::new(99),
            origin: Some(SessionId(12345)),
            frame: ByteString::from_static(r#"{"type":"notification","notification":{"title":"a\nb"}}"#),
            published_at_us: 1_700_000_000_000_000,
        };
        let decoded = decode(&user_channel(event.user_id), &encode(&event)).expect("decodes");
        assert_eq!(
            (decoded.user_id, decoded.seq, decoded.notification_id, decoded.origin),
            (event.user_id, 7, event.notification_id, event.origin)
        );
        assert_eq!(decoded.frame, event.frame);
        assert_eq!(decoded.published_at_us, event.published_at_us);
        let read = Event { notification_id: None, origin: None, ..event };
        let decoded = decode("herald:user:42", &encode(&read)).expect("decodes");
        assert_eq!((decoded.notification_id, decoded.origin), (None, None));
        assert!(decode("other:42", &encode(&read)).is_none());
    }
}
