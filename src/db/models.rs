//! Diesel rows (`…Row`) and insert structs (`…Insert`): storage shapes only. A stored
//! notification is `crate::domain::StoredNotification` (use-cases return it); what clients see
//! of it is `crate::event::Notification`, a view of it. Also the column list hand-written SQL
//! loads a stored notification with.

use super::schema::{idempotency_keys, inbox_state, notification_preferences, notifications};
use crate::domain::{InboxCounts, NotificationContent, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// The columns of `notifications` as hand-written SQL names them (a `RETURNING` or `SELECT`
/// list loaded into `StoredNotification`), in `StoredNotification` order. A unit test checks it
/// equals Diesel's `notifications::all_columns` (which `StoredNotification` is loaded from by
/// position, type-checked), so a new column cannot be forgotten here.
pub const NOTIFICATION_COLUMNS: &str =
    "id, user_id, sender_id, notification_type, title, message, data, link, is_read, realtime, read_at, created_at, \
     seen_at, archived_at, snoozed_until";

/// The current time as stored: UTC, truncated to microseconds (PostgreSQL's precision), so the
/// value returned at creation equals the value read back later.
pub fn now() -> NaiveDateTime {
    use chrono::Timelike;
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

#[derive(Debug, Insertable)]
#[diesel(table_name = notifications, treat_none_as_default_value = false)]
pub struct NotificationInsert<'a> {
    pub user_id: i64,
    pub sender_id: Option<i64>,
    pub notification_type: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub data: &'a str,
    pub link: Option<&'a str>,
    pub is_read: bool,
    pub realtime: bool,
    pub created_at: NaiveDateTime,
}

impl<'a> NotificationInsert<'a> {
    /// An unread notification of `content` for `recipient`, created `now`.
    pub fn new(
        recipient: UserId,
        sender: Option<UserId>,
        content: &'a NotificationContent,
        realtime: bool,
        now: NaiveDateTime,
    ) -> NotificationInsert<'a> {
        NotificationInsert {
            user_id: recipient.get(),
            sender_id: sender.map(UserId::get),
            notification_type: content.kind.as_str(),
            title: &content.title,
            message: &content.message,
            data: &content.data,
            link: content.link.as_deref(),
            is_read: false,
            realtime,
            created_at: now,
        }
    }
}

/// An inbox row as read under its lock: its counts and change-stream position.
pub type LockedInbox = (InboxCounts, i64);

/// The columns of `inbox_state` in `InboxCounts` order.
pub type CountColumns =
    (inbox_state::total_count, inbox_state::unread_count, inbox_state::seen_unread_count, inbox_state::hidden_count);

/// The columns a locked inbox row is read with: user, `InboxCounts`, position.
pub const LOCKED_COLUMNS: (inbox_state::user_id, CountColumns, inbox_state::last_seq) = (
    inbox_state::user_id,
    (inbox_state::total_count, inbox_state::unread_count, inbox_state::seen_unread_count, inbox_state::hidden_count),
    inbox_state::last_seq,
);

/// A notification pruned to make room: `(user_id, id, was read, was archived or snoozed)`.
pub type PrunedRow = (i64, i64, bool, bool);

/// A `PrunedRow` as a `RETURNING user_id, id, is_read, … AS hidden` statement yields it (both
/// backends).
#[derive(diesel::QueryableByName)]
pub struct PrunedRowByName {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_read: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    hidden: bool,
}

impl From<PrunedRowByName> for PrunedRow {
    fn from(row: PrunedRowByName) -> PrunedRow {
        (row.user_id, row.id, row.is_read, row.hidden)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = inbox_state)]
pub struct InboxStateInsert {
    pub user_id: i64,
    pub unread_count: i64,
    pub last_seq: i64,
    pub total_count: i64,
    pub hidden_count: i64,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = notification_preferences)]
pub struct PreferenceRow {
    pub user_id: i64,
    pub notification_type: String,
    pub enabled: bool,
    pub realtime: bool,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub caller_id: i64,
    pub key: String,
    pub response_status: i32,
    pub response_body: String,
    pub created_at: NaiveDateTime,
    /// `IdempotencyKey::request_hash` of the request that claimed the key ('' before it existed).
    pub request_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column names a query selects, as Diesel renders it for PostgreSQL.
    fn selected_columns(sql: &str) -> Vec<String> {
        let list = sql.strip_prefix("SELECT ").and_then(|rest| rest.split(" FROM ").next()).expect("a SELECT");
        list.split(", ").map(|c| c.rsplit('.').next().unwrap_or(c).trim_matches('"').to_owned()).collect()
    }

    /// The hand-written column list (the PostgreSQL broadcast insert's `RETURNING`, the replay
    /// page's `SELECT`) is exactly the table's columns, in order: a new column in the schema fails
    /// here instead of at run time. (`StoredNotification` is loaded from `all_columns` by
    /// position, so Diesel checks its fields against the same list when it compiles.)
    #[test]
    fn the_hand_written_notification_columns_are_the_schemas() {
        use notifications as n;
        let hand_written: Vec<String> = NOTIFICATION_COLUMNS.split(", ").map(str::to_owned).collect();
        let all_columns = diesel::debug_query::<diesel::pg::Pg, _>(&n::table.select(n::all_columns)).to_string();
        assert_eq!(selected_columns(&all_columns), hand_written, "notifications::all_columns");
    }
}
