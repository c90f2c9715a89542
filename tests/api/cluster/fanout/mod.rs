//! Fan-out across a cluster (SPEC §1, §5): several nodes on one PostgreSQL database and one private
//! Redis. A change made on any node reaches every socket of its user on every node, in order and
//! exactly once, is not echoed to the socket that made it, and subscriptions follow the sockets.

mod broadcast;
mod idempotency;
mod many_writers;
mod rest_changes;
mod socket_changes;
mod subscribe_race;
mod subscriptions;

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

const LIST: &str = "/auth/notifications/";

/// How long a socket must stay quiet to count as "got nothing more".
const QUIET: Duration = Duration::from_millis(300);

/// Bound for collecting the pushes of a burst of concurrent creates.
const BURST: Duration = Duration::from_secs(30);

/// The next frame that is not a stream repair's `unread_count`, within `WAIT`. (A session whose
/// channel subscription is confirmed after it connected repairs from the database and then sends
/// `unread_count`: the readers here accept such frames where a repair may happen, and nothing else.)
async fn next_push(ws: &mut WsClient, who: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        match read_until(ws, deadline).await {
            Read::Frame(frame) if is_repair(&frame) => continue,
            Read::Frame(frame) => return frame,
            Read::Closed(code) => panic!("{who}: closed with {code}"),
            Read::Quiet => panic!("{who}: no frame within {WAIT:?}"),
        }
    }
}

/// Lets a fresh socket's post-subscription repair pass: a ping round trip, dropping repair
/// `unread_count` frames met on the way. Call after `wait_numsub` saw the subscriptions.
async fn settle(ws: &mut WsClient, who: &str) {
    ws.send_json(json!({"type": "ping", "request_id": "settle"})).await;
    let pong = next_push(ws, who).await;
    assert_eq!(pong, json!({"type": "pong", "request_id": "settle"}), "{who}");
}
