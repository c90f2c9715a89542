//! Every metric of a node, by name, in one place; served at `GET /metrics` in the Prometheus
//! text format. One `Metrics` per node (never global: tests run several nodes per process).
//! Counters are updated where things happen; gauges that mirror state (open sockets, pool use,
//! Redis counters, readiness) are read at scrape time.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub open_sockets: IntGauge,
    pub notifications_delivered: IntCounter,
    /// Notifications this node stored (REST, WebSocket, CLI, broadcasts, the console).
    pub notifications_created: IntCounter,
    pub publish_to_delivery: Histogram,
    pub sockets_closed: IntCounterVec,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub db_pool_connections: IntGaugeVec,
    pub db_pool_wait: Histogram,
    pub group_commit_batch_size: Histogram,
    pub redis_reconnects: IntGauge,
    pub redis_publish_failures: IntGauge,
    pub lost_changes_repaired: IntCounter,
    /// 1 when a dependency answers as `/readyz` checks it (`database`, `redis_publisher`,
    /// `redis_subscriber`, or `broker` in-process), else 0; probed at scrape time.
    pub ready: IntGaugeVec,
    /// Readiness probes run (each one database ping and the broker's checks); `/readyz` and
    /// `/metrics` share one probe per second (`readiness::ReadinessProbe`).
    pub readiness_probes: IntCounter,
    /// JWKS fetches by `result` (`ok`, `error`), the keys cached, and when they were last
    /// fetched (`JWT_JWKS_URL`; unused otherwise).
    pub jwks: crate::auth::jwks::JwksMetrics,
}

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

impl Metrics {
    pub fn new(node_id: &str) -> Metrics {
        let registry =
            Registry::new_custom(Some("herald".into()), Some([("node".to_owned(), node_id.to_owned())].into()))
                .unwrap_or_default();
        let r = &registry;
        let latency = |name: &str, help: &str| HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
        let counter = |name: &str, help: &str| register(r, IntCounter::new(name, help));
        let m = Metrics {
            open_sockets: register(r, IntGauge::new("open_sockets", "WebSocket sessions and SSE streams open on this node")),
            notifications_delivered: counter("notifications_delivered_total", "Notification pushes written to sockets"),
            notifications_created: counter("notifications_created_total", "Notifications stored by this node"),
            publish_to_delivery: register(
                r,
                Histogram::with_opts(latency(
                    "publish_to_delivery_seconds",
                    "From publish (after commit) to the socket write",
                )),
            ),
            sockets_closed: register(
                r,
                IntCounterVec::new(
                    Opts::new("sockets_closed_total", "Sockets closed by the server, by close code"),
                    &["code"],
                ),
            ),
            http_requests: register(
                r,
                IntCounterVec::new(
                    Opts::new("http_requests_total", "HTTP requests by route and status"),
                    &["route", "status"],
                ),
            ),
            http_duration: register(
                r,
                HistogramVec::new(
                    latency("http_request_duration_seconds", "HTTP request duration by route"),
                    &["route"],
                ),
            ),
            db_pool_connections: register(
                r,
                IntGaugeVec::new(Opts::new("db_pool_connections", "Database connections by state"), &["state"]),
            ),
            db_pool_wait: register(
                r,
                Histogram::with_opts(latency("db_pool_wait_seconds", "Wait for a database connection")),
            ),
            group_commit_batch_size: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new("group_commit_batch_size", "Creates stored by one group-commit statement")
                        .buckets(vec![1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0]),
                ),
            ),
            redis_reconnects: register(r, IntGauge::new("redis_reconnects_total", "Redis subscriber reconnections")),
            redis_publish_failures: register(
                r,
                IntGauge::new("redis_publish_failures_total", "Events whose first PUBLISH failed (republished later)"),
            ),
            lost_changes_repaired: counter(
                "lost_changes_repaired_total",
                "Users whose committed change never arrived here (publish lost) and whose sockets were repaired",
            ),
            ready: register(
                r,
                IntGaugeVec::new(
                    Opts::new("ready", "1 when the dependency answers, as /readyz checks it at scrape time, else 0"),
                    &["dependency"],
                ),
            ),
            readiness_probes: counter(
                "readiness_probes_total",
                "Readiness probes run (a database ping and the Redis checks each); /readyz and /metrics reuse one for 1 s",
            ),
            jwks: jwks_metrics(r),
            registry,
        };
        m.export_alerted_close_codes();
        m
    }

    /// The close codes alerts watch are exported from the start, so their first close is an
    /// increase (a series that appears at 1 is not one for `increase()`).
    fn export_alerted_close_codes(&self) {
        for code in ["1011", "1013"] {
            self.sockets_closed.with_label_values(&[code]);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Registers a new metric with the node's registry and returns it. Names are distinct
/// constants, so registration cannot collide.
/// The JWKS metrics, both results exported from the start.
fn jwks_metrics(r: &Registry) -> crate::auth::jwks::JwksMetrics {
    let fetches = register(
        r,
        IntCounterVec::new(
            Opts::new("jwks_fetches_total", "Fetches of the identity provider's JWKS, by result"),
            &["result"],
        ),
    );
    for result in ["ok", "error"] {
        fetches.with_label_values(&[result]);
    }
    crate::auth::jwks::JwksMetrics {
        fetches,
        keys: register(r, IntGauge::new("jwks_keys", "Verification keys cached from the JWKS")),
        last_success: register(
            r,
            IntGauge::new("jwks_last_success_timestamp_seconds", "When the JWKS was last fetched (Unix time)"),
        ),
    }
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, metric: prometheus::Result<C>) -> C {
    let metric = metric.expect("metric");
    let _ = registry.register(Box::new(metric.clone()));
    metric
}
