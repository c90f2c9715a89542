//! The OpenAPI 3.1 description of the REST API, served at `GET /openapi.json`: the operations
//! each handler carries (`#[utoipa::path]`), the schemas of the types they really send
//! (`replies`, `event::Notification`, `error::Envelope`) and accept (`requests`), the error
//! responses (`errors`), the bearer scheme and the responses every operation shares.
//! `tests/api/rest/openapi.rs` checks that its operations are exactly `http::ROUTES`, and
//! `bench/api_fuzz.sh` checks a live node's replies against it.

use super::errors::{
    BadRequest, Forbidden, IdempotencyKeyReused, InboxFull, MethodNotAllowed, NotFound, PayloadTooLarge, RateLimited,
    Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{admin, admin_cluster, notifications, ops, preferences, states};
use crate::domain::TypeCatalog;
use crate::error::{Envelope, ErrorCode, ErrorDetail};
use crate::inbox::Inbox;
use actix_web::{web, HttpResponse};
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};

/// The name of the bearer JWT security scheme the operations refer to (`security(("bearer" =
/// []))`).
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Real-time notification service: the REST API of SPEC §4. Every path also \
                       answers without its trailing slash. Every error is the JSON envelope \
                       `{\"error\": {\"code\", \"message\", \"field\"?}}`, never HTML. Integers \
                       are written without a fraction or exponent (`2.0` is refused)."
    ),
    paths(
        notifications::list_notifications,
        notifications::create_notification,
        notifications::mark_read,
        notifications::mark_unread,
        notifications::mark_all_read,
        notifications::delete_notification,
        notifications::unread_count,
        notifications::broadcast_notification,
        states::mark_seen,
        states::archive,
        states::unarchive,
        states::snooze,
        states::mark_all_seen,
        states::bulk,
        preferences::get_preferences,
        preferences::update_preferences,
        admin::search_notifications,
        admin::get_notification,
        admin::mark_read,
        admin::mark_unread,
        admin::delete_notification,
        admin::resend_notification,
        admin::get_user,
        admin::update_user_preferences,
        admin::search_preferences,
        admin::preview_broadcast,
        admin::audit_log,
        admin_cluster::user_sockets,
        admin_cluster::disconnect_user,
        admin_cluster::cluster_overview,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        openapi_json,
    ),
    components(
        schemas(Envelope, ErrorDetail, ErrorCode, super::requests::CategoryName, super::requests::DataFilter),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            PayloadTooLarge,
            UnsupportedMediaType,
            IdempotencyKeyReused,
            RateLimited,
            InboxFull,
            Unavailable
        )
    ),
    modifiers(&BearerScheme, &SharedResponses),
    tags(
        (name = "notifications", description = "The caller's notifications"),
        (name = "states", description = "Seen, archived and snoozed, and bulk actions on many notifications at once"),
        (name = "preferences", description = "Per-type delivery preferences"),
        (name = "admin", description = "The admin console: every user's notifications, for staff (`is_staff` or the `notifications:admin` scope)"),
        (name = "operations", description = "Health, readiness, metrics and this document")
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer <JWT>`, the scheme every `/auth/` operation requires.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        http.description = Some(
            "An access token (HS256 with `JWT_SECRET`, or RS256/ES256 as configured) with `exp`; \
             the user is its `user_id` claim, else `sub`. `is_staff: true` or the \
             `notifications:send` scope may create for others and broadcast."
                .to_owned(),
        );
        components.add_security_scheme(BEARER, SecurityScheme::Http(http));
    }
}

/// The responses operations share, added here rather than repeated on every handler: 405 on
/// every operation, and 401, 429 and 503 on every one that requires the bearer token (a handler
/// that describes one of these itself keeps its own).
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::Ref;
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                let authenticated = operation.security.as_ref().is_some_and(|required| !required.is_empty());
                let mut shared = vec![("405", "MethodNotAllowed")];
                if authenticated {
                    shared.extend([("401", "Unauthorized"), ("429", "RateLimited"), ("503", "Unavailable")]);
                }
                for (status, response) in shared {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(response)));
                }
            }
        }
    }
}

/// The document, serialized once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    // The document is plain data (strings, maps, numbers): it always serializes.
    DOCUMENT.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default())
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 description of this API", body = Object),
    )
)]
pub async fn openapi_json(inbox: web::Data<Inbox>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document_for(inbox.types(), inbox.db().is_sqlite()))
}

/// The document as this node serves it: `NotificationType` lists the configured types, and
/// `CategoryName` the configured categories (the generic `document()` says only their pattern);
/// on SQLite, `DataFilter` is the subset SQLite filters by.
pub fn document_for(types: &TypeCatalog, sqlite: bool) -> String {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(document()) else {
        return document().to_owned();
    };
    let names: Vec<String> = types.types().map(|kind| kind.as_str().to_owned()).collect();
    doc["components"]["schemas"]["NotificationType"]["enum"] = serde_json::json!(names);
    let categories: Vec<String> = types.categories().iter().map(|c| c.as_str().to_owned()).collect();
    if !categories.is_empty() {
        doc["components"]["schemas"]["CategoryName"]["enum"] = serde_json::json!(categories);
    }
    if sqlite {
        let data = &mut doc["components"]["schemas"]["DataFilter"];
        data["additionalProperties"] = serde_json::json!({"type": ["string", "number", "boolean"]});
        data["propertyNames"] = serde_json::json!({"pattern": "^[^\"]*$"});
        data["description"] =
            serde_json::json!("On SQLite: top-level keys (without `\"`) equal to strings, numbers or booleans");
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use serde_json::Value;

    fn document_json() -> Value {
        serde_json::from_str(document()).expect("the document is JSON")
    }

    /// Every code `ApiError` sends is in the schema's enum (and no other).
    #[test]
    fn error_codes_are_the_api_errors_codes() {
        // A new variant fails to compile here until it is added below and to `ErrorCode`.
        fn sample(err: &ApiError) -> ApiError {
            match err {
                ApiError::InvalidJson(_)
                | ApiError::Validation { .. }
                | ApiError::BadRequest(_)
                | ApiError::Unauthorized(_)
                | ApiError::Forbidden(_)
                | ApiError::NotFound
                | ApiError::MethodNotAllowed { .. }
                | ApiError::PayloadTooLarge { .. }
                | ApiError::UnsupportedMediaType(_)
                | ApiError::IdempotencyKeyReused
                | ApiError::RateLimited { .. }
                | ApiError::InboxFull { .. }
                | ApiError::Unavailable(_)
                | ApiError::Internal(_) => err.clone(),
            }
        }
        let every = [
            ApiError::InvalidJson(String::new()),
            ApiError::validation("title", ""),
            ApiError::BadRequest(""),
            ApiError::Unauthorized(""),
            ApiError::Forbidden(""),
            ApiError::NotFound,
            ApiError::MethodNotAllowed { allow: "GET" },
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::IdempotencyKeyReused,
            ApiError::RateLimited { retry_after_secs: 1 },
            ApiError::InboxFull { cap: 1 },
            ApiError::unavailable(""),
            ApiError::internal(""),
        ];
        let sent: Vec<Value> = every.iter().map(|err| Value::from(sample(err).code())).collect();
        let doc = document_json();
        let documented = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().expect("ErrorCode enum");
        assert_eq!(&sent, documented);
    }

    #[test]
    fn the_error_envelope_is_what_api_error_writes() {
        use actix_web::ResponseError;
        let response = ApiError::validation("title", "is required").error_response();
        assert_eq!(response.status(), 400);
        let body = actix_web::body::to_bytes(response.into_body());
        let body = futures_util::FutureExt::now_or_never(body).expect("ready").expect("body");
        let written: Value = serde_json::from_slice(&body).expect("JSON");
        let doc = document_json();
        let detail = &doc["components"]["schemas"]["ErrorDetail"]["properties"];
        let mut documented: Vec<&String> = detail.as_object().expect("properties").keys().collect();
        let mut sent: Vec<&String> = written["error"].as_object().expect("error").keys().collect();
        documented.sort_unstable();
        sent.sort_unstable();
        assert_eq!(documented, sent);
        assert_eq!(doc["components"]["schemas"]["Error"]["required"], serde_json::json!(["error"]));
    }

    #[test]
    fn the_notification_schema_names_the_fields_replies_carry() {
        let doc = document_json();
        let schema = &doc["components"]["schemas"]["Notification"];
        let mut documented: Vec<&str> =
            schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
        documented.sort_unstable();
        let mut required: Vec<&str> =
            schema["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
        required.sort_unstable();
        let row = crate::domain::StoredNotification {
            id: 1,
            user_id: 2,
            sender_id: None,
            notification_type: "general".into(),
            title: "t".into(),
            message: String::new(),
            data: "{}".into(),
            link: None,
            is_read: false,
            read_at: None,
            created_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            realtime: true,
            seen_at: None,
            archived_at: None,
            snoozed_until: None,
        };
        let wire = serde_json::to_value(crate::event::Notification::from(&row)).expect("JSON");
        let mut sent: Vec<&str> = wire.as_object().expect("object").keys().map(String::as_str).collect();
        sent.sort_unstable();
        assert_eq!(documented, sent);
        assert_eq!(required, sent, "every field is always sent (null when empty)");
    }

    #[test]
    fn types_and_preferences_come_from_the_domain() {
        let doc = document_json();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["NotificationType"]["pattern"], "^[a-z0-9_.-]{1,50}$");
        assert_eq!(schemas["PreferenceMap"]["additionalProperties"]["properties"]["enabled"]["type"], "boolean");
    }
}
