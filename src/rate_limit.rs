//! Per-user REST rate limit of a node: end-user tokens get `HERALD_RATE_LIMIT_PER_SECOND`
//! requests per second with bursts of `HERALD_RATE_LIMIT_BURST`; above it, 429 `rate_limited`
//! with `Retry-After`. Service tokens (staff or `notifications:send`) are not limited: they
//! legitimately send for many users. Limits are per node (a load balancer spreading one user
//! over N nodes allows up to N times the rate). Per-socket frame limits live in `ws::session`.

use crate::auth::Principal;
use crate::domain::UserId;
use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

pub struct RestLimiter {
    limiter: DefaultKeyedRateLimiter<UserId>,
}

impl RestLimiter {
    pub fn new(per_second: u32, burst: u32) -> RestLimiter {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(per_second);
        RestLimiter { limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)) }
    }

    /// Admits one request of `caller`, or says when to retry.
    pub fn admit(&self, caller: &Principal) -> Result<(), ApiError> {
        if caller.can_send {
            return Ok(());
        }
        self.limiter.check_key(&caller.user_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited { retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
        })
    }

    /// Forgets users whose buckets are full again (bounded memory).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}
