//! The in-process broker: one bounded broadcast ring per node. A receiver that falls more than
//! `capacity` events behind loses the oldest (counted, logged): the broker is a hint, and
//! sessions repair gaps from the database.

use crate::event::Event;
use tokio::sync::broadcast;

#[derive(Clone)]
pub struct MemoryBroker {
    sender: broadcast::Sender<Event>,
}

impl MemoryBroker {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        MemoryBroker { sender }
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
