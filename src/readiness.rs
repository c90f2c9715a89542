//! The node's readiness: whether its dependencies answer now (the database, then the broker's
//! own checks), behind a short cache so that `/readyz`, `/metrics` and the cluster overview
//! (`crate::cluster`) together ping the database and Redis about once a second.

use crate::auth::jwks::Jwks;
use crate::broker::Broker;
use crate::inbox::Inbox;
use prometheus::IntCounter;
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
    /// The identity provider's keys, when tokens are verified with a JWKS.
    jwks: Option<Arc<Jwks>>,
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
    pub fn new(inbox: Inbox, broker: Broker, jwks: Option<Arc<Jwks>>, probes: IntCounter) -> ReadinessProbe {
        ReadinessProbe { inbox, broker, jwks, probes, last: tokio::sync::Mutex::new(None) }
    }

    /// Each dependency's answer: the last probe's when it still answers, else a new probe's.
    pub async fn checks(&self) -> Checks {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some(probe) = last.as_ref().filter(|probe| probe.answers(arrived)) {
            return probe.checks.clone();
        }
        self.probes.inc();
        let mut checks = readiness(&self.inbox, &self.broker).await;
        if let Some(jwks) = &self.jwks {
            let (has_keys, described) = jwks.describe();
            checks.push(("jwks", if has_keys { Ok(()) } else { Err(Unready::Jwks(described)) }));
        }
        let checks: Checks = checks.into();
        *last = Some(Probe { finished: Instant::now(), checks: checks.clone() });
        checks
    }

    /// Each dependency's answer in words, as `/readyz` shows it: `ok` (`ok: …` when it serves
    /// with a caveat: cached JWKS keys while the provider is down), or why not (`is_ready`).
    pub async fn described(&self) -> Vec<(&'static str, String)> {
        let checks = self.checks().await;
        let describe = |name: &str, answer: &Result<(), Unready>| match (answer, &self.jwks) {
            (Ok(()), Some(jwks)) if name == "jwks" => jwks.describe().1,
            (Ok(()), _) => "ok".to_owned(),
            (Err(why), _) => why.to_string(),
        };
        checks.iter().map(|(name, answer)| (*name, describe(name, answer))).collect()
    }
}

/// Whether a described answer lets the node serve: `ok`, or `ok: ` with a caveat.
pub fn is_ready(answer: &str) -> bool {
    answer == "ok" || answer.starts_with("ok: ")
}

/// Why a dependency is not ready, as `/readyz` names it.
#[derive(Debug, thiserror::Error)]
pub enum Unready {
    /// The database answered with an error: its `ApiError` code.
    #[error("unavailable: {code}")]
    Database { code: &'static str },
    #[error("unavailable: timed out")]
    TimedOut,
    /// A broker check failed.
    #[error("unavailable")]
    Broker,
    /// No JWKS keys could be fetched yet.
    #[error("unavailable: {0}")]
    Jwks(String),
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
