//! The inbox states and their transitions (README "Inbox states"): `StateAction` (read, unread,
//! seen, archive, unarchive, delete, snooze, and the waker's wake), what each does to one row
//! (`RowState::after`) and to the user's kept counts (`CountDelta`), and which rows an action
//! covers (`Selection`: ids, or a filter). Invariants every transition keeps: archived and
//! snoozed notifications are read; a read notification is seen; never archived and snoozed at
//! once.

use super::ids::NotificationId;
use super::inbox_filter::InboxFilter;
use super::invalid::Invalid;
use super::notification_type::TypeCatalog;
use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

/// The most ids one bulk action names.
pub const MAX_BULK_IDS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAction {
    Read,
    Unread,
    Seen,
    Archive,
    Unarchive,
    Delete,
    /// Hidden (and read) until then.
    Snooze(NaiveDateTime),
    /// A snooze ran out: unread and unseen again (the waker's, never a client's).
    Wake,
}

impl StateAction {
    /// The names clients use (`action` of a bulk request, the `notifications_updated` frame).
    pub const NAMES: &'static str = "read, unread, seen, archive, unarchive, delete, snooze";

    pub fn name(self) -> &'static str {
        match self {
            StateAction::Read => "read",
            StateAction::Unread => "unread",
            StateAction::Seen => "seen",
            StateAction::Archive => "archive",
            StateAction::Unarchive => "unarchive",
            StateAction::Delete => "delete",
            StateAction::Snooze(_) => "snooze",
            StateAction::Wake => "wake",
        }
    }

    /// A client's action: its name, and for `snooze` the body's `snooze_until` (a future RFC
    /// 3339 time, at most a year ahead).
    pub fn parse(body: &Map<String, Value>, now: NaiveDateTime) -> Result<StateAction, Invalid> {
        let name = body.get("action").and_then(Value::as_str).unwrap_or_default();
        Ok(match name {
            "read" => StateAction::Read,
            "unread" => StateAction::Unread,
            "seen" => StateAction::Seen,
            "archive" => StateAction::Archive,
            "unarchive" => StateAction::Unarchive,
            "delete" => StateAction::Delete,
            "snooze" => StateAction::Snooze(snooze_until(body, now)?),
            _ => return Err(Invalid::new("action", format!("must be one of {}", StateAction::NAMES))),
        })
    }
}

/// `snooze_until`: RFC 3339, in the future, at most 366 days ahead.
pub fn snooze_until(body: &Map<String, Value>, now: NaiveDateTime) -> Result<NaiveDateTime, Invalid> {
    let bad = || Invalid::new("snooze_until", "must be an RFC 3339 time in the next 366 days");
    let raw = body.get("snooze_until").and_then(Value::as_str).ok_or_else(bad)?;
    let until = DateTime::parse_from_rfc3339(raw).map_err(|_| bad())?.naive_utc();
    if until <= now || until > now + chrono::Duration::days(366) {
        return Err(bad());
    }
    Ok(until)
}

/// Which of the user's notifications an action covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Up to `MAX_BULK_IDS`, sorted, without duplicates; ids of other users' notifications are
    /// treated as missing.
    Ids(Vec<NotificationId>),
    Filter(InboxFilter),
}

impl Selection {
    /// A bulk body's `ids` or `filter` (exactly one; `filter: {}` is the default list: every
    /// notification neither archived nor snoozed).
    pub fn parse(body: &Map<String, Value>, types: &TypeCatalog) -> Result<Selection, Invalid> {
        match (body.get("ids"), body.get("filter")) {
            (Some(_), Some(_)) => Err(Invalid::new("ids,filter", "give ids or a filter, not both")),
            (None, None) => Err(Invalid::new("ids", "ids or filter is required")),
            (Some(ids), None) => ids_of(ids).map(Selection::Ids),
            (None, Some(Value::Object(filter))) => InboxFilter::from_json(filter, types).map(Selection::Filter),
            (None, Some(_)) => Err(Invalid::new("filter", "must be an object")),
        }
    }
}

fn ids_of(value: &Value) -> Result<Vec<NotificationId>, Invalid> {
    let bad = || Invalid::new("ids", format!("must be an array of 1 to {MAX_BULK_IDS} notification ids"));
    let raw = value.as_array().filter(|ids| (1..=MAX_BULK_IDS).contains(&ids.len())).ok_or_else(bad)?;
    let mut ids = raw.iter().map(|id| NotificationId::from_json(id).ok_or_else(bad)).collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// One row's state, as read under the user's inbox lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowState {
    pub is_read: bool,
    /// `seen_at` is set (a read row is seen whatever this says).
    pub seen: bool,
    pub archived: bool,
    pub snoozed: bool,
}

impl RowState {
    /// The row after `action`, or `None` when the action leaves it as it is (or deletes it:
    /// see `changed_by`).
    pub fn after(self, action: StateAction) -> Option<RowState> {
        let hidden_read = |archived, snoozed| RowState { is_read: true, seen: true, archived, snoozed };
        let next = match action {
            StateAction::Read => RowState { is_read: true, seen: true, ..self },
            StateAction::Unread => RowState { is_read: false, seen: true, archived: false, snoozed: false },
            StateAction::Seen if !self.is_read => RowState { seen: true, ..self },
            StateAction::Seen => self,
            StateAction::Archive => hidden_read(true, false),
            StateAction::Unarchive => RowState { archived: false, ..self },
            StateAction::Snooze(_) => hidden_read(false, true),
            StateAction::Wake if self.snoozed => RowState::default(),
            StateAction::Wake | StateAction::Delete => self,
        };
        (next != self).then_some(next)
    }

    /// Whether `action` changes this row: a snooze always does (it sets a new time), a delete
    /// always removes it.
    pub fn changed_by(self, action: StateAction) -> bool {
        matches!(action, StateAction::Delete | StateAction::Snooze(_)) || self.after(action).is_some()
    }

    /// This row's part in the kept counts.
    fn counted(self) -> CountDelta {
        CountDelta {
            unread: i64::from(!self.is_read),
            seen_unread: i64::from(!self.is_read && self.seen),
            total: 1,
            hidden: i64::from(self.archived || self.snoozed),
        }
    }

    /// What `action` does to the kept counts through this row.
    pub fn delta(self, action: StateAction) -> CountDelta {
        let before = self.counted();
        match action {
            StateAction::Delete => CountDelta::default().minus(before),
            _ => self.after(action).map_or_else(CountDelta::default, |after| after.counted().minus(before)),
        }
    }
}

/// A change to the counts kept in `inbox_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountDelta {
    pub unread: i64,
    pub seen_unread: i64,
    pub total: i64,
    pub hidden: i64,
}

impl CountDelta {
    fn minus(self, other: CountDelta) -> CountDelta {
        CountDelta {
            unread: self.unread - other.unread,
            seen_unread: self.seen_unread - other.seen_unread,
            total: self.total - other.total,
            hidden: self.hidden - other.hidden,
        }
    }

    pub fn plus(self, other: CountDelta) -> CountDelta {
        CountDelta {
            unread: self.unread + other.unread,
            seen_unread: self.seen_unread + other.seen_unread,
            total: self.total + other.total,
            hidden: self.hidden + other.hidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_states() -> Vec<RowState> {
        let mut states = vec![];
        for bits in 0..16u8 {
            let s = RowState {
                is_read: bits & 1 != 0,
                seen: bits & 2 != 0,
                archived: bits & 4 != 0,
                snoozed: bits & 8 != 0,
            };
            let hidden_ones_are_read = s.is_read || !(s.archived || s.snoozed);
            let valid = hidden_ones_are_read && !(s.archived && s.snoozed);
            if valid {
                states.push(s);
            }
        }
        states
    }

    #[test]
    fn every_transition_keeps_the_invariants() {
        let at = chrono::DateTime::from_timestamp(2_000_000_000, 0).expect("time").naive_utc();
        let actions = [
            StateAction::Read,
            StateAction::Unread,
            StateAction::Seen,
            StateAction::Archive,
            StateAction::Unarchive,
            StateAction::Snooze(at),
            StateAction::Wake,
        ];
        for state in all_states() {
            for action in actions {
                let after = state.after(action).unwrap_or(state);
                assert!(!after.archived || after.is_read, "{state:?} {action:?}");
                assert!(!after.snoozed || after.is_read, "{state:?} {action:?}");
                assert!(!(after.archived && after.snoozed), "{state:?} {action:?}");
                let delta = state.delta(action);
                assert_eq!(delta.total, 0, "only delete changes the total");
                assert!(delta.seen_unread <= 1 && delta.unread.abs() <= 1, "{state:?} {action:?}");
            }
            let gone = state.delta(StateAction::Delete);
            assert_eq!(gone.total, -1);
        }
    }

    #[test]
    fn the_badge_and_the_list_move_as_the_states_table_says() {
        let new = RowState::default();
        assert_eq!(new.delta(StateAction::Seen), CountDelta { seen_unread: 1, ..CountDelta::default() });
        assert_eq!(new.delta(StateAction::Read), CountDelta { unread: -1, ..CountDelta::default() });
        let archived = new.after(StateAction::Archive).expect("changes");
        assert_eq!(new.delta(StateAction::Archive), CountDelta { unread: -1, hidden: 1, ..CountDelta::default() });
        assert_eq!(archived.delta(StateAction::Unread), CountDelta { unread: 1, seen_unread: 1, hidden: -1, total: 0 });
        assert!(!archived.changed_by(StateAction::Read), "an archived notification is read already");
        assert_eq!(
            RowState { snoozed: true, is_read: true, seen: true, archived: false }.after(StateAction::Wake),
            Some(new)
        );
    }

    #[test]
    fn bulk_bodies_name_ids_or_a_filter_and_refuse_the_rest() {
        let types = TypeCatalog::default();
        let parse = |v: Value| Selection::parse(v.as_object().expect("object"), &types);
        assert_eq!(
            parse(serde_json::json!({"ids": [3, 1, 3]})).expect("valid"),
            Selection::Ids([1, 3].iter().filter_map(|&id| NotificationId::new(id)).collect())
        );
        let too_many: Vec<i64> = (1..=1001).collect();
        for (body, field) in [
            (serde_json::json!({"ids": too_many}), "ids"),
            (serde_json::json!({"ids": []}), "ids"),
            (serde_json::json!({"ids": [1], "filter": {}}), "ids,filter"),
            (serde_json::json!({}), "ids"),
            (serde_json::json!({"filter": {"type": "alert"}}), "type"),
        ] {
            assert_eq!(parse(body.clone()).expect_err("refused").field, field, "{body}");
        }
        let now = chrono::Utc::now().naive_utc();
        let snooze = serde_json::json!({"action": "snooze", "snooze_until": "2020-01-01T00:00:00Z"});
        assert_eq!(
            StateAction::parse(snooze.as_object().expect("object"), now).expect_err("past").field,
            "snooze_until"
        );
    }
}
