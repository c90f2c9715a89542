//! The records the use-cases return and storage produces: a stored notification, a page of
//! them, a change with its stream position, a snapshot of an inbox, the outcomes of create and
//! broadcast, and idempotent replies. They live here, below `inbox` and `db`, so storage never
//! imports the use-cases.

use super::ids::UserId;
use super::stream_pos::StreamPos;
use chrono::NaiveDateTime;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};

/// A notification as stored: one row of `notifications`, in its column order (Diesel loads it
/// by position from `notifications::all_columns`, and by name from hand-written SQL). What
/// clients see of it is `crate::event::Notification`.
#[derive(Debug, Clone, PartialEq, diesel::Queryable, diesel::QueryableByName)]
pub struct StoredNotification {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub sender_id: Option<i64>,
    #[diesel(sql_type = Text)]
    pub notification_type: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub message: String,
    /// Serialized JSON (validated before it was stored).
    #[diesel(sql_type = Text)]
    pub data: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub link: Option<String>,
    #[diesel(sql_type = Bool)]
    pub is_read: bool,
    /// Internal: false when the recipient asked not to have this type pushed live.
    #[diesel(sql_type = Bool)]
    pub realtime: bool,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub read_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
    /// Null for a read notification read before seen existed (it is seen: see `seen`).
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub seen_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub archived_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub snoozed_until: Option<NaiveDateTime>,
}

impl StoredNotification {
    /// When it was seen, as clients are told: a read notification was seen when it was read
    /// (or earlier).
    pub fn seen(&self) -> Option<NaiveDateTime> {
        self.seen_at.or(self.read_at)
    }
}

/// The outcome of storing one notification.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "`Created` is the outcome of nearly every create, moved once to its caller: boxing it would allocate \
              per create for nothing"
)]
pub enum CreateOutcome {
    /// Stored. `position` is its place in the user's change stream when it is pushed live,
    /// `None` when the recipient's preference says not live; `pruned`, the read notifications
    /// deleted first to keep the inbox within the storage cap.
    Created { row: StoredNotification, position: Option<StreamPos>, pruned: Pruned },
    /// The recipient disabled this type: nothing was stored.
    Suppressed,
    /// The recipient's inbox holds the storage cap in unread notifications: nothing was stored
    /// (and nothing recorded under an idempotency key, so a retry may succeed later).
    InboxFull,
}

/// Read notifications of one user deleted to make room under the storage cap, each with its
/// place in the user's change stream (pushed as `notification_deleted`), ascending; and the
/// user's unread count after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deleted: Vec<(i64, StreamPos)>,
    pub unread_count: i64,
    pub unseen_count: i64,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct BroadcastOutcome {
    /// One stored notification per recipient who accepts the type and has room, ascending by
    /// user id, with its stream position when it is pushed live (see `CreateOutcome`).
    pub created: Vec<(StoredNotification, Option<StreamPos>)>,
    pub suppressed: usize,
    /// Recipients whose inbox holds the storage cap in unread notifications: nothing was stored
    /// for them (ascending).
    pub inbox_full: Vec<UserId>,
    /// Read notifications deleted to make room, per recipient (ascending user id).
    pub pruned: Vec<(UserId, Pruned)>,
}

/// A reply recorded under an idempotency key, returned as is to a repeat. The edge that takes
/// the key renders it (`status` is an HTTP status for REST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    pub status: u16,
    pub body: String,
}

/// Renders a use-case's outcome as the reply recorded under an idempotency key: the edge that
/// takes keys (REST) chooses it, so a repeat of the key gets the first reply byte for byte.
pub type RenderReply<T> = fn(&T) -> StoredReply;

/// A caller's idempotency key, scoped to one operation, with the request it comes with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub caller: UserId,
    /// `operation:key`: the same key names different requests in different operations.
    pub scoped_key: String,
    /// SHA-256 (hex) of the request's canonical form (`request_hash`): a repeat of the key must
    /// carry the same request.
    pub request_hash: String,
}

/// The SHA-256 (hex) of `request`'s JSON: the fingerprint of a parsed request, so two bodies
/// that parse to the same request (whitespace, key order, `type` or `notification_type`) match.
pub fn request_hash(request: &serde_json::Value) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(request.to_string().as_bytes()))
}

/// A fresh result, or the reply of the first request with the same idempotency key.
#[derive(Debug, Clone)]
pub enum Idempotent<T> {
    Fresh(T),
    Replay(StoredReply),
}

/// One page of a list request (SPEC §4).
#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<StoredNotification>,
    pub total: i64,
    pub unread_count: i64,
    pub unseen_count: i64,
    pub next_before: Option<i64>,
}

/// A change to existing notifications, with the user's unread and unseen counts after it and the change's
/// place in the user's stream (`None` when nothing changed, so nothing is pushed).
#[derive(Debug, Clone, Copy, Default)]
pub struct Change {
    pub unread_count: i64,
    /// Unread notifications not seen yet (the badge).
    pub unseen_count: i64,
    pub position: Option<StreamPos>,
}

/// Where a user's inbox stands, read when a socket opens or repairs its stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboxSnapshot {
    pub unread_count: i64,
    pub unseen_count: i64,
    /// The user's change-stream position.
    pub position: StreamPos,
    /// The newest notification id (0 when none).
    pub newest_id: i64,
}

/// An admin action to record: who (the token's user id) did what to whom, with what.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub actor: UserId,
    /// What was done, e.g. `notification.mark_read`.
    pub action: &'static str,
    pub target_user: Option<UserId>,
    pub target_ids: Vec<i64>,
    /// The action's parameters (a JSON object).
    pub detail: serde_json::Value,
}

/// One row of the audit log, in its column order.
#[derive(Debug, Clone, PartialEq, diesel::Queryable)]
pub struct AuditRecord {
    pub id: i64,
    pub actor_id: i64,
    pub action: String,
    pub target_user_id: Option<i64>,
    /// JSON array of notification ids, as stored.
    pub target_ids: String,
    /// JSON object, as stored.
    pub detail: String,
    pub created_at: NaiveDateTime,
}

/// What a broadcast would do, before it is sent: how many distinct recipients, who turned the
/// type off (nothing stored for them), how many get it stored but not pushed live, and whose
/// inbox is full of unread notifications (nothing stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastPreview {
    pub recipients: i64,
    pub suppressed: Vec<i64>,
    pub not_live: i64,
    pub inbox_full: Vec<i64>,
}

/// One user's stored preference for one type (a row of `notification_preferences`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPreference {
    pub user_id: i64,
    pub notification_type: String,
    pub enabled: bool,
    pub realtime: bool,
}
