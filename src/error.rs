//! `ApiError`: the one error type at the boundary, and the only place where HTTP statuses and
//! stable error `code` strings are chosen. A 5xx keeps its cause chain (`Cause`) for the log line
//! written here; its body is generic and never shows the cause.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::error::Error;
use std::sync::Arc;

/// Why a 5xx happened: a lower layer's error with its sources, or a message. Shared, so an
/// `ApiError` stays `Clone`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Cause(Arc<dyn Error + Send + Sync + 'static>);

impl Cause {
    pub fn new(err: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Cause {
        Cause(Arc::from(err.into()))
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Cause {
        Cause::new(message)
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Cause {
        Cause::new(message)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{message}")]
    Validation { field: &'static str, message: String },
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// An `Idempotency-Key` (or a frame's `idempotency_key`) first used with another request.
    #[error("this idempotency key was already used with a different request; use a new key for a new request")]
    IdempotencyKeyReused,
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// The recipient's inbox holds the storage cap in unread notifications: nothing was stored.
    #[error(
        "the recipient's inbox is full of unread notifications ({cap}, HERALD_MAX_STORED_PER_USER): nothing was stored"
    )]
    InboxFull { cap: i64 },
    /// The database (or another dependency) cannot be reached; the cause is logged.
    #[error("service unavailable")]
    Unavailable(#[source] Cause),
    /// A bug or an unexpected failure; the cause is logged.
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl ApiError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation { field, message: message.into() }
    }

    /// A 503 caused by `cause` (an error, or a message saying what is unavailable).
    pub fn unavailable(cause: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        ApiError::Unavailable(Cause::new(cause))
    }

    /// A 500 caused by `cause` (an error, or a message saying what went wrong).
    pub fn internal(cause: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        ApiError::Internal(Cause::new(cause))
    }

    /// The stable machine-readable code, shared by REST and WebSocket errors.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::Validation { .. } => "validation_error",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::InboxFull { .. } => "inbox_full",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The message a client may see. Causes of 5xx errors stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Unavailable(_) => "service temporarily unavailable, retry later".to_owned(),
            ApiError::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }

    /// When a `rate_limited` refusal can be retried: REST's `Retry-After`, WebSocket's
    /// `retry_after`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            ApiError::Validation { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Every error reply: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct Envelope<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    #[schema(value_type = ErrorCode)]
    pub code: &'a str,
    /// For people; not stable.
    pub message: String,
    /// The field (or query parameter, or header) a `validation_error` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = String)]
    pub field: Option<&'a str>,
}

/// The stable error codes (`ApiError::code`).
#[derive(Serialize, utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq)]
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
    IdempotencyKeyReused,
    RateLimited,
    InboxFull,
    Unavailable,
    InternalError,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_) | ApiError::Validation { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } | ApiError::InboxFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(cause) => log::warn!("503 unavailable: {}", with_causes(cause)),
            ApiError::Internal(cause) => log::error!("500 internal error: {}", with_causes(cause)),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, *allow));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(Envelope {
            error: ErrorDetail { code: self.code(), message: self.public_message(), field: self.field() },
        })
    }
}

impl From<crate::domain::Invalid> for ApiError {
    fn from(invalid: crate::domain::Invalid) -> Self {
        ApiError::Validation { field: invalid.field, message: invalid.message }
    }
}

/// A database failure at the edge: 404, 503 or 500, its whole cause chain kept for the log.
impl From<crate::db::DbError> for ApiError {
    fn from(err: crate::db::DbError) -> Self {
        use crate::db::DbError;
        match err {
            DbError::NotFound => ApiError::NotFound,
            DbError::KeyReused => ApiError::IdempotencyKeyReused,
            DbError::Unavailable { .. } => ApiError::unavailable(err),
            DbError::Failed { .. } => ApiError::internal(err),
        }
    }
}

impl From<crate::domain::Denied> for ApiError {
    fn from(denied: crate::domain::Denied) -> Self {
        ApiError::Forbidden(denied.0)
    }
}

impl From<crate::inbox::InboxError> for ApiError {
    fn from(err: crate::inbox::InboxError) -> Self {
        use crate::inbox::InboxError;
        match err {
            InboxError::Invalid(invalid) => invalid.into(),
            InboxError::Denied(denied) => denied.into(),
            InboxError::InboxFull(cap) => ApiError::InboxFull { cap: cap.get() },
            InboxError::Storage(storage) => storage.into(),
        }
    }
}

/// `err` and each of its sources, `: `-separated, for the log.
pub fn with_causes(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::InvalidJson("x".into()), 400, "invalid_json"),
            (ApiError::validation("title", "x"), 400, "validation_error"),
            (ApiError::BadRequest("x"), 400, "bad_request"),
            (ApiError::Unauthorized("x"), 401, "unauthorized"),
            (ApiError::Forbidden("x"), 403, "forbidden"),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::MethodNotAllowed { allow: "GET" }, 405, "method_not_allowed"),
            (ApiError::PayloadTooLarge { limit: 1 }, 413, "payload_too_large"),
            (ApiError::UnsupportedMediaType("x".into()), 415, "unsupported_media_type"),
            (ApiError::IdempotencyKeyReused, 422, "idempotency_key_reused"),
            (ApiError::RateLimited { retry_after_secs: 1 }, 429, "rate_limited"),
            (ApiError::InboxFull { cap: 3 }, 429, "inbox_full"),
            (ApiError::unavailable("db down"), 503, "unavailable"),
            (ApiError::internal("boom"), 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status_code().as_u16(), status, "{err:?}");
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn database_errors_keep_their_causes_for_the_log_and_map_to_their_status() {
        use crate::db::DbError;
        use diesel::result::{DatabaseErrorKind, Error};
        let failed =
            DbError::from(Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new("division by zero".to_owned())));
        let api = ApiError::from(failed);
        assert_eq!(api.code(), "internal_error");
        let logged = with_causes(&api);
        assert!(logged.starts_with("internal error: a database call failed"), "{logged}");
        assert!(logged.ends_with("the query failed: division by zero"), "{logged}");
        assert_eq!(ApiError::from(DbError::unavailable("down")).code(), "unavailable");
        assert_eq!(ApiError::from(DbError::NotFound).code(), "not_found");
        assert_eq!(ApiError::from(DbError::KeyReused).code(), "idempotency_key_reused");
    }

    #[test]
    fn server_errors_never_expose_their_cause() {
        let err = ApiError::internal("password=hunter2 at db.rs:10");
        assert!(!err.public_message().contains("hunter2"));
        assert!(with_causes(&err).contains("hunter2"), "the log line keeps the cause");
        let err = ApiError::unavailable("connection refused 10.0.0.1");
        assert!(!err.public_message().contains("10.0.0.1"));
        assert!(with_causes(&err).contains("10.0.0.1"), "the log line keeps the cause");
    }
}
