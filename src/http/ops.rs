//! Operations endpoints: `/healthz` (the process answers) and `/readyz` (its dependencies do).

use super::openapi::{Health, Readiness};
use crate::broker::Broker;
use crate::hub::Hub;
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Prometheus metrics (text format 0.0.4); state-mirroring gauges are read now.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Every metric", body = String, content_type = "text/plain"),
    )
)]
pub async fn metrics(
    metrics: web::Data<Metrics>,
    hub: web::Data<Hub>,
    inbox: web::Data<Inbox>,
    broker: web::Data<Broker>,
) -> HttpResponse {
    metrics.open_sockets.set(hub.session_count() as i64);
    let (in_use, idle) = inbox.db().pool_state();
    metrics.db_pool_connections.with_label_values(&["in_use"]).set(i64::from(in_use));
    metrics.db_pool_connections.with_label_values(&["idle"]).set(i64::from(idle));
    if let Broker::Redis(redis) = broker.get_ref() {
        use std::sync::atomic::Ordering;
        metrics.redis_reconnects.set(redis.status.reconnects.load(Ordering::Relaxed) as i64);
        metrics.redis_publish_failures.set(redis.status.publish_failures.load(Ordering::Relaxed) as i64);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics.render())
}

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The process answers", body = Health),
    )
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: 200 when the database (and with `REDIS_URL`, the Redis publisher and subscriber)
/// answer within 2 s, else 503 naming what failed.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: `checks` names what failed", body = Readiness),
    )
)]
pub async fn readyz(inbox: web::Data<Inbox>, broker: web::Data<Broker>) -> HttpResponse {
    let probe = inbox.db().ping();
    let database = match tokio::time::timeout(READINESS_TIMEOUT, probe).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(err)) => format!("unavailable: {}", crate::error::ApiError::from(err).code()),
        Err(_) => "unavailable: timed out".to_owned(),
    };
    let mut ready = database == "ok";
    let mut checks = serde_json::Map::new();
    checks.insert("database".into(), json!(database));
    for (name, ok) in broker.checks().await {
        ready &= ok;
        checks.insert(name.into(), json!(if ok { "ok" } else { "unavailable" }));
    }
    let body = json!({ "status": if ready { "ok" } else { "unavailable" }, "checks": checks });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
