//! Redis Cluster, sharded pub/sub (Redis 7): what differs from one Redis.
//!
//! - Channels carry a hash tag grouping users into `PARTITIONS` partitions:
//!   `herald:{p}:user:{id}` with `p = id % PARTITIONS`, so all channels of a partition live in
//!   one slot, and subscribes and publishes batch per slot. `herald:{resync}` asks every node
//!   to repair its sessions.
//! - Publishing (`publish`): `SPUBLISH` pipelined per partition (never a cross-slot pipeline),
//!   the partitions' pipelines concurrently through the crate's cluster connection, which routes
//!   each to its slot's master and follows MOVED/ASK.
//! - Subscribing (`ShardedConnection`): one RESP3 connection per master, opened by this module
//!   (not the crate's cluster pub/sub, whose automatic resubscription sends one cross-slot
//!   `SSUBSCRIBE` that Redis refuses, losing the channels silently). Each `SSUBSCRIBE` names one
//!   channel and goes to the master that owns its slot, in pipelines. Pushes are handled where
//!   they are read (`PushHandler`): messages go to the node's event stream; an unsolicited
//!   `SUNSUBSCRIBE` (the slot moved away), the connection's end, a failed ping or a changed slot
//!   map (polled every ping, through the command pool) make the connection count as lost. The
//!   node's subscription owner then opens a new one from the current slot map, subscribes every
//!   user it holds and repairs every session from the database: the crate never resubscribes
//!   anything by itself.

use super::command_pool::CommandPool;
use super::redis::{decode_payload, encode, RedisStatus};
use super::Notice;
use crate::domain::UserId;
use crate::event::Event;
use futures_util::future::join_all;
use redis::aio::{AsyncPushSender, ConnectionLike, MultiplexedConnection, SendError};
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio::time::timeout;

/// Users are spread over this many hash tags (slots). Fixed: every node of a deployment must
/// agree on it.
pub const PARTITIONS: i64 = 128;
/// The shard channel that makes every node repair its sessions from the database.
pub const RESYNC_CHANNEL: &str = "herald:{resync}";
const CLUSTER_SLOTS: u16 = 16384;
/// The longest a subscribe, unsubscribe, ping or slot-map read may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Channels per pipeline on one master.
const PIPELINE_CHUNK: usize = 1000;

/// The partition of a user: which hash tag their channel carries.
pub fn partition(user: UserId) -> u16 {
    (user.get().rem_euclid(PARTITIONS)) as u16
}

/// The shard channel of a user. The one place this name is built.
pub fn user_channel(user: UserId) -> String {
    format!("herald:{{{}}}:user:{user}", partition(user))
}

/// The user of a shard channel; `None` for any other name.
fn user_of(channel: &[u8]) -> Option<UserId> {
    let rest = std::str::from_utf8(channel).ok()?.strip_prefix("herald:{")?;
    let (tag, id) = rest.split_once("}:user:")?;
    let user = UserId::parse_str(id)?;
    (tag.parse::<u16>().ok()? == partition(user)).then_some(user)
}

/// The slot of a key (CRC16/XMODEM of its hash tag, as Redis Cluster computes it).
fn slot_of(key: &str) -> u16 {
    let tag = key.find('{').and_then(|open| {
        let close = key[open + 1..].find('}')?;
        (close > 0).then(|| &key[open + 1..open + 1 + close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tag.unwrap_or(key).as_bytes()) % CLUSTER_SLOTS
}

/// A master's address, as the cluster announces it.
pub type Master = (String, u16);

/// Which master owns each partition's slot, and the resync channel's: the part of the slot map
/// this node depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owners {
    partitions: Vec<Master>,
    resync: Master,
}

impl Owners {
    /// Reads `CLUSTER SLOTS`; an error while any slot we use has no master.
    async fn read(pool: &CommandPool) -> Result<Owners, String> {
        let slots: Value = pool.query(&redis::cmd("CLUSTER").arg("SLOTS").to_owned()).await?;
        let ranges = parse_slot_ranges(&slots)?;
        let owner_of = |key: &str| -> Result<Master, String> {
            let slot = slot_of(key);
            ranges
                .iter()
                .find(|(start, end, _)| (*start..=*end).contains(&slot))
                .map(|(_, _, master)| master.clone())
                .ok_or_else(|| format!("slot {slot} has no master"))
        };
        let partitions = (0..PARTITIONS).map(|p| owner_of(&format!("{{{p}}}"))).collect::<Result<Vec<_>, _>>()?;
        Ok(Owners { partitions, resync: owner_of(RESYNC_CHANNEL)? })
    }

    fn of(&self, user: UserId) -> &Master {
        &self.partitions[partition(user) as usize]
    }

    fn masters(&self) -> HashSet<&Master> {
        self.partitions.iter().chain(std::iter::once(&self.resync)).collect()
    }
}

/// `CLUSTER SLOTS`: `[[start, end, [host, port, id, ...], replicas...], ...]`.
fn parse_slot_ranges(value: &Value) -> Result<Vec<(u16, u16, Master)>, String> {
    let Value::Array(ranges) = value else { return Err(format!("CLUSTER SLOTS answered {value:?}")) };
    let int = |v: &Value| match v {
        Value::Int(n) => u16::try_from(*n).ok(),
        _ => None,
    };
    let text = |v: &Value| match v {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    ranges
        .iter()
        .map(|range| {
            let Value::Array(fields) = range else { return None };
            let Value::Array(master) = fields.get(2)? else { return None };
            Some((int(fields.first()?)?, int(fields.get(1)?)?, (text(master.first()?)?, int(master.get(1)?)?)))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("unexpected CLUSTER SLOTS answer {value:?}"))
}

/// Publishes events with SPUBLISH, one pipeline per partition, the partitions concurrently.
/// Returns the events not published (their partition's pipeline failed), in order.
pub async fn publish(connection: &ClusterConnection, events: Vec<Event>, publish_timeout: Duration) -> Vec<Event> {
    let mut by_partition: BTreeMap<u16, Vec<Event>> = BTreeMap::new();
    for event in events {
        by_partition.entry(partition(event.user_id)).or_default().push(event);
    }
    let sent = join_all(by_partition.values().map(|events| {
        let mut pipe = redis::pipe();
        for event in events {
            pipe.cmd("SPUBLISH").arg(user_channel(event.user_id)).arg(encode(event)).ignore();
        }
        let mut connection = connection.clone();
        async move { matches!(timeout(publish_timeout, pipe.query_async::<()>(&mut connection)).await, Ok(Ok(()))) }
    }))
    .await;
    by_partition.into_values().zip(sent).filter(|(_, ok)| !ok).flat_map(|(events, _)| events).collect()
}

/// Asks every node (this one too) to repair all its sessions from the database.
pub async fn publish_resync(connection: &ClusterConnection, publish_timeout: Duration) -> bool {
    let mut connection = connection.clone();
    let mut spublish = redis::cmd("SPUBLISH");
    spublish.arg(RESYNC_CHANNEL).arg("events dropped");
    matches!(timeout(publish_timeout, spublish.query_async::<i64>(&mut connection)).await, Ok(Ok(_)))
}

/// What the connections' pushes report to their owner.
#[derive(Default)]
struct PushState {
    lost: AtomicBool,
    resync: AtomicBool,
    wake: Notify,
    /// Channels this node is unsubscribing: their SUNSUBSCRIBE is expected, any other is not.
    leaving: Mutex<HashSet<Vec<u8>>>,
}

impl PushState {
    fn lose(&self, why: &str) {
        if !self.lost.swap(true, Ordering::AcqRel) {
            log::warn!("redis cluster subscriber: {why}; resubscribing from the current slot map");
        }
        self.wake.notify_one();
    }
}

/// Handles a master connection's pushes as they are read (it must not block).
struct PushHandler {
    inbound: broadcast::Sender<Event>,
    state: Arc<PushState>,
}

impl AsyncPushSender for PushHandler {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        // The push's own buffers, moved out (the payload becomes the frame without a copy).
        let mut data = info.data.into_iter().map(|value| match value {
            Value::BulkString(bytes) => Some(bytes),
            _ => None,
        });
        match info.kind {
            PushKind::SMessage => {
                let (Some(Some(channel)), Some(Some(payload))) = (data.next(), data.next()) else {
                    return Ok(());
                };
                if channel == RESYNC_CHANNEL.as_bytes() {
                    log::info!("resync requested through redis: every session repairs from the database");
                    self.state.resync.store(true, Ordering::Release);
                    self.state.wake.notify_one();
                } else {
                    match user_of(&channel).and_then(|user| decode_payload(user, payload.into())) {
                        Some(event) => {
                            let _ = self.inbound.send(event);
                        }
                        None => log::warn!("ignoring malformed message on {}", String::from_utf8_lossy(&channel)),
                    }
                }
            }
            PushKind::SUnsubscribe => {
                let channel = data.next().flatten().unwrap_or_default();
                let expected = self.state.leaving.lock().unwrap_or_else(|e| e.into_inner()).remove(&channel);
                if !expected {
                    self.state
                        .lose(&format!("redis unsubscribed {} (its slot moved)", String::from_utf8_lossy(&channel)));
                }
            }
            PushKind::Disconnection => self.state.lose("a master connection ended"),
            _ => {}
        }
        Ok(())
    }
}

/// The node's sharded pub/sub connection: one connection per master. Dropping it closes them
/// and marks the subscriber down.
pub struct ShardedConnection {
    masters: HashMap<Master, MultiplexedConnection>,
    owners: Owners,
    /// A different slot map read once: it counts as a change when the next read agrees (one
    /// node answering with a stale view must not make every socket repair each second).
    changed_once: Option<Owners>,
    pool: CommandPool,
    state: Arc<PushState>,
    status: Arc<RedisStatus>,
}

impl ShardedConnection {
    /// Reads the slot map, connects to every master that owns a slot we use, and subscribes the
    /// resync channel. The caller subscribes the users it wants.
    pub async fn open(
        seed: &str,
        pool: &CommandPool,
        inbound: &broadcast::Sender<Event>,
        status: &Arc<RedisStatus>,
    ) -> Result<ShardedConnection, String> {
        let owners = Owners::read(pool).await?;
        let state = Arc::new(PushState::default());
        let seed_info = seed.into_connection_info().map_err(|e| e.to_string())?;
        let connects = owners.masters().into_iter().map(|master| {
            let info = seed_info.clone().set_addr(match seed_info.addr() {
                ConnectionAddr::TcpTls { insecure, tls_params, .. } => ConnectionAddr::TcpTls {
                    host: master.0.clone(),
                    port: master.1,
                    insecure: *insecure,
                    tls_params: tls_params.clone(),
                },
                _ => ConnectionAddr::Tcp(master.0.clone(), master.1),
            });
            let info =
                info.clone().set_redis_settings(info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3));
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(COMMAND_TIMEOUT))
                .set_response_timeout(Some(COMMAND_TIMEOUT))
                .set_push_sender(PushHandler { inbound: inbound.clone(), state: state.clone() });
            let master = master.clone();
            async move {
                let client = redis::Client::open(info).map_err(|e| e.to_string())?;
                match timeout(COMMAND_TIMEOUT, client.get_multiplexed_async_connection_with_config(&config)).await {
                    Ok(Ok(connection)) => Ok((master, connection)),
                    Ok(Err(err)) => Err(format!("{}:{}: {err}", master.0, master.1)),
                    Err(_) => Err(format!("{}:{}: no connection within {COMMAND_TIMEOUT:?}", master.0, master.1)),
                }
            }
        });
        let masters = join_all(connects).await.into_iter().collect::<Result<HashMap<_, _>, String>>()?;
        let connection = ShardedConnection {
            masters,
            owners,
            changed_once: None,
            pool: pool.clone(),
            state,
            status: status.clone(),
        };
        let resync_master = connection.owners.resync.clone();
        if !connection.send_one_channel_commands("SSUBSCRIBE", &resync_master, &[RESYNC_CHANNEL.to_owned()]).await {
            return Err(format!("SSUBSCRIBE {RESYNC_CHANNEL} failed"));
        }
        Ok(connection)
    }

    /// SSUBSCRIBEs the users' channels, each on its slot's master; true once all confirmed.
    pub async fn subscribe(&mut self, users: &[UserId]) -> bool {
        self.on_owners("SSUBSCRIBE", users).await
    }

    /// SUNSUBSCRIBEs the users' channels; true once all confirmed.
    pub async fn unsubscribe(&mut self, users: &[UserId]) -> bool {
        {
            let mut leaving = self.state.leaving.lock().unwrap_or_else(|e| e.into_inner());
            leaving.extend(users.iter().map(|user| user_channel(*user).into_bytes()));
        }
        self.on_owners("SUNSUBSCRIBE", users).await
    }

    /// Sends `command` for each user's channel to its master, the masters concurrently.
    async fn on_owners(&self, command: &'static str, users: &[UserId]) -> bool {
        let mut by_master: HashMap<&Master, Vec<(u16, String)>> = HashMap::new();
        for user in users {
            by_master.entry(self.owners.of(*user)).or_default().push((partition(*user), user_channel(*user)));
        }
        let sends = by_master.into_iter().map(|(master, mut channels)| {
            // One slot after another: a pipeline is a run of single-slot commands.
            channels.sort_unstable();
            let channels: Vec<String> = channels.into_iter().map(|(_, channel)| channel).collect();
            async move { self.send_one_channel_commands(command, master, &channels).await }
        });
        join_all(sends).await.into_iter().all(|ok| ok)
    }

    /// One `command channel` per channel, pipelined to `master`; true when every answer is its
    /// confirmation. One channel per command, so that each command has exactly one answer (a
    /// multi-channel SSUBSCRIBE is answered once per channel, which the crate's multiplexed
    /// connection would pair with later requests).
    async fn send_one_channel_commands(&self, command: &'static str, master: &Master, channels: &[String]) -> bool {
        let Some(connection) = self.masters.get(master) else { return false };
        let expected = if command == "SSUBSCRIBE" { PushKind::SSubscribe } else { PushKind::SUnsubscribe };
        for chunk in channels.chunks(PIPELINE_CHUNK) {
            let mut pipe = redis::pipe();
            for channel in chunk {
                pipe.cmd(command).arg(channel);
            }
            let mut connection = connection.clone();
            let answers = match timeout(COMMAND_TIMEOUT, connection.req_packed_commands(&pipe, 0, chunk.len())).await {
                Ok(Ok(answers)) => answers,
                Ok(Err(err)) => {
                    log::warn!("{command} on {}:{} failed: {err}", master.0, master.1);
                    return false;
                }
                Err(_) => return false,
            };
            let confirmed = answers.len() == chunk.len()
                && answers.iter().all(|answer| matches!(answer, Value::Push { kind, .. } if *kind == expected));
            if !confirmed {
                log::warn!("{command} on {}:{} was not confirmed: {:?}", master.0, master.1, answers.first());
                return false;
            }
        }
        true
    }

    /// PINGs every master and re-reads the slot map: false when a master does not answer, the
    /// slots we use moved (two reads in a row say so), or a push said the connection is lost.
    pub async fn ping(&mut self) -> bool {
        let pings = self.masters.values().map(|connection| {
            let mut connection = connection.clone();
            async move {
                matches!(
                    timeout(COMMAND_TIMEOUT, redis::cmd("PING").query_async::<Value>(&mut connection)).await,
                    Ok(Ok(Value::SimpleString(pong))) if pong == "PONG"
                )
            }
        });
        if !join_all(pings).await.into_iter().all(|ok| ok) {
            self.state.lose("a master did not answer PING");
            return false;
        }
        match Owners::read(&self.pool).await {
            Ok(owners) if owners == self.owners => {
                self.changed_once = None;
                !self.state.lost.load(Ordering::Acquire)
            }
            Ok(owners) if self.changed_once.as_ref() != Some(&owners) => {
                self.changed_once = Some(owners);
                !self.state.lost.load(Ordering::Acquire)
            }
            Ok(_) => {
                self.state.lose("the slot map changed");
                false
            }
            // The masters answered PING: a slot map that cannot be read now (a busy pool, a
            // node restarting) is read again at the next ping.
            Err(err) => {
                log::debug!("redis cluster slot map not read: {err}");
                !self.state.lost.load(Ordering::Acquire)
            }
        }
    }

    /// The next `Notice`; cancel-safe, for `select!`.
    pub async fn notice(&mut self) -> Notice {
        loop {
            if self.state.lost.load(Ordering::Acquire) {
                return Notice::Lost;
            }
            if self.state.resync.swap(false, Ordering::AcqRel) {
                return Notice::ResyncRequested;
            }
            self.state.wake.notified().await;
        }
    }

    /// Everything wanted is subscribed: the subscriber counts as up (readiness).
    pub fn ready(&self) {
        self.status.mark_subscriber_ready();
    }
}

impl Drop for ShardedConnection {
    fn drop(&mut self) {
        self.status.subscriber_up.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_channel_carries_its_partition_as_hash_tag() {
        let user = UserId::new(1000).expect("id");
        assert_eq!(user_channel(user), "herald:{104}:user:1000");
        assert_eq!(user_of(user_channel(user).as_bytes()), Some(user));
        assert_eq!(user_of(b"herald:{105}:user:1000"), None, "a wrong tag is not ours");
        assert_eq!(user_of(b"herald:user:1000"), None);
        // Every user of a partition shares the partition's slot.
        let other = UserId::new(1000 + PARTITIONS).expect("id");
        assert_eq!(slot_of(&user_channel(user)), slot_of(&user_channel(other)));
        assert_eq!(slot_of(&user_channel(user)), slot_of("{104}"));
    }

    #[test]
    fn slots_are_computed_as_redis_cluster_does() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(slot_of("foo"), 12182);
        assert_eq!(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
        assert_eq!(slot_of("{}user1000"), slot_of("{}user1000"));
        assert_ne!(slot_of("{}foo"), slot_of("foo"), "an empty tag hashes the whole key");
        assert_eq!(slot_of("123456789"), 12739);
    }
}
