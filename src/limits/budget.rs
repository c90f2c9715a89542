//! The per-principal budgets every transport draws from: a REST request, a WebSocket handshake
//! and a WebSocket frame of the same user take from one budget, on every node alike.
//!
//! - **End users** get `HERALD_RATE_LIMIT_PER_SECOND` units per second with bursts of
//!   `HERALD_RATE_LIMIT_BURST`; an action costs by what it makes the database do (`Action`:
//!   a read 1, a change or a replay 2). Above it: 429 `rate_limited` with `Retry-After` (REST),
//!   an `error` frame `rate_limited` with `retry_after` (WebSocket; the socket stays open).
//! - **Service principals** (staff or `notifications:send`) legitimately send for many users:
//!   their other actions are not limited, but the notifications they write are, per service
//!   identity (`HERALD_SERVICE_RATE_LIMIT_PER_SECOND`/`_BURST`): a create costs 1, a broadcast
//!   to N recipients costs N. A leaked service token writes at that rate at most.
//!
//! With Redis configured each budget is one GCRA cell in Redis (`super::cluster`), so N nodes
//! allow it once, not N times; this node's own buckets decide while Redis does not answer.

use super::cluster::{Bucket, ClusterLimits, Verdict};
pub use super::Rate;
use crate::domain::{Principal, UserId};
use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a read costs an end user (a list page, the unread count, preferences, a handshake).
pub const READ_COST: u32 = 1;
/// What a change costs (a create, a mark read/unread/all read, a delete, a preferences update).
pub const WRITE_COST: u32 = 2;
/// What a replay costs (`sync`, a handshake with `since`): it may read many pages.
pub const REPLAY_COST: u32 = 2;

/// What an end user asks for, priced by `cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Replay,
}

impl Action {
    pub const fn cost(self) -> u32 {
        match self {
            Action::Read => READ_COST,
            Action::Write => WRITE_COST,
            Action::Replay => REPLAY_COST,
        }
    }
}

fn quota(rate: Rate) -> Quota {
    let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(NonZeroU32::new(rate.burst).unwrap_or(per_second))
}

/// The node's view of every principal's budget.
pub struct Budgets {
    users: DefaultKeyedRateLimiter<UserId>,
    user_burst: u32,
    services: DefaultKeyedRateLimiter<UserId>,
    service_burst: u32,
    /// The cluster-wide cells, when Redis is configured.
    cluster: Option<Arc<ClusterLimits>>,
}

impl Budgets {
    pub fn new(users: Rate, services: Rate, cluster: Option<Arc<ClusterLimits>>) -> Budgets {
        Budgets {
            users: RateLimiter::keyed(quota(users)),
            user_burst: users.burst.max(1),
            services: RateLimiter::keyed(quota(services)),
            service_burst: services.burst.max(1),
            cluster,
        }
    }

    /// Takes `action` from an end user's budget, or says when to retry. Service principals are
    /// not charged here (their notifications are, by `notifications`).
    pub async fn admit(&self, caller: &Principal, action: Action) -> Result<(), ApiError> {
        if caller.can_send {
            return Ok(());
        }
        self.take(Bucket::User, caller.user_id, action.cost()).await
    }

    /// Takes `count` notifications from a service principal's budget. End users' creates were
    /// already charged as a `Write` by `admit`: nothing is taken for them here.
    pub async fn notifications(&self, caller: &Principal, count: usize) -> Result<(), ApiError> {
        if !caller.can_send || count == 0 {
            return Ok(());
        }
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        self.take(Bucket::Service, caller.user_id, count).await
    }

    /// Whether `admit` asks Redis for this caller (else `admit_here` decides alone, at once).
    pub fn is_cluster_wide_for(&self, caller: &Principal) -> bool {
        self.cluster.is_some() && !caller.can_send
    }

    /// `admit` with this node's own buckets only.
    pub fn admit_here(&self, caller: &Principal, action: Action) -> Result<(), ApiError> {
        if caller.can_send {
            return Ok(());
        }
        self.take_here(Bucket::User, caller.user_id, action.cost())
    }

    async fn take(&self, bucket: Bucket, user: UserId, cost: u32) -> Result<(), ApiError> {
        let cost = cost.min(self.burst(bucket));
        if let Some(cluster) = &self.cluster {
            match cluster.take(bucket, user, cost).await {
                Verdict::Admit => return Ok(()),
                Verdict::Refuse(wait) => return Err(rate_limited(wait)),
                Verdict::Unknown => {}
            }
        }
        self.take_here(bucket, user, cost)
    }

    /// An action never costs more than the burst (the configuration makes sure it does not:
    /// `HERALD_RATE_LIMIT_BURST` ≥ the dearest action, `HERALD_SERVICE_RATE_LIMIT_BURST` ≥
    /// `HERALD_MAX_BROADCAST_RECIPIENTS`), else it could never be admitted.
    fn take_here(&self, bucket: Bucket, user: UserId, cost: u32) -> Result<(), ApiError> {
        let limiter = match bucket {
            Bucket::User => &self.users,
            Bucket::Service => &self.services,
        };
        let cost = NonZeroU32::new(cost.min(self.burst(bucket))).unwrap_or(NonZeroU32::MIN);
        match limiter.check_key_n(&user, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(rate_limited(not_until.wait_time_from(DefaultClock::default().now()))),
            // Not reachable: the cost is at most the burst.
            Err(_) => Err(rate_limited(Duration::from_secs(1))),
        }
    }

    fn burst(&self, bucket: Bucket) -> u32 {
        match bucket {
            Bucket::User => self.user_burst,
            Bucket::Service => self.service_burst,
        }
    }

    /// Forgets principals whose buckets are full again (bounded memory).
    pub fn forget_idle(&self) {
        self.users.retain_recent();
        self.services.retain_recent();
    }
}

/// Drops the buckets of principals who have been quiet, every minute, until shutdown.
pub async fn forget_idle_periodically(budgets: Arc<Budgets>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = every.tick() => budgets.forget_idle(),
        }
    }
}

/// 429 with `Retry-After` in whole seconds, rounded up.
fn rate_limited(wait: Duration) -> ApiError {
    ApiError::RateLimited { retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(id: i64, service: bool) -> Principal {
        Principal { user_id: UserId::new(id).expect("id"), can_send: service, expires_at: i64::MAX }
    }

    #[test]
    fn the_configuration_refuses_a_burst_below_the_dearest_action() {
        for action in [Action::Read, Action::Write, Action::Replay] {
            assert!(action.cost() <= crate::config::MIN_RATE_LIMIT_BURST, "{action:?}");
        }
    }

    #[actix_web::test]
    async fn writes_cost_more_than_reads_and_share_one_budget() {
        let budgets = Budgets::new(Rate { per_second: 1, burst: 4 }, Rate { per_second: 1, burst: 10 }, None);
        let me = principal(1, false);
        budgets.admit(&me, Action::Write).await.expect("2 of 4");
        budgets.admit(&me, Action::Read).await.expect("3 of 4");
        budgets.admit(&me, Action::Read).await.expect("4 of 4");
        let refused = budgets.admit(&me, Action::Read).await.expect_err("spent");
        assert_eq!(refused.code(), "rate_limited");
        assert!(budgets.admit(&principal(2, false), Action::Write).await.is_ok(), "another user's own budget");
    }

    #[actix_web::test]
    async fn services_are_charged_per_notification_only() {
        let budgets = Budgets::new(Rate { per_second: 1, burst: 1 }, Rate { per_second: 1, burst: 10 }, None);
        let service = principal(7, true);
        for _ in 0..20 {
            budgets.admit(&service, Action::Write).await.expect("a service's other actions are free");
        }
        budgets.notifications(&service, 6).await.expect("6 of 10");
        budgets.notifications(&service, 4).await.expect("10 of 10");
        let refused = budgets.notifications(&service, 1).await.expect_err("spent");
        assert!(matches!(refused, ApiError::RateLimited { retry_after_secs: 1 }), "{refused:?}");
        let user = principal(8, false);
        budgets.notifications(&user, 1000).await.expect("users' creates are charged as writes instead");
    }
}
