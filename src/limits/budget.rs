//! The per-principal budgets every transport draws from: a REST request, a WebSocket handshake
//! and a WebSocket frame of the same user take from one budget, on every node alike.
//!
//! - **End users** get `HERALD_RATE_LIMIT_PER_SECOND` units per second with bursts of
//!   `HERALD_RATE_LIMIT_BURST`; an action costs by what it makes the database do (`Action`:
//!   a read 1, a change or a replay 2), and a create 1 more per KiB of the notification as sent
//!   (`BYTES_PER_UNIT`: what is stored and pushed to every socket of the recipient). Above it: 429 `rate_limited` with `Retry-After` (REST),
//!   an `error` frame `rate_limited` with `retry_after` (WebSocket; the socket stays open).
//! - **Service principals** (staff or `notifications:send`) legitimately send for many users:
//!   their other actions are not limited, but the notifications they write are, per service
//!   identity (`HERALD_SERVICE_RATE_LIMIT_PER_SECOND`/`_BURST`): a create costs 1, a broadcast
//!   to N recipients costs N. A leaked service token writes at that rate at most.
//!
//! With Redis configured each budget is one GCRA cell in Redis (`super::cluster`), so N nodes
//! allow it once, not N times; this node's own cells (`super::cells`) follow every answer and
//! decide while Redis does not answer, from where the cluster's cell stood.

use super::cells::Cells;
use super::cluster::{Bucket, ClusterLimits};
pub use super::Rate;
use crate::domain::{Principal, UserId};
use crate::error::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a read costs an end user (a list page, the unread count, preferences, a handshake).
pub const READ_COST: u32 = 1;
/// What a change costs (a create, a mark read/unread/all read, a delete, a preferences update).
pub const WRITE_COST: u32 = 2;
/// What a replay costs (`sync`, a handshake with `since`): it may read many pages.
pub const REPLAY_COST: u32 = 2;
/// An end user's create costs one unit more per this many bytes of the notification as sent
/// (its JSON): 2 units up to 1 KiB, 41 for the largest (~40 KB).
pub const BYTES_PER_UNIT: usize = 1024;

/// The size of a notification as sent (its JSON, as serialized compactly), which a create is
/// priced by; counted without building the text.
fn json_bytes(body: &serde_json::Map<String, serde_json::Value>) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and a map of JSON values always serializes.
    let _ = serde_json::to_writer(&mut count, body);
    count.0
}

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

/// The node's view of every principal's budget.
pub struct Budgets {
    users: Cells,
    user_burst: u32,
    services: Cells,
    service_burst: u32,
    /// The cluster-wide cells, when Redis is configured.
    cluster: Option<Arc<ClusterLimits>>,
}

impl Budgets {
    pub fn new(users: Rate, services: Rate, cluster: Option<Arc<ClusterLimits>>) -> Budgets {
        Budgets {
            users: Cells::new(users),
            user_burst: users.burst.max(1),
            services: Cells::new(services),
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

    /// Takes `action` from the caller's end-user budget even when the caller is a service: what
    /// staff do in the admin console is limited like an end user's requests.
    pub async fn admit_staff(&self, caller: &Principal, action: Action) -> Result<(), ApiError> {
        self.take(Bucket::User, caller.user_id, action.cost()).await
    }

    /// Takes what writing `count` notifications of `body` costs beyond the request itself: from
    /// a service principal's budget `count`; from an end user's (whose create `admit` charged as
    /// a `Write`) one unit per `BYTES_PER_UNIT` of `body` as sent.
    pub async fn notifications(
        &self,
        caller: &Principal,
        count: usize,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ApiError> {
        let (bucket, cost) =
            if caller.can_send { (Bucket::Service, count) } else { (Bucket::User, json_bytes(body) / BYTES_PER_UNIT) };
        if cost == 0 {
            return Ok(());
        }
        self.take(bucket, caller.user_id, u32::try_from(cost).unwrap_or(u32::MAX)).await
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
            if let Some(answer) = cluster.take(bucket, user, cost).await {
                self.cells(bucket).follow(user, answer.ahead);
                return answer.wait.map_or(Ok(()), |wait| Err(rate_limited(wait)));
            }
        }
        self.take_here(bucket, user, cost)
    }

    /// An action costs at most the burst, else it could never be admitted (the configuration
    /// keeps `HERALD_RATE_LIMIT_BURST` ≥ the dearest action but a large create, and
    /// `HERALD_SERVICE_RATE_LIMIT_BURST` ≥ `HERALD_MAX_BROADCAST_RECIPIENTS`).
    fn take_here(&self, bucket: Bucket, user: UserId, cost: u32) -> Result<(), ApiError> {
        self.cells(bucket).take(user, cost.min(self.burst(bucket))).map_err(rate_limited)
    }

    fn cells(&self, bucket: Bucket) -> &Cells {
        match bucket {
            Bucket::User => &self.users,
            Bucket::Service => &self.services,
        }
    }

    fn burst(&self, bucket: Bucket) -> u32 {
        match bucket {
            Bucket::User => self.user_burst,
            Bucket::Service => self.service_burst,
        }
    }

    /// Forgets principals whose cells are full again (bounded memory).
    pub fn forget_idle(&self) {
        self.users.forget_idle();
        self.services.forget_idle();
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
        Principal {
            user_id: UserId::new(id).expect("id"),
            can_send: service,
            can_administer: false,
            expires_at: i64::MAX,
        }
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
        let small = serde_json::Map::new();
        for _ in 0..20 {
            budgets.admit(&service, Action::Write).await.expect("a service's other actions are free");
        }
        budgets.notifications(&service, 6, &small).await.expect("6 of 10");
        budgets.notifications(&service, 4, &small).await.expect("10 of 10");
        let refused = budgets.notifications(&service, 1, &small).await.expect_err("spent");
        assert!(matches!(refused, ApiError::RateLimited { retry_after_secs: 1 }), "{refused:?}");
        let user = principal(8, false);
        budgets.notifications(&user, 1000, &small).await.expect("users' small creates are charged as writes instead");
    }

    #[actix_web::test]
    async fn an_end_users_create_costs_one_more_unit_per_kib() {
        let budgets = Budgets::new(Rate { per_second: 1, burst: 10 }, Rate { per_second: 1, burst: 10 }, None);
        let user = principal(1, false);
        let mut body = serde_json::Map::new();
        body.insert("message".to_owned(), "x".repeat(3 * BYTES_PER_UNIT).into());
        assert!(json_bytes(&body) >= 3 * BYTES_PER_UNIT && json_bytes(&body) < 4 * BYTES_PER_UNIT);
        budgets.notifications(&user, 1, &body).await.expect("3 of 10");
        budgets.notifications(&user, 1, &body).await.expect("6 of 10");
        budgets.notifications(&user, 1, &body).await.expect("9 of 10");
        let refused = budgets.notifications(&user, 1, &body).await.expect_err("12 > 10");
        assert_eq!(refused.code(), "rate_limited");
        // A create larger than the burst costs the burst: it can still be admitted.
        body.insert("message".to_owned(), "x".repeat(40 * BYTES_PER_UNIT).into());
        let big = principal(2, false);
        budgets.notifications(&big, 1, &body).await.expect("capped at the burst");
    }
}
