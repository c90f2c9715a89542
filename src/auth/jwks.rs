//! An identity provider's signing keys (`JWT_JWKS_URL`): fetched at start and every
//! `refresh_every`, kept as RS256/ES256 verification keys by `kid`, fetched again when a token
//! names a `kid` not in the cache, at most once per `cooldown` (a token with a made-up `kid`
//! cannot make the node hammer the provider). A failed fetch keeps the cached keys: tokens keep
//! being verified through a provider outage, and `/readyz` and the metrics say so.

use crate::config::{JwksConfig, JwtAlgorithm};
use crate::error::with_causes;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use prometheus::{IntCounterVec, IntGauge};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Longest wait for the provider's answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key set read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// One verification key.
pub struct Key {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The keys of one fetch, by `kid`.
#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    /// The one key of a set that has only one: what a token without `kid` is checked with.
    only: Option<Arc<Key>>,
    /// How many keys the set held that Herald accepts.
    usable: usize,
}

/// How the last fetch went, for `/readyz`.
#[derive(Default)]
struct Status {
    fetched_at: Option<SystemTime>,
    failing: Option<String>,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("request failed: {0}")]
    Request(String),
    #[error("answered {0}")]
    Status(u16),
    #[error("not a JWKS: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("no RS256 or ES256 signing key in it")]
    NoKeys,
}

/// The JWKS metrics (`herald_jwks_*`).
#[derive(Clone)]
pub struct JwksMetrics {
    pub fetches: IntCounterVec,
    pub keys: IntGauge,
    pub last_success: IntGauge,
}

pub struct Jwks {
    config: JwksConfig,
    /// `Some` narrows the keys to one algorithm (`JWT_ALGORITHM` RS256 or ES256).
    only_algorithm: Option<Algorithm>,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching (one fetch at a time); when the last fetch started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    status: Mutex<Status>,
    metrics: OnceLock<JwksMetrics>,
}

impl Jwks {
    pub fn new(config: JwksConfig, algorithm: JwtAlgorithm) -> Jwks {
        let only_algorithm = match algorithm {
            JwtAlgorithm::Rs256 => Some(Algorithm::RS256),
            JwtAlgorithm::Es256 => Some(Algorithm::ES256),
            JwtAlgorithm::Hs256 => None,
        };
        Jwks {
            config,
            only_algorithm,
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(None),
            status: Mutex::default(),
            metrics: OnceLock::new(),
        }
    }

    /// Where fetches are counted from now on (the node's metrics exist after its verifier).
    pub fn count_in(&self, metrics: JwksMetrics) {
        let _ = self.metrics.set(metrics);
    }

    /// The cached key for a token's `kid` (`None`: the one key of a one-key set).
    pub fn key(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        let keys = self.keys.read().map(|keys| keys.clone()).ok()?;
        match kid {
            Some(kid) => keys.by_kid.get(kid).cloned(),
            None => keys.only.clone(),
        }
    }

    /// Fetches the set again unless a fetch started within the cool-down; waits for a fetch in
    /// progress instead of starting another. Afterwards the caller looks its key up again.
    pub async fn refresh_unless_recent(&self) {
        let mut last = self.fetching.lock().await;
        if last.is_some_and(|started| started.elapsed() < self.config.cooldown) {
            return;
        }
        *last = Some(Instant::now());
        self.fetch_and_keep().await;
    }

    /// Fetches the set now (start and the periodic refresh), one fetch at a time.
    pub async fn refresh(&self) {
        let mut last = self.fetching.lock().await;
        *last = Some(Instant::now());
        self.fetch_and_keep().await;
    }

    /// Whether keys are cached, and in words how the last fetch went (`/readyz`): `ok`, `ok: …`
    /// when serving cached keys while fetching fails, else why there are none.
    pub fn describe(&self) -> (bool, String) {
        let Ok(status) = self.status.lock() else { return (false, "status unavailable".to_owned()) };
        let age = status.fetched_at.and_then(|at| at.elapsed().ok()).map(|age| age.as_secs());
        match (age, &status.failing) {
            (Some(_), None) => (true, "ok".to_owned()),
            (Some(age), Some(why)) => (true, format!("ok: serving keys fetched {age} s ago; fetching fails: {why}")),
            (None, Some(why)) => (false, format!("no keys yet: {why}")),
            (None, None) => (false, "no keys yet: first fetch in progress".to_owned()),
        }
    }

    async fn fetch_and_keep(&self) {
        let fetched = self.fetch().await;
        let outcome = if fetched.is_ok() { "ok" } else { "error" };
        if let Some(metrics) = self.metrics.get() {
            metrics.fetches.with_label_values(&[outcome]).inc();
        }
        let Ok(mut status) = self.status.lock() else { return };
        match fetched {
            Ok(keys) => {
                let count = keys.usable;
                if let Ok(mut cached) = self.keys.write() {
                    *cached = Arc::new(keys);
                }
                let now = SystemTime::now();
                *status = Status { fetched_at: Some(now), failing: None };
                if let Some(metrics) = self.metrics.get() {
                    metrics.keys.set(count as i64);
                    metrics.last_success.set(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64));
                }
                log::debug!("JWKS {}: {count} keys", self.config.url);
            }
            Err(err) => {
                log::warn!("JWKS {} could not be fetched (cached keys kept): {}", self.config.url, with_causes(&err));
                status.failing = Some(err.to_string());
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let client = awc::Client::builder().timeout(FETCH_TIMEOUT).finish();
        let mut response =
            client.get(self.config.url.as_str()).send().await.map_err(|e| JwksError::Request(e.to_string()))?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let body = response.body().limit(MAX_JWKS_BYTES).await.map_err(|e| JwksError::Request(e.to_string()))?;
        let set: JwkSet = serde_json::from_slice(&body)?;
        self.usable_keys(&set)
    }

    /// The set's signature keys Herald accepts: RSA for RS256, P-256 for ES256 (as the key's
    /// `alg` says when it says one), never a shared secret.
    fn usable_keys(&self, set: &JwkSet) -> Result<KeySet, JwksError> {
        let mut keys = KeySet::default();
        let mut usable = Vec::new();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
                continue;
            }
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            if self.only_algorithm.is_some_and(|only| only != algorithm) {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            let key = Arc::new(Key { algorithm, key });
            if let Some(kid) = &jwk.common.key_id {
                keys.by_kid.insert(kid.clone(), key.clone());
            }
            usable.push(key);
        }
        if usable.is_empty() {
            return Err(JwksError::NoKeys);
        }
        keys.usable = usable.len();
        if usable.len() == 1 {
            keys.only = usable.pop();
        }
        Ok(keys)
    }
}

/// Fetches the set at start, then every `refresh_every` (every cool-down while it has no keys)
/// until shutdown.
pub async fn refresh_periodically(jwks: Arc<Jwks>, mut shutdown: watch::Receiver<bool>) {
    loop {
        jwks.refresh().await;
        let wait = if jwks.describe().0 { jwks.config.refresh_every } else { jwks.config.cooldown };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
