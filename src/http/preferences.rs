//! Preference endpoints: GET every configured type (and category), PUT a partial update (one
//! transaction).

use super::body::JsonObject;
use super::errors::{BadRequest, PayloadTooLarge, UnsupportedMediaType};
use super::replies::{sorted, Preferences};
use super::requests::PreferencesUpdate;
use crate::domain::Principal;
use crate::error::ApiError;
use crate::inbox::Inbox;
use actix_web::{web, HttpResponse};

/// The caller's preferences for every configured type and category (default all on).
#[utoipa::path(
    get,
    path = "/auth/notifications/preferences/",
    tag = "preferences",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every configured type and category", body = Preferences),
    )
)]
pub async fn get_preferences(inbox: web::Data<Inbox>, caller: Principal) -> Result<HttpResponse, ApiError> {
    let preferences = inbox.preferences(caller).await?;
    Ok(HttpResponse::Ok().json(sorted(&Preferences::new(&preferences, inbox.types()))))
}

/// Change some preferences, in one transaction: only the types and fields given change; a bad
/// request changes nothing.
#[utoipa::path(
    put,
    path = "/auth/notifications/preferences/",
    tag = "preferences",
    security(("bearer" = [])),
    request_body = PreferencesUpdate,
    responses(
        (status = 200, description = "Every configured type and category, after the change", body = Preferences),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
    )
)]
pub async fn update_preferences(
    inbox: web::Data<Inbox>,
    caller: Principal,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let preferences = inbox.update_preferences(caller, &body).await?;
    Ok(HttpResponse::Ok().json(sorted(&Preferences::new(&preferences, inbox.types()))))
}
