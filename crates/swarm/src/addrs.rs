//! Peers we know of but are not connected to: where they came from, when to try them again.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Where we learnt of a peer. Kept per connection for the dashboard and for policy (manual
/// peers are tried first and never given up on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerSource {
    Tracker,
    Dht,
    Pex,
    Incoming,
    Manual,
}

impl PeerSource {
    pub fn label(self) -> &'static str {
        match self {
            PeerSource::Tracker => "tracker",
            PeerSource::Dht => "dht",
            PeerSource::Pex => "pex",
            PeerSource::Incoming => "incoming",
            PeerSource::Manual => "manual",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Connecting,
    Connected,
}

#[derive(Clone, Debug)]
struct Entry {
    source: PeerSource,
    state: State,
    failures: u32,
    next_try: Instant,
}

/// Back-off after the n-th failed attempt: 10 s, 20 s, 40 s … capped at 10 minutes.
fn backoff(failures: u32) -> Duration {
    let secs = 10u64.saturating_mul(1 << failures.min(6));
    Duration::from_secs(secs.min(600))
}

/// Known peer addresses and their connection state.
#[derive(Debug)]
pub struct AddrBook {
    entries: HashMap<SocketAddr, Entry>,
    banned: HashSet<IpAddr>,
    excluded: HashSet<SocketAddr>,
    /// Bounds memory against trackers or PEX messages that list endless peers.
    max_entries: usize,
    /// Attempts after which a non-manual address is forgotten.
    max_failures: u32,
}

impl AddrBook {
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: HashMap::new(),
            banned: HashSet::new(),
            excluded: HashSet::new(),
            max_entries,
            max_failures: 6,
        }
    }

    /// Never dial `addr` (our own listen address, which trackers hand back to us).
    pub fn exclude(&mut self, addr: SocketAddr) {
        self.excluded.insert(addr);
        self.entries.remove(&addr);
    }

    /// Adds a dialable address. Returns false when it is known, banned, excluded or the book
    /// is full. A manual peer that is already known becomes manual (tried first, kept).
    pub fn add(&mut self, addr: SocketAddr, source: PeerSource, now: Instant) -> bool {
        if self.banned.contains(&addr.ip()) || self.excluded.contains(&addr) || addr.port() == 0 {
            return false;
        }
        if let Some(e) = self.entries.get_mut(&addr) {
            if source == PeerSource::Manual {
                e.source = PeerSource::Manual;
            }
            return false;
        }
        if self.entries.len() >= self.max_entries {
            return false;
        }
        self.entries.insert(
            addr,
            Entry {
                source,
                state: State::Idle,
                failures: 0,
                next_try: now,
            },
        );
        true
    }

    /// Records an accepted incoming connection (not dialable later: its port is ephemeral).
    /// Returns false when the address is banned.
    pub fn incoming(&mut self, addr: SocketAddr, now: Instant) -> bool {
        if self.banned.contains(&addr.ip()) {
            return false;
        }
        self.entries.insert(
            addr,
            Entry {
                source: PeerSource::Incoming,
                state: State::Connected,
                failures: 0,
                next_try: now,
            },
        );
        true
    }

    /// The best address to dial now, marked as connecting. Manual peers first, then those
    /// that failed least.
    pub fn next_to_dial(&mut self, now: Instant) -> Option<(SocketAddr, PeerSource)> {
        let (addr, _) = self
            .entries
            .iter()
            .filter(|(_, e)| e.state == State::Idle && e.next_try <= now)
            .min_by_key(|(a, e)| (e.source != PeerSource::Manual, e.failures, **a))?;
        let addr = *addr;
        let e = self.entries.get_mut(&addr)?;
        e.state = State::Connecting;
        Some((addr, e.source))
    }

    pub fn source(&self, addr: &SocketAddr) -> Option<PeerSource> {
        self.entries.get(addr).map(|e| e.source)
    }

    pub fn connected(&mut self, addr: SocketAddr) {
        if let Some(e) = self.entries.get_mut(&addr) {
            e.state = State::Connected;
            e.failures = 0;
        }
    }

    /// A dial or handshake failed.
    pub fn dial_failed(&mut self, addr: SocketAddr, now: Instant) {
        let Some(e) = self.entries.get_mut(&addr) else {
            return;
        };
        e.failures += 1;
        if e.failures > self.max_failures && e.source != PeerSource::Manual {
            self.entries.remove(&addr);
            return;
        }
        e.state = State::Idle;
        e.next_try = now + backoff(e.failures);
    }

    /// A connection ended. Incoming addresses are forgotten; others may be dialled again later.
    pub fn disconnected(&mut self, addr: SocketAddr, now: Instant) {
        let Some(e) = self.entries.get_mut(&addr) else {
            return;
        };
        if e.source == PeerSource::Incoming {
            self.entries.remove(&addr);
            return;
        }
        e.state = State::Idle;
        e.failures += 1;
        e.next_try = now + backoff(e.failures);
    }

    /// Makes every idle address dialable now (after the user resumed a paused torrent, the
    /// back-off earned by our own disconnects means nothing).
    pub fn retry_all_now(&mut self, now: Instant) {
        for e in self.entries.values_mut() {
            if e.state == State::Idle {
                e.next_try = now;
            }
        }
    }

    /// Bans an IP: its addresses are dropped and never accepted or dialled again.
    pub fn ban(&mut self, ip: IpAddr) {
        self.banned.insert(ip);
        self.entries.retain(|a, _| a.ip() != ip);
    }

    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.banned.contains(&ip)
    }

    pub fn banned_ips(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = self.banned.iter().copied().collect();
        ips.sort();
        ips
    }

    pub fn banned_count(&self) -> usize {
        self.banned.len()
    }

    /// Addresses known and not connected or connecting.
    pub fn idle_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.state == State::Idle)
            .count()
    }

    /// Every address we may dial (not incoming ones), with where it came from: what a
    /// torrent hands on when it starts over with the same peers (a magnet link whose
    /// metadata arrived).
    pub fn dialable(&self) -> impl Iterator<Item = (SocketAddr, PeerSource)> + '_ {
        self.entries
            .iter()
            .filter(|(_, e)| e.source != PeerSource::Incoming)
            .map(|(a, e)| (*a, e.source))
    }

    pub fn connecting_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.state == State::Connecting)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn manual_first_then_backoff() {
        let t0 = Instant::now();
        let mut book = AddrBook::new(10);
        assert!(book.add(a("127.0.0.2:1"), PeerSource::Tracker, t0));
        assert!(book.add(a("127.0.0.3:1"), PeerSource::Manual, t0));
        assert!(!book.add(a("127.0.0.3:1"), PeerSource::Tracker, t0));
        assert_eq!(
            book.next_to_dial(t0),
            Some((a("127.0.0.3:1"), PeerSource::Manual))
        );
        assert_eq!(
            book.next_to_dial(t0),
            Some((a("127.0.0.2:1"), PeerSource::Tracker))
        );
        assert_eq!(book.next_to_dial(t0), None);
        book.dial_failed(a("127.0.0.2:1"), t0);
        assert_eq!(book.next_to_dial(t0), None);
        // The first failure backs off 20 s.
        assert_eq!(book.next_to_dial(t0 + Duration::from_secs(19)), None);
        assert!(book.next_to_dial(t0 + Duration::from_secs(20)).is_some());
    }

    #[test]
    fn bans_and_limits() {
        let t0 = Instant::now();
        let mut book = AddrBook::new(1);
        assert!(book.add(a("127.0.0.2:1"), PeerSource::Tracker, t0));
        assert!(!book.add(a("127.0.0.4:1"), PeerSource::Tracker, t0), "full");
        book.ban(a("127.0.0.2:9").ip());
        assert!(!book.add(a("127.0.0.2:1"), PeerSource::Tracker, t0));
        assert!(!book.incoming(a("127.0.0.2:5555"), t0));
        book.exclude(a("127.0.0.9:6881"));
        assert!(!book.add(a("127.0.0.9:6881"), PeerSource::Tracker, t0));
    }

    #[test]
    fn gives_up_on_dead_addresses_but_not_manual() {
        let t0 = Instant::now();
        let mut book = AddrBook::new(10);
        book.add(a("127.0.0.2:1"), PeerSource::Tracker, t0);
        book.add(a("127.0.0.3:1"), PeerSource::Manual, t0);
        for i in 1..=10 {
            let later = t0 + Duration::from_secs(3600 * i);
            while let Some((addr, _)) = book.next_to_dial(later) {
                book.dial_failed(addr, later);
            }
        }
        assert_eq!(book.source(&a("127.0.0.2:1")), None);
        assert_eq!(book.source(&a("127.0.0.3:1")), Some(PeerSource::Manual));
    }
}
