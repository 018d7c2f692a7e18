//! Transfer rates over a sliding window, on the caller's clock.

use std::time::{Duration, Instant};

/// Bytes per second averaged over the last [`Rate::WINDOW`], kept as one-second buckets.
#[derive(Debug, Clone)]
pub struct Rate {
    buckets: [u64; Self::SLOTS],
    /// Second (since `origin`) that `buckets[current % SLOTS]` belongs to.
    current: u64,
    origin: Instant,
    total: u64,
}

impl Rate {
    const SLOTS: usize = 5;
    pub const WINDOW: Duration = Duration::from_secs(Self::SLOTS as u64);

    pub fn new(now: Instant) -> Self {
        Self {
            buckets: [0; Self::SLOTS],
            current: 0,
            origin: now,
            total: 0,
        }
    }

    fn advance(&mut self, now: Instant) {
        let sec = now.saturating_duration_since(self.origin).as_secs();
        if sec <= self.current {
            return;
        }
        let steps = (sec - self.current).min(Self::SLOTS as u64);
        for i in 1..=steps {
            self.buckets[((self.current + i) % Self::SLOTS as u64) as usize] = 0;
        }
        self.current = sec;
    }

    pub fn add(&mut self, now: Instant, bytes: u64) {
        self.advance(now);
        self.buckets[(self.current % Self::SLOTS as u64) as usize] += bytes;
        self.total += bytes;
    }

    /// Average bytes per second over the window ending at `now`.
    pub fn per_second(&mut self, now: Instant) -> u64 {
        self.advance(now);
        // The current second is partial; count the window as full seconds before it plus the
        // elapsed fraction of this one, so a steady stream reads steady.
        let elapsed = now.saturating_duration_since(self.origin);
        let span = elapsed.min(Self::WINDOW).as_secs_f64().max(1.0);
        let sum: u64 = self.buckets.iter().sum();
        (sum as f64 / span) as u64
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_stream() {
        let t0 = Instant::now();
        let mut r = Rate::new(t0);
        for s in 0..10 {
            r.add(t0 + Duration::from_secs(s), 1000);
        }
        let rate = r.per_second(t0 + Duration::from_secs(10));
        assert!((800..=1000).contains(&rate), "{rate}");
        assert_eq!(r.total(), 10_000);
        assert_eq!(r.per_second(t0 + Duration::from_secs(30)), 0);
    }
}
