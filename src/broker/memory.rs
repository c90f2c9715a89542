//! The in-process broker: one bounded broadcast ring per node. A receiver that falls more than
//! `capacity` events behind loses the oldest (counted, logged): the broker is a hint, and
//! sessions repair gaps from the database. Control messages (`crate::cluster`) loop back to
//! this node, the only one.

use crate::event::Event;
use tokio::sync::broadcast;

#[derive(Clone)]
pub struct MemoryBroker {
    sender: broadcast::Sender<Event>,
    control: broadcast::Sender<bytes::Bytes>,
}

impl MemoryBroker {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        let (control, _) = broadcast::channel(super::redis::CONTROL_CAPACITY);
        MemoryBroker { sender, control }
    }

    pub fn publish_control(&self, payload: &[u8]) -> bool {
        self.control.send(bytes::Bytes::copy_from_slice(payload)).is_ok()
    }

    pub fn control_messages(&self) -> broadcast::Receiver<bytes::Bytes> {
        self.control.subscribe()
    }

    pub fn publish(&self, events: Vec<Event>) {
        for event in events {
            // An error only means no receiver is listening right now: nothing to deliver.
            let _ = self.sender.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
