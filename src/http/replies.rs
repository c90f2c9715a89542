//! Every REST reply body: the types the handlers serialize, and (through their `ToSchema`
//! derives) what the OpenAPI document says they send. Notifications are `event::Notification`,
//! the view WebSocket frames carry too.

use crate::domain::{Category, Preference, Preferences as PreferenceMap, TypeCatalog};
use crate::event::{Notification, Notifications};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A page of the caller's notifications, newest first.
#[derive(Serialize, ToSchema)]
pub struct NotificationList<'a> {
    #[schema(value_type = Vec<Notification>)]
    pub notifications: Notifications<'a>,
    /// Every notification matching `unread`/`type`, ignoring `before` and `limit`.
    #[schema(minimum = 0)]
    pub total: i64,
    /// The caller's whole unread count, whatever the filter.
    #[schema(minimum = 0)]
    pub unread_count: i64,
    /// The `before` of the next page; null on the last.
    #[schema(minimum = 1, format = Int64, required = true)]
    pub next_before: Option<i64>,
    /// The caller's unread notifications not seen yet (the badge), whatever the filter.
    #[schema(minimum = 0)]
    pub unseen_count: i64,
}

// `{"notification": {...}}`, the body of a create reply (no description in the document).
#[derive(Serialize, ToSchema)]
pub struct NotificationCreated<'a> {
    pub notification: Notification<'a>,
}

/// The recipient disabled this type: nothing was stored.
#[derive(Serialize, ToSchema)]
pub struct Suppressed {
    /// Always `true`.
    pub suppressed: bool,
    pub reason: SuppressedReason,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressedReason {
    Preference,
}

// The reply to read and unread.
#[derive(Serialize, ToSchema)]
pub struct NotificationWithCount<'a> {
    pub notification: Notification<'a>,
    #[schema(minimum = 0)]
    pub unread_count: i64,
    #[schema(minimum = 0)]
    pub unseen_count: i64,
}

impl<'a> NotificationWithCount<'a> {
    pub fn new(row: &'a crate::domain::StoredNotification, change: crate::domain::Change) -> Self {
        NotificationWithCount {
            notification: row.into(),
            unread_count: change.unread_count,
            unseen_count: change.unseen_count,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MarkedAllRead {
    /// How many were unread.
    #[schema(minimum = 0)]
    pub marked: i64,
    #[schema(minimum = 0)]
    pub unread_count: i64,
    #[schema(minimum = 0)]
    pub unseen_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// Always `true`.
    pub deleted: bool,
    #[schema(minimum = 0)]
    pub unread_count: i64,
    #[schema(minimum = 0)]
    pub unseen_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    #[schema(minimum = 0)]
    pub unread_count: i64,
    /// Unread notifications not seen yet (the badge).
    #[schema(minimum = 0)]
    pub unseen_count: i64,
}

/// What a state action (seen, archive, unarchive, snooze, bulk) did.
#[derive(Serialize, ToSchema)]
pub struct StatesUpdated {
    /// The action, as named in the request.
    #[schema(example = "archive")]
    pub action: &'static str,
    /// How many notifications it changed (those already so are not counted).
    #[schema(minimum = 0)]
    pub changed: usize,
    #[schema(minimum = 0)]
    pub unread_count: i64,
    #[schema(minimum = 0)]
    pub unseen_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BroadcastCreated {
    /// Notifications stored (one per distinct recipient that did not disable the type and had
    /// room, see `inbox_full`).
    #[schema(value_type = i64, minimum = 0)]
    pub created: usize,
    /// Recipients whose preference suppressed it.
    #[schema(value_type = i64, minimum = 0)]
    pub suppressed: usize,
    #[schema(value_type = Vec<i64>)]
    pub notification_ids: Vec<i64>,
    /// Recipients whose inbox holds `HERALD_MAX_STORED_PER_USER` notifications, all unread:
    /// nothing was stored for them (ascending; empty when none).
    #[schema(value_type = Vec<i64>)]
    pub inbox_full: Vec<i64>,
}

/// Every configured type, and every category (on only when on for all its types).
#[derive(Serialize, ToSchema)]
pub struct Preferences<'a> {
    pub preferences: &'a PreferenceMap,
    #[schema(value_type = PreferenceMap)]
    pub categories: BTreeMap<Category, Preference>,
}

impl<'a> Preferences<'a> {
    pub fn new(preferences: &'a PreferenceMap, types: &TypeCatalog) -> Self {
        Preferences { preferences, categories: preferences.by_category(types) }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// What answers: `database`, and with `REDIS_URL` the Redis publisher and subscriber, each `ok`
/// or `unavailable…`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: ReadinessStatus,
    #[schema(value_type = HashMap<String, String>)]
    pub checks: BTreeMap<&'static str, String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ok,
    Unavailable,
}

/// `body` as a JSON value: its objects' keys sorted, as the replies built with `json!` always
/// were (field order of a struct otherwise).
pub fn sorted(body: &impl Serialize) -> serde_json::Value {
    // These replies are plain data (strings, numbers, maps with string keys): they serialize.
    serde_json::to_value(body).unwrap_or_default()
}

/// A page of notifications across users (the admin console), newest first.
#[derive(Serialize, ToSchema)]
pub struct AdminNotificationPage<'a> {
    #[schema(value_type = Vec<Notification>)]
    pub notifications: Notifications<'a>,
    /// The `before` of the next page; null on the last.
    #[schema(minimum = 1, format = Int64, required = true)]
    pub next_before: Option<i64>,
}

/// One admin action: who did what to whom, when.
#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    #[schema(minimum = 1, format = Int64)]
    pub id: i64,
    /// The staff member's user id (the token's).
    #[schema(format = Int64)]
    pub actor_id: i64,
    /// e.g. `notification.mark_read`, `notification.delete`.
    pub action: String,
    #[schema(format = Int64)]
    pub target_user_id: Option<i64>,
    /// Notification ids the action touched.
    #[schema(value_type = Vec<i64>)]
    pub target_ids: serde_json::Value,
    /// The action's parameters.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditEntry>,
    /// The `before` of the next page; null on the last.
    #[schema(minimum = 1, format = Int64, required = true)]
    pub next_before: Option<i64>,
}

impl AuditPage {
    pub fn new(records: &[crate::domain::AuditRecord], next_before: Option<i64>) -> AuditPage {
        let parse = |text: &str| serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        let records = records
            .iter()
            .map(|r| AuditEntry {
                id: r.id,
                actor_id: r.actor_id,
                action: r.action.clone(),
                target_user_id: r.target_user_id,
                target_ids: parse(&r.target_ids),
                detail: parse(&r.detail),
                created_at: crate::event::format_timestamp(&r.created_at).to_string(),
            })
            .collect();
        AuditPage { records, next_before }
    }
}

/// A user as the admin console shows them: their inbox's first page as they see it, and their
/// preferences.
#[derive(Serialize, ToSchema)]
pub struct AdminUserView<'a> {
    #[schema(minimum = 1, format = Int64)]
    pub user_id: i64,
    #[schema(minimum = 0)]
    pub unread_count: i64,
    /// Every notification the user has.
    #[schema(minimum = 0)]
    pub total: i64,
    #[schema(value_type = Vec<Notification>)]
    pub notifications: Notifications<'a>,
    /// The `before` of the inbox's next page (`/admin/api/notifications/?user_id=…&before=…`).
    #[schema(minimum = 1, format = Int64, required = true)]
    pub next_before: Option<i64>,
    #[schema(value_type = Object)]
    pub preferences: serde_json::Value,
}

impl<'a> AdminUserView<'a> {
    pub fn new(user: crate::domain::UserId, view: &'a crate::console::UserView) -> AdminUserView<'a> {
        AdminUserView {
            user_id: user.get(),
            unread_count: view.page.unread_count,
            total: view.page.total,
            notifications: Notifications(&view.page.rows),
            next_before: view.page.next_before,
            preferences: sorted(&view.preferences),
        }
    }
}

/// One user's stored preference for one type.
#[derive(Serialize, ToSchema)]
pub struct StoredPreference {
    #[schema(minimum = 1, format = Int64)]
    pub user_id: i64,
    pub notification_type: String,
    pub enabled: bool,
    pub realtime: bool,
}

/// A page of stored preferences, ascending by user and type.
#[derive(Serialize, ToSchema)]
pub struct PreferencePage {
    pub preferences: Vec<StoredPreference>,
    /// The `after` of the next page; null on the last.
    #[schema(required = true)]
    pub next_after: Option<String>,
}

impl PreferencePage {
    pub fn new(rows: Vec<crate::domain::UserPreference>, more: bool) -> PreferencePage {
        let next_after = rows.last().filter(|_| more).map(|row| format!("{}:{}", row.user_id, row.notification_type));
        let preferences = rows
            .into_iter()
            .map(|row| StoredPreference {
                user_id: row.user_id,
                notification_type: row.notification_type,
                enabled: row.enabled,
                realtime: row.realtime,
            })
            .collect();
        PreferencePage { preferences, next_after }
    }
}

/// What a broadcast would do now, without sending it.
#[derive(Serialize, ToSchema)]
pub struct BroadcastPreviewReply {
    /// Distinct recipients named.
    #[schema(minimum = 1)]
    pub recipients: i64,
    /// Would get it stored and pushed live.
    #[schema(minimum = 0)]
    pub delivered_live: i64,
    /// Would get it stored, not pushed (their preference for the type says not live).
    #[schema(minimum = 0)]
    pub stored_only: i64,
    /// Turned the type off: nothing would be stored for them.
    #[schema(value_type = Vec<i64>)]
    pub suppressed: Vec<i64>,
    /// Their inbox holds `HERALD_MAX_STORED_PER_USER` unread notifications: nothing would be stored.
    #[schema(value_type = Vec<i64>)]
    pub inbox_full: Vec<i64>,
}

impl From<crate::domain::BroadcastPreview> for BroadcastPreviewReply {
    fn from(preview: crate::domain::BroadcastPreview) -> Self {
        let skipped = (preview.suppressed.len() + preview.inbox_full.len()) as i64;
        BroadcastPreviewReply {
            recipients: preview.recipients,
            delivered_live: (preview.recipients - skipped - preview.not_live).max(0),
            stored_only: preview.not_live,
            suppressed: preview.suppressed,
            inbox_full: preview.inbox_full,
        }
    }
}
