//! `Config`: every setting of a node, read from environment variables only (12-factor).
//! `ENV_VARS` is the one table of variables, defaults and meanings: README and
//! `deploy/herald.env.example` are checked against it. Parsing reports every bad variable at once.
//! Config is a plain value (never a global), so one process can run several nodes in tests.
//! Secrets are checked here too: a short or publicly documented `JWT_SECRET`, a public key that
//! does not parse or is too short, and (`check_serving`) a development secret beyond loopback.

use jsonwebtoken::DecodingKey;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One environment variable the node reads.
pub struct EnvVar {
    pub name: &'static str,
    /// Shown in docs; empty when unset by default.
    pub default: &'static str,
    pub doc: &'static str,
}

pub const ENV_VARS: &[EnvVar] = &[
    EnvVar { name: "HERALD_BIND", default: "127.0.0.1:8000", doc: "Address and port to listen on (`0.0.0.0:8000` in containers; port 0 picks a free port)." },
    EnvVar { name: "DATABASE_URL", default: "", doc: "`postgres://user:pass@host/db` for PostgreSQL; `sqlite://path` or unset for the embedded SQLite file `herald.db`." },
    EnvVar { name: "REDIS_URL", default: "", doc: "`redis://host:6379/0`: Redis pub/sub fan-out, required for more than one node. Unset (and no `REDIS_CLUSTER_URLS`): the in-process broker (single node)." },
    EnvVar { name: "REDIS_CLUSTER_URLS", default: "", doc: "Seed nodes of a Redis Cluster (7.0 or later), comma-separated, e.g. `redis://h1:7000,redis://h2:7000`: sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`) instead of `REDIS_URL`'s classic pub/sub; the rest of the cluster is discovered from them. Set one of the two, not both." },
    EnvVar { name: "JWT_SECRET", default: "", doc: "HS256 secret shared with the token issuer: at least 32 bytes, e.g. `openssl rand -hex 32`; placeholders from this repository are refused. Unset: only on a loopback `HERALD_BIND`, a random development secret is generated and a development token printed." },
    EnvVar { name: "JWT_ALGORITHM", default: "HS256", doc: "The only accepted token algorithm: `HS256`, `RS256` or `ES256`." },
    EnvVar { name: "JWT_PUBLIC_KEY_FILE", default: "", doc: "PEM public key file, required for `RS256`/`ES256`." },
    EnvVar { name: "JWT_ISSUER", default: "", doc: "When set, tokens must carry this `iss`." },
    EnvVar { name: "JWT_AUDIENCE", default: "", doc: "When set, tokens must carry this `aud`." },
    EnvVar { name: "JWT_LEEWAY_SECONDS", default: "30", doc: "Clock-skew leeway for `exp` and `nbf`." },
    EnvVar { name: "ALLOWED_ORIGINS", default: "", doc: "Comma-separated browser origins allowed to open WebSockets (others get 403; clients sending no `Origin` are not browsers and are not checked); unset allows any." },
    EnvVar { name: "NODE_ID", default: "", doc: "Name of this node in logs and metrics; unset: `<hostname>-<pid>`." },
    EnvVar { name: "RUST_LOG", default: "info,redis=error", doc: "Log filter (env_logger syntax), e.g. `herald=debug,actix_web=info`. The default keeps the redis crate's per-attempt reconnect lines out (Herald logs outages itself)." },
    EnvVar { name: "HERALD_WORKERS", default: "", doc: "HTTP worker threads; unset: one per CPU core." },
    EnvVar { name: "HERALD_DB_POOL_SIZE", default: "16", doc: "Maximum pooled database connections of this node; the group-commit writer holds one more of its own." },
    EnvVar { name: "HERALD_DB_TIMEOUT_MS", default: "3000", doc: "Longest wait for a database connection before answering 503 `unavailable`." },
    EnvVar { name: "HERALD_DB_STATEMENT_TIMEOUT_MS", default: "5000", doc: "PostgreSQL `statement_timeout` of every connection: a statement running longer is cancelled (503 `unavailable`). A request waits at most this plus `HERALD_DB_TIMEOUT_MS` plus 1 s for the database, then answers 503." },
    EnvVar { name: "HERALD_DB_LOCK_TIMEOUT_MS", default: "3000", doc: "PostgreSQL `lock_timeout` of every connection: the longest a statement waits for a row lock." },
    EnvVar { name: "HERALD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default: "10000", doc: "PostgreSQL `idle_in_transaction_session_timeout`: a connection idle inside a transaction this long is closed by the server." },
    EnvVar { name: "HERALD_DB_KEEPALIVE_SECS", default: "10", doc: "TCP keepalive idle time of PostgreSQL connections (probes every 5 s after it, 3 lost probes close the connection), so a vanished server is noticed." },
    EnvVar { name: "HERALD_MIGRATE_ON_START", default: "true", doc: "Run pending migrations when `serve` starts (serialized across nodes on PostgreSQL)." },
    EnvVar { name: "HERALD_MAX_BODY_BYTES", default: "65536", doc: "Largest accepted REST request body (413 above)." },
    EnvVar { name: "HERALD_MAX_BROADCAST_BODY_BYTES", default: "1048576", doc: "Largest accepted broadcast request body (413 above)." },
    EnvVar { name: "HERALD_MAX_BROADCAST_RECIPIENTS", default: "10000", doc: "Most `user_ids` one broadcast may name." },
    EnvVar { name: "HERALD_WS_OUTBOX", default: "256", doc: "Pushes queued per socket; a client that falls this far behind is closed with 1013 and resumes with `since`." },
    EnvVar { name: "HERALD_WS_PING_INTERVAL_SECS", default: "20", doc: "How often the server pings each socket." },
    EnvVar { name: "HERALD_WS_PING_TIMEOUT_SECS", default: "60", doc: "A socket silent this long (no frame, no pong) is closed; also the longest a push may wait for a client that does not read." },
    EnvVar { name: "HERALD_WS_HANDSHAKES_PER_SECOND", default: "2000", doc: "WebSocket handshakes this node accepts per second (bursts of the same size); more get 503 `unavailable` with `Retry-After`. Each user's handshakes also count against their REST rate limit." },
    EnvVar { name: "HERALD_WS_FRAMES_PER_SECOND", default: "20", doc: "Client frames per second per socket; excess frames get a `rate_limited` error, a flood is closed with 1008." },
    EnvVar { name: "HERALD_RATE_LIMIT_PER_SECOND", default: "20", doc: "REST requests per second per end user (service tokens with `is_staff` or `notifications:send` are not limited); 429 `rate_limited` with `Retry-After` above. With Redis configured it holds across all nodes; without Redis, or while Redis does not answer, per node." },
    EnvVar { name: "HERALD_RATE_LIMIT_BURST", default: "50", doc: "Requests an end user may send at once before the per-second rate applies." },
    EnvVar { name: "HERALD_MAX_SOCKETS", default: "20000", doc: "Open WebSockets per node; more are refused with 503 `unavailable` (clients try another node)." },
    EnvVar { name: "HERALD_MAX_SOCKETS_PER_USER", default: "20", doc: "Open WebSockets per user; more are refused with 429 `rate_limited`. With Redis configured it holds across all nodes (a crashed node's sockets stop counting within 30 s); without Redis, or while Redis does not answer, per node." },
    EnvVar { name: "HERALD_RETENTION_DAYS", default: "", doc: "When set, every node deletes notifications older than this many days, hourly, in batches of 1000. Unset: keep everything (or run `herald prune`)." },
    EnvVar { name: "HERALD_REDIS_REPUBLISH_BYTES", default: "67108864", doc: "Bytes of events kept for republishing while Redis refuses publishes; past it the queue is dropped and every node resyncs its sockets from the database once Redis is back." },
    EnvVar { name: "HERALD_GROUP_COMMIT_WAIT_US", default: "2000", doc: "Creates arriving faster than one per this (measured, per node) are stored in batches: the writer waits up to this many microseconds after the first create of a batch for others to join it (fewer statements, commits and publishes: less CPU per create). Slower traffic is written at once. 0 never waits." },
    EnvVar { name: "HERALD_POSITION_CHECK_MS", default: "1000", doc: "How often each node compares the stream position of every user it holds sockets for with the database (one batched statement) and repairs sockets whose change never arrived (its publish lost to a node or Redis failure): a committed change reaches every open socket within this, plus 250 ms, plus a repair." },
    EnvVar { name: "HERALD_OPS_BIND", default: "", doc: "When set (e.g. `127.0.0.1:9000`), `/metrics` and `/readyz` are served on this separate listener only, not on `HERALD_BIND`." },
    EnvVar { name: "HERALD_SHUTDOWN_TIMEOUT_SECS", default: "10", doc: "On SIGTERM/SIGINT: sockets close with 1001 at once; in-flight requests get this long to finish." },
];

/// The shortest accepted HS256 secret: the size of the hash, as RFC 7518 §3.2 requires.
pub const MIN_SECRET_BYTES: usize = 32;

/// Every `JWT_SECRET` value this repository documents or has documented as an example. They
/// are public, so anyone could mint `is_staff` tokens for a node using one: such a node refuses
/// to start. Add any new example here.
pub const PLACEHOLDER_SECRETS: &[&str] = &["change-me-to-a-long-random-secret"];

/// Where notifications are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(raw.to_owned()))
        } else if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://herald.db".to_owned());
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else {
            Err("expected postgres://… or sqlite://path".to_owned())
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    /// Never prints a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    write!(f, "{parsed}")
                }
                Err(_) => write!(f, "postgres://***"),
            },
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Rs256,
    Es256,
}

/// How tokens are verified.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub algorithm: JwtAlgorithm,
    /// HS256 secret. `None` with HS256 means a random development secret was generated:
    /// see `Config::dev_secret`.
    pub secret: Secret,
    /// True when `secret` was generated at start because `JWT_SECRET` was unset.
    pub secret_is_generated: bool,
    pub public_key_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: Duration,
}

/// The documented default of a variable (`""` for one that is unset by default).
pub fn default_of(name: &str) -> &'static str {
    ENV_VARS.iter().find(|v| v.name == name).map(|v| v.default).unwrap_or("")
}

/// Where the Redis fan-out runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis (`REDIS_URL`): classic pub/sub.
    Standalone(String),
    /// A Redis Cluster named by its seed nodes (`REDIS_CLUSTER_URLS`): sharded pub/sub.
    Cluster(Vec<String>),
}

/// A `redis://` or `rediss://` URL, as given.
fn parse_redis_url(raw: &str) -> Result<String, String> {
    if raw.starts_with("redis://") || raw.starts_with("rediss://") {
        Ok(raw.to_owned())
    } else {
        Err(format!("expected redis://host:port, got {raw:?}"))
    }
}

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
    pub migrate_on_start: bool,
    pub max_body_bytes: usize,
    pub max_broadcast_body_bytes: usize,
    pub max_broadcast_recipients: usize,
    pub ws_outbox_size: usize,
    pub ws_ping_interval: Duration,
    pub ws_ping_timeout: Duration,
    pub ws_frames_per_second: u32,
    pub ws_handshakes_per_second: u32,
    pub redis_republish_bytes: usize,
    /// Separate listener for `/metrics` and `/readyz`; `None`: they are on `bind`.
    pub ops_bind: Option<SocketAddr>,
    pub shutdown_timeout: Duration,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
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

/// Tests only: when true, a node commits every change and never publishes it, as a node that
/// dies between the two (refused unless `HERALD_BIND` is loopback).
pub const HANG_BEFORE_PUBLISH: &str = "HERALD_TEST_HANG_BEFORE_PUBLISH";

/// Every bad variable found, reported together.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    /// One problem on one line; several as a count, then one line each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [only] => write!(f, "invalid configuration: {only}"),
            problems => {
                write!(f, "invalid configuration ({} problems):", problems.len())?;
                problems.iter().try_for_each(|problem| write!(f, "\n  - {problem}"))
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a config from any variable source (tests pass a map; never `set_var`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut reader = Reader { lookup: &lookup, problems: Vec::new() };

        let bind = reader.parse("HERALD_BIND", |raw| {
            raw.parse::<SocketAddr>().map_err(|_| "expected host:port, e.g. 127.0.0.1:8000".to_owned())
        });
        let database = match reader.get("DATABASE_URL") {
            None => Some(DatabaseUrl::Sqlite(PathBuf::from("herald.db"))),
            Some(raw) => reader.check("DATABASE_URL", DatabaseUrl::parse(&raw)),
        };
        let redis_url = reader.get("REDIS_URL").and_then(|raw| reader.check("REDIS_URL", parse_redis_url(&raw)));
        let redis_cluster = reader.get("REDIS_CLUSTER_URLS").and_then(|raw| {
            let seeds: Result<Vec<String>, String> =
                raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_redis_url).collect();
            let seeds = seeds.and_then(|seeds| {
                if seeds.is_empty() {
                    Err("expected redis://host:port[,redis://host:port...]".to_owned())
                } else {
                    Ok(seeds)
                }
            });
            reader.check("REDIS_CLUSTER_URLS", seeds)
        });
        let redis = match (redis_url, redis_cluster) {
            (Some(_), Some(_)) => reader.check(
                "REDIS_CLUSTER_URLS",
                Err("set either REDIS_URL (one Redis) or REDIS_CLUSTER_URLS (a Redis Cluster), not both".to_owned()),
            ),
            (Some(url), None) => Some(RedisTarget::Standalone(url)),
            (None, Some(seeds)) => Some(RedisTarget::Cluster(seeds)),
            (None, None) => None,
        };
        let algorithm = reader.parse("JWT_ALGORITHM", |raw| match raw.to_ascii_uppercase().as_str() {
            "HS256" => Ok(JwtAlgorithm::Hs256),
            "RS256" => Ok(JwtAlgorithm::Rs256),
            "ES256" => Ok(JwtAlgorithm::Es256),
            _ => Err("expected HS256, RS256 or ES256".to_owned()),
        });
        let public_key_file = reader.get("JWT_PUBLIC_KEY_FILE").map(PathBuf::from);
        match (algorithm, &public_key_file) {
            (Some(asymmetric @ (JwtAlgorithm::Rs256 | JwtAlgorithm::Es256)), Some(path)) => {
                reader.check("JWT_PUBLIC_KEY_FILE", check_public_key(asymmetric, path));
            }
            (Some(JwtAlgorithm::Rs256 | JwtAlgorithm::Es256), None) => {
                reader.problems.push("JWT_PUBLIC_KEY_FILE: required when JWT_ALGORITHM is RS256 or ES256".to_owned());
            }
            (_, Some(path)) if !path.is_file() => {
                reader.problems.push(format!("JWT_PUBLIC_KEY_FILE: no readable file at {}", path.display()));
            }
            _ => {}
        }
        let configured_secret = reader.get("JWT_SECRET");
        // HS256 verifies with the secret (checked too when JWT_ALGORITHM is bad: every problem at once).
        let uses_public_key = matches!(algorithm, Some(JwtAlgorithm::Rs256 | JwtAlgorithm::Es256));
        if let Some(secret) = configured_secret.as_deref().filter(|_| !uses_public_key) {
            reader.check("JWT_SECRET", check_secret(secret));
        }
        let leeway = reader.parse("JWT_LEEWAY_SECONDS", parse_u64).map(Duration::from_secs);
        let allowed_origins = reader
            .get("ALLOWED_ORIGINS")
            .map(|raw| {
                raw.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect()
            })
            .unwrap_or_default();
        let node_id = reader.get("NODE_ID").unwrap_or_else(default_node_id);
        let workers = match reader.get("HERALD_WORKERS") {
            None => Some(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
            Some(raw) => reader.check("HERALD_WORKERS", positive(&raw).map(|n| n as usize)),
        };
        let db_pool_size = reader.parse("HERALD_DB_POOL_SIZE", |raw| {
            positive(raw).and_then(|n| u32::try_from(n).map_err(|_| "too large".to_owned()))
        });
        let db_timeout = reader.parse("HERALD_DB_TIMEOUT_MS", positive).map(Duration::from_millis);
        let db_statement_timeout = reader.parse("HERALD_DB_STATEMENT_TIMEOUT_MS", positive).map(Duration::from_millis);
        let db_lock_timeout = reader.parse("HERALD_DB_LOCK_TIMEOUT_MS", positive).map(Duration::from_millis);
        let db_idle_in_transaction_timeout =
            reader.parse("HERALD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", positive).map(Duration::from_millis);
        let db_keepalive = reader.parse("HERALD_DB_KEEPALIVE_SECS", positive).map(Duration::from_secs);
        let migrate_on_start = reader.parse("HERALD_MIGRATE_ON_START", parse_bool);
        let max_body_bytes = reader.parse("HERALD_MAX_BODY_BYTES", |raw| positive(raw).map(|n| n as usize));
        let max_broadcast_body_bytes =
            reader.parse("HERALD_MAX_BROADCAST_BODY_BYTES", |raw| positive(raw).map(|n| n as usize));
        let max_broadcast_recipients =
            reader.parse("HERALD_MAX_BROADCAST_RECIPIENTS", |raw| positive(raw).map(|n| n as usize));

        let ws_outbox_size = reader.parse("HERALD_WS_OUTBOX", |raw| positive(raw).map(|n| n as usize));
        let ws_ping_interval = reader.parse("HERALD_WS_PING_INTERVAL_SECS", positive).map(Duration::from_secs);
        let ws_ping_timeout = reader.parse("HERALD_WS_PING_TIMEOUT_SECS", positive).map(Duration::from_secs);
        let ws_frames_per_second = reader.parse("HERALD_WS_FRAMES_PER_SECOND", |raw| {
            positive(raw).and_then(|n| u32::try_from(n).map_err(|_| "too large".to_owned()))
        });
        let ws_handshakes_per_second = reader.parse("HERALD_WS_HANDSHAKES_PER_SECOND", |raw| {
            positive(raw).and_then(|n| u32::try_from(n).map_err(|_| "too large".to_owned()))
        });
        let redis_republish_bytes =
            reader.parse("HERALD_REDIS_REPUBLISH_BYTES", |raw| positive(raw).map(|n| n as usize));
        let ops_bind = reader.get("HERALD_OPS_BIND").and_then(|raw| {
            let parsed = raw.parse::<SocketAddr>().map_err(|_| "expected host:port, e.g. 127.0.0.1:9000".to_owned());
            reader.check("HERALD_OPS_BIND", parsed)
        });
        let shutdown_timeout = reader.parse("HERALD_SHUTDOWN_TIMEOUT_SECS", parse_u64).map(Duration::from_secs);
        let as_u32 = |raw: &str| positive(raw).and_then(|n| u32::try_from(n).map_err(|_| "too large".to_owned()));
        let rate_limit_per_second = reader.parse("HERALD_RATE_LIMIT_PER_SECOND", as_u32);
        let rate_limit_burst = reader.parse("HERALD_RATE_LIMIT_BURST", as_u32);
        let max_sockets = reader.parse("HERALD_MAX_SOCKETS", |raw| positive(raw).map(|n| n as usize));
        let max_sockets_per_user = reader.parse("HERALD_MAX_SOCKETS_PER_USER", |raw| positive(raw).map(|n| n as usize));
        let retention = match reader.get("HERALD_RETENTION_DAYS") {
            None => None,
            Some(raw) => {
                reader.check("HERALD_RETENTION_DAYS", positive(&raw)).map(|days| Duration::from_secs(days * 86_400))
            }
        };
        let position_check_interval = reader.parse("HERALD_POSITION_CHECK_MS", positive).map(Duration::from_millis);
        let group_commit_wait = reader.parse("HERALD_GROUP_COMMIT_WAIT_US", |raw| {
            parse_u64(raw).and_then(|us| if us <= 1_000_000 { Ok(us) } else { Err("at most 1000000 (1 s)".to_owned()) })
        });
        // A fault switch for tests, deliberately not in ENV_VARS (not an operator's setting).
        let hang_before_publish = match reader.get(HANG_BEFORE_PUBLISH) {
            None => Some(false),
            Some(raw) => reader.check(HANG_BEFORE_PUBLISH, parse_bool(&raw)),
        };
        let issuer = reader.get("JWT_ISSUER");
        let audience = reader.get("JWT_AUDIENCE");
        if !reader.problems.is_empty() {
            return Err(ConfigError(reader.problems));
        }
        let missing = |what: &str| ConfigError(vec![format!("internal: {what} has no value")]);
        let (secret, secret_is_generated) = match configured_secret {
            Some(secret) => (Secret(secret), false),
            None => (Secret(random_secret()), true),
        };
        Ok(Config {
            bind: bind.ok_or_else(|| missing("HERALD_BIND"))?,
            database: database.ok_or_else(|| missing("DATABASE_URL"))?,
            redis,
            jwt: JwtConfig {
                algorithm: algorithm.ok_or_else(|| missing("JWT_ALGORITHM"))?,
                secret,
                secret_is_generated,
                public_key_file,
                issuer,
                audience,
                leeway: leeway.ok_or_else(|| missing("JWT_LEEWAY_SECONDS"))?,
            },
            allowed_origins,
            node_id,
            workers: workers.ok_or_else(|| missing("HERALD_WORKERS"))?,
            db_pool_size: db_pool_size.ok_or_else(|| missing("HERALD_DB_POOL_SIZE"))?,
            db_timeout: db_timeout.ok_or_else(|| missing("HERALD_DB_TIMEOUT_MS"))?,
            db_statement_timeout: db_statement_timeout.ok_or_else(|| missing("HERALD_DB_STATEMENT_TIMEOUT_MS"))?,
            db_lock_timeout: db_lock_timeout.ok_or_else(|| missing("HERALD_DB_LOCK_TIMEOUT_MS"))?,
            db_idle_in_transaction_timeout: db_idle_in_transaction_timeout
                .ok_or_else(|| missing("HERALD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS"))?,
            db_keepalive: db_keepalive.ok_or_else(|| missing("HERALD_DB_KEEPALIVE_SECS"))?,
            migrate_on_start: migrate_on_start.ok_or_else(|| missing("HERALD_MIGRATE_ON_START"))?,
            max_body_bytes: max_body_bytes.ok_or_else(|| missing("HERALD_MAX_BODY_BYTES"))?,
            max_broadcast_body_bytes: max_broadcast_body_bytes
                .ok_or_else(|| missing("HERALD_MAX_BROADCAST_BODY_BYTES"))?,
            max_broadcast_recipients: max_broadcast_recipients
                .ok_or_else(|| missing("HERALD_MAX_BROADCAST_RECIPIENTS"))?,
            ws_outbox_size: ws_outbox_size.ok_or_else(|| missing("HERALD_WS_OUTBOX"))?,
            ws_ping_interval: ws_ping_interval.ok_or_else(|| missing("HERALD_WS_PING_INTERVAL_SECS"))?,
            ws_ping_timeout: ws_ping_timeout.ok_or_else(|| missing("HERALD_WS_PING_TIMEOUT_SECS"))?,
            ws_frames_per_second: ws_frames_per_second.ok_or_else(|| missing("HERALD_WS_FRAMES_PER_SECOND"))?,
            ws_handshakes_per_second: ws_handshakes_per_second
                .ok_or_else(|| missing("HERALD_WS_HANDSHAKES_PER_SECOND"))?,
            redis_republish_bytes: redis_republish_bytes.ok_or_else(|| missing("HERALD_REDIS_REPUBLISH_BYTES"))?,
            ops_bind,
            shutdown_timeout: shutdown_timeout.ok_or_else(|| missing("HERALD_SHUTDOWN_TIMEOUT_SECS"))?,
            rate_limit_per_second: rate_limit_per_second.ok_or_else(|| missing("HERALD_RATE_LIMIT_PER_SECOND"))?,
            rate_limit_burst: rate_limit_burst.ok_or_else(|| missing("HERALD_RATE_LIMIT_BURST"))?,
            max_sockets: max_sockets.ok_or_else(|| missing("HERALD_MAX_SOCKETS"))?,
            max_sockets_per_user: max_sockets_per_user.ok_or_else(|| missing("HERALD_MAX_SOCKETS_PER_USER"))?,
            retention,
            position_check_interval: position_check_interval.ok_or_else(|| missing("HERALD_POSITION_CHECK_MS"))?,
            group_commit_wait: Duration::from_micros(
                group_commit_wait.ok_or_else(|| missing("HERALD_GROUP_COMMIT_WAIT_US"))?,
            ),
            hang_before_publish: hang_before_publish.ok_or_else(|| missing(HANG_BEFORE_PUBLISH))?,
        })
    }

    /// True when tokens are verified with a secret this process generated (development only):
    /// then, and only on a loopback `bind`, the node prints a token and mints more at `/dev/token`.
    pub fn uses_development_secret(&self) -> bool {
        self.jwt.algorithm == JwtAlgorithm::Hs256 && self.jwt.secret_is_generated && is_loopback(self.bind)
    }

    /// What `from_lookup` cannot refuse, because `migrate`, `prune` and `token` read the same
    /// variables (and the image sets `HERALD_BIND=0.0.0.0:8000`) without serving: a node without
    /// `JWT_SECRET` (HS256) would run on a random development secret and mint staff tokens for
    /// anyone who reaches it, so it may serve on a loopback address only.
    pub fn check_serving(&self) -> Result<(), ConfigError> {
        if self.jwt.algorithm == JwtAlgorithm::Hs256 && self.jwt.secret_is_generated && !is_loopback(self.bind) {
            return Err(ConfigError(vec![format!(
                "JWT_SECRET: required when HERALD_BIND ({}) is not a loopback address, where a development \
                 secret would let anyone mint tokens; set JWT_SECRET (e.g. `openssl rand -hex 32`) or bind 127.0.0.1",
                self.bind
            )]));
        }
        if self.hang_before_publish && !is_loopback(self.bind) {
            return Err(ConfigError(vec![format!(
                "HERALD_TEST_HANG_BEFORE_PUBLISH: a fault switch for tests, refused on a non-loopback HERALD_BIND ({})",
                self.bind
            )]));
        }
        Ok(())
    }
}

/// 127.0.0.0/8 or ::1, also written as an IPv4-mapped IPv6 address.
fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Refuses an HS256 secret that anyone could guess: a documented placeholder, or fewer than
/// `MIN_SECRET_BYTES` bytes. The message never repeats the secret.
fn check_secret(secret: &str) -> Result<(), String> {
    if PLACEHOLDER_SECRETS.iter().any(|placeholder| secret.eq_ignore_ascii_case(placeholder)) {
        return Err(format!(
            "this is a placeholder published in Herald's repository, so anyone can sign tokens with it; \
             use a random secret of at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`"
        ));
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{} bytes is too short for HS256: use a random secret of at least {MIN_SECRET_BYTES} bytes, \
             e.g. `openssl rand -hex 32`",
            secret.len()
        ));
    }
    Ok(())
}

/// The smallest RSA modulus accepted for RS256 (NIST SP 800-131A: shorter keys are disallowed).
pub const MIN_RSA_KEY_BITS: usize = 2048;

/// The verifying key in a PEM public key file: for RS256 an RSA key (`PUBLIC KEY` or
/// `RSA PUBLIC KEY`) of at least `MIN_RSA_KEY_BITS`, for ES256 a P-256 `PUBLIC KEY`. Anything
/// else (a private key, another curve, a short key, not PEM) is refused with the reason.
pub fn public_key(algorithm: JwtAlgorithm, pem: &[u8]) -> Result<DecodingKey, String> {
    let text = std::str::from_utf8(pem).ok().filter(|text| text.contains("-----BEGIN ")).ok_or("not a PEM file")?;
    match algorithm {
        JwtAlgorithm::Hs256 => Err("HS256 uses JWT_SECRET, not a public key".to_owned()),
        JwtAlgorithm::Rs256 => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::pkcs8::DecodePublicKey;
            use rsa::traits::PublicKeyParts;
            let key = if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
                rsa::RsaPublicKey::from_pkcs1_pem(text).map_err(|e| e.to_string())
            } else {
                rsa::RsaPublicKey::from_public_key_pem(text).map_err(|e| e.to_string())
            }
            .map_err(|e| format!("not an RSA public key (`PUBLIC KEY` or `RSA PUBLIC KEY`, at most 4096 bits): {e}"))?;
            let bits = key.n().bits();
            if bits < MIN_RSA_KEY_BITS {
                return Err(format!("the RSA key has {bits} bits: at least {MIN_RSA_KEY_BITS} are needed"));
            }
            Ok(DecodingKey::from_rsa_raw_components(&key.n().to_bytes_be(), &key.e().to_bytes_be()))
        }
        JwtAlgorithm::Es256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::DecodePublicKey;
            let key = p256::PublicKey::from_public_key_pem(text)
                .map_err(|e| format!("not a P-256 `PUBLIC KEY`, which ES256 needs: {e}"))?;
            Ok(DecodingKey::from_ec_der(key.to_encoded_point(false).as_bytes()))
        }
    }
}

/// Reads and parses the public key file, so a bad key stops the process at start.
fn check_public_key(algorithm: JwtAlgorithm, path: &std::path::Path) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    public_key(algorithm, &pem).map(drop).map_err(|why| format!("{}: {why}", path.display()))
}

struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    /// The raw value; empty strings count as unset.
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// Parses the variable or its documented default, recording a problem on failure.
    fn parse<T>(&mut self, name: &'static str, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.get(name).unwrap_or_else(|| default_of(name).to_owned());
        let result = parse(&raw).map_err(|why| format!("{why} (got {raw:?})"));
        self.check(name, result)
    }

    fn check<T>(&mut self, name: &'static str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(why) => {
                self.problems.push(format!("{name}: {why}"));
                None
            }
        }
    }
}

/// `<hostname>-<pid>`: unique per container (where the pid is always 1) and per process.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let host = if host.is_empty() { "herald".to_owned() } else { host };
    format!("{host}-{}", std::process::id())
}

fn parse_u64(raw: &str) -> Result<u64, String> {
    raw.parse::<u64>().map_err(|_| "expected a non-negative integer".to_owned())
}

fn positive(raw: &str) -> Result<u64, String> {
    match parse_u64(raw)? {
        0 => Err("must be greater than 0".to_owned()),
        n => Ok(n),
    }
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

fn random_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const P384_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAERgTwlvjQzfN3OrI2A4GYb3oeKO2BegP1
TZU6ASjT805SD/1hNk3uEQDaSmRtADnVcfvq20iJ+39xVqn6AJm43ypfv3QI1SAh
usBKTYI4Pqb1qsYpkwjeb24Ev3m4FY3E
-----END PUBLIC KEY-----
";
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn redis_is_one_server_or_a_cluster_named_by_its_seeds_never_both() {
        let one = config(&[("REDIS_URL", "redis://r:6379/0")]).expect("valid");
        assert_eq!(one.redis, Some(RedisTarget::Standalone("redis://r:6379/0".into())));
        let cluster = config(&[("REDIS_CLUSTER_URLS", "redis://a:7000, redis://b:7000,")]).expect("valid");
        assert_eq!(cluster.redis, Some(RedisTarget::Cluster(vec!["redis://a:7000".into(), "redis://b:7000".into()])));
        let both = config(&[("REDIS_URL", "redis://r:6379"), ("REDIS_CLUSTER_URLS", "redis://a:7000")]);
        assert!(both.expect_err("refused").to_string().contains("not both"));
        for bad in [" , ", "a:7000", "redis://a:7000,http://b"] {
            let refused = config(&[("REDIS_CLUSTER_URLS", bad)]).expect_err(bad).to_string();
            assert!(refused.contains("REDIS_CLUSTER_URLS"), "{bad}: {refused}");
        }
    }

    #[test]
    fn nothing_set_gives_a_working_single_node() {
        let cfg = config(&[]).expect("defaults are valid");
        assert_eq!(cfg.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(cfg.database, DatabaseUrl::Sqlite(PathBuf::from("herald.db")));
        assert!(cfg.redis.is_none());
        assert!(cfg.uses_development_secret());
        assert_eq!(cfg.jwt.leeway, Duration::from_secs(30));
        assert_eq!(cfg.max_body_bytes, 64 * 1024);
        assert_eq!(cfg.max_broadcast_body_bytes, 1024 * 1024);
    }

    #[test]
    fn every_bad_variable_is_reported_at_once() {
        let err = config(&[
            ("HERALD_BIND", "nope"),
            ("DATABASE_URL", "mysql://x"),
            ("JWT_ALGORITHM", "HS512"),
            ("HERALD_DB_POOL_SIZE", "0"),
            ("HERALD_MIGRATE_ON_START", "maybe"),
        ])
        .expect_err("all invalid");
        let text = err.to_string();
        for name in ["HERALD_BIND", "DATABASE_URL", "JWT_ALGORITHM", "HERALD_DB_POOL_SIZE", "HERALD_MIGRATE_ON_START"] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        assert_eq!(err.0.len(), 5);
    }

    #[test]
    fn asymmetric_algorithms_need_a_key_file() {
        let err = config(&[("JWT_ALGORITHM", "RS256")]).expect_err("no key file");
        assert!(err.to_string().contains("JWT_PUBLIC_KEY_FILE"));
    }

    #[test]
    fn database_urls_pick_the_backend_and_debug_hides_passwords() {
        let pg = config(&[("DATABASE_URL", "postgres://u:hunter2@localhost/db")]).expect("valid");
        assert!(matches!(pg.database, DatabaseUrl::Postgres(_)));
        assert!(!format!("{:?}", pg).contains("hunter2"));
        let lite = config(&[("DATABASE_URL", "sqlite:///tmp/x.db")]).expect("valid");
        assert_eq!(lite.database, DatabaseUrl::Sqlite(PathBuf::from("/tmp/x.db")));
        let secret = config(&[("JWT_SECRET", "0123456789abcdef-secret-0123456789abcdef")]).expect("valid");
        assert!(!format!("{:?}", secret).contains("0123456789abcdef"));
        assert!(!secret.uses_development_secret());
    }

    #[test]
    fn a_short_or_placeholder_secret_is_refused_without_repeating_it() {
        let shortest = "s".repeat(MIN_SECRET_BYTES);
        assert!(!config(&[("JWT_SECRET", &shortest)]).expect("32 bytes is enough").uses_development_secret());
        let short = "s".repeat(MIN_SECRET_BYTES - 1);
        let shouted = PLACEHOLDER_SECRETS[0].to_ascii_uppercase();
        let refused = [short.as_str(), "bench-secret-0123456789abcdef", &shouted]
            .into_iter()
            .chain(PLACEHOLDER_SECRETS.iter().copied());
        for secret in refused {
            let err = config(&[("JWT_SECRET", secret)]).expect_err(secret);
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(err.0[0].starts_with("JWT_SECRET: "), "{err}");
            assert!(!err.to_string().contains(secret), "the message repeats the secret: {err}");
        }
        let err = config(&[("JWT_SECRET", &short)]).expect_err("31 bytes");
        assert!(err.to_string().contains("31 bytes"), "{err}");
    }

    #[test]
    fn one_problem_is_one_line_and_several_are_all_reported() {
        let one = config(&[("JWT_SECRET", "short")]).expect_err("short secret");
        assert_eq!(one.to_string().lines().count(), 1, "{one}");
        assert!(one.to_string().starts_with("invalid configuration: JWT_SECRET: "), "{one}");

        let several = config(&[("JWT_SECRET", "short"), ("JWT_ALGORITHM", "HS512"), ("HERALD_BIND", "nope")])
            .expect_err("three problems");
        assert_eq!(several.0.len(), 3, "{several}");
        assert_eq!(several.to_string().lines().count(), 4, "a count, then one line each: {several}");

        let key = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(key.path(), "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
            .expect("write");
        let key_path = key.path().to_string_lossy().into_owned();
        let bad_key =
            config(&[("JWT_ALGORITHM", "RS256"), ("JWT_PUBLIC_KEY_FILE", &key_path), ("HERALD_BIND", "nope")])
                .expect_err("a key that does not parse");
        let text = bad_key.to_string();
        assert!(text.contains("JWT_PUBLIC_KEY_FILE: ") && text.contains("HERALD_BIND"), "{text}");
    }

    #[test]
    fn a_public_key_algorithm_ignores_the_secret_but_not_its_key() {
        let key = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(key.path(), P384_PUBLIC_PEM).expect("write");
        let key_path = key.path().to_string_lossy().into_owned();
        let err = config(&[("JWT_ALGORITHM", "ES256"), ("JWT_PUBLIC_KEY_FILE", &key_path), ("JWT_SECRET", "short")])
            .expect_err("a P-384 key for ES256");
        assert_eq!(err.0.len(), 1, "the unused secret is not a problem: {err}");
        assert!(err.0[0].starts_with("JWT_PUBLIC_KEY_FILE: ") && err.0[0].contains("P-256"), "{err}");
    }

    #[test]
    fn a_development_secret_serves_on_loopback_only() {
        for bind in ["127.0.0.1:0", "127.0.0.2:8000", "[::1]:8000", "[::ffff:127.0.0.1]:8000"] {
            let cfg = config(&[("HERALD_BIND", bind)]).expect("valid");
            assert!(cfg.uses_development_secret(), "{bind}");
            cfg.check_serving().unwrap_or_else(|err| panic!("{bind}: {err}"));
        }
        for bind in ["0.0.0.0:8000", "[::]:8000", "10.0.0.5:8000"] {
            let cfg = config(&[("HERALD_BIND", bind)]).expect("other commands (migrate, prune) may run");
            assert!(!cfg.uses_development_secret(), "no token mint on {bind}");
            let err = cfg.check_serving().expect_err(bind);
            assert_eq!(err.to_string().lines().count(), 1, "{err}");
            assert!(err.to_string().contains("JWT_SECRET") && err.to_string().contains(bind), "{err}");
            let secret = "0123456789abcdef-secret-0123456789abcdef";
            let cfg = config(&[("HERALD_BIND", bind), ("JWT_SECRET", secret)]).expect("valid");
            cfg.check_serving().unwrap_or_else(|err| panic!("{bind} with a secret: {err}"));
        }
    }
}
