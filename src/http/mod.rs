//! The REST surface: routes (each path with and without its trailing slash, no redirect), the
//! JSON body and query parsing, and the error handlers that turn every extractor failure, unknown
//! route and wrong method into the SPEC error envelope. Handlers parse, call `inbox`, and shape
//! the reply; nothing else.

mod notifications;
mod ops;

pub use notifications::parse_list_query;
pub use ops::healthz;
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

/// Registers every route of SPEC §4 and the operations endpoints. Static paths first: a
/// request is matched against the routes in this order, and static paths match by string
/// comparison where an `{id}` path runs a regex.
/// `/metrics` and `/readyz` are left out when `HERALD_OPS_BIND` serves them on their own
/// listener (`configure_ops`).
pub fn configure(cfg: &mut web::ServiceConfig, limits: BodyLimits, with_ops: bool) {
    use notifications as n;
    cfg.app_data(json_config(limits.default_bytes));
    both(cfg, "/auth/notifications", "GET", |r| r.route(web::get().to(n::list_notifications)));
    both(cfg, "/auth/notifications/create", "POST", |r| r.route(web::post().to(n::create_notification)));
    both(cfg, "/auth/notifications/mark-all-read", "POST", |r| r.route(web::post().to(n::mark_all_read)));
    both(cfg, "/auth/notifications/unread-count", "GET", |r| r.route(web::get().to(n::unread_count)));
    both(cfg, "/auth/notifications/preferences", "GET, PUT", |r| {
        r.route(web::get().to(preferences::get_preferences)).route(web::put().to(preferences::update_preferences))
    });
    both(cfg, "/auth/notifications/broadcast", "POST", |r| {
        r.app_data(json_config(limits.broadcast_bytes)).route(web::post().to(n::broadcast_notification))
    });
    both(cfg, "/ws/notifications", "GET", |r| r.route(web::get().to(crate::ws::connect)));
    cfg.service(
        web::resource("/")
            .route(web::get().to(static_files::index))
            .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow: "GET" }) })),
    );
    both(cfg, "/static/herald.js", "GET", |r| r.route(web::get().to(static_files::herald_js)));
    both(cfg, "/dev/token", "GET", |r| r.route(web::get().to(static_files::dev_token)));
    both(cfg, "/healthz", "GET", |r| r.route(web::get().to(ops::healthz)));
    if with_ops {
        configure_ops(cfg);
    }
    both(cfg, "/auth/notifications/{id}/read", "POST", |r| r.route(web::post().to(n::mark_read)));
    both(cfg, "/auth/notifications/{id}/unread", "POST", |r| r.route(web::post().to(n::mark_unread)));
    both(cfg, "/auth/notifications/{id}/delete", "DELETE", |r| r.route(web::delete().to(n::delete_notification)));
}

/// The operations endpoints: `/metrics`, `/readyz` (and `/healthz`, also on the main listener).
pub fn configure_ops(cfg: &mut web::ServiceConfig) {
    both(cfg, "/metrics", "GET", |r| r.route(web::get().to(ops::metrics)));
    both(cfg, "/readyz", "GET", |r| r.route(web::get().to(ops::readyz)));
}

/// Registers `path` and `path/` (no redirect), each with the routes `build` adds and a JSON 405
/// naming `allow` for other methods. Two resources rather than one with both patterns: a
/// resource with several patterns is a regex set, run for every request that reaches it.
fn both(
    cfg: &mut web::ServiceConfig,
    path: &str,
    allow: &'static str,
    build: impl Fn(actix_web::Resource) -> actix_web::Resource,
) {
    for pattern in [path.to_owned(), format!("{path}/")] {
        cfg.service(build(web::resource(pattern).default_service(web::to(move || async move {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
        }))));
    }
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
    let mut route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    // `path` and `path/` are one route.
    if route.len() > 1 && route.ends_with('/') {
        route.pop();
    }
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
fn stored_reply(reply: &crate::domain::StoredReply) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(reply.status).unwrap_or(actix_web::http::StatusCode::OK);
    HttpResponse::build(status).content_type("application/json").body(reply.body.clone())
}
