//! Diesel rows (`…Row`) and insert structs (`…Insert`): storage shapes only. A stored
//! notification is `crate::domain::StoredNotification` (use-cases return it); what clients see
//! of it is `crate::event::Notification`, a view of it.

use super::schema::{idempotency_keys, inbox_state, notification_preferences, notifications};
use chrono::NaiveDateTime;
use diesel::prelude::*;

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
