//! One Redis: classic PUBLISH/SUBSCRIBE on each user's channel.
//!
//! - `Publisher`: one multiplexed, auto-reconnecting `ConnectionManager` with short timeouts,
//!   connected in the background; a batch of events is one PUBLISH pipeline.
//! - `Subscriber`: the node's pub/sub connection, driven by the node's subscription owner:
//!   SUBSCRIBE/UNSUBSCRIBE of user channels and PING, each bounded by `COMMAND_TIMEOUT`.
//!   Messages are read by a task of their own, so a SUBSCRIBE in flight never delays pushes to
//!   other users; it forwards events to the node's event stream and reports a resync request or
//!   the connection's end (`Notice`).

use super::channels::{user_channel, user_of_channel, CONTROL_CHANNEL, RESYNC_CHANNEL};
use super::codec;
use super::status::{Inbound, Notice, RedisStatus};
use super::timing::{Backoff, COMMAND_TIMEOUT, REDIS_TIMEOUT};
use crate::broker::error::ChannelError;
use crate::domain::UserId;
use crate::event::Event;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubStream};
use std::sync::Arc;
use tokio::sync::{mpsc, watch, OnceCell};
use tokio::time::timeout;

/// Publishes on one Redis once connected.
pub struct Publisher {
    client: redis::Client,
    manager: Arc<OnceCell<ConnectionManager>>,
}

impl Publisher {
    /// Connects in the background, retrying until it succeeds or shutdown begins.
    pub fn start(url: &str, shutdown: watch::Receiver<bool>) -> Result<Publisher, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let manager = Arc::new(OnceCell::new());
        tokio::spawn(connect(client.clone(), manager.clone(), shutdown));
        Ok(Publisher { client, manager })
    }

    /// The client channel connections are opened with.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn is_connected(&self) -> bool {
        self.manager.get().is_some()
    }

    /// One PUBLISH pipeline, retried once at once, since the connection manager answers the
    /// first command after an outage with the stale error and reconnects only then. Returns
    /// the events not published (all of them or none), in order.
    pub async fn publish(&self, events: Vec<Event>) -> Vec<Event> {
        let Some(manager) = self.manager.get() else { return events };
        let mut pipe = redis::pipe();
        for event in &events {
            pipe.publish(user_channel(event.user_id), codec::encode(event)).ignore();
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

    /// Tells every node (this one too) to repair all its sessions from the database; tried
    /// twice, as `publish`.
    pub async fn publish_resync(&self) -> bool {
        self.publish_to_nodes(RESYNC_CHANNEL, b"events dropped").await
    }

    /// A message on the control channel, to every node (this one too); tried twice.
    pub async fn publish_control(&self, payload: &[u8]) -> bool {
        self.publish_to_nodes(CONTROL_CHANNEL, payload).await
    }

    async fn publish_to_nodes(&self, channel: &str, payload: &[u8]) -> bool {
        let Some(manager) = self.manager.get() else { return false };
        for _ in 0..2 {
            let mut conn = manager.clone();
            let mut publish = redis::cmd("PUBLISH");
            publish.arg(channel).arg(payload);
            if matches!(timeout(REDIS_TIMEOUT, publish.query_async::<i64>(&mut conn)).await, Ok(Ok(_))) {
                return true;
            }
        }
        false
    }
}

/// Makes the publisher's connection manager, retrying with backoff until it is made.
async fn connect(client: redis::Client, cell: Arc<OnceCell<ConnectionManager>>, mut shutdown: watch::Receiver<bool>) {
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_min_delay(Backoff::MIN)
        .set_max_delay(Backoff::MAX);
    let mut backoff = Backoff::default();
    loop {
        match client.get_connection_manager_with_config(config.clone()).await {
            Ok(manager) => {
                let _ = cell.set(manager);
                return;
            }
            Err(err) => log::warn!("redis publisher cannot connect yet: {err}"),
        }
        if !backoff.wait(&mut shutdown).await {
            return;
        }
    }
}

/// The node's pub/sub connection. Dropping it closes it and marks the subscriber down.
pub struct Subscriber {
    sink: redis::aio::PubSubSink,
    notices: mpsc::Receiver<Notice>,
    reader: tokio::task::JoinHandle<()>,
    status: Arc<RedisStatus>,
}

impl Subscriber {
    /// Opens a pub/sub connection subscribed to the resync and control channels (and to no
    /// user yet), with its reader task forwarding messages to `inbound`.
    pub async fn open(
        client: &redis::Client,
        inbound: &Inbound,
        status: &Arc<RedisStatus>,
    ) -> Result<Subscriber, ChannelError> {
        let pubsub = match timeout(REDIS_TIMEOUT, client.get_async_pubsub()).await {
            Ok(pubsub) => pubsub?,
            Err(_) => return Err(ChannelError::Timeout(REDIS_TIMEOUT)),
        };
        let (sink, stream) = pubsub.split();
        // One pending request is enough: it repairs every session.
        let (notices, notices_rx) = mpsc::channel(1);
        let reader = tokio::spawn(read(stream, notices, inbound.clone()));
        let mut connection = Subscriber { sink, notices: notices_rx, reader, status: status.clone() };
        for channel in [RESYNC_CHANNEL, CONTROL_CHANNEL] {
            if !matches!(timeout(COMMAND_TIMEOUT, connection.sink.subscribe(channel)).await, Ok(Ok(()))) {
                return Err(ChannelError::NodeChannel { command: "SUBSCRIBE", channel });
            }
        }
        Ok(connection)
    }

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

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.reader.abort();
        self.status.mark_subscriber_down();
    }
}

/// The reader task: forwards each message's event to `inbound`, a control message to the
/// node's cluster view, and a message on the resync channel to the connection's owner. Ends
/// with the connection, dropping `notices`, which tells the owner.
async fn read(mut stream: PubSubStream, notices: mpsc::Sender<Notice>, inbound: Inbound) {
    while let Some(message) = stream.next().await {
        let channel = message.get_channel_name();
        if channel == RESYNC_CHANNEL {
            log::info!("resync requested through redis: every session repairs from the database");
            let _ = notices.try_send(Notice::ResyncRequested);
            continue;
        }
        if channel == CONTROL_CHANNEL {
            let _ = inbound.control.send(bytes::Bytes::copy_from_slice(message.get_payload_bytes()));
            continue;
        }
        let event = user_of_channel(channel)
            .and_then(|user| codec::decode(user, bytes::Bytes::copy_from_slice(message.get_payload_bytes())));
        match event {
            Some(event) => {
                let _ = inbound.events.send(event);
            }
            None => log::warn!("ignoring malformed message on {channel}"),
        }
    }
}
