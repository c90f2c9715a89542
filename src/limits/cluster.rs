//! Per-user limits that hold across every node, kept in Redis when Redis is configured (one
//! Redis or a cluster), through the command pool:
//!
//! - the budgets (`super::budget`): one GCRA cell per end user and one per service identity,
//!   checked and advanced by an action's cost atomically by a script on Redis' clock, so N
//!   nodes allow the rate once, not N times;
//! - open sockets: a set per user of `instance/session` members. A handshake claims a member
//!   when the user holds fewer than the cap; a closed socket removes it. A member counts only
//!   while its node is alive: every `HEARTBEAT` each node refreshes one key per partition
//!   (expiring after `NODE_LEASE`), and a claim drops the members of nodes whose key is gone,
//!   so a crashed node's sockets stop counting within `NODE_LEASE`.
//!   Every `RECONCILE`, and after Redis was away, each node rewrites its members of the users it
//!   holds (closes whose removal was lost, sockets opened while Redis did not answer).
//!
//! The keys (`crate::broker::redis::channels`) carry the user's partition as hash tag, so on a
//! cluster each script touches one slot. When Redis does not answer within `ANSWER_WITHIN` the
//! caller falls back to its node's own limits, and Redis is not asked again for `RETRY_AFTER`.
//! Nothing here is on the publish path.

use super::Rate;
use crate::broker::error::CommandError;
use crate::broker::redis::channels::{
    node_key, node_key_prefix, rate_key, service_rate_key, sockets_key, NODES_KEY, PARTITIONS,
};
use crate::broker::redis::pool::CommandPool;
use crate::broker::redis::timing::unix_ms;
use crate::domain::UserId;
use crate::event::SessionId;
use crate::hub::Hub;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::timeout;

/// How long a node's sockets count after its last heartbeat.
pub const NODE_LEASE: Duration = Duration::from_secs(30);
/// How often a node says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often a node rewrites its socket members in Redis (see the module).
const RECONCILE: Duration = Duration::from_secs(300);
/// A socket set nobody claimed or reconciled for this long is dropped (its user left).
const SOCKETS_IDLE: Duration = Duration::from_secs(24 * 3600);
/// The longest a limit check waits for Redis before the node's own limit decides.
const ANSWER_WITHIN: Duration = Duration::from_millis(100);
/// After Redis failed to answer, the node's own limits decide for this long.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Users whose members are rewritten concurrently.
const RECONCILE_CONCURRENCY: usize = 16;

/// The scripts; each file says its keys and arguments.
const RATE_SCRIPT: &str = include_str!("scripts/rate.lua");
const CLAIM_SCRIPT: &str = include_str!("scripts/claim.lua");
const RECONCILE_SCRIPT: &str = include_str!("scripts/reconcile.lua");

/// Whose budget an action is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// An end user's actions, by cost.
    User,
    /// The notifications a service identity writes.
    Service,
}

/// A budget's GCRA parameters: the emission interval of one unit, and the burst.
#[derive(Debug, Clone, Copy)]
struct Cell {
    interval_us: i64,
    burst: i64,
}

impl From<Rate> for Cell {
    fn from(rate: Rate) -> Cell {
        Cell {
            interval_us: (1_000_000 / i64::from(rate.per_second.max(1))).max(1),
            burst: i64::from(rate.burst.max(1)),
        }
    }
}

/// Redis' answer for a budget: refused (retry after `wait`) or admitted, and how far ahead of
/// now the cell's theoretical arrival time stands after it (what the node's own cell follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellAnswer {
    pub wait: Option<Duration>,
    pub ahead: Duration,
}

/// What Redis decided about a socket; `Unknown` when it did not answer (use the node's own cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// Refused; retry after this long.
    Refuse(Duration),
    Unknown,
}

pub struct ClusterLimits {
    pool: Arc<CommandPool>,
    /// `node_id-<random>`: this run of the node (two runs, or two nodes given one `NODE_ID`,
    /// never take each other's members).
    instance: String,
    /// `instance/`: this node's socket members start with it.
    member_prefix: String,
    user_cell: Cell,
    service_cell: Cell,
    max_sockets_per_user: i64,
    rate_script: redis::Script,
    claim_script: redis::Script,
    reconcile_script: redis::Script,
    /// Unix ms before which Redis is not asked (it failed to answer).
    skip_until_ms: AtomicU64,
}

impl ClusterLimits {
    /// `instance`: this run of the node (`crate::cluster::NodeIdentity`).
    pub fn new(
        pool: Arc<CommandPool>,
        instance: &str,
        (users, services): (Rate, Rate),
        max_sockets_per_user: usize,
    ) -> ClusterLimits {
        let instance = instance.to_owned();
        ClusterLimits {
            pool,
            member_prefix: format!("{instance}/"),
            instance,
            user_cell: users.into(),
            service_cell: services.into(),
            max_sockets_per_user: max_sockets_per_user as i64,
            rate_script: redis::Script::new(RATE_SCRIPT),
            claim_script: redis::Script::new(CLAIM_SCRIPT),
            reconcile_script: redis::Script::new(RECONCILE_SCRIPT),
            skip_until_ms: AtomicU64::new(0),
        }
    }

    /// Takes `cost` units from the cluster-wide budget of `user` in `bucket`; `None` when Redis
    /// did not answer.
    pub async fn take(&self, bucket: Bucket, user: UserId, cost: u32) -> Option<CellAnswer> {
        let (key, cell) = match bucket {
            Bucket::User => (rate_key(user), self.user_cell),
            Bucket::Service => (service_rate_key(user), self.service_cell),
        };
        let args = [cell.interval_us, cell.burst, i64::from(cost.max(1))];
        let (wait_us, ahead_us) = self.ask::<(i64, i64)>(&self.rate_script, &key, &args, &[]).await?;
        Some(CellAnswer {
            wait: (wait_us > 0).then(|| Duration::from_micros(wait_us as u64)),
            ahead: Duration::from_micros(ahead_us.max(0) as u64),
        })
    }

    /// Claims a socket of `user` against the cluster-wide cap.
    pub async fn claim_socket(&self, user: UserId, session: SessionId) -> Verdict {
        let member = self.member(session);
        let node_keys = node_key_prefix(user);
        let idle_ms = SOCKETS_IDLE.as_millis().to_string();
        let lease_ms = NODE_LEASE.as_millis().to_string();
        let args = [member.as_str(), node_keys.as_str(), idle_ms.as_str(), self.instance.as_str(), lease_ms.as_str()];
        match self.ask::<i64>(&self.claim_script, &sockets_key(user), &[self.max_sockets_per_user], &args).await {
            Some(1) => Verdict::Admit,
            Some(_) => Verdict::Refuse(Duration::from_secs(5)),
            None => Verdict::Unknown,
        }
    }

    /// Gives a closed socket's claim back, in the background (the next reconciliation would
    /// anyway).
    pub fn release_socket(self: &Arc<Self>, user: UserId, session: SessionId) {
        if self.skipping() {
            return;
        }
        let limits = self.clone();
        tokio::spawn(async move {
            let mut srem = redis::cmd("SREM");
            srem.arg(sockets_key(user)).arg(limits.member(session));
            let _ = timeout(ANSWER_WITHIN * 10, limits.pool.query::<i64>(&srem)).await;
        });
    }

    /// Every `HEARTBEAT` until shutdown: says this node is alive (one key per partition), and
    /// rewrites its socket members every `RECONCILE`, and after a heartbeat failed or found its
    /// keys gone.
    pub async fn keep_alive(self: Arc<Self>, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(HEARTBEAT);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reconciled: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return self.leave().await,
                _ = every.tick() => {}
            }
            match self.heartbeat().await {
                Ok(false) => {}
                // New to this Redis (or it lost everything): load the scripts now, so that
                // the first limit checks do not pay for it within their short bound.
                Ok(true) => {
                    reconciled = None;
                    self.load_scripts().await;
                }
                Err(err) => {
                    log::warn!("cluster-wide limits: heartbeat failed ({err}); this node's sockets stop counting after {NODE_LEASE:?} without one");
                    reconciled = None;
                    continue;
                }
            }
            if reconciled.is_none_or(|at| at.elapsed() >= RECONCILE) {
                self.reconcile(&hub).await;
                reconciled = Some(Instant::now());
            }
        }
    }

    /// Refreshes this node's key in every partition and its score in the nodes' set (the
    /// cluster overview's list, which forgets nodes silent for a day); `Ok(true)` when a key
    /// was missing (the first heartbeat, or Redis lost its keys: restarted, or failed over
    /// before replicating them), so this node's socket members may be gone too.
    async fn heartbeat(&self) -> Result<bool, CommandError> {
        let lease_ms = NODE_LEASE.as_millis() as u64;
        let now = unix_ms();
        let forgotten_before = now.saturating_sub(SOCKETS_IDLE.as_millis() as u64);
        let nodes = [
            redis::cmd("ZADD").arg(NODES_KEY).arg(now).arg(&self.instance).to_owned(),
            redis::cmd("ZREMRANGEBYSCORE").arg(NODES_KEY).arg("-inf").arg(forgotten_before).to_owned(),
        ];
        self.pool.query_each(&nodes).await?;
        let keys: Vec<String> = (0..PARTITIONS).map(|p| node_key(p, &self.instance)).collect();
        let refresh: Vec<redis::Cmd> =
            keys.iter().map(|key| redis::cmd("PEXPIRE").arg(key).arg(lease_ms).to_owned()).collect();
        let refreshed = self.pool.query_each(&refresh).await?;
        let missing: Vec<redis::Cmd> = keys
            .iter()
            .zip(&refreshed)
            .filter(|(_, refreshed)| matches!(refreshed, redis::Value::Int(0)))
            .map(|(key, _)| redis::cmd("SET").arg(key).arg(1).arg("PX").arg(lease_ms).to_owned())
            .collect();
        if missing.is_empty() {
            return Ok(false);
        }
        self.pool.query_each(&missing).await?;
        Ok(true)
    }

    /// At shutdown: this node leaves the nodes' set at once (its sockets are closing).
    async fn leave(&self) {
        let zrem = redis::cmd("ZREM").arg(NODES_KEY).arg(&self.instance).to_owned();
        let _ = timeout(ANSWER_WITHIN * 10, self.pool.query::<i64>(&zrem)).await;
    }

    /// `SCRIPT LOAD` of every script (on a cluster, on every master).
    async fn load_scripts(&self) {
        for source in [RATE_SCRIPT, CLAIM_SCRIPT, RECONCILE_SCRIPT] {
            if let Err(err) = self.pool.query::<String>(redis::cmd("SCRIPT").arg("LOAD").arg(source)).await {
                log::warn!("cluster-wide limits: SCRIPT LOAD failed ({err}); loaded on first use instead");
            }
        }
    }

    /// Makes this node's members in Redis the sockets it holds.
    async fn reconcile(&self, hub: &Hub) {
        let held = hub.sessions_by_user();
        for chunk in held.chunks(RECONCILE_CONCURRENCY) {
            let rewrites = chunk.iter().map(|(user, sessions)| {
                let mut invocation = self.reconcile_script.prepare_invoke();
                invocation.key(sockets_key(*user)).arg(&self.member_prefix).arg(SOCKETS_IDLE.as_millis() as u64);
                for session in sessions {
                    invocation.arg(self.member(*session));
                }
                async move { self.pool.invoke::<i64>(&invocation).await }
            });
            if let Some(Err(err)) = futures_util::future::join_all(rewrites).await.into_iter().find(Result::is_err) {
                log::warn!("cluster-wide limits: socket members not rewritten ({err}); retried at the next heartbeat");
                return;
            }
        }
    }

    fn member(&self, session: SessionId) -> String {
        format!("{}{}", self.member_prefix, session.0)
    }

    fn skipping(&self) -> bool {
        unix_ms() < self.skip_until_ms.load(Ordering::Relaxed)
    }

    /// Runs a script within `ANSWER_WITHIN`; `None` (and Redis skipped for `RETRY_AFTER`) when
    /// it did not answer.
    async fn ask<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        key: &str,
        numbers: &[i64],
        texts: &[&str],
    ) -> Option<T> {
        if self.skipping() {
            return None;
        }
        let mut invocation = script.prepare_invoke();
        invocation.key(key);
        for n in numbers {
            invocation.arg(*n);
        }
        for text in texts {
            invocation.arg(*text);
        }
        match timeout(ANSWER_WITHIN, self.pool.invoke::<T>(&invocation)).await {
            Ok(Ok(answer)) => Some(answer),
            failed => {
                let now = unix_ms();
                let skipped_until = self.skip_until_ms.swap(now + RETRY_AFTER.as_millis() as u64, Ordering::Relaxed);
                // One line per outage second, not one per request that was waiting.
                if skipped_until <= now {
                    let why = match failed {
                        Ok(Err(err)) => err.to_string(),
                        _ => format!("no answer within {ANSWER_WITHIN:?}"),
                    };
                    log::warn!(
                        "cluster-wide limits unavailable ({why}); this node's own limits apply for {RETRY_AFTER:?}"
                    );
                }
                None
            }
        }
    }
}
