//! Herald: a real-time notification service. Backend services create notifications over REST;
//! each is stored durably and pushed to the recipient's open WebSocket sessions.
//!
//! # Layout
//! - `config`: every setting, from environment variables (`ENV_VARS` is the table).
//! - `startup`: `Node::build(Config)`, the app as a value.
//! - `cli`: the `herald` subcommands.
//! - `error`: `ApiError`, the edges' error and the one place statuses and error codes are
//!   chosen; it maps each layer's own error (`Invalid`, `Denied`, `DbError`, `InboxError`).
//! - `auth`: JWT verification (`jwt`) into a `Principal`, token minting (`mint`), extractors.
//! - `domain`: the bottom layer, no IO: validated values (ids, types, notification content,
//!   preferences; `Invalid` when a rule is broken), `Principal` and its permissions (`Denied`),
//!   and the inbox's vocabulary (`domain::inbox`: `StoredNotification`, `ListQuery`, `Page`,
//!   `Change`, outcomes) that `db` produces and `inbox` returns.
//! - `db`: the connection pool (every wait bounded) and every SQL statement, behind typed
//!   methods on `Db` split by concern; the queries (`db/queries/`, one file per concern) are
//!   compiled per backend (`db::pg`, `db::sqlite`) and private. Fails with `DbError`.
//! - `inbox`: the use-cases; validate → commit → publish. Fails with `InboxError`.
//! - `group_commit`: concurrent creates stored many per transaction.
//! - `event`: `Event` (a committed change and its stream position), `SessionId`, and
//!   `ServerFrame`, every frame the server sends, serialized once.
//! - `broker`: carries committed changes to the nodes holding the user's sockets (publish,
//!   the node's event stream, health, a channel connection) on one Redis or a Redis Cluster
//!   (sharded pub/sub), and the pool for other Redis commands; knows nothing of the hub.
//! - `cluster_limits`: per-user REST rate and socket cap across every node, in Redis.
//! - `subscriptions`: the node's one owner of broker subscriptions: first/last local session,
//!   delayed unsubscribe, batching, resubscribe and session repair after a reconnect.
//! - `http`: REST routes, handlers and error envelopes.
//! - `hub`: this node's open sockets per user; non-blocking fan-out into bounded outboxes;
//!   knows events, not brokers.
//! - `metrics`: every metric name, rendered at `/metrics`.
//! - `repair`: the repair signals to sessions and the position check, which compares its users'
//!   stream positions with the database and repairs sockets whose change never arrived.
//! - `rate_limit`: per-user request limits (429 + Retry-After), the per-socket frame limiter
//!   (1008 on a flood) and the node's handshake budget.
//! - `retention`: pruning old notifications in bounded batches.
//! - `selftest`: `herald send` and `herald selftest`, clients of a live node.
//! - `ws`: the WebSocket endpoint, client protocol, the per-socket delivery state machine
//!   (`delivery`, pure), one IO task per socket (`session`) and the frame-size bound applied
//!   to frame headers before any payload is buffered (`frame_limit`).

pub mod auth;
pub mod broker;
pub mod cli;
pub mod cluster_limits;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod event;
pub mod group_commit;
pub mod http;
pub mod hub;
pub mod inbox;
pub mod metrics;
pub mod rate_limit;
pub mod repair;
pub mod retention;
pub mod selftest;
pub mod startup;
pub mod subscriptions;
pub mod ws;
