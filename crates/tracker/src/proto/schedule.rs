//! When to announce next: the tracker's interval on success, exponential back-off on failure.

use std::time::{Duration, Instant};

use super::types::{later, AnnounceResponse};

/// Bounds applied to what trackers ask for, and the failure back-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// No announce sooner than this after a success, whatever the tracker says: an
    /// `interval` of 0 must not turn into a request loop.
    pub min_interval_floor: Duration,
    /// No regular announce later than this after a success, so a tracker asking for a week
    /// still hears from us.
    pub max_interval: Duration,
    /// Wait after the first failed round; each further failure doubles it.
    pub retry_base: Duration,
    /// Longest wait after failures.
    pub retry_max: Duration,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            min_interval_floor: Duration::from_secs(60),
            max_interval: Duration::from_secs(4 * 3600),
            retry_base: Duration::from_secs(15),
            retry_max: Duration::from_secs(30 * 60),
        }
    }
}

/// The announce timer of one torrent (all its trackers together: a BEP 12 round is one
/// announce).
///
/// Call order: create with the current time (the first announce is due at once); after each
/// round call [`on_success`](Self::on_success) or [`on_failure`](Self::on_failure); announce
/// again when [`is_due`](Self::is_due), i.e. at [`poll_timeout`](Self::poll_timeout).
/// Event announces (`completed`, `stopped`) go out at once regardless; an early announce for
/// more peers waits for [`earliest_extra_announce`](Self::earliest_extra_announce).
#[derive(Clone, Debug)]
pub struct AnnounceSchedule {
    config: ScheduleConfig,
    /// When the next regular announce (or retry) is due.
    next: Instant,
    /// The tracker's `min interval` after the last success: no unsolicited announce before.
    earliest: Instant,
    /// Failed rounds since the last success; sets the back-off.
    failures: u32,
}

impl AnnounceSchedule {
    pub fn new(config: ScheduleConfig, now: Instant) -> Self {
        Self {
            config,
            next: now,
            earliest: now,
            failures: 0,
        }
    }

    /// A tracker answered: the next announce comes after its `interval` (clamped to the
    /// configured bounds), an early one not before its `min interval`.
    pub fn on_success(&mut self, now: Instant, response: &AnnounceResponse) {
        let c = &self.config;
        let interval = response.interval.clamp(
            c.min_interval_floor,
            c.max_interval.max(c.min_interval_floor),
        );
        let min = response
            .min_interval
            .unwrap_or_default()
            .max(c.min_interval_floor)
            .min(interval);
        self.next = later(now, interval);
        self.earliest = later(now, min);
        self.failures = 0;
    }

    /// No tracker answered this round: retry after `retry_base * 2^(failures - 1)`, capped.
    /// Returns when.
    pub fn on_failure(&mut self, now: Instant) -> Instant {
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        self.failures = self.failures.saturating_add(1);
        let wait = self
            .config
            .retry_base
            .saturating_mul(factor)
            .min(self.config.retry_max);
        self.next = later(now, wait);
        self.next
    }

    /// When the next regular announce or retry is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next
    }

    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// The soonest an announce asking for more peers may go out.
    pub fn earliest_extra_announce(&self) -> Instant {
        self.earliest
    }

    /// Failed rounds since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(interval: u64, min: Option<u64>) -> AnnounceResponse {
        AnnounceResponse {
            interval: Duration::from_secs(interval),
            min_interval: min.map(Duration::from_secs),
            ..Default::default()
        }
    }

    #[test]
    fn interval_and_min_interval_are_honoured() {
        let t0 = Instant::now();
        let s_ = |s| t0 + Duration::from_secs(s);
        let mut s = AnnounceSchedule::new(ScheduleConfig::default(), t0);
        assert!(s.is_due(t0));
        s.on_success(t0, &reply(1800, Some(900)));
        assert_eq!(s.poll_timeout(), s_(1800));
        assert!(!s.is_due(s_(1799)));
        assert!(s.is_due(s_(1800)));
        assert_eq!(s.earliest_extra_announce(), s_(900));
    }

    #[test]
    fn tracker_values_are_clamped() {
        let t0 = Instant::now();
        let s_ = |s| t0 + Duration::from_secs(s);
        let mut s = AnnounceSchedule::new(ScheduleConfig::default(), t0);
        s.on_success(t0, &reply(0, None));
        assert_eq!(
            s.poll_timeout(),
            s_(60),
            "an interval of 0 is raised to the floor"
        );
        assert_eq!(s.earliest_extra_announce(), s_(60));
        s.on_success(t0, &reply(7 * 86400, Some(10 * 86400)));
        assert_eq!(s.poll_timeout(), s_(4 * 3600));
        assert_eq!(
            s.earliest_extra_announce(),
            s_(4 * 3600),
            "min interval never exceeds interval"
        );
    }

    #[test]
    fn failures_back_off_exponentially_and_reset_on_success() {
        let t0 = Instant::now();
        let mut s = AnnounceSchedule::new(ScheduleConfig::default(), t0);
        let waits: Vec<u64> = (0..10).map(|_| (s.on_failure(t0) - t0).as_secs()).collect();
        assert_eq!(
            waits,
            vec![15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800]
        );
        assert_eq!(s.failures(), 10);
        s.on_success(t0, &reply(100, None));
        assert_eq!(s.failures(), 0);
        assert_eq!(s.on_failure(t0) - t0, Duration::from_secs(15));
        for _ in 0..100 {
            s.on_failure(t0);
        }
        assert_eq!(
            s.poll_timeout() - t0,
            Duration::from_secs(1800),
            "no overflow"
        );
    }
}
