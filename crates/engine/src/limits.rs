//! Global rate limits: one token bucket for upload and one for download, shared by every
//! connection of the session.
//!
//! The bucket is the one piece of state several tasks touch; it sits behind a mutex held only
//! for a few arithmetic operations (never across an await), which is simpler and cheaper than
//! routing every read and write through an actor.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket: `rate` bytes per second, bursts up to `burst` bytes.
#[derive(Debug)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket for `rate` bytes/s; the burst is a quarter second of traffic (at least 64 KiB,
    /// so one block always fits).
    pub fn new(rate: u64) -> Self {
        let burst = (rate / 4).max(64 * 1024);
        Self {
            rate: rate.max(1),
            burst,
            state: Mutex::new(State {
                tokens: burst as f64,
                last: Instant::now(),
            }),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Takes `n` bytes' worth of tokens, going into debt if needed; returns how long the caller
    /// must wait before using them. Debt keeps the long-run rate exact for any `n`.
    pub fn take(&self, n: u64, now: Instant) -> Duration {
        let Ok(mut s) = self.state.lock() else {
            return Duration::ZERO;
        };
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.last = now;
        s.tokens = (s.tokens + elapsed * self.rate as f64).min(self.burst as f64);
        s.tokens -= n as f64;
        if s.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.tokens / self.rate as f64)
        }
    }

    /// Waits until `n` bytes may pass.
    pub async fn acquire(&self, n: u64) {
        let wait = self.take(n, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether the bucket is empty now (the limit is what holds traffic back).
    pub fn is_saturated(&self) -> bool {
        self.state
            .lock()
            .map(|s| s.tokens < 16.0 * 1024.0)
            .unwrap_or(false)
    }
}

/// The session's limits, either of which may be absent.
#[derive(Debug, Default)]
pub struct RateLimits {
    pub upload: Option<TokenBucket>,
    pub download: Option<TokenBucket>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_run_rate_is_exact() {
        let b = TokenBucket::new(100_000);
        let t0 = Instant::now();
        // Drain the burst, then every further 100 kB costs one second.
        assert_eq!(b.take(64 * 1024, t0), Duration::ZERO);
        let wait = b.take(100_000, t0);
        assert!((wait.as_secs_f64() - 1.0).abs() < 0.01, "{wait:?}");
        // A second later the debt is paid; another 100 kB again waits a second.
        let wait = b.take(100_000, t0 + Duration::from_secs(1));
        assert!((wait.as_secs_f64() - 1.0).abs() < 0.01, "{wait:?}");
    }

    #[test]
    fn refills_up_to_burst_only() {
        let b = TokenBucket::new(1000);
        let t0 = Instant::now();
        let _ = b.take(64 * 1024, t0);
        // An hour idle refills only the burst.
        assert_eq!(
            b.take(64 * 1024, t0 + Duration::from_secs(3600)),
            Duration::ZERO
        );
        assert!(b.take(1, t0 + Duration::from_secs(3600)) > Duration::ZERO);
    }
}
