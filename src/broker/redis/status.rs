//! What the Redis connections report upwards: their health and counters (`RedisStatus`, for
//! readiness and metrics), to the node's subscription owner the `Notice`s of a channel
//! connection, and where its messages go (`Inbound`).

use crate::event::Event;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::broadcast;

/// Where a channel connection's messages go: users' events to the node's delivery task, the
/// control channel's messages to the node's `crate::cluster`.
#[derive(Clone)]
pub struct Inbound {
    pub events: broadcast::Sender<Event>,
    pub control: broadcast::Sender<bytes::Bytes>,
}

/// Health and counters of the Redis connections, for readiness and metrics.
#[derive(Default)]
pub struct RedisStatus {
    pub subscriber_up: AtomicBool,
    /// A channel connection has been ready before: the next one is a reconnect.
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

    /// The channel connection is gone (dropped): the subscriber counts as down.
    pub fn mark_subscriber_down(&self) {
        self.subscriber_up.store(false, Ordering::Release);
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
