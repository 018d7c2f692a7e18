//! Per-IP query rate limit: a token bucket per source address.
//!
//! Each reply costs us bandwidth and can be aimed at a victim with a forged source address,
//! so queries beyond the limit are dropped without an answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Limits on the queries answered per source IP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Queries answered in a burst from one IP.
    pub burst: u32,
    /// Sustained queries per second answered for one IP (libtorrent's default is 5).
    pub per_second: u32,
    /// Source IPs tracked at once; beyond it, queries from new IPs are dropped until idle
    /// entries can be forgotten. Bounds the memory a flood of forged sources can take.
    pub max_tracked: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            burst: 10,
            per_second: 5,
            max_tracked: 10_000,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Available queries, in thousandths (integer arithmetic keeps it exact).
    milli: u64,
    last: Instant,
}

/// Token buckets per source IP.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Whether a query from `ip` may be answered now (and charges it if so).
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let full = u64::from(self.limit.burst) * 1000;
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.limit.max_tracked {
            self.forget_idle(now);
            if self.buckets.len() >= self.limit.max_tracked {
                return false;
            }
        }
        let mut b = self.buckets.get(&ip).copied().unwrap_or(Bucket {
            milli: full,
            last: now,
        });
        refill(&self.limit, &mut b, now);
        let ok = b.milli >= 1000;
        if ok {
            b.milli -= 1000;
        }
        self.buckets.insert(ip, b);
        ok
    }

    /// Forgets IPs whose bucket has refilled: they are indistinguishable from new ones.
    pub fn forget_idle(&mut self, now: Instant) {
        let full = u64::from(self.limit.burst) * 1000;
        let limit = self.limit;
        self.buckets.retain(|_, b| {
            refill(&limit, b, now);
            b.milli < full
        });
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

fn refill(limit: &RateLimit, b: &mut Bucket, now: Instant) {
    let full = u64::from(limit.burst) * 1000;
    let elapsed = now.saturating_duration_since(b.last);
    let add = elapsed
        .as_millis()
        .saturating_mul(u128::from(limit.per_second));
    b.milli = full.min(
        b.milli
            .saturating_add(u64::try_from(add).unwrap_or(u64::MAX)),
    );
    b.last = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(RateLimit::default());
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        let allowed = (0..30).filter(|_| r.allow(t0, ip)).count();
        assert_eq!(allowed, 10);
        assert!(r.allow(t0, other), "other IPs are not affected");
        let t1 = t0 + Duration::from_secs(1);
        let allowed = (0..30).filter(|_| r.allow(t1, ip)).count();
        assert_eq!(allowed, 5);
        let t2 = t1 + Duration::from_millis(200);
        assert!(r.allow(t2, ip));
        assert!(!r.allow(t2, ip));
    }

    #[test]
    fn tracked_ips_are_capped_and_idle_ones_forgotten() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(RateLimit {
            max_tracked: 4,
            ..RateLimit::default()
        });
        for i in 0..4u8 {
            assert!(r.allow(t0, IpAddr::from([127, 0, 1, i])));
        }
        assert!(!r.allow(t0, IpAddr::from([127, 0, 1, 9])), "table full");
        assert_eq!(r.tracked(), 4);
        // After they refill (burst / rate = 2 s), the old ones are forgotten.
        let later = t0 + Duration::from_secs(3);
        assert!(r.allow(later, IpAddr::from([127, 0, 1, 9])));
        assert_eq!(r.tracked(), 1);
    }
}
