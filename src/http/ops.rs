//! Operations endpoints: `/healthz` (the process answers) and `/readyz` (its dependencies do).

use super::replies::{sorted, Health, HealthStatus, Readiness, ReadinessStatus};
use crate::broker::Broker;
use crate::hub::Hub;
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use actix_web::{web, HttpResponse};
use std::collections::BTreeMap;
use std::time::Duration;

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Prometheus metrics (text format 0.0.4); state-mirroring gauges are read now, readiness
/// (`herald_ready`) is probed now as `/readyz` probes it.
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
    // Probed first, so its database connection is back in the pool when the pool is read.
    for (dependency, answer) in readiness(&inbox, &broker).await {
        metrics.ready.with_label_values(&[dependency]).set(i64::from(answer.is_ok()));
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
/// failed.
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
    let mut ready = true;
    let mut checks = BTreeMap::new();
    for (name, answer) in readiness(&inbox, &broker).await {
        ready &= answer.is_ok();
        checks.insert(name, answer.map_or_else(|unready| unready.to_string(), |()| "ok".to_owned()));
    }
    let status = if ready { ReadinessStatus::Ok } else { ReadinessStatus::Unavailable };
    let body = sorted(&Readiness { status, checks });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Why a dependency is not ready, as `/readyz` names it.
#[derive(Debug, thiserror::Error)]
enum Unready {
    /// The database answered with an error: its `ApiError` code.
    #[error("unavailable: {code}")]
    Database { code: &'static str },
    #[error("unavailable: timed out")]
    TimedOut,
    /// A broker check failed.
    #[error("unavailable")]
    Broker,
}

/// Each dependency `/readyz` checks, by name, with why it is unavailable: the database (within
/// 2 s), then the broker's own checks.
async fn readiness(inbox: &Inbox, broker: &Broker) -> Vec<(&'static str, Result<(), Unready>)> {
    let database = match tokio::time::timeout(READINESS_TIMEOUT, inbox.ping_database()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(Unready::Database { code: crate::error::ApiError::from(err).code() }),
        Err(_) => Err(Unready::TimedOut),
    };
    let mut checks = vec![("database", database)];
    for (name, ok) in broker.checks().await {
        checks.push((name, if ok { Ok(()) } else { Err(Unready::Broker) }));
    }
    checks
}
