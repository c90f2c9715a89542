//! JSON request bodies and recorded replies: the size limits, the extractor configuration that
//! turns every body failure into the SPEC error envelope (415, 413, 400 `invalid_json`), and a
//! reply stored under an idempotency key, sent back as is.

use crate::error::ApiError;
use actix_web::error::JsonPayloadError;
use actix_web::{web, HttpResponse};

/// Request-size limits of the REST API.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub default_bytes: usize,
    pub broadcast_bytes: usize,
}

pub(super) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge { limit }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType("Content-Type must be application/json".into()),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::InvalidJson("request body must be a JSON object".into())
        }
        JsonPayloadError::Deserialize(e) => ApiError::InvalidJson(format!("request body is not valid JSON: {e}")),
        other => ApiError::InvalidJson(format!("request body could not be read: {other}")),
    }
}

/// A JSON object body.
pub(super) type JsonObject = web::Json<serde_json::Map<String, serde_json::Value>>;

/// A reply recorded under an idempotency key (or built the same way), sent as is.
pub(super) fn stored_reply(reply: &crate::domain::StoredReply) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(reply.status).unwrap_or(actix_web::http::StatusCode::OK);
    HttpResponse::build(status).content_type("application/json").body(reply.body.clone())
}
