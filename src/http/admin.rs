//! The admin API under `/admin/api/` (staff: `is_staff` or the `notifications:admin` scope;
//! every other caller 401/403 before any work): notifications across users, one notification,
//! its read state, deleting it, and the audit log. The use-cases are `crate::console`.

use super::body::{stored_reply, JsonObject};
use super::errors::{BadRequest, Forbidden, InboxFull, NotFound, PayloadTooLarge, UnsupportedMediaType};
use super::notifications::{create_reply, path_id};
use super::replies::{
    sorted, AdminNotificationPage, AdminUserView, AuditPage, BroadcastPreviewReply, Deleted, NotificationCreated,
    NotificationWithCount, PreferencePage, Preferences, Suppressed,
};
use super::requests::TypeName;
use super::requests::{BroadcastPreviewRequest, PreferencesUpdate};
use crate::auth::Administrator;
use crate::console;
use crate::domain::{AdminQuery, AuditQuery, PreferenceQuery, UserId};
use crate::error::ApiError;
use crate::event::Notifications;
use crate::inbox::Inbox;
use actix_web::{web, HttpRequest, HttpResponse};

/// Notifications of every user, newest first, filtered (staff only).
///
/// Keyset pagination: `next_before` of a page is the `before` of the next; a page stays the same
/// while notifications are added. `q` finds words in the title or message (case-insensitive,
/// `%` and `_` match themselves).
#[utoipa::path(
    get,
    path = "/admin/api/notifications/",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("user_id" = Option<i64>, Query, minimum = 1, format = Int64, description = "The recipient"),
        ("type" = Option<Vec<TypeName>>, Query, style = Form, explode,
            description = "Any of these types: repeated (`type=a&type=b`) or comma-separated"),
        ("is_read" = Option<bool>, Query, description = "Read (`true`) or unread (`false`) only"),
        ("sender_id" = Option<i64>, Query, minimum = 1, format = Int64, description = "The sender"),
        ("created_after" = Option<String>, Query, format = DateTime, description = "Created at or after (RFC 3339)"),
        ("created_before" = Option<String>, Query, format = DateTime, description = "Created before (RFC 3339)"),
        ("q" = Option<String>, Query, max_length = 100, pattern = "^[^\\x00]*$",
            description = "Words in the title or message (case-insensitive; `%` and `_` match themselves)"),
        ("before" = Option<i64>, Query, minimum = 1, format = Int64, description = "An id: the page below it"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, default 50"),
    ),
    responses(
        (status = 200, description = "A page of notifications", body = AdminNotificationPage),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
    )
)]
pub async fn search_notifications(
    inbox: web::Data<Inbox>,
    _: Administrator,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = AdminQuery::from_query_string(req.query_string())?;
    let (rows, next_before) = console::search(&inbox, query).await?;
    Ok(HttpResponse::Ok().json(AdminNotificationPage { notifications: Notifications(&rows), next_before }))
}

/// One notification, whoever owns it (staff only).
#[utoipa::path(
    get,
    path = "/admin/api/notifications/{id}/",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, format = Int64)),
    responses(
        (status = 200, description = "The notification", body = crate::event::Notification),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn get_notification(
    inbox: web::Data<Inbox>,
    _: Administrator,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = console::notification(&inbox, path_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(crate::event::Notification::from(&row)))
}

/// Mark a user's notification read, as the user would (their tabs get the change; audited).
#[utoipa::path(
    post,
    path = "/admin/api/notifications/{id}/read/",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, format = Int64)),
    responses(
        (status = 200, description = "The notification and its owner's unread count", body = NotificationWithCount),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn mark_read(
    inbox: web::Data<Inbox>,
    admin: Administrator,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_read(&inbox, admin, &id, true).await
}

/// Mark a user's notification unread, as the user would (their tabs get the change; audited).
#[utoipa::path(
    post,
    path = "/admin/api/notifications/{id}/unread/",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, format = Int64)),
    responses(
        (status = 200, description = "The notification and its owner's unread count", body = NotificationWithCount),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn mark_unread(
    inbox: web::Data<Inbox>,
    admin: Administrator,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_read(&inbox, admin, &id, false).await
}

async fn set_read(
    inbox: &Inbox,
    Administrator(admin): Administrator,
    id: &str,
    read: bool,
) -> Result<HttpResponse, ApiError> {
    let (row, change) = console::set_read(inbox, admin, path_id(id)?, read).await?;
    Ok(HttpResponse::Ok().json(NotificationWithCount::new(&row, change)))
}

/// Delete a user's notification, as the user would (their tabs get the change; audited).
#[utoipa::path(
    delete,
    path = "/admin/api/notifications/{id}/",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, format = Int64)),
    responses(
        (status = 200, description = "Deleted; the owner's unread count", body = Deleted),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn delete_notification(
    inbox: web::Data<Inbox>,
    Administrator(admin): Administrator,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let change = console::delete(&inbox, admin, path_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(Deleted {
        deleted: true,
        unread_count: change.unread_count,
        unseen_count: change.unseen_count,
    }))
}

/// Send a notification's content again to its owner, as a new notification pushed live
/// (unless their preferences say otherwise); the staff member is its sender (audited).
#[utoipa::path(
    post,
    path = "/admin/api/notifications/{id}/resend/",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, format = Int64)),
    responses(
        (status = 201, description = "The new notification", body = NotificationCreated),
        (status = 200, description = "The owner disabled this type: nothing was stored", body = Suppressed),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = InboxFull),
    )
)]
pub async fn resend_notification(
    inbox: web::Data<Inbox>,
    Administrator(admin): Administrator,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let outcome = console::resend(&inbox, admin, path_id(&id)?).await?;
    Ok(stored_reply(&create_reply(&outcome)))
}

/// A user as they see their inbox: the first page, their unread and total counts, and their
/// preferences (staff only).
#[utoipa::path(
    get,
    path = "/admin/api/users/{user_id}/",
    tag = "admin",
    security(("bearer" = [])),
    params(("user_id" = i64, Path, minimum = 1, format = Int64)),
    responses(
        (status = 200, description = "The user's inbox and preferences", body = AdminUserView),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn get_user(
    inbox: web::Data<Inbox>,
    Administrator(admin): Administrator,
    user_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = path_user(&user_id)?;
    let view = console::user(&inbox, admin, user).await?;
    Ok(HttpResponse::Ok().json(AdminUserView::new(user, &view)))
}

/// Change a user's preferences as they would (same body and rules as their own `PUT`; audited).
#[utoipa::path(
    put,
    path = "/admin/api/users/{user_id}/preferences/",
    tag = "admin",
    security(("bearer" = [])),
    params(("user_id" = i64, Path, minimum = 1, format = Int64)),
    request_body = PreferencesUpdate,
    responses(
        (status = 200, description = "All eight types, after the change", body = Preferences),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
    )
)]
pub async fn update_user_preferences(
    inbox: web::Data<Inbox>,
    Administrator(admin): Administrator,
    user_id: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let preferences = console::update_preferences(&inbox, admin, path_user(&user_id)?, &body).await?;
    Ok(HttpResponse::Ok().json(sorted(&Preferences::new(&preferences, inbox.types()))))
}

/// Users' stored preferences, filtered (a user who never changed one has the default, all on,
/// and no row): ascending by user and type (staff only).
#[utoipa::path(
    get,
    path = "/admin/api/preferences/",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("type" = Option<TypeName>, Query,
            description = "Only this type (any name: a type taken off `HERALD_NOTIFICATION_TYPES` too)"),
        ("enabled" = Option<bool>, Query, description = "Only enabled (`true`) or disabled (`false`) ones"),
        ("realtime" = Option<bool>, Query, description = "Only live (`true`) or not live (`false`) ones"),
        ("after" = Option<String>, Query,
            pattern = "^[1-9][0-9]{0,17}:(meeting|meeting_response|action_item|general|approval|meeting_invitation|meeting_scheduled|mom_created)$",
            description = "`next_after` of the previous page (`<user id>:<type>`)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, default 50"),
    ),
    responses(
        (status = 200, description = "A page of stored preferences", body = PreferencePage),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
    )
)]
pub async fn search_preferences(
    inbox: web::Data<Inbox>,
    _: Administrator,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = PreferenceQuery::from_query_string(req.query_string())?;
    let (rows, more) = console::preferences(&inbox, query).await?;
    Ok(HttpResponse::Ok().json(PreferencePage::new(rows, more)))
}

/// What a broadcast would do, without sending it: distinct recipients, who turned the type off,
/// how many would get it stored but not pushed live, whose inbox is full (staff only).
#[utoipa::path(
    post,
    path = "/admin/api/broadcast/preview/",
    tag = "admin",
    security(("bearer" = [])),
    request_body = BroadcastPreviewRequest,
    responses(
        (status = 200, description = "What the broadcast would do now", body = BroadcastPreviewReply),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
    )
)]
pub async fn preview_broadcast(
    inbox: web::Data<Inbox>,
    _: Administrator,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let preview = console::broadcast_preview(&inbox, &body).await?;
    Ok(HttpResponse::Ok().json(BroadcastPreviewReply::from(preview)))
}

/// A path user id that is not a positive 64-bit integer names no user: 404.
pub(super) fn path_user(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse_str(raw).ok_or(ApiError::NotFound)
}

/// The audit log: every admin action, newest first (staff only).
#[utoipa::path(
    get,
    path = "/admin/api/audit/",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("before" = Option<i64>, Query, minimum = 1, format = Int64, description = "An id: the page below it"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, default 50"),
    ),
    responses(
        (status = 200, description = "A page of audit records", body = AuditPage),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
    )
)]
pub async fn audit_log(inbox: web::Data<Inbox>, _: Administrator, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = AuditQuery::from_query_string(req.query_string())?;
    let (records, next_before) = console::audit_log(&inbox, query).await?;
    Ok(HttpResponse::Ok().json(AuditPage::new(&records, next_before)))
}
