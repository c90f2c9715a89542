//! Diesel rows (`…Row`) and insert structs (`…Insert`): storage shapes only. What clients see
//! of a notification is `crate::event::Notification`, a view of `NotificationRow`.

use super::schema::{idempotency_keys, inbox_state, notification_preferences, notifications};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: i64,
    pub user_id: i64,
    pub sender_id: Option<i64>,
    pub notification_type: String,
    pub title: String,
    pub message: String,
    /// Serialized JSON (validated before it was stored).
    pub data: String,
    pub link: Option<String>,
    pub is_read: bool,
    /// Internal: false when the recipient asked not to have this type pushed live.
    pub realtime: bool,
    pub read_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
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

#[derive(Debug, Insertable)]
#[diesel(table_name = inbox_state)]
pub struct InboxStateInsert {
    pub user_id: i64,
    pub unread_count: i64,
    pub last_seq: i64,
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
}
