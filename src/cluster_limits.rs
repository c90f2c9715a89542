//! Per-user limits that hold across every node, kept in Redis when Redis is configured (one
//! Redis or a cluster), through the command pool (`crate::broker::command_pool`):
//!
//! - the REST rate: one GCRA cell per user (`herald:{p}:rate:{id}`), checked and advanced
//!   atomically by a Lua script on Redis' clock, so N nodes allow the rate once, not N times;
//! - open sockets: a sorted set per user (`herald:{p}:sockets:{id}`) of `node/session` members
//!   scored by lease expiry. A handshake claims a member when the user holds fewer than the cap
//!   (expired leases dropped first); a closed socket removes it; every `LEASE / 3` each node
//!   renews the members of the sockets it holds and drops its members for sockets it no longer
//!   holds, so a crashed node's sockets stop counting after at most `LEASE`, and sockets opened
//!   while Redis was away start counting at the next renewal.
//!
//! The keys carry the user's partition as hash tag (`crate::broker::sharded::partition`), so on
//! a cluster each script touches one slot. When Redis does not answer within `ANSWER_WITHIN`
//! the caller falls back to its node's own limits, and Redis is not asked again for `RETRY_AFTER`:
//! an outage costs no request more than one short wait. Nothing here is on the publish path.

use crate::broker::command_pool::CommandPool;
use crate::broker::sharded::partition;
use crate::domain::UserId;
use crate::event::SessionId;
use crate::hub::Hub;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::timeout;

/// How long a claimed socket counts without being renewed by its node.
pub const LEASE: Duration = Duration::from_secs(30);
/// The longest a limit check waits for Redis before the node's own limit decides.
const ANSWER_WITHIN: Duration = Duration::from_millis(100);
/// After Redis failed to answer, the node's own limits decide for this long.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Users whose leases are renewed concurrently.
const RENEW_CONCURRENCY: usize = 32;

/// GCRA: KEYS[1] the user's cell; ARGV[1] emission interval (µs), ARGV[2] burst.
/// Returns 0 when admitted, else the microseconds until a request would be.
const RATE_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * tonumber(ARGV[2])
if allow_at > now then return allow_at - now end
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1)
return 0
";

/// KEYS[1] the user's socket set; ARGV[1] cap, ARGV[2] lease (ms), ARGV[3] member.
/// Returns 1 when claimed, 0 when the user is at the cap.
const CLAIM_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
";

/// KEYS[1] the user's socket set; ARGV[1] this node's member prefix, ARGV[2] lease (ms),
/// ARGV[3..] the members of the sockets this node holds now. Renews those, drops this node's
/// others and every expired lease.
const RENEW_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = {}
for i = 3, #ARGV do held[ARGV[i]] = true end
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #ARGV[1]) == ARGV[1] and not held[member] then redis.call('ZREM', KEYS[1], member) end
end
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i]) end
if #ARGV >= 3 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2])) end
return 1
";

/// What Redis decided; `Unknown` when it did not answer (use the node's own limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// Refused; retry after this long.
    Refuse(Duration),
    Unknown,
}

pub struct ClusterLimits {
    pool: Arc<CommandPool>,
    /// `node_id/`: this node's socket members start with it.
    member_prefix: String,
    rate_interval_us: i64,
    rate_burst: i64,
    max_sockets_per_user: i64,
    rate_script: redis::Script,
    claim_script: redis::Script,
    renew_script: redis::Script,
    /// Unix ms before which Redis is not asked (it failed to answer).
    skip_until_ms: AtomicU64,
}

impl ClusterLimits {
    pub fn new(
        pool: Arc<CommandPool>,
        node_id: &str,
        per_second: u32,
        burst: u32,
        max_sockets_per_user: usize,
    ) -> ClusterLimits {
        ClusterLimits {
            pool,
            member_prefix: format!("{node_id}/"),
            rate_interval_us: (1_000_000 / i64::from(per_second.max(1))).max(1),
            rate_burst: i64::from(burst.max(1)),
            max_sockets_per_user: max_sockets_per_user as i64,
            rate_script: redis::Script::new(RATE_SCRIPT),
            claim_script: redis::Script::new(CLAIM_SCRIPT),
            renew_script: redis::Script::new(RENEW_SCRIPT),
            skip_until_ms: AtomicU64::new(0),
        }
    }

    /// Admits one REST request of `user` against the cluster-wide rate.
    pub async fn admit_request(&self, user: UserId) -> Verdict {
        let key = format!("herald:{{{}}}:rate:{user}", partition(user));
        match self.ask::<i64>(&self.rate_script, &key, &[self.rate_interval_us, self.rate_burst], &[]).await {
            Some(0) => Verdict::Admit,
            Some(wait_us) => Verdict::Refuse(Duration::from_micros(wait_us.max(1) as u64)),
            None => Verdict::Unknown,
        }
    }

    /// Claims a socket of `user` against the cluster-wide cap.
    pub async fn claim_socket(&self, user: UserId, session: SessionId) -> Verdict {
        let member = self.member(session);
        let lease_ms = LEASE.as_millis() as i64;
        match self
            .ask::<i64>(&self.claim_script, &sockets_key(user), &[self.max_sockets_per_user, lease_ms], &[&member])
            .await
        {
            Some(1) => Verdict::Admit,
            Some(_) => Verdict::Refuse(Duration::from_secs(5)),
            None => Verdict::Unknown,
        }
    }

    /// Gives a closed socket's claim back, in the background (the next renewal would anyway).
    pub fn release_socket(self: &Arc<Self>, user: UserId, session: SessionId) {
        if self.skipping() {
            return;
        }
        let limits = self.clone();
        tokio::spawn(async move {
            let mut zrem = redis::cmd("ZREM");
            zrem.arg(sockets_key(user)).arg(limits.member(session));
            let _ = timeout(ANSWER_WITHIN * 10, limits.pool.query::<i64>(&zrem)).await;
        });
    }

    /// Renews the leases of every socket the hub holds, every `LEASE / 3`, until shutdown.
    pub async fn renew_leases(self: Arc<Self>, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(LEASE / 3);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = every.tick() => {}
            }
            let held = hub.sessions_by_user();
            for chunk in held.chunks(RENEW_CONCURRENCY) {
                let renewals = chunk.iter().map(|(user, sessions)| self.renew(*user, sessions));
                futures_util::future::join_all(renewals).await;
            }
        }
    }

    async fn renew(&self, user: UserId, sessions: &[SessionId]) {
        let mut invocation = self.renew_script.prepare_invoke();
        invocation.key(sockets_key(user)).arg(&self.member_prefix).arg(LEASE.as_millis() as u64);
        for session in sessions {
            invocation.arg(self.member(*session));
        }
        let _ = timeout(LEASE / 3, self.pool.invoke::<i64>(&invocation)).await;
    }

    fn member(&self, session: SessionId) -> String {
        format!("{}{}", self.member_prefix, session.0)
    }

    fn skipping(&self) -> bool {
        now_ms() < self.skip_until_ms.load(Ordering::Relaxed)
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
                let why = match failed {
                    Ok(Err(err)) => err,
                    _ => format!("no answer within {ANSWER_WITHIN:?}"),
                };
                log::warn!("cluster-wide limits unavailable ({why}); this node's own limits apply for {RETRY_AFTER:?}");
                self.skip_until_ms.store(now_ms() + RETRY_AFTER.as_millis() as u64, Ordering::Relaxed);
                None
            }
        }
    }
}

fn sockets_key(user: UserId) -> String {
    format!("herald:{{{}}}:sockets:{user}", partition(user))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
