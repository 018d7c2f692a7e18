//! Write tokens (BEP 5): proof that an announcing node got a `get_peers` reply at its IP.
//!
//! The secret changes every [`ROTATE_EVERY`]; a token is accepted while its secret is the
//! current or the previous one, so a token lives between 5 and 10 minutes. Instead of keeping
//! rotated secrets, the secret of period `n` is derived from one random key and `n`: no timer
//! is needed for rotation and no randomness after start-up, and validity is exact at any call
//! time.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use sha1::{Digest, Sha1};

/// How often the token secret changes.
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);
/// Length of the tokens shoal hands out.
pub const TOKEN_LEN: usize = 8;

/// Issues and checks write tokens.
#[derive(Clone, Debug)]
pub struct Tokens {
    key: [u8; 20],
    epoch: Instant,
}

impl Tokens {
    pub fn new(now: Instant, rng: &mut impl Rng) -> Self {
        Self {
            key: rng.random(),
            epoch: now,
        }
    }

    fn period(&self, now: Instant) -> u64 {
        let age = now.saturating_duration_since(self.epoch);
        age.as_secs() / ROTATE_EVERY.as_secs()
    }

    /// `SHA1(ip ‖ secret(period))`, cut to [`TOKEN_LEN`] bytes.
    fn compute(&self, ip: IpAddr, period: u64) -> [u8; TOKEN_LEN] {
        let mut h = Sha1::new();
        match ip.to_canonical() {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
        h.update(self.key);
        h.update(period.to_be_bytes());
        let digest = h.finalize();
        let mut out = [0u8; TOKEN_LEN];
        for (o, d) in out.iter_mut().zip(digest.iter()) {
            *o = *d;
        }
        out
    }

    /// The token to give a node at `ip` now.
    pub fn issue(&self, now: Instant, ip: IpAddr) -> Vec<u8> {
        self.compute(ip, self.period(now)).to_vec()
    }

    /// Whether `token` was issued to `ip` in this period or the previous one.
    pub fn check(&self, now: Instant, ip: IpAddr, token: &[u8]) -> bool {
        let p = self.period(now);
        token == self.compute(ip, p).as_slice()
            || (p > 0 && token == self.compute(ip, p - 1).as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn token_is_accepted_for_ten_minutes_and_refused_after() {
        let t0 = Instant::now();
        let tokens = Tokens::new(t0, &mut StdRng::seed_from_u64(1));
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        let tok = tokens.issue(t0, ip);
        assert!(tokens.check(t0, ip, &tok));
        assert!(tokens.check(t0 + 5 * MIN, ip, &tok), "after one rotation");
        assert!(tokens.check(t0 + 10 * MIN - Duration::from_millis(1), ip, &tok));
        assert!(
            !tokens.check(t0 + 10 * MIN, ip, &tok),
            "two rotations later"
        );
    }

    #[test]
    fn a_token_issued_late_in_a_period_still_lives_five_minutes() {
        let t0 = Instant::now();
        let tokens = Tokens::new(t0, &mut StdRng::seed_from_u64(2));
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        let late = t0 + 5 * MIN - Duration::from_secs(1);
        let tok = tokens.issue(late, ip);
        assert!(tokens.check(late + 5 * MIN, ip, &tok));
        assert!(!tokens.check(t0 + 10 * MIN, ip, &tok));
    }

    #[test]
    fn tokens_are_bound_to_the_ip_and_the_key() {
        let t0 = Instant::now();
        let a = Tokens::new(t0, &mut StdRng::seed_from_u64(3));
        let b = Tokens::new(t0, &mut StdRng::seed_from_u64(4));
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        let other: IpAddr = "127.0.0.8".parse().unwrap();
        let tok = a.issue(t0, ip);
        assert_eq!(tok.len(), TOKEN_LEN);
        assert!(!a.check(t0, other, &tok));
        assert!(!b.check(t0, ip, &tok));
        assert!(!a.check(t0, ip, b""));
        // The same address seen through a dual-stack socket gets the same token.
        let mapped: IpAddr = "::ffff:127.0.0.7".parse().unwrap();
        assert!(a.check(t0, mapped, &tok));
    }
}
