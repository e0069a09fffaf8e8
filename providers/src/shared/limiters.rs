//! The request budgets of provider accounts, one registry for every kind: adapters that
//! spend the same account's budget (the same credentials at the same endpoint) share
//! one token bucket, whatever their configured names.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use governor::{Quota, RateLimiter};

use crate::http::AccountLimiter;

/// Whose budget a bucket is: the provider kind (its API: Route 53 and Route 53 Domains
/// are budgeted apart), the account, and the budget itself, so that two configurations
/// that disagree on it do not share a bucket sized by whichever came first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LimiterKey {
    pub kind: &'static str,
    pub account: String,
    pub budget: Budget,
}

impl LimiterKey {
    /// The account of `credential` (an access key id, a token) at `endpoint`. A secret
    /// is kept only as a digest: the registry outlives no adapter, but need not hold
    /// another copy.
    pub fn new(kind: &'static str, endpoint: &str, credential: &str, budget: Budget) -> Self {
        let mut digest = DefaultHasher::new();
        credential.hash(&mut digest);
        Self {
            kind,
            account: format!("{}#{:016x}", endpoint.trim_end_matches('/'), digest.finish()),
            budget,
        }
    }
}

/// A request budget as a token bucket: one token every `period`, at most `burst` held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    pub period: Duration,
    pub burst: NonZeroU32,
}

impl Budget {
    /// `per_second` sustained, `burst` at once.
    pub fn per_second(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            period: Duration::from_secs(1) / per_second.get(),
            burst,
        }
    }

    /// Never more than `count` requests in any `window`: a sixth of it as burst, the
    /// rest refilled evenly over the window.
    pub fn per_window(count: NonZeroU32, window: Duration) -> Self {
        let burst = (count.get() / 6).max(1);
        let refill = (count.get() - burst).max(1);
        Self {
            period: window / refill,
            burst: NonZeroU32::new(burst).expect("at least one"),
        }
    }

    /// A bucket of this budget of its own (shared with nobody).
    pub fn bucket(&self) -> AccountLimiter {
        let quota = Quota::with_period(self.period)
            .expect("a non-zero period")
            .allow_burst(self.burst);
        Arc::new(RateLimiter::direct(quota))
    }
}

/// The bucket of `key`'s account, made on first use.
pub fn limiter(key: LimiterKey) -> AccountLimiter {
    static LIMITERS: OnceLock<Mutex<HashMap<LimiterKey, AccountLimiter>>> = OnceLock::new();
    let mut map = LIMITERS.get_or_init(Default::default).lock().expect("lock poisoned");
    let budget = key.budget;
    map.entry(key).or_insert_with(|| budget.bucket()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &'static str, credential: &str) -> LimiterKey {
        let five = NonZeroU32::new(5).unwrap();
        LimiterKey::new(
            kind,
            "http://127.0.0.1:1",
            credential,
            Budget::per_second(five, NonZeroU32::MIN),
        )
    }

    #[test]
    fn one_bucket_per_kind_and_account() {
        assert!(Arc::ptr_eq(&limiter(key("k", "a")), &limiter(key("k", "a"))));
        assert!(!Arc::ptr_eq(&limiter(key("k", "a")), &limiter(key("k", "b"))));
        assert!(!Arc::ptr_eq(&limiter(key("k", "a")), &limiter(key("j", "a"))));
        assert!(!key("k", "secret").account.contains("secret"));
    }
}
