//! Publishing on a Redis Cluster: `SPUBLISH` pipelined per partition (never a cross-slot
//! pipeline), the partitions' pipelines concurrently through the crate's cluster connection,
//! which routes each to its slot's master and follows MOVED/ASK.

use crate::broker::redis::channels::{partition, user_shard_channel, CONTROL_SHARD_CHANNEL, RESYNC_SHARD_CHANNEL};
use crate::broker::redis::codec;
use crate::broker::redis::timing::{Backoff, REDIS_TIMEOUT};
use crate::event::Event;
use futures_util::future::join_all;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{watch, OnceCell};
use tokio::time::timeout;

/// Publishes on a cluster once connected.
pub struct Publisher {
    /// The first seed node, whose credentials and TLS settings the channel connection's
    /// per-master connections reuse.
    seed: String,
    connection: Arc<OnceCell<ClusterConnection>>,
}

impl Publisher {
    /// Connects in the background, retrying until it succeeds or shutdown begins.
    pub fn start(seeds: &[String], shutdown: watch::Receiver<bool>) -> Result<Publisher, redis::RedisError> {
        let client = ClusterClient::builder(seeds.iter().map(String::as_str))
            .connection_timeout(REDIS_TIMEOUT)
            .response_timeout(REDIS_TIMEOUT)
            .retries(2)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .build()?;
        let connection = Arc::new(OnceCell::new());
        tokio::spawn(connect(client, connection.clone(), shutdown));
        Ok(Publisher { seed: seeds[0].clone(), connection })
    }

    pub fn seed(&self) -> &str {
        &self.seed
    }

    pub fn is_connected(&self) -> bool {
        self.connection.get().is_some()
    }

    /// Publishes events with SPUBLISH, one pipeline per partition, the partitions concurrently.
    /// Returns the events not published (their partition's pipeline failed), in order.
    pub async fn publish(&self, events: Vec<Event>) -> Vec<Event> {
        let Some(connection) = self.connection.get() else { return events };
        let count = events.len();
        let mut by_partition: BTreeMap<u16, Vec<Event>> = BTreeMap::new();
        for event in events {
            by_partition.entry(partition(event.user_id)).or_default().push(event);
        }
        let sent =
            join_all(
                by_partition.values().map(|events| {
                    let mut pipe = redis::pipe();
                    for event in events {
                        pipe.cmd("SPUBLISH").arg(user_shard_channel(event.user_id)).arg(codec::encode(event)).ignore();
                    }
                    let mut connection = connection.clone();
                    async move {
                        matches!(timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut connection)).await, Ok(Ok(())))
                    }
                }),
            )
            .await;
        let unpublished: Vec<Event> =
            by_partition.into_values().zip(sent).filter(|(_, ok)| !ok).flat_map(|(events, _)| events).collect();
        if !unpublished.is_empty() {
            log::warn!("redis cluster publish failed for {} of {count} event(s), queued for retry", unpublished.len());
        }
        unpublished
    }

    /// Asks every node (this one too) to repair all its sessions from the database.
    pub async fn publish_resync(&self) -> bool {
        self.publish_to_nodes(RESYNC_SHARD_CHANNEL, b"events dropped").await
    }

    /// A message on the control channel, to every node (this one too).
    pub async fn publish_control(&self, payload: &[u8]) -> bool {
        self.publish_to_nodes(CONTROL_SHARD_CHANNEL, payload).await
    }

    async fn publish_to_nodes(&self, channel: &str, payload: &[u8]) -> bool {
        let Some(connection) = self.connection.get() else { return false };
        let mut connection = connection.clone();
        let mut spublish = redis::cmd("SPUBLISH");
        spublish.arg(channel).arg(payload);
        matches!(timeout(REDIS_TIMEOUT, spublish.query_async::<i64>(&mut connection)).await, Ok(Ok(_)))
    }
}

/// Makes the publisher's cluster connection, retrying with backoff until it is made.
async fn connect(client: ClusterClient, cell: Arc<OnceCell<ClusterConnection>>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    loop {
        match timeout(REDIS_TIMEOUT * 2, client.get_async_connection()).await {
            Ok(Ok(connection)) => {
                let _ = cell.set(connection);
                return;
            }
            Ok(Err(err)) => log::warn!("redis cluster publisher cannot connect yet: {err}"),
            Err(_) => log::warn!("redis cluster publisher cannot connect yet: no answer"),
        }
        if !backoff.wait(&mut shutdown).await {
            return;
        }
    }
}
