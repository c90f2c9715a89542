//! The Redis broker, for clusters: committed changes are PUBLISHed on the recipient's channel
//! `herald:user:{id}`; each node holds ONE subscriber connection and subscribes to a user's
//! channel while that user has sockets on the node.
//!
//! - PUBLISH goes through one multiplexed, auto-reconnecting `ConnectionManager` with short
//!   timeouts; a failure is logged and counted, never returned (the change is committed). The
//!   failed events are republished in order once Redis takes them again (bounded queue).
//! - The subscriber is an actor owning the subscription sink: it batches SUBSCRIBE/UNSUBSCRIBE,
//!   unsubscribes late (re-checked against the hub, so tab reloads do not churn), pings every
//!   second, and on any failure reconnects with capped backoff, resubscribes every local user
//!   and tells every local session to repair its stream from the database. Messages are read
//!   by a separate task, so a SUBSCRIBE in flight never delays pushes to other users.
//! - After a SUBSCRIBE is confirmed, the sessions of those users repair their streams: changes
//!   committed between a socket's database read and the subscription are not missed.
//! - The republish queue is bounded by bytes. When it overflows, the whole queue is dropped and,
//!   once Redis takes publishes again, a message on `herald:resync` makes every node's sessions
//!   repair from the database (the history): nothing is lost, however long the outage.
//! - Watching and unwatching never wait: a full control queue marks the subscriptions for a
//!   reconciliation against the hub, which the subscriber runs next.

use super::{user_channel, Event, SessionId};
use crate::domain::{NotificationId, UserId};
use crate::hub::Hub;
use bytestring::ByteString;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch, OnceCell};
use tokio::time::{sleep, timeout, Instant};

const CHANNEL_PREFIX: &str = "herald:user:";
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
const PING_INTERVAL: Duration = Duration::from_secs(1);
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Capped so pushes resume within about a second of Redis answering again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const REPUBLISH_BATCH: usize = 1000;
/// Every node subscribes to this channel: a message on it makes every session repair its stream
/// from the database (sent after a publisher dropped events it could not publish).
const RESYNC_CHANNEL: &str = "herald:resync";
/// A user's channel stays subscribed this long after their last local socket closes.
const UNSUBSCRIBE_DELAY: Duration = Duration::from_secs(1);
const SUBSCRIBE_CHUNK: usize = 1000;
const CONTROL_QUEUE: usize = 65_536;

/// Health and counters of the Redis connections, for readiness and metrics.
#[derive(Default)]
pub struct RedisStatus {
    pub subscriber_up: AtomicBool,
    pub reconnects: AtomicU64,
    pub publish_failures: AtomicU64,
}

/// A request to compare the subscriptions with the hub's users, when commands were not queued.
#[derive(Default)]
struct Reconcile {
    needed: AtomicBool,
    wake: tokio::sync::Notify,
}

enum Control {
    /// The user has a first local socket.
    Watch(UserId),
    /// The user's last local socket closed.
    Unwatch(UserId),
}

/// Events whose PUBLISH failed, in order, and what they weigh.
#[derive(Default)]
struct Backlog {
    events: std::collections::VecDeque<Event>,
    bytes: usize,
    /// Events were dropped: every node must resync once Redis takes publishes again.
    resync_owed: bool,
}

impl Backlog {
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

#[derive(Clone)]
pub struct RedisBroker {
    publisher: Arc<OnceCell<ConnectionManager>>,
    /// Events whose PUBLISH failed, republished in order by a background task: late events
    /// are harmless (sessions drop repeats by stream position) and fill the gaps they left.
    unpublished: Arc<std::sync::Mutex<Backlog>>,
    /// Most bytes `unpublished` may hold (`HERALD_REDIS_REPUBLISH_BYTES`).
    max_unpublished_bytes: usize,
    republish: Arc<tokio::sync::Notify>,
    control: mpsc::Sender<Control>,
    /// Set when a watch or unwatch found the control queue full: the subscriber reconciles its
    /// subscriptions with the hub.
    reconcile: Arc<Reconcile>,
    inbound: broadcast::Sender<Event>,
    pub status: Arc<RedisStatus>,
}

impl RedisBroker {
    /// Starts the publisher connection and the subscriber actor in the background; the node
    /// serves meanwhile (not ready until Redis answers).
    pub fn start(
        url: &str,
        hub: Arc<Hub>,
        capacity: usize,
        max_unpublished_bytes: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<RedisBroker, String> {
        Self::start_with_control_queue(url, hub, capacity, max_unpublished_bytes, CONTROL_QUEUE, shutdown)
    }

    fn start_with_control_queue(
        url: &str,
        hub: Arc<Hub>,
        capacity: usize,
        max_unpublished_bytes: usize,
        control_queue: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<RedisBroker, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let (inbound, _) = broadcast::channel(capacity);
        let (control, control_rx) = mpsc::channel(control_queue);
        let status = Arc::new(RedisStatus::default());
        let publisher = Arc::new(OnceCell::new());
        let reconcile = Arc::new(Reconcile::default());
        tokio::spawn(connect_publisher(client.clone(), publisher.clone(), shutdown.clone()));
        let subscriber = Subscriber {
            client,
            hub,
            inbound: inbound.clone(),
            control: control_rx,
            reconcile: reconcile.clone(),
            status: status.clone(),
        };
        tokio::spawn(subscriber.run(shutdown.clone()));
        let broker = RedisBroker {
            publisher,
            unpublished: Arc::default(),
            max_unpublished_bytes,
            republish: Arc::default(),
            control,
            reconcile,
            inbound,
            status,
        };
        tokio::spawn(broker.clone().republish_failed(shutdown));
        Ok(broker)
    }

    pub async fn publish(&self, events: Vec<Event>) {
        let backlog = !self.unpublished.lock().unwrap_or_else(|e| e.into_inner()).events.is_empty();
        // Behind earlier failures: queue, to keep each user's events in order.
        if backlog || !self.try_publish(&events).await {
            self.queue_unpublished(events);
        }
    }

    /// One PUBLISH pipeline; retried once at once, since the connection manager answers the
    /// first command after an outage with the stale error and reconnects only then.
    async fn try_publish(&self, events: &[Event]) -> bool {
        let Some(manager) = self.publisher.get() else { return false };
        let mut pipe = redis::pipe();
        for event in events {
            pipe.publish(user_channel(event.user_id), encode(event)).ignore();
        }
        for attempt in 0..2 {
            let mut conn = manager.clone();
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => return true,
                Err(err) if attempt == 1 => {
                    log::warn!("redis publish failed ({} event(s) queued for retry): {err}", events.len())
                }
                Err(_) => {}
            }
        }
        false
    }

    fn queue_unpublished(&self, events: Vec<Event>) {
        self.status.publish_failures.fetch_add(events.len() as u64, Ordering::Relaxed);
        let mut queue = self.unpublished.lock().unwrap_or_else(|e| e.into_inner());
        for event in events {
            queue.push_back(event);
        }
        if queue.bytes > self.max_unpublished_bytes {
            let dropped = queue.drop_all();
            log::warn!(
                "republish queue over {} bytes: dropped {dropped} event(s); every node resyncs from the database once Redis is back",
                self.max_unpublished_bytes
            );
        }
        drop(queue);
        self.republish.notify_one();
    }

    /// Republishes queued events, oldest first, until the queue is empty; backs off while Redis
    /// refuses them.
    /// A resync owed after dropped events is sent first, before anything queued after the drop.
    async fn republish_failed(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let (resync_owed, batch) = {
                let mut queue = self.unpublished.lock().unwrap_or_else(|e| e.into_inner());
                (queue.resync_owed, queue.take(REPUBLISH_BATCH))
            };
            if !resync_owed && batch.is_empty() {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = self.republish.notified() => continue,
                }
            }
            let published = if resync_owed { self.publish_resync().await } else { self.try_publish(&batch).await };
            if published {
                backoff = MIN_BACKOFF;
            }
            {
                let mut queue = self.unpublished.lock().unwrap_or_else(|e| e.into_inner());
                if resync_owed && published {
                    queue.resync_owed = false;
                }
                if resync_owed || !published {
                    for event in batch.into_iter().rev() {
                        queue.push_front(event);
                    }
                }
            }
            if published {
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
        let Some(manager) = self.publisher.get() else { return false };
        for _ in 0..2 {
            let mut conn = manager.clone();
            let mut publish = redis::cmd("PUBLISH");
            publish.arg(RESYNC_CHANNEL).arg("events dropped");
            if matches!(timeout(REDIS_TIMEOUT, publish.query_async::<i64>(&mut conn)).await, Ok(Ok(_))) {
                log::info!("published a resync: every node repairs its sessions from the database");
                return true;
            }
        }
        false
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inbound.subscribe()
    }

    pub fn watch(&self, user: UserId) {
        self.command(Control::Watch(user));
    }

    pub fn unwatch(&self, user: UserId) {
        self.command(Control::Unwatch(user));
    }

    /// Queues a subscription command without waiting; when the queue is full (the subscriber is
    /// reconnecting, or far behind), asks for a reconciliation instead.
    fn command(&self, command: Control) {
        if self.control.try_send(command).is_err() {
            self.reconcile.needed.store(true, Ordering::Release);
            self.reconcile.wake.notify_one();
        }
    }

    /// Whether the publisher answers a PING now (tried twice: see `try_publish`).
    pub async fn publisher_ready(&self) -> bool {
        let Some(manager) = self.publisher.get() else { return false };
        for _ in 0..2 {
            let mut conn = manager.clone();
            if matches!(timeout(REDIS_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn)).await, Ok(Ok(_))) {
                return true;
            }
        }
        false
    }
}

/// `"{seq} {notification_id or 0} {origin or 0} {published_at_us}\n{frame}"`.
fn encode(event: &Event) -> Vec<u8> {
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
    let split = payload.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&payload[..split]).ok()?;
    let mut fields = header.split(' ');
    let seq = fields.next()?.parse::<i64>().ok()?;
    let notification_id = NotificationId::new(fields.next()?.parse().ok()?);
    let origin = fields.next()?.parse::<u64>().ok().filter(|o| *o != 0).map(SessionId);
    let published_at_us = fields.next()?.parse::<u64>().ok()?;
    let frame = ByteString::try_from(bytes::Bytes::copy_from_slice(&payload[split + 1..])).ok()?;
    Some(Event { user_id, seq, notification_id, origin, frame, published_at_us })
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

/// The subscriber actor: owns the pub/sub connection and the set of subscribed users.
struct Subscriber {
    client: redis::Client,
    hub: Arc<Hub>,
    inbound: broadcast::Sender<Event>,
    control: mpsc::Receiver<Control>,
    reconcile: Arc<Reconcile>,
    status: Arc<RedisStatus>,
}

impl Subscriber {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = MIN_BACKOFF;
        let mut connected_before = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pubsub = match timeout(REDIS_TIMEOUT, self.client.get_async_pubsub()).await {
                Ok(Ok(pubsub)) => Some(pubsub),
                Ok(Err(err)) => {
                    log::warn!("redis subscriber cannot connect: {err}");
                    None
                }
                Err(_) => None,
            };
            let Some(pubsub) = pubsub else {
                tokio::select! { _ = shutdown.changed() => return, _ = sleep(backoff) => {} }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            };
            let (mut sink, mut stream) = pubsub.split();
            let (ended_tx, mut ended) = tokio::sync::oneshot::channel::<()>();
            let forward_to = self.inbound.clone();
            let hub = self.hub.clone();
            let reader = tokio::spawn(async move {
                while let Some(message) = stream.next().await {
                    let channel = message.get_channel_name();
                    if channel == RESYNC_CHANNEL {
                        log::info!("resync requested through redis: every session repairs from the database");
                        hub.resync_all();
                        continue;
                    }
                    match decode(channel, message.get_payload_bytes()) {
                        Some(event) => {
                            let _ = forward_to.send(event);
                        }
                        None => log::warn!("ignoring malformed message on {channel}"),
                    }
                }
                let _ = ended_tx.send(());
            });

            // Resubscribe every local user, then repair every session (messages published while
            // the subscriber was away are gone; the database has them). A full resubscription
            // covers any reconciliation asked for meanwhile.
            self.reconcile.needed.store(false, Ordering::Release);
            let mut subscribed: HashSet<UserId> = HashSet::new();
            let users = self.hub.users();
            let mut failed = !matches!(timeout(PING_TIMEOUT, sink.subscribe(RESYNC_CHANNEL)).await, Ok(Ok(())));
            for chunk in users.chunks(SUBSCRIBE_CHUNK) {
                if failed {
                    break;
                }
                let channels: Vec<String> = chunk.iter().map(|u| user_channel(*u)).collect();
                failed = !matches!(timeout(PING_TIMEOUT, sink.subscribe(channels)).await, Ok(Ok(())));
                subscribed.extend(chunk.iter().copied());
            }
            if !failed {
                self.status.subscriber_up.store(true, Ordering::Release);
                if connected_before {
                    self.status.reconnects.fetch_add(1, Ordering::Relaxed);
                    log::info!(
                        "redis subscriber reconnected; resubscribed {} user(s), sessions repair",
                        subscribed.len()
                    );
                }
                connected_before = true;
                backoff = MIN_BACKOFF;
                self.hub.resync_all();
                failed = !self.serve(&mut sink, &mut ended, &mut subscribed, &mut shutdown).await;
            }
            reader.abort();
            self.status.subscriber_up.store(false, Ordering::Release);
            if !failed || *shutdown.borrow() {
                return;
            }
            log::warn!("redis subscriber lost; reconnecting");
            tokio::select! { _ = shutdown.changed() => return, _ = sleep(backoff) => {} }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Keeps subscriptions in step with the hub until the connection fails (returns false) or
    /// the node shuts down (returns true).
    async fn serve(
        &mut self,
        sink: &mut redis::aio::PubSubSink,
        ended: &mut tokio::sync::oneshot::Receiver<()>,
        subscribed: &mut HashSet<UserId>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        let mut sweep = tokio::time::interval(UNSUBSCRIBE_DELAY / 4);
        let mut leaving: HashMap<UserId, Instant> = HashMap::new();
        loop {
            let mut joining = Vec::new();
            tokio::select! {
                _ = shutdown.changed() => return true,
                _ = &mut *ended => return false,
                first = self.control.recv() => {
                    let Some(first) = first else { return true };
                    let mut next = Some(first);
                    while let Some(command) = next {
                        match command {
                            Control::Watch(user) => {
                                leaving.remove(&user);
                                if !subscribed.contains(&user) && self.hub.has_user(user) {
                                    joining.push(user);
                                }
                            }
                            Control::Unwatch(user) => {
                                leaving.insert(user, Instant::now() + UNSUBSCRIBE_DELAY);
                            }
                        }
                        next = self.control.try_recv().ok();
                    }
                }
                _ = self.reconcile.wake.notified() => {
                    if self.reconcile.needed.swap(false, Ordering::AcqRel) {
                        let users: HashSet<UserId> = self.hub.users().into_iter().collect();
                        joining.extend(users.iter().filter(|u| !subscribed.contains(u)).copied());
                        let later = Instant::now() + UNSUBSCRIBE_DELAY;
                        for gone in subscribed.iter().filter(|u| !users.contains(u)) {
                            leaving.entry(*gone).or_insert(later);
                        }
                        for user in &users {
                            leaving.remove(user);
                        }
                    }
                }
                _ = ping.tick() => {
                    if !matches!(timeout(PING_TIMEOUT, sink.ping::<redis::Value>()).await, Ok(Ok(_))) {
                        return false;
                    }
                }
                _ = sweep.tick() => {
                    let now = Instant::now();
                    let due: Vec<UserId> = leaving.iter().filter(|(_, at)| **at <= now).map(|(u, _)| *u).collect();
                    let mut gone = Vec::new();
                    for user in due {
                        leaving.remove(&user);
                        if !self.hub.has_user(user) && subscribed.remove(&user) {
                            gone.push(user);
                        }
                    }
                    for chunk in gone.chunks(SUBSCRIBE_CHUNK) {
                        let channels: Vec<String> = chunk.iter().map(|u| user_channel(*u)).collect();
                        if !matches!(timeout(PING_TIMEOUT, sink.unsubscribe(channels)).await, Ok(Ok(()))) {
                            return false;
                        }
                    }
                }
            }
            joining.sort_unstable();
            joining.dedup();
            for chunk in joining.chunks(SUBSCRIBE_CHUNK) {
                let channels: Vec<String> = chunk.iter().map(|u| user_channel(*u)).collect();
                if !matches!(timeout(PING_TIMEOUT, sink.subscribe(channels)).await, Ok(Ok(()))) {
                    return false;
                }
                subscribed.extend(chunk.iter().copied());
                self.hub.resync_users(chunk);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private `redis-server` on a free port, stopped on drop.
    struct PrivateRedis {
        child: std::process::Child,
        url: String,
    }

    impl PrivateRedis {
        fn start() -> PrivateRedis {
            let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is installed (.ci/run installs it)");
            PrivateRedis { child, url: format!("redis://127.0.0.1:{port}/") }
        }
    }

    impl Drop for PrivateRedis {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[tokio::test]
    async fn a_full_control_queue_never_blocks_and_the_subscriber_catches_up_with_the_hub() {
        let redis = PrivateRedis::start();
        let hub = Arc::new(Hub::new());
        let (_stop, shutdown) = watch::channel(false);
        // A control queue of one command: nearly every watch below finds it full.
        let broker =
            RedisBroker::start_with_control_queue(&redis.url, hub.clone(), 16, 1 << 20, 1, shutdown).expect("broker");
        let client = redis::Client::open(redis.url.as_str()).expect("client");
        let mut outboxes = Vec::new();
        let mut open = |user: UserId| {
            let (outbox, receiver) = mpsc::channel(4);
            outboxes.push(receiver);
            hub.register(user, SessionId(user.get() as u64), outbox, Arc::default());
            broker.watch(user);
        };
        // First the subscriber is up and serving (one user subscribed)...
        let first: Vec<UserId> = UserId::new(1000).into_iter().collect();
        open(first[0]);
        wait_subscribed(&client, &first).await;
        // ...then 50 users arrive at once: one command fits, the others ask for a reconciliation.
        let users: Vec<UserId> = (1..=50).filter_map(UserId::new).collect();
        for user in &users {
            open(*user);
        }
        wait_subscribed(&client, &users).await;
    }

    async fn wait_subscribed(client: &redis::Client, users: &[UserId]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let subscribed = match client.get_multiplexed_async_connection().await {
                Ok(mut conn) => {
                    let mut numsub = redis::cmd("PUBSUB");
                    numsub.arg("NUMSUB");
                    for user in users {
                        numsub.arg(user_channel(*user));
                    }
                    let counts: Vec<redis::Value> = numsub.query_async(&mut conn).await.unwrap_or_default();
                    counts.iter().skip(1).step_by(2).filter(|n| matches!(n, redis::Value::Int(1))).count()
                }
                Err(_) => 0,
            };
            if subscribed == users.len() {
                break;
            }
            assert!(Instant::now() < deadline, "{subscribed} of {} users subscribed", users.len());
            sleep(Duration::from_millis(50)).await;
        }
    }

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
