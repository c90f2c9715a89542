//! The REST surface: routes (each path with and without its trailing slash, no redirect), the
//! JSON body and query parsing, and the error handlers that turn every extractor failure, unknown
//! route and wrong method into the SPEC error envelope. Handlers parse, call `inbox`, and shape
//! the reply; nothing else.

mod notifications;
mod ops;
mod preferences;
pub mod static_files;

use crate::error::ApiError;
use actix_web::error::JsonPayloadError;
use actix_web::{web, HttpRequest, HttpResponse};

/// Request-size limits of the REST API.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub default_bytes: usize,
    pub broadcast_bytes: usize,
}

/// Registers every route of SPEC §4 and the operations endpoints.
pub fn configure(cfg: &mut web::ServiceConfig, limits: BodyLimits) {
    use notifications as n;
    cfg.app_data(json_config(limits.default_bytes))
        .service(resource("/auth/notifications", "GET").route(web::get().to(n::list_notifications)))
        .service(resource("/auth/notifications/create", "POST").route(web::post().to(n::create_notification)))
        .service(resource("/auth/notifications/mark-all-read", "POST").route(web::post().to(n::mark_all_read)))
        .service(resource("/auth/notifications/unread-count", "GET").route(web::get().to(n::unread_count)))
        .service(
            resource("/auth/notifications/preferences", "GET, PUT")
                .route(web::get().to(preferences::get_preferences))
                .route(web::put().to(preferences::update_preferences)),
        )
        .service(
            resource("/auth/notifications/broadcast", "POST")
                .app_data(json_config(limits.broadcast_bytes))
                .route(web::post().to(n::broadcast_notification)),
        )
        .service(resource("/auth/notifications/{id}/read", "POST").route(web::post().to(n::mark_read)))
        .service(resource("/auth/notifications/{id}/unread", "POST").route(web::post().to(n::mark_unread)))
        .service(resource("/auth/notifications/{id}/delete", "DELETE").route(web::delete().to(n::delete_notification)))
        .service(resource("/ws/notifications", "GET").route(web::get().to(crate::ws::connect)))
        .service(
            web::resource("/").route(web::get().to(static_files::index)).default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow: "GET" })
            })),
        )
        .service(resource("/static/herald.js", "GET").route(web::get().to(static_files::herald_js)))
        .service(resource("/dev/token", "GET").route(web::get().to(static_files::dev_token)))
        .service(resource("/metrics", "GET").route(web::get().to(ops::metrics)))
        .service(resource("/healthz", "GET").route(web::get().to(ops::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(ops::readyz)));
}

/// A resource answering at `path` and `path/`, with a JSON 405 naming `allow` for other methods.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource([path.to_owned(), format!("{path}/")])
        .default_service(web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }))
}

/// The answer for any path no route matches.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

fn json_config(limit: usize) -> web::JsonConfig {
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

/// Counts every request by route pattern (not path: bounded label values) and status.
pub async fn record_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<crate::metrics::Metrics>>().cloned();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let started = std::time::Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.http_requests.with_label_values(&[route.as_str(), response.status().as_str()]).inc();
        metrics.http_duration.with_label_values(&[route.as_str()]).observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// A JSON object body.
type JsonObject = web::Json<serde_json::Map<String, serde_json::Value>>;

/// The `Idempotency-Key` header, when present.
fn idempotency_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            value.to_str().map(Some).map_err(|_| ApiError::validation("Idempotency-Key", "must be printable ASCII"))
        }
    }
}

/// A reply recorded under an idempotency key (or built the same way), sent as is.
fn stored_reply(reply: &crate::db::StoredReply) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(reply.status).unwrap_or(actix_web::http::StatusCode::OK);
    HttpResponse::build(status).content_type("application/json").body(reply.body.clone())
}
