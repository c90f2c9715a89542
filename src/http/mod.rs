//! The REST surface: routes (`routes`), JSON bodies and their errors (`body`), the security
//! headers of every reply (`headers`), CORS (`cors`), one file per resource (`notifications`, `preferences`,
//! `admin`, `admin_cluster`, `ops`, `static_files`), the reply and request types (`replies`, `requests`, `errors`) and the
//! OpenAPI document built from them (`openapi`).
//! Handlers parse, call `inbox` (or `console`), and shape the reply; nothing else.

mod admin;
mod admin_cluster;
mod body;
mod cors;
mod errors;
mod headers;
mod notifications;
pub mod openapi;
mod ops;
mod preferences;
mod replies;
pub mod requests;
mod routes;
mod states;
pub mod static_files;

pub use body::BodyLimits;
pub use cors::cors;
pub use headers::{security_headers, SECURITY_HEADERS};
pub use notifications::parse_list_query;
pub use routes::{configure, configure_ops, not_found, Listener, Route, ROUTES};

use actix_web::web;

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
