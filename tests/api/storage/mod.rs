//! Storage: what both backends guarantee (SPEC §3–4, DESIGN §1), group commit, retention, the
//! per-user storage cap and kept counts, and the database failing under a node.

mod cap;
mod counts;
mod faults;
mod group_commit;
mod id_order;
mod idempotency;
mod key_retention;
mod migrations;
mod preferences;
mod publish_after_commit;
mod retention;
mod sqlite_durability;
mod unread_count;

use crate::helpers::*;
use herald::event::Event;
use serde_json::Value;
use tokio::sync::broadcast;

/// The next event the node publishes, within `WAIT`.
async fn next_event(rx: &mut broadcast::Receiver<Event>) -> Event {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Ok(event)) => event,
        Ok(Err(e)) => panic!("broker receiver failed: {e}"),
        Err(_) => panic!("no broker event within {WAIT:?}"),
    }
}

fn frame(event: &Event) -> Value {
    serde_json::from_str(&event.frame).expect("the event frame is JSON")
}
