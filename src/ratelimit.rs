//! Token-bucket rate limits (governor's GCRA) keyed by IP, user, app or identifier.
//!
//! Keys are 64-bit keyed hashes, so a check allocates nothing and an attacker cannot choose
//! colliding keys. Key state is bounded: [`Limiter::sweep`] (run periodically) forgets keys
//! whose bucket is full again, and if more than `max_keys` remain it starts afresh.

use crate::config::{LimitKey, LimitSpec};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroU32;
use std::time::Duration;

pub struct Limiter {
    pub spec: LimitSpec,
    quota: Quota,
    inner: arc_swap::ArcSwap<DefaultKeyedRateLimiter<u64>>,
    hasher: std::collections::hash_map::RandomState,
    clock: DefaultClock,
    max_keys: usize,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("spec", &self.spec).finish_non_exhaustive()
    }
}

impl Limiter {
    pub fn new(spec: &LimitSpec, max_keys: usize) -> Limiter {
        let interval = spec.rate.interval().max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(spec.burst).unwrap_or(NonZeroU32::MIN);
        let quota =
            Quota::with_period(interval).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
        Limiter {
            spec: spec.clone(),
            quota,
            inner: arc_swap::ArcSwap::from_pointee(RateLimiter::keyed(quota)),
            hasher: Default::default(),
            clock: DefaultClock::default(),
            max_keys,
        }
    }

    pub fn per(&self) -> LimitKey {
        self.spec.per
    }

    /// `Ok` when a request for `key` may pass now, else how long until one may.
    pub fn check<K: Hash + ?Sized>(&self, key: &K) -> Result<(), Duration> {
        let k = self.hasher.hash_one(key);
        self.inner.load().check_key(&k).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets idle keys; keeps the key count bounded.
    pub fn sweep(&self) {
        let inner = self.inner.load();
        inner.retain_recent();
        if inner.len() > self.max_keys {
            tracing::warn!(
                keys = inner.len(),
                max = self.max_keys,
                "rate limiter holds too many keys; starting afresh"
            );
            self.inner.store(std::sync::Arc::new(RateLimiter::keyed(self.quota)));
        } else {
            inner.shrink_to_fit();
        }
    }

    pub fn len(&self) -> usize {
        self.inner.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whole seconds for `Retry-After`, never 0.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rate;

    fn spec(rate: &str, burst: u32) -> LimitSpec {
        LimitSpec { per: LimitKey::Ip, rate: Rate::parse(rate).unwrap(), burst }
    }

    #[test]
    fn burst_then_refusal_with_a_wait() {
        let l = Limiter::new(&spec("10/min", 3), 1000);
        for _ in 0..3 {
            assert!(l.check("1.2.3.4").is_ok());
        }
        let wait = l.check("1.2.3.4").unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(6), "{wait:?}");
        // Other keys have their own bucket.
        assert!(l.check("5.6.7.8").is_ok());
    }

    #[test]
    fn key_state_is_bounded() {
        let l = Limiter::new(&spec("1/h", 1), 1024);
        for i in 0..2000u32 {
            let _ = l.check(&i);
        }
        assert_eq!(l.len(), 2000);
        l.sweep();
        assert!(l.len() <= 1024, "{}", l.len());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
