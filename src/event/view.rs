//! What clients see of stored data: `Notification` (a view of a stored row: `data` embedded as
//! raw JSON, timestamps in RFC 3339 UTC with microseconds), `Notifications` (a list of them),
//! `FilterView` (a bulk action's filter as frames repeat it) and the timestamp format they share.

use crate::domain::{InboxFilter, StoredNotification};
use chrono::format::{Fixed, Item, Numeric, Pad};
use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};

/// A notification as clients see it (SPEC §3): a view of the stored row with `data` embedded as
/// raw JSON, timestamps in RFC 3339 UTC with microseconds and a `Z`, and internal columns
/// (`realtime`) left out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(
    description = "A notification, as every reply shows it (SPEC §3; `crate::event::Notification`).",
    example = json!({
        "id": 42, "user_id": 1, "sender_id": 7, "notification_type": "general", "title": "New Task Assigned",
        "message": "You have been assigned a new task", "data": {"task_id": 123},
        "link": "https://example.com/tasks/123", "is_read": false, "read_at": null,
        "created_at": "2026-11-24T09:10:44.123456Z", "seen_at": null, "archived_at": null, "snoozed_until": null
    })
)]
pub struct Notification<'a> {
    #[schema(minimum = 1, format = Int64)]
    pub id: i64,
    #[schema(minimum = 1, format = Int64)]
    pub user_id: i64,
    /// The user whose token created it.
    #[schema(minimum = 1, format = Int64, required = true)]
    pub sender_id: Option<i64>,
    #[schema(value_type = crate::domain::NotificationType)]
    pub notification_type: &'a str,
    /// 1 to 200 characters, trimmed.
    #[schema(min_length = 1, max_length = 200)]
    pub title: &'a str,
    #[schema(max_length = 5000)]
    pub message: &'a str,
    /// A JSON object of at most 16 KiB serialized.
    #[serde(serialize_with = "raw_json")]
    #[schema(value_type = Object)]
    pub data: &'a str,
    /// An absolute http(s) URL, as given (trimmed).
    #[schema(required = true)]
    pub link: Option<&'a str>,
    pub is_read: bool,
    /// When it was first read (RFC 3339, UTC, microseconds); null while unread.
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub read_at: Option<NaiveDateTime>,
    /// RFC 3339, UTC, microseconds, e.g. `2026-11-24T09:10:44.123456Z`.
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    /// When it was first seen (a read notification is seen); null while unseen.
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub seen_at: Option<NaiveDateTime>,
    /// When it was archived; null unless archived (archived ones are read and left out of the
    /// default list).
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub archived_at: Option<NaiveDateTime>,
    /// Hidden (and read) until then, when it comes back unread; null unless snoozed.
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub snoozed_until: Option<NaiveDateTime>,
}

impl<'a> From<&'a StoredNotification> for Notification<'a> {
    fn from(row: &'a StoredNotification) -> Self {
        Notification {
            id: row.id,
            user_id: row.user_id,
            sender_id: row.sender_id,
            notification_type: &row.notification_type,
            title: &row.title,
            message: &row.message,
            data: &row.data,
            link: row.link.as_deref(),
            is_read: row.is_read,
            read_at: row.read_at,
            created_at: row.created_at,
            seen_at: row.seen(),
            archived_at: row.archived_at,
            snoozed_until: row.snoozed_until,
        }
    }
}

/// Stored rows as a JSON array of `Notification`s.
#[derive(Debug)]
pub struct Notifications<'a>(pub &'a [StoredNotification]);

impl Serialize for Notifications<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Notification::from))
    }
}

/// The timestamp format, `%Y-%m-%dT%H:%M:%S%.6fZ`, as parsed items: formatting with them skips
/// parsing the format string on every timestamp (it showed in profiles of the create path).
pub const TIMESTAMP_FORMAT: &[Item<'static>] = &[
    Item::Numeric(Numeric::Year, Pad::Zero),
    Item::Literal("-"),
    Item::Numeric(Numeric::Month, Pad::Zero),
    Item::Literal("-"),
    Item::Numeric(Numeric::Day, Pad::Zero),
    Item::Literal("T"),
    Item::Numeric(Numeric::Hour, Pad::Zero),
    Item::Literal(":"),
    Item::Numeric(Numeric::Minute, Pad::Zero),
    Item::Literal(":"),
    Item::Numeric(Numeric::Second, Pad::Zero),
    Item::Fixed(Fixed::Nanosecond6),
    Item::Literal("Z"),
];

/// `at` in `TIMESTAMP_FORMAT`.
pub fn format_timestamp(at: &NaiveDateTime) -> impl std::fmt::Display {
    at.format_with_items(TIMESTAMP_FORMAT.iter())
}

fn timestamp<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_timestamp(at))
}

pub(super) fn optional_timestamp<S: Serializer>(at: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => timestamp(at, s),
        None => s.serialize_none(),
    }
}

/// `data` is stored as serialized JSON; embed it as is (it was validated before it was stored).
fn raw_json<S: Serializer>(data: &&str, s: S) -> Result<S::Ok, S::Error> {
    let raw: &serde_json::value::RawValue = serde_json::from_str(data).map_err(serde::ser::Error::custom)?;
    raw.serialize(s)
}

/// A bulk action's filter as the `notifications_updated` frame repeats it: the names and values
/// a client sent (`types`, `read`, …), only those set.
#[derive(Debug, Clone, Copy)]
pub struct FilterView<'a>(pub &'a InboxFilter);

impl Serialize for FilterView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let f = self.0;
        let mut map = s.serialize_map(None)?;
        if !f.kinds.is_empty() {
            map.serialize_entry("types", &f.kinds)?;
        }
        for (name, value) in [("read", f.read), ("seen", f.seen)] {
            if let Some(value) = value {
                map.serialize_entry(name, &value)?;
            }
        }
        for (name, value) in [("archived", f.archived), ("snoozed", f.snoozed)] {
            if value {
                map.serialize_entry(name, &value)?;
            }
        }
        for (name, at) in [("created_after", f.created_after), ("created_before", f.created_before)] {
            if let Some(at) = at {
                map.serialize_entry(name, &format_timestamp(&at).to_string())?;
            }
        }
        if let Some(before) = f.before {
            map.serialize_entry("before", &before.get())?;
        }
        if let Some(data) = &f.data {
            let raw: &serde_json::value::RawValue = serde_json::from_str(data).map_err(serde::ser::Error::custom)?;
            map.serialize_entry("data", raw)?;
        }
        map.end()
    }
}
