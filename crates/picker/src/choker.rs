//! The choker: which peers we upload to.
//!
//! Every `rechoke_interval` (10 s) the choker ranks the interested peers and unchokes the best
//! `slots` (4) of them, plus one optimistic unchoke:
//!
//! * Downloading (tit-for-tat): rank by how fast each peer sends to us, so our upload goes to
//!   peers that reciprocate. A peer we have unchoked for `snub_after` (60 s) that has sent us
//!   nothing in that time while we want its pieces is *snubbing* us: it gets no regular slot
//!   (only the optimistic one) until it sends a block again.
//! * Seeding (nothing to get back): rank by how fast we send to each peer, so our upload goes
//!   where it moves fastest, but a peer unchoked for `seed_turn` or longer drops behind every
//!   peer that has not had its turn, longest-unchoked last: round-robin fairness, so fast peers
//!   cannot keep every slot forever.
//! * Optimistic unchoke: one random interested peer outside the regular slots, rotated every
//!   `optimistic_interval` (30 s). Peers connected less than `new_peer_age` (60 s) are
//!   `new_peer_weight` (3) times as likely to be chosen: they have nothing to trade yet, and
//!   this is how they get a first piece. It is also how we discover a better partner.
//!
//! Equal ranks are broken at random. Peers that are not interested are always choked: they
//! would not request anything.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;

use crate::PeerKey;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChokerConfig {
    /// Regular (non-optimistic) unchoke slots.
    pub slots: usize,
    pub rechoke_interval: Duration,
    pub optimistic_interval: Duration,
    /// Peers connected for less than this are favoured by the optimistic unchoke.
    pub new_peer_age: Duration,
    /// How much more likely a new peer is to be chosen optimistically.
    pub new_peer_weight: u32,
    /// Anti-snubbing: unchoked this long with nothing received marks a peer as snubbing us.
    pub snub_after: Duration,
    /// Seeding: a peer unchoked this long yields its slot to peers that have not had a turn.
    pub seed_turn: Duration,
}

impl Default for ChokerConfig {
    fn default() -> Self {
        Self {
            slots: 4,
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            new_peer_age: Duration::from_secs(60),
            new_peer_weight: 3,
            snub_after: Duration::from_secs(60),
            seed_turn: Duration::from_secs(30),
        }
    }
}

/// What the choker needs to know about one connected peer at a rechoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChokePeerStats {
    pub key: PeerKey,
    /// The peer wants our pieces.
    pub interested: bool,
    /// We want the peer's pieces (only then can it snub us).
    pub am_interested: bool,
    /// Bytes per second the peer sends us.
    pub download_rate: u64,
    /// Bytes per second we send the peer.
    pub upload_rate: u64,
    pub connected_at: Instant,
    /// When the peer last sent us a block.
    pub last_block_at: Option<Instant>,
}

/// The changes one rechoke asks for. Peers in neither list keep their state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rechoke {
    /// Send UNCHOKE to these (ascending).
    pub unchoke: Vec<PeerKey>,
    /// Send CHOKE to these (ascending).
    pub choke: Vec<PeerKey>,
    /// The optimistic unchoke after this round, if any.
    pub optimistic: Option<PeerKey>,
}

/// Sans-IO choker for one torrent.
///
/// Call order: [`Choker::new`]; whenever `now >= poll_timeout()`, call
/// [`rechoke`](Self::rechoke) with every connected peer and send the resulting CHOKE/UNCHOKE
/// messages. Calling `rechoke` early (a slot freed up, a peer became interested) is allowed;
/// the optimistic unchoke still rotates only every `optimistic_interval`. On disconnect call
/// [`remove_peer`](Self::remove_peer). [`set_seeding`](Self::set_seeding) when the download
/// completes.
#[derive(Clone, Debug)]
pub struct Choker {
    config: ChokerConfig,
    seeding: bool,
    /// Peers we unchoke (regular and optimistic), with when we unchoked them.
    unchoked: BTreeMap<PeerKey, Instant>,
    optimistic: Option<PeerKey>,
    /// When the optimistic unchoke rotates next.
    next_optimistic: Instant,
    next_rechoke: Instant,
    /// Peers found snubbing us, with when we noticed; cleared when they send a block after it.
    snubbing: BTreeMap<PeerKey, Instant>,
}

impl Choker {
    /// A choker whose first rechoke is due at `now`.
    pub fn new(config: ChokerConfig, now: Instant) -> Self {
        Self {
            config,
            seeding: false,
            unchoked: BTreeMap::new(),
            optimistic: None,
            next_optimistic: now,
            next_rechoke: now,
            snubbing: BTreeMap::new(),
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_rechoke)
    }
    pub fn set_seeding(&mut self, seeding: bool) {
        self.seeding = seeding;
        if seeding {
            self.snubbing.clear();
        }
    }
    pub fn is_seeding(&self) -> bool {
        self.seeding
    }
    pub fn is_unchoked(&self, peer: PeerKey) -> bool {
        self.unchoked.contains_key(&peer)
    }
    /// Peers currently unchoked, ascending.
    pub fn unchoked(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.unchoked.keys().copied()
    }
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic
    }
    /// Whether the choker currently considers `peer` to be snubbing us.
    pub fn is_snubbing(&self, peer: PeerKey) -> bool {
        self.snubbing.contains_key(&peer)
    }

    /// Forgets a disconnected peer. Returns whether it held an unchoke slot (a rechoke now
    /// would give the slot to someone else).
    pub fn remove_peer(&mut self, peer: PeerKey) -> bool {
        self.snubbing.remove(&peer);
        if self.optimistic == Some(peer) {
            self.optimistic = None;
        }
        self.unchoked.remove(&peer).is_some()
    }

    /// Ranks `peers` (every connected peer) and decides who is unchoked until the next round.
    pub fn rechoke(
        &mut self,
        now: Instant,
        peers: &[ChokePeerStats],
        rng: &mut impl Rng,
    ) -> Rechoke {
        let present: BTreeSet<PeerKey> = peers.iter().map(|p| p.key).collect();
        self.unchoked.retain(|k, _| present.contains(k));
        self.snubbing.retain(|k, _| present.contains(k));
        if !self.seeding {
            self.update_snubbing(now, peers);
        }

        let regular = self.rank(now, peers, rng);
        let optimistic = self.choose_optimistic(now, peers, &regular, rng);

        let mut next: BTreeSet<PeerKey> = regular.into_iter().collect();
        next.extend(optimistic);
        let choke: Vec<PeerKey> = self
            .unchoked
            .keys()
            .filter(|k| !next.contains(k))
            .copied()
            .collect();
        let unchoke: Vec<PeerKey> = next
            .iter()
            .filter(|k| !self.unchoked.contains_key(k))
            .copied()
            .collect();
        self.unchoked.retain(|k, _| next.contains(k));
        for &k in &unchoke {
            self.unchoked.insert(k, now);
        }
        self.optimistic = optimistic;
        self.next_rechoke = now + self.config.rechoke_interval;
        Rechoke {
            unchoke,
            choke,
            optimistic,
        }
    }

    /// Marks peers that take our upload and give nothing back; clears those that resumed.
    fn update_snubbing(&mut self, now: Instant, peers: &[ChokePeerStats]) {
        let after = self.config.snub_after;
        for s in peers {
            if let Some(&since) = self.snubbing.get(&s.key) {
                if !s.am_interested || s.last_block_at.is_some_and(|t| t > since) {
                    self.snubbing.remove(&s.key);
                }
                continue;
            }
            let unchoked_long = self
                .unchoked
                .get(&s.key)
                .is_some_and(|&u| now.saturating_duration_since(u) >= after);
            let silent = s
                .last_block_at
                .is_none_or(|t| now.saturating_duration_since(t) >= after);
            if s.am_interested && unchoked_long && silent {
                self.snubbing.insert(s.key, now);
            }
        }
    }

    /// The peers that get regular slots, best first.
    fn rank(&self, now: Instant, peers: &[ChokePeerStats], rng: &mut impl Rng) -> Vec<PeerKey> {
        let mut candidates: Vec<&ChokePeerStats> = peers
            .iter()
            .filter(|s| s.interested && (self.seeding || !self.snubbing.contains_key(&s.key)))
            .collect();
        // Shuffle, then sort stably: equal ranks end up in random order.
        candidates.shuffle(rng);
        if self.seeding {
            let turn = self.config.seed_turn;
            // `Some(since)` for peers whose turn is over.
            let over = |s: &ChokePeerStats| {
                self.unchoked
                    .get(&s.key)
                    .copied()
                    .filter(|&u| now.saturating_duration_since(u) >= turn)
            };
            candidates.sort_by(|a, b| match (over(a), over(b)) {
                (None, None) => b.upload_rate.cmp(&a.upload_rate),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                // Both had a turn: the one unchoked longest (earliest) goes last.
                (Some(x), Some(y)) => y.cmp(&x),
            });
        } else {
            candidates.sort_by_key(|s| Reverse(s.download_rate));
        }
        candidates
            .into_iter()
            .take(self.config.slots)
            .map(|s| s.key)
            .collect()
    }

    /// Keeps or rotates the optimistic unchoke.
    fn choose_optimistic(
        &mut self,
        now: Instant,
        peers: &[ChokePeerStats],
        regular: &[PeerKey],
        rng: &mut impl Rng,
    ) -> Option<PeerKey> {
        let eligible: Vec<&ChokePeerStats> = peers
            .iter()
            .filter(|s| s.interested && !regular.contains(&s.key))
            .collect();
        let current = self
            .optimistic
            .filter(|k| eligible.iter().any(|s| s.key == *k));
        if current.is_some() && now < self.next_optimistic {
            return current;
        }
        self.next_optimistic = now + self.config.optimistic_interval;
        // Rotate: prefer someone other than the current holder when there is anyone else.
        let pool: Vec<&ChokePeerStats> = if eligible.iter().any(|s| Some(s.key) != current) {
            eligible
                .into_iter()
                .filter(|s| Some(s.key) != current)
                .collect()
        } else {
            eligible
        };
        let weight = |s: &ChokePeerStats| {
            if now.saturating_duration_since(s.connected_at) < self.config.new_peer_age {
                u64::from(self.config.new_peer_weight.max(1))
            } else {
                1
            }
        };
        let total: u64 = pool.iter().map(|s| weight(s)).sum();
        if total == 0 {
            return None;
        }
        let mut ticket = rng.random_range(0..total);
        for s in &pool {
            let w = weight(s);
            if ticket < w {
                return Some(s.key);
            }
            ticket -= w;
        }
        None
    }
}
