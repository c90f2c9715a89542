//! The delivery logic of one socket as a pure state machine: stream positions in, what to write
//! and when to repair out. No IO and no clock reads (the time comes in as an argument), so every
//! case is unit-tested without a socket; `session` does the IO.
//!
//! Each event carries its position in the user's change stream. Positions are delivered in
//! order and once: a repeat is dropped, an event ahead of a gap is held, and a gap that does not
//! fill within `GAP_REPAIR_DELAY` (or more than `MAX_HELD_EVENTS` held) asks for a repair from
//! the database. A notification a replay already sent is not written again, and a change made
//! by this socket is not echoed to it; both still advance the position.

use crate::domain::StreamPos;
use crate::event::{Event, SessionId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long an out-of-order event waits for the gap before it to fill, before the database
/// repairs it.
pub const GAP_REPAIR_DELAY: Duration = Duration::from_millis(150);
/// Events held behind a gap before repairing at once.
pub const MAX_HELD_EVENTS: usize = 256;
/// How long a repair the database could not serve waits before it is tried again.
pub const REPAIR_RETRY: Duration = Duration::from_secs(1);

/// What became of an event handed to `receive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// At or behind the position: already handled.
    Repeat,
    /// Ahead of a gap: held, and a repair is due at `repair_at` unless the gap fills.
    Held,
    /// Held, and too many are held: repair now.
    RepairNow,
    /// Next in line: take it (and any held events it unblocks) from `next_due`.
    InOrder,
}

/// An event whose turn has come.
#[derive(Debug)]
pub struct Due {
    pub event: Arc<Event>,
    /// False for a notification already sent (by a replay) and for this socket's own changes.
    pub write: bool,
}

/// The per-socket delivery state.
#[derive(Debug)]
pub struct Delivery {
    me: SessionId,
    /// Position of the last change of the user's stream this socket has handled.
    position: StreamPos,
    /// Highest notification id this client has been sent (or was already shown at connect).
    last_sent_id: i64,
    /// Events that arrived ahead of a gap, by position.
    held: BTreeMap<StreamPos, Arc<Event>>,
    /// The in-order event `receive` just accepted, until `next_due` hands it out.
    next: Option<Arc<Event>>,
    repair_at: Option<Instant>,
}

impl Delivery {
    /// A socket whose user's stream stood at `position`, with newest notification `newest_id`,
    /// when it was read at connect.
    pub fn new(me: SessionId, position: StreamPos, newest_id: i64) -> Delivery {
        Delivery { me, position, last_sent_id: newest_id, held: BTreeMap::new(), next: None, repair_at: None }
    }

    pub fn position(&self) -> StreamPos {
        self.position
    }

    /// The highest notification id sent to this client.
    pub fn last_sent_id(&self) -> i64 {
        self.last_sent_id
    }

    /// When a repair is due, if one is.
    pub fn repair_at(&self) -> Option<Instant> {
        self.repair_at
    }

    /// Whether events are held behind a gap.
    pub fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Takes an event from the outbox.
    pub fn receive(&mut self, event: Arc<Event>, now: Instant) -> Received {
        // The position counts an accepted event `next_due` has not handed out yet.
        let position = self.next.as_ref().map_or(self.position, |next| next.position);
        if event.position <= position || self.held.contains_key(&event.position) {
            return Received::Repeat;
        }
        if event.position == position.next() && self.next.is_some() {
            // Next after the one not yet handed out: it follows it out of `held`.
            self.held.insert(event.position, event);
            return Received::InOrder;
        }
        if event.position > position.next() {
            self.held.insert(event.position, event);
            if self.held.len() > MAX_HELD_EVENTS {
                return Received::RepairNow;
            }
            self.repair_at.get_or_insert(now + GAP_REPAIR_DELAY);
            return Received::Held;
        }
        self.next = Some(event);
        Received::InOrder
    }

    /// The next event whose turn has come, in stream order (the one just received, then held
    /// ones it unblocked), advancing the position. `None` when nothing more is due; the held
    /// events left then keep (or get) a repair deadline.
    pub fn next_due(&mut self, now: Instant) -> Option<Due> {
        let Some(event) = self.next.take().or_else(|| self.held.remove(&self.position.next())) else {
            self.held.retain(|&held, _| held > self.position);
            self.repair_at = if self.held.is_empty() { None } else { self.repair_at.or(Some(now + GAP_REPAIR_DELAY)) };
            return None;
        };
        self.position = event.position;
        let mut write = event.origin != Some(self.me);
        if let Some(id) = event.notification_id {
            if id.get() <= self.last_sent_id {
                write = false;
            } else {
                self.last_sent_id = id.get();
            }
        }
        Some(Due { event, write })
    }

    /// A repair starts: no deadline until it says otherwise.
    pub fn repair_started(&mut self) {
        self.repair_at = None;
    }

    /// The database could not serve the repair: try again later.
    pub fn repair_failed(&mut self, now: Instant) {
        self.repair_at = Some(now + REPAIR_RETRY);
    }

    /// Whether the database's stream position shows changes this socket has not handled.
    pub fn is_behind(&self, database_position: StreamPos) -> bool {
        database_position > self.position
    }

    /// A notification was written to the client outside the stream (replay or repair).
    pub fn sent_notification(&mut self, id: i64) {
        self.last_sent_id = self.last_sent_id.max(id);
    }

    /// Whether a repair up to `database_position` that sent `notifications` new notifications (those
    /// at or before that position) left changes untold: every position takes one change, and
    /// those that were not a new notification (a read, unread, delete, retention) cannot be
    /// replayed one by one, so the client must fetch its list again (`resync`).
    pub fn repair_leaves_changes_untold(&self, database_position: StreamPos, notifications: i64) -> bool {
        database_position.get() - self.position.get() > notifications
    }

    /// The repair brought the client up to the database's position `database_position`: events
    /// at or behind it are done; held ones after it are released by `next_due`.
    pub fn repaired_to(&mut self, database_position: StreamPos) {
        self.position = self.position.max(database_position);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NotificationId, UserId};
    use bytestring::ByteString;

    const ME: SessionId = SessionId(1);
    const OTHER: SessionId = SessionId(2);

    fn pos(raw: i64) -> StreamPos {
        StreamPos::new(raw)
    }

    fn event(position: i64, notification_id: Option<i64>, origin: Option<SessionId>) -> Arc<Event> {
        Arc::new(Event {
            user_id: UserId::new(7).expect("id"),
            position: pos(position),
            notification_id: notification_id.and_then(NotificationId::new),
            origin,
            frame: ByteString::from_static("{}"),
            published_at_us: 0,
        })
    }

    fn notification(position: i64, id: i64) -> Arc<Event> {
        event(position, Some(id), None)
    }

    /// Every due event as (position, written), until none is due.
    fn drain(delivery: &mut Delivery, now: Instant) -> Vec<(i64, bool)> {
        std::iter::from_fn(|| delivery.next_due(now)).map(|due| (due.event.position.get(), due.write)).collect()
    }

    #[test]
    fn in_order_events_are_written_once_each() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        assert_eq!(delivery.receive(notification(11, 101), now), Received::InOrder);
        assert_eq!(drain(&mut delivery, now), vec![(11, true)]);
        assert_eq!(delivery.receive(notification(12, 102), now), Received::InOrder);
        assert_eq!(drain(&mut delivery, now), vec![(12, true)]);
        assert_eq!((delivery.position(), delivery.last_sent_id()), (pos(12), 102));
        assert_eq!(delivery.repair_at(), None);
    }

    #[test]
    fn events_received_before_the_previous_one_was_taken_keep_their_order() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        assert_eq!(delivery.receive(notification(11, 101), now), Received::InOrder);
        assert_eq!(delivery.receive(notification(11, 101), now), Received::Repeat);
        assert_eq!(delivery.receive(notification(12, 102), now), Received::InOrder);
        assert_eq!(delivery.receive(notification(12, 102), now), Received::Repeat);
        assert_eq!(drain(&mut delivery, now), vec![(11, true), (12, true)]);
        assert_eq!(delivery.repair_at(), None);
    }

    #[test]
    fn a_repeated_position_is_dropped() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        delivery.receive(notification(11, 101), now);
        drain(&mut delivery, now);
        assert_eq!(delivery.receive(notification(11, 101), now), Received::Repeat);
        assert_eq!(delivery.receive(notification(9, 99), now), Received::Repeat);
        assert_eq!(drain(&mut delivery, now), vec![]);
    }

    #[test]
    fn reordered_events_are_held_then_released_in_order() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        assert_eq!(delivery.receive(notification(13, 103), now), Received::Held);
        assert_eq!(delivery.receive(notification(12, 102), now), Received::Held);
        assert_eq!(delivery.repair_at(), Some(now + GAP_REPAIR_DELAY), "the first gap sets the deadline");
        assert_eq!(drain(&mut delivery, now), vec![]);
        assert_eq!(delivery.receive(notification(11, 101), now), Received::InOrder);
        assert_eq!(drain(&mut delivery, now), vec![(11, true), (12, true), (13, true)]);
        assert_eq!(delivery.repair_at(), None, "the gap filled: no repair");
    }

    #[test]
    fn a_gap_that_stays_keeps_its_deadline_while_other_events_flow() {
        let start = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        delivery.receive(notification(12, 102), start);
        let later = start + Duration::from_millis(100);
        assert_eq!(delivery.receive(notification(14, 104), later), Received::Held);
        assert_eq!(delivery.repair_at(), Some(start + GAP_REPAIR_DELAY), "not pushed back by later events");
        // 11 fills the first gap; 13 is still missing.
        delivery.receive(notification(11, 101), later);
        assert_eq!(drain(&mut delivery, later), vec![(11, true), (12, true)]);
        assert!(delivery.has_held());
        assert_eq!(delivery.repair_at(), Some(start + GAP_REPAIR_DELAY));
    }

    #[test]
    fn too_many_held_events_ask_for_a_repair_at_once() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(0), 0);
        for position in 2..(2 + MAX_HELD_EVENTS as i64) {
            assert_eq!(delivery.receive(notification(position, position), now), Received::Held);
        }
        let overflow = 2 + MAX_HELD_EVENTS as i64;
        assert_eq!(delivery.receive(notification(overflow, overflow), now), Received::RepairNow);
    }

    #[test]
    fn a_notification_a_replay_already_sent_is_not_written_again_but_advances_the_position() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        // The replay sent 101 and 102 while their live events were in flight.
        delivery.sent_notification(101);
        delivery.sent_notification(102);
        let mut due = Vec::new();
        for position in 11..=13 {
            delivery.receive(notification(position, 100 + position - 10), now);
            due.extend(drain(&mut delivery, now));
        }
        assert_eq!(due, vec![(11, false), (12, false), (13, true)]);
        assert_eq!((delivery.position(), delivery.last_sent_id()), (pos(13), 103));
    }

    #[test]
    fn a_change_this_socket_made_advances_the_position_without_an_echo() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        delivery.receive(event(11, None, Some(ME)), now);
        assert_eq!(drain(&mut delivery, now), vec![(11, false)]);
        delivery.receive(event(12, None, Some(OTHER)), now);
        assert_eq!(drain(&mut delivery, now), vec![(12, true)]);
    }

    #[test]
    fn a_repair_releases_held_events_after_the_database_position_and_drops_the_rest() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        // 11 was lost; 12, 14 and 15 arrived; the repair reads the database at position 13
        // (it sent 101..=103 itself: 14 and 15 were committed after its read).
        for (position, id) in [(12, 102), (14, 104), (15, 105)] {
            assert_eq!(delivery.receive(notification(position, id), now), Received::Held);
        }
        delivery.repair_started();
        assert!(delivery.is_behind(pos(13)));
        for id in 101..=103 {
            delivery.sent_notification(id);
        }
        delivery.repaired_to(pos(13));
        assert_eq!(drain(&mut delivery, now), vec![(14, true), (15, true)]);
        assert!(!delivery.has_held(), "12 was covered by the repair");
        assert_eq!(delivery.repair_at(), None);
    }

    #[test]
    fn a_repair_racing_a_newer_live_event_sends_it_once() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        delivery.receive(notification(12, 102), now);
        delivery.repair_started();
        // The repair's read already saw 11 and 12 and sent both notifications.
        delivery.sent_notification(101);
        delivery.sent_notification(102);
        delivery.repaired_to(pos(12));
        assert_eq!(drain(&mut delivery, now), vec![], "12 was held and is now behind the position");
        // The live event of 12 arriving late again is a repeat.
        assert_eq!(delivery.receive(notification(12, 102), now), Received::Repeat);
    }

    #[test]
    fn a_socket_not_behind_the_database_needs_no_repair_and_a_failed_repair_retries() {
        let now = Instant::now();
        let mut delivery = Delivery::new(ME, pos(10), 100);
        assert!(!delivery.is_behind(pos(10)));
        delivery.repair_failed(now);
        assert_eq!(delivery.repair_at(), Some(now + REPAIR_RETRY));
        delivery.repair_started();
        assert_eq!(delivery.repair_at(), None);
    }

    #[test]
    fn a_repair_that_only_missed_new_notifications_needs_no_resync_and_one_that_missed_a_read_does() {
        let delivery = Delivery::new(ME, pos(3), 10);
        assert!(!delivery.repair_leaves_changes_untold(pos(5), 2), "positions 4 and 5 were the two notifications sent");
        assert!(delivery.repair_leaves_changes_untold(pos(5), 1), "one of 4 and 5 was not a new notification");
        assert!(delivery.repair_leaves_changes_untold(pos(4), 0), "a read, delete or retention: nothing to send");
        assert!(!delivery.repair_leaves_changes_untold(pos(3), 0), "not behind");
    }
}
