//! The node's channel connection on a cluster: one RESP3 connection per master, opened here
//! (not the crate's cluster pub/sub, whose automatic resubscription sends one cross-slot
//! `SSUBSCRIBE` that Redis refuses, losing the channels silently). Each `SSUBSCRIBE` names one
//! channel and goes to the master that owns its slot, in pipelines. Pushes are handled where
//! they are read (`super::push`); a failed ping or a changed slot map (polled every ping,
//! through the command pool) also make the connection count as lost. The node's subscription
//! owner then opens a new one from the current slot map, subscribes every user it holds and
//! repairs every session: the crate never resubscribes anything by itself.

use super::push::{PushHandler, PushState};
use super::slots::{Master, Owners};
use crate::broker::error::ChannelError;
use crate::broker::redis::channels::{partition, user_shard_channel, CONTROL_SHARD_CHANNEL, RESYNC_SHARD_CHANNEL};
use crate::broker::redis::pool::CommandPool;
use crate::broker::redis::status::{Inbound, Notice, RedisStatus};
use crate::broker::redis::timing::COMMAND_TIMEOUT;
use crate::domain::UserId;
use futures_util::future::join_all;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, PushKind, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::time::timeout;

/// Channels per pipeline on one master.
const PIPELINE_CHUNK: usize = 1000;

/// One connection per master. Dropping it closes them and marks the subscriber down.
pub struct Subscriber {
    masters: HashMap<Master, MultiplexedConnection>,
    owners: Owners,
    /// A different slot map read once: it counts as a change when the next read agrees (one
    /// node answering with a stale view must not make every socket repair each second).
    changed_once: Option<Owners>,
    pool: CommandPool,
    state: Arc<PushState>,
    status: Arc<RedisStatus>,
}

impl Subscriber {
    /// Reads the slot map, connects to every master that owns a slot we use, and subscribes the
    /// resync and control channels. The caller subscribes the users it wants.
    pub async fn open(
        seed: &str,
        pool: &CommandPool,
        inbound: &Inbound,
        status: &Arc<RedisStatus>,
    ) -> Result<Subscriber, ChannelError> {
        let owners = Owners::read(pool).await?;
        let state = Arc::new(PushState::default());
        let seed = seed.into_connection_info()?;
        let connects = owners.masters().into_iter().map(|master| {
            let handler = PushHandler { inbound: inbound.clone(), state: state.clone() };
            connect(&seed, master.clone(), handler)
        });
        let masters = join_all(connects).await.into_iter().collect::<Result<HashMap<_, _>, _>>()?;
        let connection =
            Subscriber { masters, owners, changed_once: None, pool: pool.clone(), state, status: status.clone() };
        let resync_master = connection.owners.resync.clone();
        // Both in one slot (`channels::CONTROL_SHARD_CHANNEL`), on the resync channel's master.
        let node_wide = [RESYNC_SHARD_CHANNEL.to_owned(), CONTROL_SHARD_CHANNEL.to_owned()];
        if !connection.send_one_channel_commands("SSUBSCRIBE", &resync_master, &node_wide).await {
            return Err(ChannelError::NodeChannel { command: "SSUBSCRIBE", channel: RESYNC_SHARD_CHANNEL });
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
            leaving.extend(users.iter().map(|user| user_shard_channel(*user).into_bytes()));
        }
        self.on_owners("SUNSUBSCRIBE", users).await
    }

    /// Sends `command` for each user's channel to its master, the masters concurrently.
    async fn on_owners(&self, command: &'static str, users: &[UserId]) -> bool {
        let mut by_master: HashMap<&Master, Vec<(u16, String)>> = HashMap::new();
        for user in users {
            by_master.entry(self.owners.of(*user)).or_default().push((partition(*user), user_shard_channel(*user)));
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

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.status.mark_subscriber_down();
    }
}

/// A RESP3 connection to `master` with the seed's credentials and TLS settings, its pushes
/// going to `handler`.
async fn connect(
    seed: &ConnectionInfo,
    master: Master,
    handler: PushHandler,
) -> Result<(Master, MultiplexedConnection), ChannelError> {
    let info = seed.clone().set_addr(match seed.addr() {
        ConnectionAddr::TcpTls { insecure, tls_params, .. } => ConnectionAddr::TcpTls {
            host: master.0.clone(),
            port: master.1,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(master.0.clone(), master.1),
    });
    let info = info.clone().set_redis_settings(info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3));
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_push_sender(handler);
    let client = redis::Client::open(info)?;
    match timeout(COMMAND_TIMEOUT, client.get_multiplexed_async_connection_with_config(&config)).await {
        Ok(Ok(connection)) => Ok((master, connection)),
        Ok(Err(source)) => Err(ChannelError::Master { host: master.0, port: master.1, source }),
        Err(_) => Err(ChannelError::MasterTimeout { host: master.0, port: master.1, timeout: COMMAND_TIMEOUT }),
    }
}
