//! Operations endpoints: `/healthz` (the process answers), `/readyz` (its dependencies do,
//! through the node's one `ReadinessProbe`) and `/metrics`.

use super::replies::{sorted, Health, HealthStatus, Readiness, ReadinessStatus};
use crate::broker::Broker;
use crate::hub::Hub;
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use crate::readiness::ReadinessProbe;
use actix_web::{web, HttpResponse};
use std::collections::BTreeMap;

/// Prometheus metrics (text format 0.0.4); state-mirroring gauges are read now, readiness
/// (`herald_ready`) is `/readyz`'s (`ReadinessProbe`: probed now, or reused from the last second).
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
    probe: web::Data<ReadinessProbe>,
) -> HttpResponse {
    // Probed first, so its database connection is back in the pool when the pool is read.
    for (dependency, answer) in probe.checks().await.iter() {
        metrics.ready.with_label_values(&[*dependency]).set(i64::from(answer.is_ok()));
    }
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
    HttpResponse::Ok().json(Health { status: HealthStatus::Ok })
}

/// Readiness: 200 when the database (a pooled connection and the group-commit writer's own; and
/// with `REDIS_URL`, the Redis publisher and subscriber) answer within 2 s, else 503 naming what
/// failed. The answer may be up to 1 s old (100 ms when not ready): see `ReadinessProbe`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: `checks` names what failed", body = Readiness),
    )
)]
pub async fn readyz(probe: web::Data<ReadinessProbe>) -> HttpResponse {
    let checks: BTreeMap<&'static str, String> = probe.described().await.into_iter().collect();
    let ready = checks.values().all(|answer| crate::readiness::is_ready(answer));
    let status = if ready { ReadinessStatus::Ok } else { ReadinessStatus::Unavailable };
    let body = sorted(&Readiness { status, checks });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
