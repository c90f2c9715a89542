//! What every session of a node shares (`WsContext`: the inbox, hub, subscriptions, verifier,
//! shutdown signal, budgets and cluster limits) and the per-socket settings taken from `Config`.

use crate::auth::TokenVerifier;
use crate::hub::Hub;
use crate::inbox::Inbox;
use crate::limits::budget::Budgets;
use crate::limits::cluster::ClusterLimits;
use actix_web::web;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Per-socket limits and intervals (from `Config`).
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    /// Events queued for a socket before it counts as too slow (1013).
    pub outbox_size: usize,
    pub ping_interval: Duration,
    /// Silence (no frame, no pong) after which the socket is closed; also the longest a
    /// write may wait for a client that does not read.
    pub ping_timeout: Duration,
    pub frames_per_second: NonZeroU32,
    /// The clock-skew leeway of token checks, applied to the expiry timer too.
    pub token_leeway: Duration,
}

/// What every session of a node shares.
#[derive(Clone)]
pub struct WsContext {
    pub metrics: Arc<crate::metrics::Metrics>,
    pub inbox: Inbox,
    /// Told when a user's first socket opens and their last one closes (never the broker).
    pub subscriptions: crate::subscriptions::Subscriptions,
    pub hub: Arc<Hub>,
    pub verifier: web::Data<TokenVerifier>,
    pub settings: WsSettings,
    /// Becomes `true` when the node shuts down: sessions close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// The cluster-wide socket cap per user, when Redis is configured.
    pub cluster_limits: Option<Arc<ClusterLimits>>,
    /// Every principal's budget, shared with REST: frames and handshakes draw from it.
    pub budgets: Arc<Budgets>,
}
