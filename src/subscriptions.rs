//! The node's one owner of broker subscriptions: *which* users' channels this node listens to
//! and *when*; the broker (`crate::broker`) only carries the commands. A user's first local
//! session `watch`es, the last one `unwatch`es (the hub counts); neither waits: a full command
//! queue turns into a reconciliation with `Hub::users()`. One actor task subscribes in batches,
//! unsubscribes late, pings, reconnects with capped backoff and then subscribes everyone again.
//! After a confirmed SUBSCRIBE those users' sessions repair; after a (re)connect or a broker's
//! resync request every session does (`crate::repair`). A broker that delivers every event to
//! every node (memory) needs no subscriptions: no actor, and `watch`/`unwatch` do nothing.

use crate::broker::{Broker, ChannelConnection, Notice};
use crate::domain::UserId;
use crate::hub::Hub;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{sleep, Instant};

/// A user's channel stays subscribed this long after their last local socket closes.
const UNSUBSCRIBE_DELAY: Duration = Duration::from_secs(1);
/// Channels per SUBSCRIBE/UNSUBSCRIBE command.
const SUBSCRIBE_CHUNK: usize = 1000;
/// Watch/unwatch commands queued for the actor before they turn into a reconciliation.
const CONTROL_QUEUE: usize = 65_536;
const PING_INTERVAL: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Capped so pushes resume within about a second of the broker answering again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The handle sessions use (through `WsContext`); cheap to clone.
#[derive(Clone)]
pub struct Subscriptions {
    /// `None` for a broker that needs no subscriptions.
    control: Option<mpsc::Sender<Control>>,
    /// Set when a watch or unwatch found the control queue full.
    reconcile: Arc<Reconcile>,
}

/// A request to compare the subscriptions with the hub's users, when commands were not queued.
#[derive(Default)]
struct Reconcile {
    needed: AtomicBool,
    wake: Notify,
}

enum Control {
    /// The user has a first local socket.
    Watch(UserId),
    /// The user's last local socket closed.
    Unwatch(UserId),
}

impl Subscriptions {
    /// Starts the actor in the background when the broker routes by channel.
    pub fn start(broker: Broker, hub: Arc<Hub>, shutdown: watch::Receiver<bool>) -> Subscriptions {
        Self::start_with_control_queue(broker, hub, CONTROL_QUEUE, shutdown)
    }

    fn start_with_control_queue(
        broker: Broker,
        hub: Arc<Hub>,
        control_queue: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Subscriptions {
        let reconcile = Arc::new(Reconcile::default());
        if !broker.routes_by_channel() {
            return Subscriptions { control: None, reconcile };
        }
        let (control, control_rx) = mpsc::channel(control_queue);
        let owner = Owner { broker, hub, control: control_rx, reconcile: reconcile.clone() };
        tokio::spawn(owner.run(shutdown));
        Subscriptions { control: Some(control), reconcile }
    }

    /// The user has a first socket on this node: start receiving their events. Never waits.
    pub fn watch(&self, user: UserId) {
        self.command(Control::Watch(user));
    }

    /// The user's last socket on this node closed: stop, a little later. Never waits.
    pub fn unwatch(&self, user: UserId) {
        self.command(Control::Unwatch(user));
    }

    /// Queues a command without waiting; when the queue is full, asks for a reconciliation.
    fn command(&self, command: Control) {
        let Some(control) = &self.control else { return };
        if control.try_send(command).is_err() {
            self.reconcile.needed.store(true, Ordering::Release);
            self.reconcile.wake.notify_one();
        }
    }
}

/// The actor: owns the channel connection and the set of subscribed users.
struct Owner {
    broker: Broker,
    hub: Arc<Hub>,
    control: mpsc::Receiver<Control>,
    reconcile: Arc<Reconcile>,
}

impl Owner {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = MIN_BACKOFF;
        let mut connected_before = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let mut connection = match self.broker.open_channels().await {
                Ok(connection) => connection,
                Err(err) => {
                    log::warn!("broker subscriber cannot connect: {err}");
                    tokio::select! { _ = shutdown.changed() => return, _ = sleep(backoff) => {} }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };

            // Subscribe every local user, then repair every session (events published while
            // the connection was away are gone; the database has them). A full subscription
            // covers any reconciliation asked for meanwhile.
            self.reconcile.needed.store(false, Ordering::Release);
            let mut subscribed: HashSet<UserId> = HashSet::new();
            let users = self.hub.users();
            let mut failed = false;
            for chunk in users.chunks(SUBSCRIBE_CHUNK) {
                if !connection.subscribe(chunk).await {
                    failed = true;
                    break;
                }
                subscribed.extend(chunk.iter().copied());
            }
            if !failed {
                connection.ready();
                if connected_before {
                    log::info!(
                        "broker subscriber reconnected; resubscribed {} user(s), sessions repair",
                        subscribed.len()
                    );
                }
                connected_before = true;
                backoff = MIN_BACKOFF;
                self.hub.request_full_repair();
                failed = !self.serve(&mut connection, &mut subscribed, &mut shutdown).await;
            }
            drop(connection);
            if !failed || *shutdown.borrow() {
                return;
            }
            log::warn!("broker subscriber lost; reconnecting");
            tokio::select! { _ = shutdown.changed() => return, _ = sleep(backoff) => {} }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Keeps subscriptions in step with the hub until the connection fails (returns false) or
    /// the node shuts down (returns true).
    async fn serve(
        &mut self,
        connection: &mut ChannelConnection,
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
                notice = connection.notice() => match notice {
                    Notice::Lost => return false,
                    Notice::ResyncRequested => self.hub.request_full_repair(),
                },
                first = self.control.recv() => {
                    let Some(first) = first else { return true };
                    self.take_commands(first, subscribed, &mut leaving, &mut joining);
                }
                _ = self.reconcile.wake.notified() => {
                    if self.reconcile.needed.swap(false, Ordering::AcqRel) {
                        self.reconcile_with_hub(subscribed, &mut leaving, &mut joining);
                    }
                }
                _ = ping.tick() => {
                    if !connection.ping().await {
                        return false;
                    }
                }
                _ = sweep.tick() => {
                    if !self.unsubscribe_due(connection, subscribed, &mut leaving).await {
                        return false;
                    }
                }
            }
            joining.sort_unstable();
            joining.dedup();
            for chunk in joining.chunks(SUBSCRIBE_CHUNK) {
                if !connection.subscribe(chunk).await {
                    return false;
                }
                subscribed.extend(chunk.iter().copied());
                self.hub.resync_users(chunk);
            }
        }
    }
}

impl Owner {
    /// Takes `first` and every command queued behind it: a watched user not yet subscribed
    /// joins, an unwatched one leaves after `UNSUBSCRIBE_DELAY` (unless watched again by then).
    fn take_commands(
        &mut self,
        first: Control,
        subscribed: &HashSet<UserId>,
        leaving: &mut HashMap<UserId, Instant>,
        joining: &mut Vec<UserId>,
    ) {
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

    /// Commands were dropped (a full queue): compares the subscribed set with the hub's users.
    fn reconcile_with_hub(
        &self,
        subscribed: &HashSet<UserId>,
        leaving: &mut HashMap<UserId, Instant>,
        joining: &mut Vec<UserId>,
    ) {
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

    /// Unsubscribes the users whose delay is over and who still have no socket here; false
    /// when the connection failed.
    async fn unsubscribe_due(
        &self,
        connection: &mut ChannelConnection,
        subscribed: &mut HashSet<UserId>,
        leaving: &mut HashMap<UserId, Instant>,
    ) -> bool {
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
            if !connection.unsubscribe(chunk).await {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::redis::channels::user_channel;
    use crate::broker::redis::RedisBroker;
    use crate::event::SessionId;

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
        let broker = Broker::Redis(
            RedisBroker::start(
                &crate::config::RedisTarget::Standalone(redis.url.clone()),
                16,
                1 << 20,
                shutdown.clone(),
            )
            .expect("broker"),
        );
        // A control queue of one command: nearly every watch below finds it full.
        let subscriptions = Subscriptions::start_with_control_queue(broker, hub.clone(), 1, shutdown);
        let client = redis::Client::open(redis.url.as_str()).expect("client");
        let mut outboxes = Vec::new();
        let mut open = |user: UserId| {
            let (outbox, receiver) = mpsc::channel(4);
            outboxes.push(receiver);
            hub.register(user, SessionId(user.get() as u64), (outbox, Arc::default()), Default::default());
            subscriptions.watch(user);
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

    #[tokio::test]
    async fn a_broker_without_channels_needs_no_subscriptions() {
        let (_stop, shutdown) = watch::channel(false);
        let broker = Broker::Memory(crate::broker::memory::MemoryBroker::new(16));
        let subscriptions = Subscriptions::start(broker, Arc::new(Hub::new()), shutdown);
        assert!(subscriptions.control.is_none());
        let user = UserId::new(1).expect("id");
        subscriptions.watch(user);
        subscriptions.unwatch(user);
        assert!(!subscriptions.reconcile.needed.load(Ordering::Acquire));
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
}
