//! What a master connection's pushes mean, handled where they are read (the handler must not
//! block): messages go to the node's event stream, control messages to the node's cluster
//! view; a message on the resync channel asks for a repair; an unsolicited `SUNSUBSCRIBE` (the slot moved away) or the connection's end makes
//! the channel connection count as lost.

use crate::broker::redis::channels::{user_of_shard_channel, CONTROL_SHARD_CHANNEL, RESYNC_SHARD_CHANNEL};
use crate::broker::redis::codec;
use crate::broker::redis::status::Inbound;
use redis::aio::{AsyncPushSender, SendError};
use redis::{PushInfo, PushKind, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

/// What the connections' pushes report to their owner.
#[derive(Default)]
pub struct PushState {
    pub lost: AtomicBool,
    pub resync: AtomicBool,
    pub wake: Notify,
    /// Channels this node is unsubscribing: their SUNSUBSCRIBE is expected, any other is not.
    pub leaving: Mutex<HashSet<Vec<u8>>>,
}

impl PushState {
    pub fn lose(&self, why: &str) {
        if !self.lost.swap(true, Ordering::AcqRel) {
            log::warn!("redis cluster subscriber: {why}; resubscribing from the current slot map");
        }
        self.wake.notify_one();
    }
}

/// Handles a master connection's pushes as they are read.
pub struct PushHandler {
    pub inbound: Inbound,
    pub state: std::sync::Arc<PushState>,
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
                self.message(&channel, payload);
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

impl PushHandler {
    /// A message on a shard channel: a resync request, a control message, or a user's event.
    fn message(&self, channel: &[u8], payload: Vec<u8>) {
        if channel == CONTROL_SHARD_CHANNEL.as_bytes() {
            let _ = self.inbound.control.send(payload.into());
            return;
        }
        if channel == RESYNC_SHARD_CHANNEL.as_bytes() {
            log::info!("resync requested through redis: every session repairs from the database");
            self.state.resync.store(true, Ordering::Release);
            self.state.wake.notify_one();
            return;
        }
        match user_of_shard_channel(channel).and_then(|user| codec::decode(user, payload.into())) {
            Some(event) => {
                let _ = self.inbound.events.send(event);
            }
            None => log::warn!("ignoring malformed message on {}", String::from_utf8_lossy(channel)),
        }
    }
}
