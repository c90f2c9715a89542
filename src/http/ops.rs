//! Operations endpoints: `/healthz` (the process answers) and `/readyz` (its dependencies do),
//! and `ReadinessProbe`, the node's one probe of its dependencies behind a short cache, which
//! `/readyz` and `/metrics` share.

use super::replies::{sorted, Health, HealthStatus, Readiness, ReadinessStatus};
use crate::broker::Broker;
use crate::hub::Hub;
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use actix_web::{web, HttpResponse};
use prometheus::IntCounter;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a probe that found every dependency answering is reused.
pub const READY_REUSED_FOR: Duration = Duration::from_secs(1);

/// How long a failed probe is reused: short, so a recovery shows at once, yet a caller polling
/// an unready node cannot make it ping the database and Redis more than 10 times a second.
pub const UNREADY_REUSED_FOR: Duration = Duration::from_millis(100);

/// Each dependency's answer, as one probe found it.
type Checks = Arc<[(&'static str, Result<(), Unready>)]>;

/// The node's readiness probe (the database, then the broker's checks), run at most once at a
/// time: every caller that arrives while a probe runs waits for that probe and gets its result,
/// and a result is reused for `READY_REUSED_FOR` (`UNREADY_REUSED_FOR` when something failed).
/// However often `/readyz` and `/metrics` are called, a node pings its database and Redis about
/// once a second. Waits are bounded: a probe takes at most `READINESS_TIMEOUT` for the database
/// plus the broker's own bounds, and a caller waits for at most the probe in flight and its own.
pub struct ReadinessProbe {
    inbox: Inbox,
    broker: Broker,
    /// Counts the probes run (`herald_readiness_probes_total`).
    probes: IntCounter,
    last: tokio::sync::Mutex<Option<Probe>>,
}

/// One probe's result and when it finished.
struct Probe {
    finished: Instant,
    checks: Checks,
}

impl Probe {
    /// Whether a caller that arrived at `arrived` gets this result: it finished after the caller
    /// arrived (the caller waited for it), or it is recent enough to reuse.
    fn answers(&self, arrived: Instant) -> bool {
        let ready = self.checks.iter().all(|(_, answer)| answer.is_ok());
        let reused_for = if ready { READY_REUSED_FOR } else { UNREADY_REUSED_FOR };
        self.finished >= arrived || self.finished.elapsed() < reused_for
    }
}

impl ReadinessProbe {
    pub fn new(inbox: Inbox, broker: Broker, probes: IntCounter) -> ReadinessProbe {
        ReadinessProbe { inbox, broker, probes, last: tokio::sync::Mutex::new(None) }
    }

    /// Each dependency's answer: the last probe's when it still answers, else a new probe's.
    async fn checks(&self) -> Checks {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some(probe) = last.as_ref().filter(|probe| probe.answers(arrived)) {
            return probe.checks.clone();
        }
        self.probes.inc();
        let checks: Checks = readiness(&self.inbox, &self.broker).await.into();
        *last = Some(Probe { finished: Instant::now(), checks: checks.clone() });
        checks
    }
}

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
    let mut ready = true;
    let mut checks = BTreeMap::new();
    for (name, answer) in probe.checks().await.iter() {
        ready &= answer.is_ok();
        checks.insert(*name, answer.as_ref().map_or_else(|unready| unready.to_string(), |()| "ok".to_owned()));
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
