//! The state endpoints beyond read and delete: seen, archive, unarchive and snooze of one
//! notification, mark all seen, and bulk actions on up to 1,000 ids or on a filter. Each answers
//! what it changed and the caller's counts after (`StatesUpdated`); the caller's other tabs get
//! one `notifications_updated` frame.

use super::body::JsonObject;
use super::errors::{BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType};
use super::notifications::path_id;
use super::replies::StatesUpdated;
use super::requests::{BulkAction, NotificationIdPath, SnoozeUntil};
use crate::domain::{Principal, Selection, StateAction};
use crate::error::ApiError;
use crate::inbox::{Inbox, Updated};
use actix_web::{web, HttpResponse};

fn reply(updated: &Updated) -> HttpResponse {
    HttpResponse::Ok().json(StatesUpdated {
        action: updated.action.name(),
        changed: updated.changed.len(),
        unread_count: updated.change.unread_count,
        unseen_count: updated.change.unseen_count,
    })
}

async fn change_one(inbox: &Inbox, caller: Principal, action: StateAction, id: &str) -> Result<HttpResponse, ApiError> {
    Ok(reply(&inbox.change_one(caller, (action, path_id(id)?), None).await?))
}

/// Mark one notification seen (the badge counts unread notifications not seen yet).
#[utoipa::path(
    post,
    path = "/auth/notifications/{id}/seen/",
    tag = "states",
    security(("bearer" = [])),
    params(NotificationIdPath),
    responses(
        (status = 200, description = "What changed, and the caller's counts", body = StatesUpdated),
        (status = 404, response = NotFound),
    )
)]
pub async fn mark_seen(
    inbox: web::Data<Inbox>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_one(&inbox, caller, StateAction::Seen, &id).await
}

/// Archive one notification: read, and left out of the default list (`archived=true` lists it).
#[utoipa::path(
    post,
    path = "/auth/notifications/{id}/archive/",
    tag = "states",
    security(("bearer" = [])),
    params(NotificationIdPath),
    responses(
        (status = 200, description = "What changed, and the caller's counts", body = StatesUpdated),
        (status = 404, response = NotFound),
    )
)]
pub async fn archive(
    inbox: web::Data<Inbox>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_one(&inbox, caller, StateAction::Archive, &id).await
}

/// Bring an archived notification back to the default list (it stays read).
#[utoipa::path(
    post,
    path = "/auth/notifications/{id}/unarchive/",
    tag = "states",
    security(("bearer" = [])),
    params(NotificationIdPath),
    responses(
        (status = 200, description = "What changed, and the caller's counts", body = StatesUpdated),
        (status = 404, response = NotFound),
    )
)]
pub async fn unarchive(
    inbox: web::Data<Inbox>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_one(&inbox, caller, StateAction::Unarchive, &id).await
}

/// Snooze one notification: hidden (and read) until `snooze_until`, then unread and unseen
/// again, pushed as `notifications_unsnoozed` to the caller's tabs on any node.
#[utoipa::path(
    post,
    path = "/auth/notifications/{id}/snooze/",
    tag = "states",
    security(("bearer" = [])),
    params(NotificationIdPath),
    request_body = SnoozeUntil,
    responses(
        (status = 200, description = "What changed, and the caller's counts", body = StatesUpdated),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
    )
)]
pub async fn snooze(
    inbox: web::Data<Inbox>,
    caller: Principal,
    id: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let until = crate::domain::state_change::snooze_until(&body, chrono::Utc::now().naive_utc())?;
    change_one(&inbox, caller, StateAction::Snooze(until), &id).await
}

/// Mark every unseen notification of the caller seen (the notification panel was opened).
#[utoipa::path(
    post,
    path = "/auth/notifications/mark-all-seen/",
    tag = "states",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What changed, and the caller's counts", body = StatesUpdated),
    )
)]
pub async fn mark_all_seen(inbox: web::Data<Inbox>, caller: Principal) -> Result<HttpResponse, ApiError> {
    Ok(reply(&inbox.mark_all_seen(caller, None).await?))
}

/// One action on up to 1,000 of the caller's notifications by `ids`, or on all those a
/// `filter` selects (the list's filter names), in one transaction. Ids that are not the
/// caller's change nothing.
#[utoipa::path(
    post,
    path = "/auth/notifications/bulk/",
    tag = "states",
    security(("bearer" = [])),
    request_body = BulkAction,
    responses(
        (status = 200, description = "What changed, and the caller's counts", body = StatesUpdated),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
    )
)]
pub async fn bulk(inbox: web::Data<Inbox>, caller: Principal, body: JsonObject) -> Result<HttpResponse, ApiError> {
    let action = StateAction::parse(&body, chrono::Utc::now().naive_utc())?;
    let selection = Selection::parse(&body, inbox.types())?;
    Ok(reply(&inbox.change_states(caller, (action, selection), None).await?))
}
