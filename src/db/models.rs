//! Diesel rows (`…Row`) and insert structs (`…Insert`). `NotificationRow` serializes to the wire
//! shape of SPEC §3 directly: `data` is embedded as raw JSON, timestamps as RFC 3339 UTC with
//! microseconds and a `Z`.

use super::schema::{idempotency_keys, inbox_state, notification_preferences, notifications};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Serialize)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: i64,
    pub user_id: i64,
    pub sender_id: Option<i64>,
    pub notification_type: String,
    pub title: String,
    pub message: String,
    #[serde(serialize_with = "raw_json")]
    pub data: String,
    pub link: Option<String>,
    pub is_read: bool,
    /// Internal: false when the recipient asked not to have this type pushed live.
    #[serde(skip)]
    pub realtime: bool,
    #[serde(serialize_with = "optional_timestamp")]
    pub read_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "timestamp")]
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

pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

fn timestamp<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&at.format(TIMESTAMP_FORMAT))
}

fn optional_timestamp<S: Serializer>(at: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => timestamp(at, s),
        None => s.serialize_none(),
    }
}

/// `data` is stored as serialized JSON; embed it as is (it was validated before it was stored).
fn raw_json<S: Serializer>(data: &str, s: S) -> Result<S::Ok, S::Error> {
    let raw: &serde_json::value::RawValue = serde_json::from_str(data).map_err(serde::ser::Error::custom)?;
    raw.serialize(s)
}
