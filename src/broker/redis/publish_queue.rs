//! The publish queue: committed events waiting for the publisher task, in order, and what they
//! weigh. While Redis refuses publishes it is bounded by bytes; past the bound it is dropped
//! whole and a resync is owed: once Redis takes publishes again, every node's sessions repair
//! from the database (the history), so nothing is lost however long the outage. (Not the
//! session's outbox of frames: that is `crate::hub`'s.)

use crate::event::Event;
use std::collections::VecDeque;

pub struct PublishQueue {
    events: VecDeque<Event>,
    bytes: usize,
    /// Most bytes the queue may hold while Redis refuses publishes
    /// (`HERALD_REDIS_REPUBLISH_BYTES`).
    max_bytes: usize,
    /// The last publish failed: Redis refuses publishes until one succeeds.
    failing: bool,
    /// Events were dropped: every node must resync once Redis takes publishes again.
    resync_owed: bool,
}

impl PublishQueue {
    pub fn new(max_bytes: usize) -> PublishQueue {
        PublishQueue { events: VecDeque::new(), bytes: 0, max_bytes, failing: false, resync_owed: false }
    }

    fn weight(event: &Event) -> usize {
        std::mem::size_of::<Event>() + event.frame.len()
    }

    /// Queues events after those already queued.
    pub fn push_back(&mut self, events: Vec<Event>) {
        for event in events {
            self.bytes += Self::weight(&event);
            self.events.push_back(event);
        }
        self.drop_if_overflowing();
    }

    /// Puts events that were not published back at the front, in their order.
    fn push_front(&mut self, events: Vec<Event>) {
        for event in events.into_iter().rev() {
            self.bytes += Self::weight(&event);
            self.events.push_front(event);
        }
        self.drop_if_overflowing();
    }

    /// Redis refuses publishes (the last one failed).
    pub fn is_failing(&self) -> bool {
        self.failing
    }

    /// Events were dropped: a resync must go before anything else.
    pub fn resync_owed(&self) -> bool {
        self.resync_owed
    }

    /// A publish went: Redis takes publishes again.
    pub fn published(&mut self) {
        self.failing = false;
    }

    /// The resync went: every node repairs, nothing is owed any more.
    pub fn resynced(&mut self) {
        self.failing = false;
        self.resync_owed = false;
    }

    /// A batch did not go: its events go back in front, in order, and the queue fails until a
    /// publish goes. True when this is the outage's first failure.
    pub fn unpublished(&mut self, events: Vec<Event>) -> bool {
        let first = !self.failing;
        self.failing = true;
        self.push_front(events);
        first
    }

    /// Takes up to `n` events from the front.
    pub fn take(&mut self, n: usize) -> Vec<Event> {
        let taken: Vec<Event> = self.events.drain(..n.min(self.events.len())).collect();
        self.bytes -= taken.iter().map(Self::weight).sum::<usize>();
        taken
    }

    /// While Redis refuses publishes, a queue over its bound is dropped whole; the database
    /// repairs it (see `resync_owed`).
    fn drop_if_overflowing(&mut self) {
        if self.failing && self.bytes > self.max_bytes {
            let dropped = self.events.len();
            self.events.clear();
            self.bytes = 0;
            self.resync_owed = true;
            log::warn!(
                "publish queue over {} bytes: dropped {dropped} event(s); every node resyncs from the database once Redis is back",
                self.max_bytes
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{StreamPos, UserId};
    use bytestring::ByteString;

    fn event(position: i64) -> Event {
        Event {
            user_id: UserId::new(1).expect("id"),
            position: StreamPos::new(position),
            notification_id: None,
            origin: None,
            frame: ByteString::from_static("{}"),
            published_at_us: 0,
        }
    }

    #[test]
    fn unpublished_events_go_back_in_front_in_order() {
        let mut queue = PublishQueue::new(usize::MAX);
        queue.push_back((1..=4).map(event).collect());
        let batch = queue.take(2);
        assert!(queue.unpublished(batch), "the first failure");
        let positions: Vec<i64> = queue.take(10).iter().map(|e| e.position.get()).collect();
        assert_eq!(positions, [1, 2, 3, 4]);
        assert_eq!(queue.bytes, 0);
    }

    #[test]
    fn only_a_failing_queue_over_its_bound_is_dropped_and_owes_a_resync() {
        let mut queue = PublishQueue::new(1);
        queue.push_back(vec![event(1), event(2)]);
        assert!(!queue.resync_owed(), "Redis takes publishes: the queue holds one pipeline's worth");
        let batch = queue.take(1);
        queue.unpublished(batch);
        assert!(queue.resync_owed());
        assert!(queue.take(10).is_empty());
    }
}
