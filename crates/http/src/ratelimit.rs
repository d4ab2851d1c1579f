//! A token-bucket rate limiter keyed by client address (giới hạn tần suất), used on sign-in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Budgets of wrong look-up codes (mã tra cứu), `[services]` in the settings: wrong codes
/// allowed per looked-up item (a dossier, a PAKN) and per client address within `window`,
/// refilled evenly. The services module enforces them (`tinhso_services::web::lookup_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupBudgets {
    pub per_item: u32,
    pub per_address: u32,
    pub window: Duration,
}

impl LookupBudgets {
    /// 10 wrong codes per item and 30 per address within 15 minutes.
    pub const DEFAULT: Self = Self {
        per_item: 10,
        per_address: 30,
        window: Duration::from_secs(15 * 60),
    };
}

impl Default for LookupBudgets {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Token buckets per key.
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(burst: f64, per_second: f64) -> Self {
        Self {
            burst,
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Refill `key`'s bucket (an operator clearing a lock-out after checking it, or a test
    /// signing many accounts in from one address).
    pub fn reset(&self, key: &str) {
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.remove(key);
        }
    }

    /// Take one token for `key`; false when the bucket is empty.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() > 100_000 {
            // Forget full buckets so the map cannot grow without bound.
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let entry = buckets.entry(key.to_string()).or_insert((self.burst, now));
        let refill = now.duration_since(entry.1).as_secs_f64() * self.per_second;
        entry.0 = (entry.0 + refill).min(self.burst);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_then_refuses() {
        let rl = RateLimiter::new(3.0, 0.0001);
        assert!(rl.allow("a") && rl.allow("a") && rl.allow("a"));
        assert!(!rl.allow("a"));
        assert!(rl.allow("b"), "keys are independent");
        rl.reset("a");
        assert!(rl.allow("a"), "a reset bucket is full again");
    }
}
