//! The choker on a virtual clock: `base + seconds`, seeded RNG.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::{ChokePeerStats, Choker, ChokerConfig, PeerKey};

fn key(k: u64) -> PeerKey {
    PeerKey::new(k)
}

fn keys(v: &[PeerKey]) -> Vec<u64> {
    v.iter().map(|k| k.get()).collect()
}

/// A clock, a choker and a population of peers whose stats tests edit between rounds.
struct Sim {
    base: Instant,
    choker: Choker,
    peers: Vec<ChokePeerStats>,
    rng: StdRng,
    /// Peers that stop sending blocks; every other peer with a download rate sends up to
    /// each rechoke.
    silent: Vec<u64>,
}

impl Sim {
    /// Peers `0..download_rates.len()`, interested both ways, connected ten minutes before
    /// `base` and sending blocks right up to it.
    fn new(download_rates: &[u64], seed: u64) -> Self {
        let base = Instant::now() + Duration::from_secs(3600);
        let long_ago = base - Duration::from_secs(600);
        let peers = (0u64..)
            .zip(download_rates)
            .map(|(k, &rate)| ChokePeerStats {
                key: key(k),
                interested: true,
                am_interested: true,
                download_rate: rate,
                upload_rate: 0,
                connected_at: long_ago,
                last_block_at: Some(base),
            })
            .collect();
        Self {
            base,
            choker: Choker::new(ChokerConfig::default(), base),
            peers,
            rng: StdRng::seed_from_u64(seed),
            silent: Vec::new(),
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.base + Duration::from_secs(secs)
    }

    fn rechoke(&mut self, secs: u64) -> crate::Rechoke {
        let now = self.at(secs);
        for p in &mut self.peers {
            if p.download_rate > 0 && !self.silent.contains(&p.key.get()) {
                p.last_block_at = Some(now);
            }
        }
        self.choker.rechoke(now, &self.peers, &mut self.rng)
    }

    fn unchoked(&self) -> Vec<u64> {
        self.choker.unchoked().map(PeerKey::get).collect()
    }

    /// Unchoked peers other than the optimistic one.
    fn regular(&self) -> Vec<u64> {
        let opt = self.choker.optimistic();
        self.choker
            .unchoked()
            .filter(|&k| Some(k) != opt)
            .map(PeerKey::get)
            .collect()
    }
}

#[test]
fn first_rechoke_is_due_at_once_then_every_ten_seconds() {
    let mut sim = Sim::new(&[1], 0);
    assert_eq!(sim.choker.poll_timeout(), Some(sim.base));
    sim.rechoke(0);
    assert_eq!(sim.choker.poll_timeout(), Some(sim.at(10)));
}

#[test]
fn tit_for_tat_unchokes_the_best_uploaders() {
    let mut sim = Sim::new(&[10, 50, 20, 40, 30, 0], 1);
    let r = sim.rechoke(0);
    assert_eq!(sim.regular(), [1, 2, 3, 4]);
    let opt = r.optimistic.map(PeerKey::get);
    assert!(
        matches!(opt, Some(0) | Some(5)),
        "optimistic {opt:?} comes from outside the top four"
    );
    assert_eq!(r.choke, []);
    assert_eq!(r.unchoke.len(), 5);
    // Rates change: peer 0 overtakes peer 2, which is choked (unless it became optimistic).
    sim.peers[0].download_rate = 60;
    let r = sim.rechoke(10);
    assert_eq!(sim.regular().iter().filter(|&&k| k != 2).count(), 4);
    assert!(sim.regular().contains(&0));
    if sim.choker.optimistic() != Some(key(2)) {
        assert!(keys(&r.choke).contains(&2));
    }
}

#[test]
fn uninterested_peers_stay_choked() {
    let mut sim = Sim::new(&[100, 90, 1], 2);
    sim.peers[0].interested = false;
    sim.peers[1].interested = false;
    let r = sim.rechoke(0);
    assert_eq!(keys(&r.unchoke), [2]);
    assert_eq!(sim.unchoked(), [2]);
}

#[test]
fn optimistic_unchoke_rotates_every_thirty_seconds() {
    // Peers 0-3 hold the regular slots; 4-9 compete for the optimistic one.
    let mut sim = Sim::new(&[100, 100, 100, 100, 0, 0, 0, 0, 0, 0], 3);
    let mut holders = Vec::new();
    for round in 0..12u64 {
        let r = sim.rechoke(round * 10);
        let opt = r.optimistic.expect("someone is eligible");
        assert!(opt.get() >= 4);
        holders.push(opt.get());
    }
    for window in holders.chunks(3) {
        assert!(
            window.iter().all(|&h| h == window[0]),
            "held for 30 s: {holders:?}"
        );
    }
    for pair in holders.chunks(3).collect::<Vec<_>>().windows(2) {
        assert_ne!(pair[0][0], pair[1][0], "rotated at 30 s: {holders:?}");
    }
}

#[test]
fn optimistic_slot_is_refilled_when_its_holder_leaves() {
    let mut sim = Sim::new(&[100, 100, 100, 100, 0, 0], 4);
    let opt = sim.rechoke(0).optimistic.expect("eligible peers");
    assert!(sim.choker.remove_peer(opt));
    sim.peers.retain(|p| p.key != opt);
    let r = sim.rechoke(5);
    let other = if opt.get() == 4 { 5 } else { 4 };
    assert_eq!(r.optimistic.map(PeerKey::get), Some(other));
}

#[test]
fn new_peers_are_three_times_as_likely_to_be_optimistic() {
    let mut new_wins = 0;
    for seed in 0..1000 {
        let mut sim = Sim::new(&[100, 100, 100, 100, 0, 0], seed);
        sim.peers[5].connected_at = sim.base - Duration::from_secs(20);
        if sim.rechoke(0).optimistic == Some(key(5)) {
            new_wins += 1;
        }
    }
    // Expected 750 of 1000.
    assert!(
        (690..=810).contains(&new_wins),
        "new peer chosen {new_wins} times"
    );
}

#[test]
fn snubbing_peer_loses_its_regular_slot_until_it_sends_again() {
    let mut sim = Sim::new(&[100, 90, 80, 70, 10], 5);
    sim.rechoke(0);
    assert_eq!(sim.regular(), [0, 1, 2, 3]);
    // Peer 0 stops sending; its averaged rate lags and still ranks it first.
    sim.silent.push(0);
    for t in [10, 20, 30, 40, 50] {
        sim.rechoke(t);
        assert!(
            sim.regular().contains(&0),
            "not snubbing before 60 s (t={t})"
        );
    }
    sim.rechoke(60);
    assert!(sim.choker.is_snubbing(key(0)));
    assert!(!sim.regular().contains(&0));
    assert!(
        sim.regular().contains(&4),
        "the slot goes to the next best peer"
    );
    // A block arrives: the mark clears at the next round and tit-for-tat ranks it again.
    sim.silent.clear();
    sim.rechoke(70);
    assert!(!sim.choker.is_snubbing(key(0)));
    assert!(sim.regular().contains(&0));
}

#[test]
fn a_peer_we_want_nothing_from_cannot_snub_us() {
    let mut sim = Sim::new(&[0, 0], 6);
    sim.peers[0].am_interested = false;
    sim.peers[0].last_block_at = None;
    for t in (0..=120).step_by(10) {
        sim.rechoke(t);
    }
    assert!(!sim.choker.is_snubbing(key(0)));
    assert!(sim.choker.is_unchoked(key(0)));
}

#[test]
fn seeding_prefers_the_fastest_downloaders() {
    let mut sim = Sim::new(&[0; 6], 7);
    sim.choker.set_seeding(true);
    for (p, rate) in sim.peers.iter_mut().zip([5, 60, 10, 40, 50, 30]) {
        p.upload_rate = rate;
    }
    sim.rechoke(0);
    assert_eq!(sim.regular(), [1, 3, 4, 5]);
}

#[test]
fn seeding_rotates_peers_that_had_their_turn() {
    let mut sim = Sim::new(&[0; 10], 8);
    sim.choker.set_seeding(true);
    let mut since = std::collections::BTreeMap::new();
    let mut ever = BTreeSet::new();
    for round in 0..9u64 {
        let t = round * 10;
        // We send only to unchoked peers, and the higher keys have the faster links: without
        // rotation peers 6-9 would keep the slots forever.
        let unchoked: Vec<PeerKey> = sim.choker.unchoked().collect();
        for p in &mut sim.peers {
            p.upload_rate = if unchoked.contains(&p.key) {
                100 + p.key.get()
            } else {
                0
            };
        }
        let r = sim.rechoke(t);
        for k in r.choke {
            since.remove(&k.get());
        }
        for k in r.unchoke {
            since.insert(k.get(), t);
        }
        for k in sim.regular() {
            assert!(
                t - since[&k] < 30,
                "peer {k} kept a regular slot since {} at t={t}",
                since[&k]
            );
        }
        ever.extend(sim.regular());
    }
    assert_eq!(
        ever.len(),
        10,
        "every peer got a regular slot within 80 s: {ever:?}"
    );
}

#[test]
fn removed_peers_free_their_slot() {
    let mut sim = Sim::new(&[10, 20], 9);
    sim.rechoke(0);
    assert!(sim.choker.remove_peer(key(1)));
    assert!(!sim.choker.remove_peer(key(1)));
    sim.peers.pop();
    let r = sim.rechoke(10);
    assert_eq!(r.choke, []);
    assert_eq!(sim.unchoked(), [0]);
}
