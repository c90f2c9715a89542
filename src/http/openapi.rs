//! The OpenAPI 3.1 description of the REST API, served at `GET /openapi.json`.
//!
//! Each handler carries its operation (`#[utoipa::path]`, next to the code it describes); this
//! module holds the shapes they send and accept and the reusable error responses. The handlers do
//! not serialize these types: they describe what the handlers write (`json!`, the `event` wire
//! views, `ApiError`); the unit tests below compare them with what is written,
//! `tests/api/openapi.rs` checks that the document's operations are exactly `http::ROUTES`, and
//! `bench/api_fuzz.sh` checks every reply of a live node to generated requests against them.

use super::{notifications, ops, preferences};
use crate::domain::NotificationType;
use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::OnceLock;
use utoipa::openapi::schema::{AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

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
        preferences::get_preferences,
        preferences::update_preferences,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        openapi_json,
    ),
    components(
        schemas(Error, ErrorDetail, ErrorCode),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            PayloadTooLarge,
            UnsupportedMediaType,
            RateLimited,
            Unavailable
        )
    ),
    modifiers(&BearerScheme, &SharedResponses),
    tags(
        (name = "notifications", description = "The caller's notifications"),
        (name = "preferences", description = "Per-type delivery preferences"),
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
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}

// ---------------------------------------------------------------------------------------------
// Shared value schemas, built from the domain's own definitions.

/// One of the eight notification types (SPEC §3), from `NotificationType::ALL`.
pub struct NotificationTypeName;

impl PartialSchema for NotificationTypeName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(NotificationType::ALL.map(NotificationType::as_str)))
            .into()
    }
}

impl ToSchema for NotificationTypeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NotificationType")
    }
}

/// The largest id the document lets a client send as a digit string: 18 digits, always below
/// `i64::MAX` (the server accepts up to `i64::MAX`).
const ID_DIGITS: &str = "^0*[1-9][0-9]{0,17}$";

/// A user id as the original's clients send it: a positive 64-bit integer or a string of digits.
pub struct UserIdInput;

impl PartialSchema for UserIdInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(positive_id())
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(ID_DIGITS)))
            .description(Some(
                "A positive 64-bit integer (written without a fraction or exponent: `2.0` is \
                 refused), or a string of its digits",
            ))
            .into()
    }
}

impl ToSchema for UserIdInput {}

/// A positive 64-bit integer id.
fn positive_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(i64::MAX))
}

/// An approval's `item_id`: an integer (64-bit, signed or not) or a string.
pub struct ItemId;

impl PartialSchema for ItemId {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(i64::MIN)).maximum(Some(u64::MAX)))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .into()
    }
}

impl ToSchema for ItemId {}

/// The eight types, each with a `Preference` (the GET and PUT replies).
pub struct PreferenceMap;

impl PartialSchema for PreferenceMap {
    fn schema() -> RefOr<Schema> {
        let mut map = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
        for kind in NotificationType::ALL {
            map = map.property(kind.as_str(), Preference::schema()).required(kind.as_str());
        }
        map.into()
    }
}

impl ToSchema for PreferenceMap {}

/// Some of the eight types, each with the fields to change; an unknown type is refused.
pub struct PreferenceChanges;

impl PartialSchema for PreferenceChanges {
    fn schema() -> RefOr<Schema> {
        let mut map = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
        for kind in NotificationType::ALL {
            map = map.property(kind.as_str(), PreferenceChange::schema());
        }
        map.into()
    }
}

impl ToSchema for PreferenceChanges {}

// ---------------------------------------------------------------------------------------------
// Parameters.

/// The `{id}` of a notification path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct NotificationIdPath(
    /// A notification id: another user's, a missing one or one that is not a positive 64-bit
    /// integer is 404.
    #[param(minimum = 1, format = Int64)]
    #[allow(dead_code)]
    i64,
);

/// `Idempotency-Key` on create and broadcast.
#[derive(IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
pub struct IdempotencyKey(
    /// 1 to 255 printable ASCII characters or tabs (trimmed). A repeat with the same key from
    /// the same caller within 24 hours returns the first reply and creates nothing, also when the
    /// repeats arrive at the same time.
    #[param(value_type = String, required = false, min_length = 1, max_length = 255,
            pattern = "^[!-~]([\\t -~]*[!-~])?$")]
    #[allow(dead_code)]
    Option<String>,
);

// ---------------------------------------------------------------------------------------------
// Replies.

/// A notification, as every reply shows it (SPEC §3; `crate::event::Notification`).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": 42, "user_id": 1, "sender_id": 7, "notification_type": "general", "title": "New Task Assigned",
    "message": "You have been assigned a new task", "data": {"task_id": 123},
    "link": "https://example.com/tasks/123", "is_read": false, "read_at": null,
    "created_at": "2026-11-24T09:10:44.123456Z"
}))]
pub struct Notification {
    #[schema(minimum = 1, format = Int64)]
    pub id: i64,
    #[schema(minimum = 1, format = Int64)]
    pub user_id: i64,
    /// The user whose token created it.
    #[schema(minimum = 1, format = Int64, required = true)]
    pub sender_id: Option<i64>,
    #[schema(value_type = NotificationTypeName)]
    pub notification_type: String,
    /// 1 to 200 characters, trimmed.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(max_length = 5000)]
    pub message: String,
    /// A JSON object of at most 16 KiB serialized.
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
    /// An absolute http(s) URL, as given (trimmed).
    #[schema(required = true)]
    pub link: Option<String>,
    pub is_read: bool,
    /// When it was first read (RFC 3339, UTC, microseconds); null while unread.
    #[schema(format = DateTime, required = true)]
    pub read_at: Option<String>,
    /// RFC 3339, UTC, microseconds, e.g. `2026-11-24T09:10:44.123456Z`.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A page of the caller's notifications, newest first.
#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
    /// Every notification matching `unread`/`type`, ignoring `before` and `limit`.
    #[schema(minimum = 0)]
    pub total: i64,
    /// The caller's whole unread count, whatever the filter.
    #[schema(minimum = 0)]
    pub unread_count: i64,
    /// The `before` of the next page; null on the last.
    #[schema(minimum = 1, format = Int64, required = true)]
    pub next_before: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationCreated {
    pub notification: Notification,
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

#[derive(Serialize, ToSchema)]
pub struct NotificationWithCount {
    pub notification: Notification,
    #[schema(minimum = 0)]
    pub unread_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MarkedAllRead {
    /// How many were unread.
    #[schema(minimum = 0)]
    pub marked: i64,
    #[schema(minimum = 0)]
    pub unread_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// Always `true`.
    pub deleted: bool,
    #[schema(minimum = 0)]
    pub unread_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    #[schema(minimum = 0)]
    pub unread_count: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Preference {
    /// Off: notifications of this type are not stored at all.
    pub enabled: bool,
    /// Off: stored and counted, but not pushed live.
    pub realtime: bool,
}

/// All eight types.
#[derive(Serialize, ToSchema)]
pub struct Preferences {
    #[schema(value_type = PreferenceMap)]
    pub preferences: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct BroadcastCreated {
    /// Notifications stored (one per distinct recipient that did not disable the type).
    #[schema(minimum = 0)]
    pub created: i64,
    /// Recipients whose preference suppressed it.
    #[schema(minimum = 0)]
    pub suppressed: i64,
    #[schema(value_type = Vec<i64>)]
    pub notification_ids: Vec<i64>,
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

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ok,
    Unavailable,
}

/// What answers: `database`, and with `REDIS_URL` the Redis publisher and subscriber, each `ok`
/// or `unavailable…`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: ReadinessStatus,
    #[schema(value_type = HashMap<String, String>)]
    pub checks: serde_json::Value,
}

// ---------------------------------------------------------------------------------------------
// Request bodies.

/// The fields of a notification (SPEC §3). `notification_type` is accepted as another name for
/// `type` (they must agree when both are given). For `approval` notifications, top-level
/// `form_type`, `item_id` and `approved` are folded into `data`. Unknown fields are ignored.
#[derive(Deserialize, ToSchema)]
pub struct NotificationContent {
    /// 1 to 200 characters after trimming.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    pub title: String,
    /// Up to 5000 characters; default empty.
    #[schema(max_length = 5000, pattern = r"^[^\u0000]*$")]
    pub message: Option<String>,
    /// Default `general`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<NotificationTypeName>)]
    pub kind: Option<String>,
    /// A JSON object of at most 16 KiB serialized; default `{}`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// An absolute http(s) URL of at most 2048 characters.
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    pub link: Option<String>,
    /// Approval notifications: folded into `data`.
    pub form_type: Option<String>,
    /// Approval notifications: folded into `data`.
    #[schema(value_type = Option<ItemId>)]
    pub item_id: Option<serde_json::Value>,
    /// Approval notifications: folded into `data`.
    pub approved: Option<bool>,
}

/// A notification for one user.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "title": "New Task Assigned", "message": "You have been assigned a new task", "type": "general",
    "data": {"task_id": 123}, "link": "https://example.com/tasks/123"
}))]
pub struct CreateNotification {
    /// The recipient; default the caller. Another user needs `is_staff` or `notifications:send`.
    #[schema(value_type = Option<UserIdInput>)]
    pub user_id: Option<serde_json::Value>,
    #[serde(flatten)]
    pub content: NotificationContent,
}

/// The same notification for many users, in one transaction.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"user_ids": [1, 2, 3, 2], "title": "Maintenance tonight", "type": "general"}))]
pub struct BroadcastNotification {
    /// 1 to `HERALD_MAX_BROADCAST_RECIPIENTS` (default 10000) users; duplicates are ignored.
    #[schema(value_type = Vec<UserIdInput>, min_items = 1, max_items = 10000)]
    pub user_ids: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub content: NotificationContent,
}

/// A partial update: only the types and fields given change. An unknown type or field, or a
/// value that is not a boolean, is refused and changes nothing.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"preferences": {"meeting": {"realtime": false}}}))]
pub struct PreferencesUpdate {
    #[schema(value_type = PreferenceChanges)]
    pub preferences: serde_json::Value,
}

/// The fields of one type to change; absent fields keep their value.
#[derive(Deserialize, ToSchema)]
#[schema(no_recursion)]
#[serde(deny_unknown_fields)]
pub struct PreferenceChange {
    #[schema(value_type = bool, required = false)]
    pub enabled: Option<bool>,
    #[schema(value_type = bool, required = false)]
    pub realtime: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// Every error reply: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, ToSchema)]
pub struct Error {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; not stable.
    pub message: String,
    /// The field (or query parameter, or header) a `validation_error` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = String)]
    pub field: Option<String>,
}

/// The stable error codes (`ApiError::code`).
#[derive(Serialize, ToSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    ValidationError,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Unavailable,
    InternalError,
}

/// `invalid_json` (the body is not a JSON object) or `validation_error` (a field, query
/// parameter or header breaks a rule; `field` names it).
#[derive(ToResponse)]
pub struct BadRequest(#[allow(dead_code)] Error);

/// `unauthorized`: the bearer token is missing, invalid or expired.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
pub struct Unauthorized(#[allow(dead_code)] Error);

/// `forbidden`: creating for another user, or broadcasting, without `is_staff` or the
/// `notifications:send` scope.
#[derive(ToResponse)]
pub struct Forbidden(#[allow(dead_code)] Error);

/// `not_found`: the notification does not exist or is not the caller's.
#[derive(ToResponse)]
pub struct NotFound(#[allow(dead_code)] Error);

/// `method_not_allowed`: the path does not answer this method.
#[derive(ToResponse)]
#[response(headers(("Allow" = String, description = "The methods the path answers")))]
pub struct MethodNotAllowed(#[allow(dead_code)] Error);

/// `payload_too_large`: the body is over `HERALD_MAX_BODY_BYTES` (64 KiB; broadcast:
/// `HERALD_MAX_BROADCAST_BODY_BYTES`, 1 MiB).
#[derive(ToResponse)]
pub struct PayloadTooLarge(#[allow(dead_code)] Error);

/// `unsupported_media_type`: the body is not sent as `Content-Type: application/json`.
#[derive(ToResponse)]
pub struct UnsupportedMediaType(#[allow(dead_code)] Error);

/// `rate_limited`: the end user sent more than `HERALD_RATE_LIMIT_PER_SECOND` (service tokens
/// are not limited).
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait")))]
pub struct RateLimited(#[allow(dead_code)] Error);

/// `unavailable`: the database cannot be reached or did not answer in time; nothing was
/// half-written. Retry (creates with an `Idempotency-Key`).
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait")))]
pub struct Unavailable(#[allow(dead_code)] Error);

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
                | ApiError::RateLimited { .. }
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
            ApiError::RateLimited { retry_after_secs: 1 },
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
        let envelope = Error {
            error: ErrorDetail {
                code: ErrorCode::ValidationError,
                message: "is required".into(),
                field: Some("title".into()),
            },
        };
        let body = actix_web::body::to_bytes(response.into_body());
        let body = futures_util::FutureExt::now_or_never(body).expect("ready").expect("body");
        let written: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(written, serde_json::to_value(envelope).expect("JSON"));
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
        let types: Vec<&str> = NotificationType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(schemas["NotificationType"]["enum"], serde_json::json!(types));
        assert_eq!(schemas["PreferenceMap"]["required"], serde_json::json!(types));
    }
}
