//! The per-user storage cap (`HERALD_MAX_STORED_PER_USER`) as a rule, without IO: how many of
//! a user's incoming notifications their inbox takes, and how many of its oldest *read* ones are
//! pruned to make room. Unread notifications are never pruned: an inbox full of unread ones
//! takes nothing more (`inbox_full`). Storage applies the rule under the user's inbox lock.

/// The most notifications one user's inbox holds (above zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageCap(i64);

/// What an inbox holds now: all its notifications, the unread ones among them, the unread ones
/// already seen, and the archived or snoozed ones (`crate::domain::state_change`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, diesel::Queryable)]
pub struct InboxCounts {
    pub total: i64,
    pub unread: i64,
    pub seen_unread: i64,
    pub hidden: i64,
}

/// What an inbox does with `incoming` new notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The first `accepted` are stored (all unread); the rest find the inbox full.
    pub accepted: i64,
    /// The oldest read notifications to delete first, to stay within the cap.
    pub prune: i64,
}

impl StorageCap {
    /// `HERALD_MAX_STORED_PER_USER`'s default.
    pub const DEFAULT: i64 = 10_000;

    /// Read notifications pruned per stored one, at most: an inbox above the cap (the cap was
    /// lowered, or the inbox predates it) shrinks to it over its next creates, never in one
    /// long transaction.
    pub const MAX_PRUNED_PER_CREATE: i64 = 4;

    /// A cap of `max` notifications per user; `None` unless `max > 0`.
    pub fn new(max: i64) -> Option<StorageCap> {
        (max > 0).then_some(StorageCap(max))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Whether `incoming` notifications fit without pruning anything.
    pub fn fits(self, total: i64, incoming: i64) -> bool {
        total + incoming <= self.0
    }

    /// How many of `incoming` notifications an inbox holding `now` takes, and how many read ones
    /// it prunes first: as many as fit once every read one could go (unread ones never do), and
    /// the fewest read ones that keep it within the cap (see `MAX_PRUNED_PER_CREATE`).
    pub fn admit(self, now: InboxCounts, incoming: i64) -> Admission {
        let accepted = incoming.clamp(0, (self.0 - now.unread).max(0));
        let over = (now.total + accepted - self.0).max(0);
        let read = (now.total - now.unread).max(0);
        let prune = over.min(read).min(accepted * Self::MAX_PRUNED_PER_CREATE);
        Admission { accepted, prune }
    }
}

impl Default for StorageCap {
    fn default() -> Self {
        StorageCap(Self::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(max: i64) -> StorageCap {
        StorageCap::new(max).expect("positive")
    }

    fn counts(total: i64, unread: i64) -> InboxCounts {
        InboxCounts { total, unread, ..InboxCounts::default() }
    }

    #[test]
    fn below_the_cap_everything_is_stored_and_nothing_pruned() {
        assert_eq!(cap(3).admit(counts(0, 0), 1), Admission { accepted: 1, prune: 0 });
        assert_eq!(cap(3).admit(counts(1, 1), 2), Admission { accepted: 2, prune: 0 });
        assert!(cap(3).fits(1, 2) && !cap(3).fits(2, 2));
    }

    #[test]
    fn at_the_cap_the_oldest_read_ones_make_room() {
        assert_eq!(cap(3).admit(counts(3, 1), 1), Admission { accepted: 1, prune: 1 });
        assert_eq!(cap(3).admit(counts(3, 1), 2), Admission { accepted: 2, prune: 2 });
        assert_eq!(cap(3).admit(counts(2, 0), 3), Admission { accepted: 3, prune: 2 });
    }

    #[test]
    fn unread_ones_are_never_pruned_and_a_full_inbox_takes_nothing() {
        assert_eq!(cap(3).admit(counts(3, 3), 1), Admission { accepted: 0, prune: 0 });
        assert_eq!(cap(3).admit(counts(3, 2), 2), Admission { accepted: 1, prune: 1 });
        assert_eq!(cap(3).admit(counts(0, 0), 5), Admission { accepted: 3, prune: 0 }, "a new inbox takes the cap");
        assert_eq!(cap(3).admit(counts(9, 7), 1), Admission { accepted: 0, prune: 0 }, "more unread than the cap");
    }

    #[test]
    fn an_inbox_above_the_cap_shrinks_a_few_rows_per_create() {
        assert_eq!(cap(10).admit(counts(100, 0), 1), Admission { accepted: 1, prune: 4 });
        assert_eq!(cap(10).admit(counts(12, 0), 1), Admission { accepted: 1, prune: 3 });
    }

    #[test]
    fn only_positive_caps_exist() {
        assert_eq!(StorageCap::new(0), None);
        assert_eq!(StorageCap::new(-1), None);
        assert_eq!(StorageCap::default().get(), 10_000);
    }
}
