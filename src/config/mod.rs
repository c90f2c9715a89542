//! `Config`: every setting of a node, read from environment variables only (12-factor), as a
//! plain value (never a global), so one process can run several nodes in tests. `vars` is the
//! one table of variables; `from_lookup` reads each row once and reports every bad variable at
//! once; `check_serving` adds what only `serve` refuses. The key and secret policy is `keys`.

mod database;
mod jwt;
pub mod keys;
mod reader;
mod redis;
mod values;
pub mod vars;

pub use database::{BadDatabaseUrl, BadSqliteSynchronous, DatabaseUrl, SqliteSynchronous};
pub use jwt::{JwksConfig, JwtConfig, Secret};
pub use keys::{JwtAlgorithm, COMMITTED_SECRETS, MIN_SECRET_BYTES, PLACEHOLDER_SECRETS};
pub use reader::{ConfigError, Problem};
pub use redis::{redacted_url, RedisTarget};
pub use vars::{EnvVar, ENV_VARS};

use crate::domain::{StorageCap, TypeCatalog};
use reader::Reader;
use std::net::SocketAddr;
use std::time::Duration;
use values::{address, positive, positive_days, positive_millis, positive_seconds, seconds, switch};
use vars::*;

/// The smallest `HERALD_RATE_LIMIT_BURST`: what the dearest action of an end user costs (a
/// change or a replay, `crate::limits::budget`), else it could never be admitted.
pub const MIN_RATE_LIMIT_BURST: u32 = 2;

/// Tests only: when true, a node commits every change and never publishes it, as a node that
/// dies between the two (refused unless `HERALD_BIND` is loopback).
pub const HANG_BEFORE_PUBLISH: &str = HERALD_TEST_HANG_BEFORE_PUBLISH.name;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database: DatabaseUrl,
    /// The Redis that carries fan-out between nodes; `None`: the in-process broker.
    pub redis: Option<RedisTarget>,
    pub jwt: JwtConfig,
    pub allowed_origins: Vec<String>,
    pub node_id: String,
    pub workers: usize,
    pub db_pool_size: u32,
    pub db_timeout: Duration,
    /// PostgreSQL session bounds, set on every connection.
    pub db_statement_timeout: Duration,
    pub db_lock_timeout: Duration,
    pub db_idle_in_transaction_timeout: Duration,
    pub db_keepalive: Duration,
    /// SQLite's `PRAGMA synchronous` on every connection (unused with PostgreSQL).
    pub sqlite_synchronous: SqliteSynchronous,
    pub migrate_on_start: bool,
    pub max_body_bytes: usize,
    pub max_broadcast_body_bytes: usize,
    pub max_broadcast_recipients: usize,
    /// The most notifications one user's inbox holds (`HERALD_MAX_STORED_PER_USER`).
    pub max_stored_per_user: StorageCap,
    /// The notification types accepted, with their categories (`HERALD_NOTIFICATION_TYPES`).
    pub notification_types: TypeCatalog,
    pub ws_outbox_size: usize,
    pub ws_ping_interval: Duration,
    pub ws_ping_timeout: Duration,
    pub ws_frames_per_second: u32,
    pub ws_handshakes_per_second: u32,
    pub redis_republish_bytes: usize,
    /// Separate listener for `/metrics` and `/readyz`; `None`: they are on `bind`.
    pub ops_bind: Option<SocketAddr>,
    pub shutdown_timeout: Duration,
    /// Each end user's budget (`crate::limits::budget`): units per second, and the burst.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Each service identity's budget: notifications written per second, and the burst.
    pub service_rate_limit_per_second: u32,
    pub service_rate_limit_burst: u32,
    pub max_sockets: usize,
    pub max_sockets_per_user: usize,
    /// Keep notifications this long; `None`: forever.
    pub retention: Option<Duration>,
    /// How often the node checks its users' stream positions against the database.
    pub position_check_interval: Duration,
    /// How long a group-commit writer may wait for a batch to fill (`HERALD_GROUP_COMMIT_WAIT_US`).
    pub group_commit_wait: Duration,
    /// Tests only: commit, then never publish (loopback nodes only).
    pub hang_before_publish: bool,
}

/// What only `serve` refuses (see `Config::check_serving`).
#[derive(Debug, thiserror::Error)]
pub enum ServingRefusal {
    #[error(
        "required when HERALD_BIND ({0}) is not a loopback address, where a development secret would let anyone \
         mint tokens; set JWT_SECRET (e.g. `openssl rand -hex 32`) or bind 127.0.0.1"
    )]
    DevelopmentSecret(SocketAddr),
    #[error(
        "this secret is committed to Herald's repository, for tests on loopback only: anyone could mint \
         tokens for a node on HERALD_BIND ({0}); use a random secret, e.g. `openssl rand -hex 32`"
    )]
    CommittedSecret(SocketAddr),
    #[error("a fault switch for tests, refused on a non-loopback HERALD_BIND ({0})")]
    FaultSwitch(SocketAddr),
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a config from any variable source (tests pass a map; never `set_var`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(&lookup);
        let config = Config {
            bind: r.value(&HERALD_BIND, address("127.0.0.1:8000")),
            database: r.optional(&DATABASE_URL, DatabaseUrl::parse).unwrap_or_else(DatabaseUrl::embedded),
            redis: redis::read(&mut r),
            jwt: jwt::read(&mut r),
            allowed_origins: r.text(&ALLOWED_ORIGINS).map(|raw| values::origins(&raw)).unwrap_or_default(),
            node_id: r.text(&NODE_ID).unwrap_or_else(default_node_id),
            workers: r.optional(&HERALD_WORKERS, positive).unwrap_or_else(cores),
            db_pool_size: r.value(&HERALD_DB_POOL_SIZE, positive),
            db_timeout: r.value(&HERALD_DB_TIMEOUT_MS, positive_millis),
            db_statement_timeout: r.value(&HERALD_DB_STATEMENT_TIMEOUT_MS, positive_millis),
            db_lock_timeout: r.value(&HERALD_DB_LOCK_TIMEOUT_MS, positive_millis),
            db_idle_in_transaction_timeout: r.value(&HERALD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS, positive_millis),
            db_keepalive: r.value(&HERALD_DB_KEEPALIVE_SECS, positive_seconds),
            sqlite_synchronous: r.value(&HERALD_SQLITE_SYNCHRONOUS, SqliteSynchronous::parse),
            migrate_on_start: r.value(&HERALD_MIGRATE_ON_START, switch),
            max_body_bytes: r.value(&HERALD_MAX_BODY_BYTES, positive),
            max_broadcast_body_bytes: r.value(&HERALD_MAX_BROADCAST_BODY_BYTES, positive),
            max_broadcast_recipients: r.value(&HERALD_MAX_BROADCAST_RECIPIENTS, positive),
            max_stored_per_user: r.value(&HERALD_MAX_STORED_PER_USER, values::storage_cap),
            notification_types: r.value(&HERALD_NOTIFICATION_TYPES, TypeCatalog::parse),
            ws_outbox_size: r.value(&HERALD_WS_OUTBOX, positive),
            ws_ping_interval: r.value(&HERALD_WS_PING_INTERVAL_SECS, positive_seconds),
            ws_ping_timeout: r.value(&HERALD_WS_PING_TIMEOUT_SECS, positive_seconds),
            ws_frames_per_second: r.value(&HERALD_WS_FRAMES_PER_SECOND, positive),
            ws_handshakes_per_second: r.value(&HERALD_WS_HANDSHAKES_PER_SECOND, positive),
            redis_republish_bytes: r.value(&HERALD_REDIS_REPUBLISH_BYTES, positive),
            ops_bind: r.optional(&HERALD_OPS_BIND, address("127.0.0.1:9000")),
            shutdown_timeout: r.value(&HERALD_SHUTDOWN_TIMEOUT_SECS, seconds),
            rate_limit_per_second: r.value(&HERALD_RATE_LIMIT_PER_SECOND, positive),
            rate_limit_burst: r.value(&HERALD_RATE_LIMIT_BURST, positive),
            service_rate_limit_per_second: r.value(&HERALD_SERVICE_RATE_LIMIT_PER_SECOND, positive),
            service_rate_limit_burst: r.value(&HERALD_SERVICE_RATE_LIMIT_BURST, positive),
            max_sockets: r.value(&HERALD_MAX_SOCKETS, positive),
            max_sockets_per_user: r.value(&HERALD_MAX_SOCKETS_PER_USER, positive),
            retention: r.optional(&HERALD_RETENTION_DAYS, positive_days),
            position_check_interval: r.value(&HERALD_POSITION_CHECK_MS, positive_millis),
            group_commit_wait: r.value(&HERALD_GROUP_COMMIT_WAIT_US, values::micros_to_a_second),
            hang_before_publish: r.optional(&HERALD_TEST_HANG_BEFORE_PUBLISH, switch).unwrap_or(false),
        };
        check_budgets(&mut r, &config);
        r.finish(config)
    }

    /// True when tokens are verified with a secret this process generated (development only):
    /// then, and only on a loopback `bind`, the node prints a token and mints more at `/dev/token`.
    pub fn uses_development_secret(&self) -> bool {
        self.jwt.uses_secret() && self.jwt.secret_is_generated && is_loopback(self.bind)
    }

    /// What `from_lookup` cannot refuse, because `migrate`, `prune` and `token` read the same
    /// variables (and the image sets `HERALD_BIND=0.0.0.0:8000`) without serving: a node without
    /// `JWT_SECRET` (HS256) would run on a random development secret and mint staff tokens for
    /// anyone who reaches it, so it may serve on a loopback address only; so may a node whose
    /// `JWT_SECRET` is committed to this repository (`keys::COMMITTED_SECRETS`, the tests').
    pub fn check_serving(&self) -> Result<(), ConfigError> {
        if self.jwt.uses_secret() && self.jwt.secret_is_generated && !is_loopback(self.bind) {
            return Err(Problem::new(&JWT_SECRET, ServingRefusal::DevelopmentSecret(self.bind)).into());
        }
        let committed = self.jwt.uses_secret() && keys::is_committed(&self.jwt.secret.0);
        if committed && !is_loopback(self.bind) {
            return Err(Problem::new(&JWT_SECRET, ServingRefusal::CommittedSecret(self.bind)).into());
        }
        if self.hang_before_publish && !is_loopback(self.bind) {
            let refusal = ServingRefusal::FaultSwitch(self.bind);
            return Err(Problem::new(&HERALD_TEST_HANG_BEFORE_PUBLISH, refusal).into());
        }
        Ok(())
    }
}

/// A budget's burst must hold its dearest action, else that action could never be admitted.
fn check_budgets(r: &mut Reader, config: &Config) {
    if config.rate_limit_burst < MIN_RATE_LIMIT_BURST {
        r.refuse(&HERALD_RATE_LIMIT_BURST, BudgetTooSmall::User(MIN_RATE_LIMIT_BURST));
    }
    if (config.service_rate_limit_burst as usize) < config.max_broadcast_recipients {
        let recipients = config.max_broadcast_recipients;
        r.refuse(&HERALD_SERVICE_RATE_LIMIT_BURST, BudgetTooSmall::Service(recipients));
    }
}

/// A burst smaller than the dearest action it must admit.
#[derive(Debug, thiserror::Error)]
enum BudgetTooSmall {
    #[error("must be at least {0}, what a change or a replay costs")]
    User(u32),
    #[error("must be at least HERALD_MAX_BROADCAST_RECIPIENTS ({0}): the largest broadcast must fit")]
    Service(usize),
}

/// 127.0.0.0/8 or ::1, also written as an IPv4-mapped IPv6 address.
fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// `<hostname>-<pid>`: unique per container (where the pid is always 1) and per process.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let host = if host.is_empty() { "herald".to_owned() } else { host };
    format!("{host}-{}", std::process::id())
}

/// One HTTP worker per CPU core.
fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[cfg(test)]
mod tests;
