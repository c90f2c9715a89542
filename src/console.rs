//! The admin console's use-cases, for staff (the edges check `Principal::ensure_may_administer`
//! first): searching every user's notifications, opening one, changing its read state or
//! deleting it, and reading the audit log. A change goes through the inbox's own use-case as
//! the owner's (`Principal::owner`), so the counts, the change stream and the push to the
//! owner's open tabs are exactly those of the owner's own action; then it is recorded in the
//! audit log (who, what, whose, when). A change whose audit row cannot be written answers the
//! storage error: the change stands, the caller is told the record is missing.

use crate::db::{DbError, KeysetPage};
use crate::domain::{
    AdminQuery, AuditEntry, AuditQuery, AuditRecord, BroadcastPreview, Change, CreateOutcome, Idempotent, ListQuery,
    NotificationId, Page, PreferenceQuery, Preferences, Principal, StoredNotification, UserId, UserPreference,
};
use crate::inbox::{Inbox, InboxError};
use serde_json::{json, Map, Value};

/// A user as the console shows them: their inbox's first page as they see it (with their
/// unread and total counts) and their preferences.
pub struct UserView {
    pub page: Page,
    pub preferences: Preferences,
}

pub async fn search(inbox: &Inbox, query: AdminQuery) -> Result<KeysetPage<StoredNotification>, InboxError> {
    Ok(inbox.db().search_notifications(query).await?)
}

/// One notification, whoever owns it; `NotFound` when there is none.
pub async fn notification(inbox: &Inbox, id: NotificationId) -> Result<StoredNotification, InboxError> {
    inbox.db().notification(id).await?.ok_or(InboxError::Storage(DbError::NotFound))
}

/// Marks a notification read or unread as its owner would; returns it and the owner's counts.
pub async fn set_read(
    inbox: &Inbox,
    admin: Principal,
    id: NotificationId,
    read: bool,
) -> Result<(StoredNotification, Change), InboxError> {
    let owner = owner_of(inbox, id).await?;
    let as_owner = Principal::owner(owner, admin.expires_at);
    let (row, change) =
        if read { inbox.mark_read(as_owner, id, None).await? } else { inbox.mark_unread(as_owner, id, None).await? };
    let action = if read { "notification.mark_read" } else { "notification.mark_unread" };
    record(inbox, admin, action, owner, id, json!({})).await?;
    Ok((row, change))
}

/// Deletes a notification as its owner would; returns the owner's counts after.
pub async fn delete(inbox: &Inbox, admin: Principal, id: NotificationId) -> Result<Change, InboxError> {
    let owner = owner_of(inbox, id).await?;
    let change = inbox.delete(Principal::owner(owner, admin.expires_at), id, None).await?;
    record(inbox, admin, "notification.delete", owner, id, json!({})).await?;
    Ok(change)
}

/// Sends a notification's content again to its owner as a new notification (pushed live unless
/// their preferences say otherwise), from the console: the staff member is its sender.
pub async fn resend(inbox: &Inbox, admin: Principal, id: NotificationId) -> Result<CreateOutcome, InboxError> {
    let row = notification(inbox, id).await?;
    let mut body = Map::new();
    body.insert("user_id".into(), row.user_id.into());
    body.insert("notification_type".into(), row.notification_type.into());
    body.insert("title".into(), row.title.into());
    body.insert("message".into(), row.message.into());
    body.insert("data".into(), serde_json::from_str(&row.data).unwrap_or_else(|_| json!({})));
    if let Some(link) = row.link {
        body.insert("link".into(), link.into());
    }
    // The console may notify anyone (a staff member without `notifications:send` included).
    let sender = Principal { can_send: true, ..admin };
    // Without an idempotency key a create is always fresh.
    let Idempotent::Fresh(outcome) = inbox.create(sender, &body, None, None).await? else {
        return Err(InboxError::Storage(DbError::NotFound));
    };
    let owner = UserId::new(row.user_id).ok_or(InboxError::Storage(DbError::NotFound))?;
    let new_id = match &outcome {
        CreateOutcome::Created { row, .. } => json!(row.id),
        _ => Value::Null,
    };
    let entry = AuditEntry {
        actor: admin.user_id,
        action: "notification.resend",
        target_user: Some(owner),
        target_ids: vec![id.get()],
        detail: json!({ "new_id": new_id }),
    };
    inbox.db().record_audit(entry).await?;
    Ok(outcome)
}

/// A user's inbox and preferences, as they see them.
pub async fn user(inbox: &Inbox, admin: Principal, user: UserId) -> Result<UserView, InboxError> {
    let owner = Principal::owner(user, admin.expires_at);
    let page = inbox.list(owner, ListQuery::default()).await?;
    let preferences = inbox.preferences(owner).await?;
    Ok(UserView { page, preferences })
}

/// Changes a user's preferences as they would (same validation, one transaction); returns all
/// eight after the change.
pub async fn update_preferences(
    inbox: &Inbox,
    admin: Principal,
    user: UserId,
    body: &Map<String, Value>,
) -> Result<Preferences, InboxError> {
    let preferences = inbox.update_preferences(Principal::owner(user, admin.expires_at), body).await?;
    let entry = AuditEntry {
        actor: admin.user_id,
        action: "preferences.update",
        target_user: Some(user),
        target_ids: Vec::new(),
        detail: Value::Object(body.clone()),
    };
    inbox.db().record_audit(entry).await?;
    Ok(preferences)
}

/// Stored preferences across users, by `query`, and whether more follow.
pub async fn preferences(inbox: &Inbox, query: PreferenceQuery) -> Result<(Vec<UserPreference>, bool), InboxError> {
    Ok(inbox.db().search_preferences(query).await?)
}

/// What a broadcast of the body's `notification_type` (or `type`, default `general`) to its
/// `user_ids` would do now, without sending it.
pub async fn broadcast_preview(inbox: &Inbox, body: &Map<String, Value>) -> Result<BroadcastPreview, InboxError> {
    let recipients = inbox.parse_recipients(body)?;
    let kind = crate::domain::notification::parse_kind(body, inbox.types())?;
    Ok(inbox.db().broadcast_preview(recipients, kind, inbox.cap()).await?)
}

/// Records an administrator's "disconnect all" of a user's sockets (made through
/// `crate::cluster`) in the audit log.
pub async fn record_disconnect(inbox: &Inbox, admin: Principal, user: UserId, detail: Value) -> Result<(), InboxError> {
    let entry = AuditEntry {
        actor: admin.user_id,
        action: "user.disconnect",
        target_user: Some(user),
        target_ids: Vec::new(),
        detail,
    };
    Ok(inbox.db().record_audit(entry).await?)
}

/// The audit log, newest first.
pub async fn audit_log(inbox: &Inbox, query: AuditQuery) -> Result<KeysetPage<AuditRecord>, InboxError> {
    Ok(inbox.db().audit_log(query).await?)
}

async fn owner_of(inbox: &Inbox, id: NotificationId) -> Result<UserId, InboxError> {
    let owner = inbox.db().notification_owner(id).await?;
    owner.and_then(UserId::new).ok_or(InboxError::Storage(DbError::NotFound))
}

async fn record(
    inbox: &Inbox,
    admin: Principal,
    action: &'static str,
    owner: UserId,
    id: NotificationId,
    detail: serde_json::Value,
) -> Result<(), InboxError> {
    let entry =
        AuditEntry { actor: admin.user_id, action, target_user: Some(owner), target_ids: vec![id.get()], detail };
    Ok(inbox.db().record_audit(entry).await?)
}
