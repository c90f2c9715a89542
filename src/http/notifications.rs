//! Notification endpoints of SPEC §4: list, create, read, unread, mark-all-read, delete,
//! unread-count and broadcast.

use super::body::{stored_reply, JsonObject};
use super::errors::{
    BadRequest, Forbidden, IdempotencyKeyReused, InboxFull, NotFound, PayloadTooLarge, UnsupportedMediaType,
};
use super::replies::{
    BroadcastCreated, Deleted, MarkedAllRead, NotificationCreated, NotificationList, NotificationWithCount, Suppressed,
    SuppressedReason, UnreadCount,
};
use super::requests::{BroadcastNotification, CategoryName, CreateNotification, IdempotencyKey, NotificationIdPath};
use crate::auth::Broadcaster;
use crate::domain::{
    BroadcastOutcome, CreateOutcome, Idempotent, ListQuery, NotificationId, NotificationType, Principal, StoredReply,
    TypeCatalog,
};
use crate::error::{ApiError, Envelope, ErrorDetail};
use crate::event::Notifications;
use crate::inbox::{Inbox, Keyed};
use crate::limits::budget::Budgets;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

/// List the caller's notifications, newest first.
///
/// Query values that are not valid or out of range are 400 `validation_error` naming the
/// parameter, never clamped. Other parameters are ignored.
#[utoipa::path(
    get,
    path = "/auth/notifications/",
    tag = "notifications",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, default 50"),
        ("before" = Option<i64>, Query, minimum = 1, format = Int64,
            description = "An id: the page below it (`next_before` of the previous page)"),
        ("unread" = Option<bool>, Query, description = "`true`: unread only (also `1`; `false`/`0`: all)"),
        ("type" = Option<Vec<NotificationType>>, Query, style = Form, explode,
            description = "Any of these types: repeated or comma-separated (also `types`, `notification_type`)"),
        ("category" = Option<CategoryName>, Query,
            description = "Only the types of this category (`HERALD_NOTIFICATION_TYPES` `type:category`)"),
        ("read" = Option<bool>, Query, description = "Read (`true`) or unread (`false`) only"),
        ("seen" = Option<bool>, Query, description = "Seen (`true`) or unseen (`false`) only; a read one is seen"),
        ("archived" = Option<bool>, Query, description = "`true`: the archive instead of the default list"),
        ("snoozed" = Option<bool>, Query, description = "`true`: the snoozed ones instead of the default list"),
        ("created_after" = Option<String>, Query, format = DateTime, description = "Created after (RFC 3339)"),
        ("created_before" = Option<String>, Query, format = DateTime, description = "Created before (RFC 3339)"),
        ("data" = Option<String>, Query, example = json!("{\"project\":42}"),
            description = "A JSON object `data` contains (PostgreSQL: `@>`; SQLite: top-level keys equal to \
                           strings, numbers or booleans)"),
    ),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationList),
        (status = 400, response = BadRequest),
    )
)]
pub async fn list_notifications(
    inbox: web::Data<Inbox>,
    caller: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = parse_list_query(req.query_string(), inbox.types())?;
    let page = inbox.list(caller, query).await?;
    Ok(HttpResponse::Ok().json(NotificationList {
        notifications: Notifications(&page.rows),
        total: page.total,
        unread_count: page.unread_count,
        next_before: page.next_before,
        unseen_count: page.unseen_count,
    }))
}

/// Parses the list endpoint's query string (`ListQuery::from_query_string`) into a 400
/// `validation_error` naming the field. Public for the fuzz targets (`fuzz/`), which feed it
/// arbitrary strings.
pub fn parse_list_query(raw: &str, types: &TypeCatalog) -> Result<ListQuery, ApiError> {
    Ok(ListQuery::from_query_string(raw, types)?)
}

/// The `Idempotency-Key` header, when present.
fn idempotency_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            value.to_str().map(Some).map_err(|_| ApiError::validation("Idempotency-Key", "must be printable ASCII"))
        }
    }
}

/// Create a notification.
///
/// A repeat with the same `Idempotency-Key` and the same request from the same caller within 24
/// hours returns the first reply and creates nothing; the same key with a different request is
/// 422 `idempotency_key_reused`. At the storage cap (`HERALD_MAX_STORED_PER_USER`) the
/// recipient's oldest read notifications are deleted first; when all are unread, 429
/// `inbox_full` and nothing is stored.
#[utoipa::path(
    post,
    path = "/auth/notifications/create/",
    tag = "notifications",
    security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = CreateNotification,
    responses(
        (status = 201, description = "Created", body = NotificationCreated, links(
            ("MarkRead" = (operation_id = "mark_read", parameters(("id" = "$response.body#/notification/id")))),
            ("MarkUnread" = (operation_id = "mark_unread", parameters(("id" = "$response.body#/notification/id")))),
            ("Delete" = (operation_id = "delete_notification",
                parameters(("id" = "$response.body#/notification/id")))),
        )),
        (status = 200, description = "The recipient disabled this type: nothing was stored", body = Suppressed),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = IdempotencyKeyReused),
        (status = 429, response = InboxFull),
    )
)]
pub async fn create_notification(
    inbox: web::Data<Inbox>,
    budgets: web::Data<Budgets>,
    caller: Principal,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    // A service's budget counts notifications; an end user's create (charged as a change on
    // admission) costs by its size too.
    budgets.notifications(&caller, 1, &body).await?;
    let keyed = key.map(|key| Keyed { key, operation: "create", render: create_reply as _ });
    let reply = match inbox.create(caller, &body, keyed, None).await? {
        Idempotent::Fresh(outcome) => create_reply(&outcome),
        Idempotent::Replay(reply) => reply,
    };
    Ok(stored_reply(&reply))
}

/// Create the same notification for many users (staff or `notifications:send`), in one
/// transaction. `Idempotency-Key` as for create.
///
/// Each named recipient costs one notification of the caller's budget
/// (`HERALD_SERVICE_RATE_LIMIT_PER_SECOND`), taken before anything is written: beyond it, 429
/// `rate_limited` with `Retry-After`.
///
/// A recipient whose inbox holds `HERALD_MAX_STORED_PER_USER` notifications, all unread, gets
/// nothing and is listed in `inbox_full`; the others get it (their oldest read notifications
/// are deleted first when at the cap).
#[utoipa::path(
    post,
    path = "/auth/notifications/broadcast/",
    tag = "notifications",
    security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = BroadcastNotification,
    responses(
        (status = 201, description = "Created", body = BroadcastCreated),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = IdempotencyKeyReused),
    )
)]
pub async fn broadcast_notification(
    inbox: web::Data<Inbox>,
    budgets: web::Data<Budgets>,
    // Before the body: a caller without the permission is refused unread.
    Broadcaster(caller): Broadcaster,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    // One notification per named recipient, from the service's budget, before anything is written.
    let recipients = body.get("user_ids").and_then(|ids| ids.as_array()).map_or(0, Vec::len);
    budgets.notifications(&caller, recipients, &body).await?;
    let keyed = key.map(|key| Keyed { key, operation: "broadcast", render: broadcast_reply as _ });
    let reply = match inbox.broadcast(caller, &body, keyed).await? {
        Idempotent::Fresh(outcome) => broadcast_reply(&outcome),
        Idempotent::Replay(reply) => reply,
    };
    Ok(stored_reply(&reply))
}

/// The reply to a create: 201 with the notification, or 200 when suppressed. Recorded under
/// the request's idempotency key, so a repeat gets it byte for byte.
pub(super) fn create_reply(outcome: &CreateOutcome) -> StoredReply {
    match outcome {
        CreateOutcome::Created { row, .. } => {
            StoredReply { status: 201, body: to_json(&NotificationCreated { notification: row.into() }) }
        }
        CreateOutcome::Suppressed => StoredReply {
            status: 200,
            body: to_json(&Suppressed { suppressed: true, reason: SuppressedReason::Preference }),
        },
        // Never recorded (a full inbox rolls the key back) nor sent from here (the use-case
        // answers it as an error); written out for completeness.
        CreateOutcome::InboxFull => StoredReply { status: 429, body: inbox_full_body() },
    }
}

/// The `inbox_full` error envelope, as `ApiError` writes it.
fn inbox_full_body() -> String {
    let detail = ErrorDetail { code: "inbox_full", message: "the recipient's inbox is full".to_owned(), field: None };
    to_json(&Envelope { error: detail })
}

/// The reply to a broadcast (recorded like `create_reply`).
fn broadcast_reply(outcome: &BroadcastOutcome) -> StoredReply {
    let notification_ids: Vec<i64> = outcome.created.iter().map(|(row, _)| row.id).collect();
    let inbox_full = outcome.inbox_full.iter().map(|user| user.get()).collect();
    let body = BroadcastCreated {
        created: notification_ids.len(),
        suppressed: outcome.suppressed,
        notification_ids,
        inbox_full,
    };
    StoredReply { status: 201, body: to_json(&body) }
}

fn to_json(body: &impl Serialize) -> String {
    // These replies are plain structs of strings and numbers: they always serialize.
    serde_json::to_string(body).unwrap_or_default()
}

/// A path id that is not a positive 64-bit integer names no notification: 404.
pub(super) fn path_id(raw: &str) -> Result<NotificationId, ApiError> {
    NotificationId::parse_str(raw).ok_or(ApiError::NotFound)
}

/// Mark one notification read (idempotent: `read_at` keeps its first value).
#[utoipa::path(
    post,
    path = "/auth/notifications/{id}/read/",
    tag = "notifications",
    security(("bearer" = [])),
    params(NotificationIdPath),
    responses(
        (status = 200, description = "The notification and the caller's unread count",
            body = NotificationWithCount),
        (status = 404, response = NotFound),
    )
)]
pub async fn mark_read(
    inbox: web::Data<Inbox>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (notification, change) = inbox.mark_read(caller, path_id(&id)?, None).await?;
    Ok(HttpResponse::Ok().json(NotificationWithCount::new(&notification, change)))
}

/// Mark one notification unread (`read_at` back to null).
#[utoipa::path(
    post,
    path = "/auth/notifications/{id}/unread/",
    tag = "notifications",
    security(("bearer" = [])),
    params(NotificationIdPath),
    responses(
        (status = 200, description = "The notification and the caller's unread count",
            body = NotificationWithCount),
        (status = 404, response = NotFound),
    )
)]
pub async fn mark_unread(
    inbox: web::Data<Inbox>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (notification, change) = inbox.mark_unread(caller, path_id(&id)?, None).await?;
    Ok(HttpResponse::Ok().json(NotificationWithCount::new(&notification, change)))
}

/// Mark all the caller's notifications read.
#[utoipa::path(
    post,
    path = "/auth/notifications/mark-all-read/",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many were unread", body = MarkedAllRead),
    )
)]
pub async fn mark_all_read(inbox: web::Data<Inbox>, caller: Principal) -> Result<HttpResponse, ApiError> {
    let (marked, change) = inbox.mark_all_read(caller, None).await?;
    let (unread_count, unseen_count) = (change.unread_count, change.unseen_count);
    Ok(HttpResponse::Ok().json(MarkedAllRead { marked, unread_count, unseen_count }))
}

/// Delete one notification; deleting it again is 404.
#[utoipa::path(
    delete,
    path = "/auth/notifications/{id}/delete/",
    tag = "notifications",
    security(("bearer" = [])),
    params(NotificationIdPath),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 404, response = NotFound),
    )
)]
pub async fn delete_notification(
    inbox: web::Data<Inbox>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let change = inbox.delete(caller, path_id(&id)?, None).await?;
    Ok(HttpResponse::Ok().json(Deleted {
        deleted: true,
        unread_count: change.unread_count,
        unseen_count: change.unseen_count,
    }))
}

/// The caller's unread count.
#[utoipa::path(
    get,
    path = "/auth/notifications/unread-count/",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The unread count", body = UnreadCount),
    )
)]
pub async fn unread_count(inbox: web::Data<Inbox>, caller: Principal) -> Result<HttpResponse, ApiError> {
    let (unread_count, unseen_count) = inbox.unread_count(caller).await?;
    Ok(HttpResponse::Ok().json(UnreadCount { unread_count, unseen_count }))
}
