//! Herald: a real-time notification service. Backend services create notifications over REST;
//! each is stored durably and pushed to the recipient's open WebSocket sessions.
//!
//! # Layout
//! - `config`: every setting, from environment variables (`config::vars` is the one table),
//!   and which token keys and secrets a node accepts (`config::keys`).
//! - `startup`: `Node::build(Config)`, the app as a value.
//! - `cli`: the `herald` subcommands and what each does (`main` only parses and dispatches).
//! - `error`: `ApiError`, the edges' error and the one place statuses and error codes are
//!   chosen; it maps each layer's own error (`Invalid`, `Denied`, `DbError`, `InboxError`).
//! - `auth`: JWT verification (`jwt`) into a `Principal`, token minting and who gets which
//!   token (`mint`), extractors.
//! - `domain`: the bottom layer, no IO: validated values (ids, types, notification content,
//!   preferences; `Invalid` when a rule is broken), `StreamPos` (a place in a user's change
//!   stream), `Principal` and its permissions (`Denied`), the per-user storage cap
//!   (`StorageCap`: what an inbox takes and which read notifications make room),
//!   the list filter (`ListQuery`, parsed once for REST and WebSocket), a decoded query string
//!   (`QueryString`), and the records
//!   (`domain::records`: `StoredNotification`, `Page`, `Change`, outcomes) that `db` produces and
//!   `inbox` returns.
//! - `db`: the connection pool (every wait bounded) and every SQL statement, behind typed
//!   methods on `Db` split by concern, written once for both backends (`db::pg`, `db::sqlite`
//!   hold what one backend writes its own way); group commit (`db::batch`), concurrent creates
//!   stored many per transaction; making room under the storage cap (`db::room`). Fails with
//!   `DbError`.
//! - `inbox`: the use-cases; validate → commit → publish. Fails with `InboxError`.
//! - `console`: the admin console's use-cases (search across users, changes made as the owner's
//!   own through `inbox`, the audit log).
//! - `event`: `Event` (a committed change and its stream position), `SessionId`, and
//!   `ServerFrame`, every frame the server sends, serialized once.
//! - `broker`: carries committed changes to the nodes holding the user's sockets (publish,
//!   the node's event stream, health, a channel connection): in process (`memory`) or on one
//!   Redis or a Redis Cluster (`redis`: every `herald:` name in `redis::channels`), and the
//!   pool for other Redis commands; knows nothing of the hub.
//! - `subscriptions`: the node's one owner of broker subscriptions: first/last local session,
//!   delayed unsubscribe, batching, resubscribe and session repair after a reconnect.
//! - `http`: REST routes, handlers, the reply and request types, and the OpenAPI document built
//!   from them.
//! - `hub`: this node's open sockets per user; non-blocking fan-out into bounded outboxes;
//!   knows events, not brokers.
//! - `limits`: every principal's budget, shared by REST and WebSocket (`budget`: 429 +
//!   Retry-After, or a `rate_limited` frame), the per-socket frame limiter (1008 on a flood) and
//!   the node's handshake budget (`local`), and the budgets and socket cap across every node, in
//!   Redis (`cluster`).
//! - `metrics`: every metric name, rendered at `/metrics`.
//! - `readiness`: whether the node's dependencies answer (`/readyz`, `/metrics`, the cluster
//!   overview), one probe per second at most.
//! - `cluster`: the live cluster as the admin console sees it: questions to every node over
//!   the broker's control channel (a user's sockets, disconnecting them, each node's status),
//!   each node answering for itself.
//! - `repair`: the repair signals to sessions and the position check, which compares its users'
//!   stream positions with the database and repairs sockets whose change never arrived.
//! - `django_import`: `herald import-django`, the original system's data moved into Herald in
//!   resumable, incremental batches, reviewed against Herald's rules, and verified per user.
//! - `retention`: pruning old notifications and expired idempotency keys in bounded batches.
//! - `snooze`: the snooze waker, bringing snoozed notifications back at their time, once across
//!   the cluster.
//! - `client`: a REST + WebSocket client of a live node (`herald send`, `herald selftest`).
//! - `selftest`: `herald selftest`'s table of end-to-end checks.
//! - `ws`: the WebSocket endpoint, client protocol, the per-socket delivery state machine
//!   (`delivery`, pure), one IO task per socket (`session`) with its state and writes
//!   (`socket`), client frames (`frames`), replay and repair (`replay`), and the frame-size
//!   bound applied to frame headers before any payload is buffered (`frame_limit`).

pub mod auth;
pub mod broker;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod console;
pub mod db;
pub mod django_import;
pub mod domain;
pub mod error;
pub mod event;
pub mod http;
pub mod hub;
pub mod inbox;
pub mod limits;
pub mod metrics;
pub mod readiness;
pub mod repair;
pub mod retention;
pub mod selftest;
pub mod snooze;
pub mod startup;
pub mod subscriptions;
pub mod ws;
