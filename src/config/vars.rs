//! The one table of environment variables a node reads: name, default and meaning, each
//! written once. `ENV_VARS` orders them for README, `deploy/herald.env.example` and
//! `herald serve --help`; the reader (`super::Config::from_lookup`) names each row by its constant.

/// One environment variable the node reads.
#[derive(Debug)]
pub struct EnvVar {
    pub name: &'static str,
    /// Shown in docs; empty when unset by default.
    pub default: &'static str,
    pub doc: &'static str,
}

/// Every operator's variable, in the order the docs list them.
pub const ENV_VARS: &[EnvVar] = &[
    HERALD_BIND,
    DATABASE_URL,
    REDIS_URL,
    REDIS_CLUSTER_URLS,
    JWT_SECRET,
    JWT_ALGORITHM,
    JWT_PUBLIC_KEY_FILE,
    JWT_ISSUER,
    JWT_AUDIENCE,
    JWT_LEEWAY_SECONDS,
    JWT_JWKS_URL,
    JWT_JWKS_REFRESH_SECONDS,
    JWT_JWKS_COOLDOWN_SECONDS,
    JWT_USER_CLAIM,
    ALLOWED_ORIGINS,
    NODE_ID,
    RUST_LOG,
    HERALD_WORKERS,
    HERALD_DB_POOL_SIZE,
    HERALD_DB_TIMEOUT_MS,
    HERALD_DB_STATEMENT_TIMEOUT_MS,
    HERALD_DB_LOCK_TIMEOUT_MS,
    HERALD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    HERALD_DB_KEEPALIVE_SECS,
    HERALD_SQLITE_SYNCHRONOUS,
    HERALD_MIGRATE_ON_START,
    HERALD_MAX_BODY_BYTES,
    HERALD_MAX_BROADCAST_BODY_BYTES,
    HERALD_MAX_BROADCAST_RECIPIENTS,
    HERALD_MAX_STORED_PER_USER,
    HERALD_NOTIFICATION_TYPES,
    HERALD_WS_OUTBOX,
    HERALD_WS_PING_INTERVAL_SECS,
    HERALD_WS_PING_TIMEOUT_SECS,
    HERALD_WS_HANDSHAKES_PER_SECOND,
    HERALD_WS_FRAMES_PER_SECOND,
    HERALD_RATE_LIMIT_PER_SECOND,
    HERALD_RATE_LIMIT_BURST,
    HERALD_SERVICE_RATE_LIMIT_PER_SECOND,
    HERALD_SERVICE_RATE_LIMIT_BURST,
    HERALD_MAX_SOCKETS,
    HERALD_MAX_SOCKETS_PER_USER,
    HERALD_RETENTION_DAYS,
    HERALD_REDIS_REPUBLISH_BYTES,
    HERALD_GROUP_COMMIT_WAIT_US,
    HERALD_POSITION_CHECK_MS,
    HERALD_OPS_BIND,
    HERALD_SHUTDOWN_TIMEOUT_SECS,
];

/// Tests only, deliberately not in `ENV_VARS` (not an operator's setting).
pub const HERALD_TEST_HANG_BEFORE_PUBLISH: EnvVar = EnvVar {
    name: "HERALD_TEST_HANG_BEFORE_PUBLISH",
    default: "",
    doc: "When true, the node commits every change and never publishes it, as a node that dies between the two \
         (refused unless `HERALD_BIND` is loopback).",
};

pub const HERALD_BIND: EnvVar = EnvVar {
    name: "HERALD_BIND",
    default: "127.0.0.1:8000",
    doc: "Address and port to listen on (`0.0.0.0:8000` in containers; port 0 picks a free port).",
};

pub const DATABASE_URL: EnvVar = EnvVar {
    name: "DATABASE_URL",
    default: "",
    doc: "`postgres://user:pass@host/db` for PostgreSQL; `sqlite://path` or unset for the embedded SQLite file \
         `herald.db`.",
};

pub const REDIS_URL: EnvVar = EnvVar {
    name: "REDIS_URL",
    default: "",
    doc: "`redis://host:6379/0`, with the password when Redis requires one (`redis://:PASSWORD@host:6379/0`, \
         percent-encoded; never shown in logs or errors): Redis pub/sub fan-out, required for more than one node. \
         Unset (and no `REDIS_CLUSTER_URLS`): the in-process broker (single node).",
};

pub const REDIS_CLUSTER_URLS: EnvVar = EnvVar {
    name: "REDIS_CLUSTER_URLS",
    default: "",
    doc: "Seed nodes of a Redis Cluster (7.0 or later), comma-separated, e.g. `redis://h1:7000,redis://h2:7000`: \
         sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`) instead of `REDIS_URL`'s classic pub/sub; the rest of the \
         cluster is discovered from them. When the cluster requires a password, every seed carries it \
         (`redis://:PASSWORD@h1:7000`, the same in each). Set one of the two, not both.",
};

pub const JWT_SECRET: EnvVar = EnvVar {
    name: "JWT_SECRET",
    default: "",
    doc: "HS256 secret shared with the token issuer: at least 32 bytes, e.g. `openssl rand -hex 32`; placeholders \
         from this repository are refused, and secrets committed to it (the tests') beyond a loopback \
         `HERALD_BIND`. Unset: only on a loopback `HERALD_BIND`, a random development secret is generated and a \
         development token printed.",
};

pub const JWT_ALGORITHM: EnvVar = EnvVar {
    name: "JWT_ALGORITHM",
    default: "HS256",
    doc: "The only accepted token algorithm: `HS256`, `RS256` or `ES256`.",
};

pub const JWT_PUBLIC_KEY_FILE: EnvVar =
    EnvVar { name: "JWT_PUBLIC_KEY_FILE", default: "", doc: "PEM public key file, required for `RS256`/`ES256`." };

pub const JWT_ISSUER: EnvVar =
    EnvVar { name: "JWT_ISSUER", default: "", doc: "When set, tokens must carry this `iss`." };

pub const JWT_AUDIENCE: EnvVar =
    EnvVar { name: "JWT_AUDIENCE", default: "", doc: "When set, tokens must carry this `aud`." };

pub const JWT_LEEWAY_SECONDS: EnvVar =
    EnvVar { name: "JWT_LEEWAY_SECONDS", default: "30", doc: "Clock-skew leeway for `exp` and `nbf`." };

pub const JWT_JWKS_URL: EnvVar = EnvVar {
    name: "JWT_JWKS_URL",
    default: "",
    doc: "An identity provider's JWKS (`https://…/.well-known/jwks.json`; `http` only on a loopback host): tokens are \
         then verified with its RS256/ES256 keys, chosen by the token's `kid` (never HS256; `JWT_ALGORITHM` RS256 or \
         ES256 narrows them to one). Fetched at start and every `JWT_JWKS_REFRESH_SECONDS`, and again on an unknown \
         `kid` at most once per `JWT_JWKS_COOLDOWN_SECONDS`; when the provider is down the cached keys keep working \
         (`/readyz` says so). Not with `JWT_PUBLIC_KEY_FILE`.",
};

pub const JWT_JWKS_REFRESH_SECONDS: EnvVar = EnvVar {
    name: "JWT_JWKS_REFRESH_SECONDS",
    default: "300",
    doc: "How often the JWKS is fetched again (rotated and removed keys take effect within this).",
};

pub const JWT_JWKS_COOLDOWN_SECONDS: EnvVar = EnvVar {
    name: "JWT_JWKS_COOLDOWN_SECONDS",
    default: "30",
    doc: "Least time between two JWKS fetches caused by tokens naming an unknown `kid` (a token with a made-up `kid` \
         cannot make the node hammer the provider); also the retry interval while no keys could be fetched.",
};

pub const JWT_USER_CLAIM: EnvVar = EnvVar {
    name: "JWT_USER_CLAIM",
    default: "",
    doc: "The claim holding the user id, an integer (or a string of digits), e.g. a custom claim your identity \
         provider adds. Unset: `user_id`, else `sub`.",
};

pub const ALLOWED_ORIGINS: EnvVar = EnvVar {
    name: "ALLOWED_ORIGINS",
    default: "",
    doc: "Comma-separated browser origins (`https://app.example.com`) allowed to use this node from another \
         origin: CORS for the REST API, `/static/herald.js` and SSE, and the `Origin` check of the WebSocket and SSE \
         handshakes (others get 403; clients sending no `Origin` are not browsers and are not checked; pages on the \
         node's own host always pass). Unset: any origin may open a WebSocket or SSE stream and no CORS headers are \
         sent (REST from another origin is refused by browsers).",
};

pub const NODE_ID: EnvVar =
    EnvVar { name: "NODE_ID", default: "", doc: "Name of this node in logs and metrics; unset: `<hostname>-<pid>`." };

pub const RUST_LOG: EnvVar = EnvVar {
    name: "RUST_LOG",
    default: "info,redis=error",
    doc: "Log filter (env_logger syntax), e.g. `herald=debug,actix_web=info`. The default keeps the redis crate's \
         per-attempt reconnect lines out (Herald logs outages itself).",
};

pub const HERALD_WORKERS: EnvVar =
    EnvVar { name: "HERALD_WORKERS", default: "", doc: "HTTP worker threads; unset: one per CPU core." };

pub const HERALD_DB_POOL_SIZE: EnvVar = EnvVar {
    name: "HERALD_DB_POOL_SIZE",
    default: "16",
    doc: "Maximum pooled database connections of this node; the group-commit writer holds one more of its own.",
};

pub const HERALD_DB_TIMEOUT_MS: EnvVar = EnvVar {
    name: "HERALD_DB_TIMEOUT_MS",
    default: "3000",
    doc: "Longest wait for a database connection before answering 503 `unavailable`.",
};

pub const HERALD_DB_STATEMENT_TIMEOUT_MS: EnvVar = EnvVar {
    name: "HERALD_DB_STATEMENT_TIMEOUT_MS",
    default: "5000",
    doc: "PostgreSQL `statement_timeout` of every connection: a statement running longer is cancelled (503 \
         `unavailable`). A request waits at most this plus `HERALD_DB_TIMEOUT_MS` plus 1 s for the database, then \
         answers 503.",
};

pub const HERALD_DB_LOCK_TIMEOUT_MS: EnvVar = EnvVar {
    name: "HERALD_DB_LOCK_TIMEOUT_MS",
    default: "3000",
    doc: "PostgreSQL `lock_timeout` of every connection: the longest a statement waits for a row lock.",
};

pub const HERALD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: EnvVar = EnvVar {
    name: "HERALD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
    default: "10000",
    doc: "PostgreSQL `idle_in_transaction_session_timeout`: a connection idle inside a transaction this long is \
         closed by the server.",
};

pub const HERALD_DB_KEEPALIVE_SECS: EnvVar = EnvVar {
    name: "HERALD_DB_KEEPALIVE_SECS",
    default: "10",
    doc: "TCP keepalive idle time of PostgreSQL connections (probes every 5 s after it, 3 lost probes close the \
         connection), so a vanished server is noticed.",
};

pub const HERALD_SQLITE_SYNCHRONOUS: EnvVar = EnvVar {
    name: "HERALD_SQLITE_SYNCHRONOUS",
    default: "full",
    doc: "SQLite only: `full` syncs every commit to disk before it is acknowledged; `normal` syncs at WAL \
         checkpoints only (fewer fsyncs, but a power loss or OS crash may lose the last acknowledged creates). Any \
         other value is refused at start.",
};

pub const HERALD_MIGRATE_ON_START: EnvVar = EnvVar {
    name: "HERALD_MIGRATE_ON_START",
    default: "true",
    doc: "Run pending migrations when `serve` starts (serialized across nodes on PostgreSQL).",
};

pub const HERALD_MAX_BODY_BYTES: EnvVar =
    EnvVar { name: "HERALD_MAX_BODY_BYTES", default: "65536", doc: "Largest accepted REST request body (413 above)." };

pub const HERALD_MAX_BROADCAST_BODY_BYTES: EnvVar = EnvVar {
    name: "HERALD_MAX_BROADCAST_BODY_BYTES",
    default: "1048576",
    doc: "Largest accepted broadcast request body (413 above).",
};

pub const HERALD_MAX_BROADCAST_RECIPIENTS: EnvVar = EnvVar {
    name: "HERALD_MAX_BROADCAST_RECIPIENTS",
    default: "10000",
    doc: "Most `user_ids` one broadcast may name.",
};

pub const HERALD_MAX_STORED_PER_USER: EnvVar = EnvVar {
    name: "HERALD_MAX_STORED_PER_USER",
    default: "10000",
    doc: "Most notifications one user's inbox holds. At the cap, each create (REST, WebSocket `send_notification`, \
         broadcast) first deletes the user's oldest read notifications (pushed as `notification_deleted`); when all \
         are unread, a create answers 429 `inbox_full` and stores nothing, and a broadcast skips that recipient and \
         names it in `inbox_full`. Unread notifications are never deleted to make room.",
};

pub const HERALD_NOTIFICATION_TYPES: EnvVar = EnvVar {
    name: "HERALD_NOTIFICATION_TYPES",
    default: "meeting,meeting_response,action_item,general,approval,meeting_invitation,meeting_scheduled,mom_created",
    doc: "The notification types accepted, comma-separated, each `type` or `type:category` (names: 1 to 50 of \
         `a-z 0-9 _ . -`). A create with another type is refused with this list; preferences cover every type \
         listed and, per category, all its types. A type taken off the list keeps its stored notifications \
         readable. A notification that names no type is `general`. Default: the original's eight.",
};

pub const HERALD_WS_OUTBOX: EnvVar = EnvVar {
    name: "HERALD_WS_OUTBOX",
    default: "256",
    doc: "Pushes queued per socket; a client that falls this far behind is closed with 1013 and resumes with \
         `since`.",
};

pub const HERALD_WS_PING_INTERVAL_SECS: EnvVar =
    EnvVar { name: "HERALD_WS_PING_INTERVAL_SECS", default: "20", doc: "How often the server pings each socket." };

pub const HERALD_WS_PING_TIMEOUT_SECS: EnvVar = EnvVar {
    name: "HERALD_WS_PING_TIMEOUT_SECS",
    default: "60",
    doc: "A socket silent this long (no frame, no pong) is closed; also the longest a push may wait for a client \
         that does not read.",
};

pub const HERALD_WS_HANDSHAKES_PER_SECOND: EnvVar = EnvVar {
    name: "HERALD_WS_HANDSHAKES_PER_SECOND",
    default: "2000",
    doc: "WebSocket handshakes this node accepts per second (bursts of the same size); more get 503 `unavailable` \
         with `Retry-After`. Each user's handshakes also cost from their budget (`HERALD_RATE_LIMIT_PER_SECOND`).",
};

pub const HERALD_WS_FRAMES_PER_SECOND: EnvVar = EnvVar {
    name: "HERALD_WS_FRAMES_PER_SECOND",
    default: "20",
    doc: "Client frames per second per socket; excess frames get a `rate_limited` error, a flood is closed with \
         1008. Frames also cost from the user's budget (`HERALD_RATE_LIMIT_PER_SECOND`), shared by all their \
         sockets and REST.",
};

pub const HERALD_RATE_LIMIT_PER_SECOND: EnvVar = EnvVar {
    name: "HERALD_RATE_LIMIT_PER_SECOND",
    default: "40",
    doc: "Each end user's budget, in units per second, shared by REST requests, WebSocket handshakes and \
         WebSocket frames on every socket: a read (a list, the unread count, preferences, a handshake) costs 1; a \
         change (create, mark read/unread/all read, delete, preferences update) or a replay (`sync`, a handshake \
         with `since`) costs 2, and a create 1 more per KiB of the notification as sent (the largest, ~40 KB, costs \
         41); `ping` and `refresh_token` frames cost nothing. Above it: 429 `rate_limited` with \
         `Retry-After`, or an `error` frame `rate_limited` with `retry_after` (the socket stays open; more than 20 \
         refusals within 10 s close it with 1008). With Redis configured it holds across all nodes; without Redis, \
         per node; while Redis does not answer, each node goes on from the budget's state in Redis' last answer \
         (no fresh burst). Service tokens have their own budget \
         (`HERALD_SERVICE_RATE_LIMIT_PER_SECOND`).",
};

pub const HERALD_RATE_LIMIT_BURST: EnvVar = EnvVar {
    name: "HERALD_RATE_LIMIT_BURST",
    default: "100",
    doc: "Units an end user may spend at once before the per-second rate applies; at least 2 (the dearest action).",
};

pub const HERALD_SERVICE_RATE_LIMIT_PER_SECOND: EnvVar = EnvVar {
    name: "HERALD_SERVICE_RATE_LIMIT_PER_SECOND",
    default: "50000",
    doc: "Notifications each service identity (a token with `is_staff` or `notifications:send`, by its user id) may \
         write per second, by REST or WebSocket: a create costs 1, a broadcast 1 per recipient (a repeat with the \
         same `Idempotency-Key` too). Above it: 429 `rate_limited` with `Retry-After` (an `error` frame over a \
         socket); nothing is written. Across all nodes with Redis, as the end users' budget. Their other requests \
         are not limited. Set it to your senders' real peak: it bounds what a leaked service token can write.",
};

pub const HERALD_SERVICE_RATE_LIMIT_BURST: EnvVar = EnvVar {
    name: "HERALD_SERVICE_RATE_LIMIT_BURST",
    default: "100000",
    doc: "Notifications a service identity may write at once before the per-second rate applies; at least \
         `HERALD_MAX_BROADCAST_RECIPIENTS` (the largest broadcast must fit).",
};

pub const HERALD_MAX_SOCKETS: EnvVar = EnvVar {
    name: "HERALD_MAX_SOCKETS",
    default: "20000",
    doc: "Open WebSockets per node; more are refused with 503 `unavailable` (clients try another node).",
};

pub const HERALD_MAX_SOCKETS_PER_USER: EnvVar = EnvVar {
    name: "HERALD_MAX_SOCKETS_PER_USER",
    default: "20",
    doc: "Open WebSockets per user; more are refused with 429 `rate_limited`. With Redis configured it holds \
         across all nodes (a crashed node's sockets stop counting within 30 s); without Redis, or while Redis \
         does not answer, per node.",
};

pub const HERALD_RETENTION_DAYS: EnvVar = EnvVar {
    name: "HERALD_RETENTION_DAYS",
    default: "",
    doc: "When set, every node deletes notifications and admin audit records older than this many days, hourly, in \
         batches of 1000. Unset: keep everything (or run `herald prune`).",
};

pub const HERALD_REDIS_REPUBLISH_BYTES: EnvVar = EnvVar {
    name: "HERALD_REDIS_REPUBLISH_BYTES",
    default: "67108864",
    doc: "Bytes of events kept for republishing while Redis refuses publishes; past it the queue is dropped and \
         every node resyncs its sockets from the database once Redis is back.",
};

pub const HERALD_GROUP_COMMIT_WAIT_US: EnvVar = EnvVar {
    name: "HERALD_GROUP_COMMIT_WAIT_US",
    default: "2000",
    doc: "Creates arriving faster than one per this (measured, per node) are stored in batches: the writer waits \
         up to this many microseconds after the first create of a batch for others to join it (fewer statements, \
         commits and publishes: less CPU per create). Slower traffic is written at once. 0 never waits.",
};

pub const HERALD_POSITION_CHECK_MS: EnvVar = EnvVar {
    name: "HERALD_POSITION_CHECK_MS",
    default: "1000",
    doc: "How often each node compares the stream position of every user it holds sockets for with the database \
         (one batched statement) and repairs sockets whose change never arrived (its publish lost to a node or \
         Redis failure): a committed change reaches every open socket within this, plus 250 ms, plus a repair.",
};

pub const HERALD_OPS_BIND: EnvVar = EnvVar {
    name: "HERALD_OPS_BIND",
    default: "",
    doc: "When set (e.g. `127.0.0.1:9000`), `/metrics` and `/readyz` are served on this separate listener only, \
         not on `HERALD_BIND`.",
};

pub const HERALD_SHUTDOWN_TIMEOUT_SECS: EnvVar = EnvVar {
    name: "HERALD_SHUTDOWN_TIMEOUT_SECS",
    default: "10",
    doc: "On SIGTERM/SIGINT: sockets close with 1001 at once; in-flight requests get this long to finish.",
};
