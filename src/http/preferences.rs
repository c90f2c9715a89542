//! Preference endpoints: GET all eight types, PUT a partial update (one transaction).

use super::JsonObject;
use crate::domain::Principal;
use crate::error::ApiError;
use crate::inbox::Inbox;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn get_preferences(inbox: web::Data<Inbox>, caller: Principal) -> Result<HttpResponse, ApiError> {
    let preferences = inbox.preferences(caller).await?;
    Ok(HttpResponse::Ok().json(json!({ "preferences": preferences })))
}

pub async fn update_preferences(
    inbox: web::Data<Inbox>,
    caller: Principal,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let preferences = inbox.update_preferences(caller, &body).await?;
    Ok(HttpResponse::Ok().json(json!({ "preferences": preferences })))
}
