//! `ApiError`: the one error type at the boundary, and the only place where HTTP statuses and
//! stable error `code` strings are chosen. Internals (database causes, panics) are logged here and
//! never sent to the client: 5xx bodies are generic.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

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
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// The database (or another dependency) cannot be reached; the cause is logged.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause is logged.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation { field, message: message.into() }
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
            ApiError::RateLimited { .. } => "rate_limited",
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

    pub fn field(&self) -> Option<&'static str> {
        match self {
            ApiError::Validation { field, .. } => Some(field),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
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
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(cause) => log::warn!("503 unavailable: {cause}"),
            ApiError::Internal(cause) => log::error!("500 internal error: {cause}"),
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
            error: ErrorBody { code: self.code(), message: self.public_message(), field: self.field() },
        })
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => ApiError::NotFound,
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => ApiError::Unavailable(info.message().to_owned()),
            Error::DatabaseError(_, info) if is_session_timeout(info.message()) => {
                ApiError::Unavailable(info.message().to_owned())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// PostgreSQL cancelled the statement at the session's `statement_timeout` or `lock_timeout`
/// (the database is overloaded or a lock is held too long: retry later). Diesel does not expose
/// the SQLSTATE (57014, 55P03), so this reads the server's message, in its default English.
fn is_session_timeout(message: &str) -> bool {
    message.starts_with("canceling statement due to statement timeout")
        || message.starts_with("canceling statement due to lock timeout")
}

impl From<r2d2::Error> for ApiError {
    fn from(err: r2d2::Error) -> Self {
        ApiError::Unavailable(format!("database pool: {err}"))
    }
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
            (ApiError::RateLimited { retry_after_secs: 1 }, 429, "rate_limited"),
            (ApiError::Unavailable("db down".into()), 503, "unavailable"),
            (ApiError::Internal("boom".into()), 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status_code().as_u16(), status, "{err:?}");
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn statements_cancelled_by_a_session_timeout_are_unavailable() {
        use diesel::result::{DatabaseErrorKind, Error};
        let cancelled = |message: &str| {
            ApiError::from(Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned())))
        };
        assert_eq!(cancelled("canceling statement due to statement timeout").code(), "unavailable");
        assert_eq!(cancelled("canceling statement due to lock timeout").code(), "unavailable");
        assert_eq!(cancelled("division by zero").code(), "internal_error");
    }

    #[test]
    fn server_errors_never_expose_their_cause() {
        let err = ApiError::Internal("password=hunter2 at db.rs:10".into());
        assert!(!err.public_message().contains("hunter2"));
        let err = ApiError::Unavailable("connection refused 10.0.0.1".into());
        assert!(!err.public_message().contains("10.0.0.1"));
    }
}
