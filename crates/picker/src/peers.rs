//! Which blocks each peer has in flight, and when each peer's requests time out.
//!
//! A request times out per peer, not per block: a peer has stalled when it has live requests
//! and has delivered nothing for `timeout` since its last delivery (or since it got its first
//! request after being idle). Timing each block from the moment it was sent would punish deep
//! pipelines: the 200th block of a queue arrives late by design, not because the peer stalled.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::{BlockRef, PeerKey};

#[derive(Clone, Debug, Default)]
pub(crate) struct PeerRequests {
    /// Every block this peer has a request for, live or timed out.
    pub blocks: BTreeSet<BlockRef>,
    /// How many of `blocks` are not timed out.
    pub live: u32,
    /// Last delivery, or the request that ended an idle spell; the deadline counts from here.
    pub progress: Option<Instant>,
    /// The entry this peer has in `PeerTable::deadlines`, if any.
    pub deadline: Option<Instant>,
}

/// Requests by peer. Ordered maps keep iteration, and so a seeded run, deterministic.
#[derive(Clone, Debug)]
pub(crate) struct PeerTable {
    peers: BTreeMap<PeerKey, PeerRequests>,
    deadlines: BTreeSet<(Instant, PeerKey)>,
    timeout: Duration,
}

impl PeerTable {
    pub fn new(timeout: Duration) -> Self {
        Self {
            peers: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            timeout,
        }
    }

    pub fn get(&self, peer: PeerKey) -> Option<&PeerRequests> {
        self.peers.get(&peer)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PeerKey, &PeerRequests)> {
        self.peers.iter()
    }

    /// Number of requests `peer` has outstanding (timed out ones included).
    pub fn outstanding(&self, peer: PeerKey) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.blocks.len())
    }

    /// Records a new live request.
    pub fn add(&mut self, peer: PeerKey, block: BlockRef, now: Instant) {
        let entry = self.peers.entry(peer).or_default();
        if !entry.blocks.insert(block) {
            return;
        }
        if entry.live == 0 {
            // The peer was idle (or had only stale requests): its clock starts now.
            entry.progress = Some(now);
        }
        entry.live += 1;
        self.refresh(peer);
    }

    /// Forgets one request; `live` says whether it had not timed out.
    pub fn remove(&mut self, peer: PeerKey, block: BlockRef, live: bool) {
        let Some(entry) = self.peers.get_mut(&peer) else {
            return;
        };
        if !entry.blocks.remove(&block) {
            return;
        }
        if live {
            entry.live = entry.live.saturating_sub(1);
        }
        if entry.blocks.is_empty() {
            if let Some(d) = entry.deadline {
                self.deadlines.remove(&(d, peer));
            }
            self.peers.remove(&peer);
        } else {
            self.refresh(peer);
        }
    }

    /// The peer delivered a block: its stall clock restarts.
    pub fn progress(&mut self, peer: PeerKey, now: Instant) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.progress = Some(now);
            self.refresh(peer);
        }
    }

    /// Forgets every request of `peer`, returning them.
    pub fn take(&mut self, peer: PeerKey) -> BTreeSet<BlockRef> {
        let Some(entry) = self.peers.remove(&peer) else {
            return BTreeSet::new();
        };
        if let Some(d) = entry.deadline {
            self.deadlines.remove(&(d, peer));
        }
        entry.blocks
    }

    /// The earliest peer deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(d, _)| d)
    }

    /// Removes and returns the first peer whose deadline is at or before `now`; the caller
    /// marks its live requests timed out and then calls [`Self::expired`].
    pub fn pop_expired(&mut self, now: Instant) -> Option<(PeerKey, Vec<BlockRef>)> {
        let &(d, peer) = self.deadlines.first()?;
        if d > now {
            return None;
        }
        self.deadlines.remove(&(d, peer));
        let entry = self.peers.get_mut(&peer)?;
        entry.deadline = None;
        Some((peer, entry.blocks.iter().copied().collect()))
    }

    /// All of `peer`'s requests are now timed out.
    pub fn expired(&mut self, peer: PeerKey) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.live = 0;
            self.refresh(peer);
        }
    }

    /// Puts the peer's deadline entry in line with its live count and progress time.
    fn refresh(&mut self, peer: PeerKey) {
        let Some(entry) = self.peers.get_mut(&peer) else {
            return;
        };
        let want = match (entry.live, entry.progress) {
            (0, _) | (_, None) => None,
            (_, Some(t)) => Some(t + self.timeout),
        };
        if want == entry.deadline {
            return;
        }
        if let Some(old) = entry.deadline {
            self.deadlines.remove(&(old, peer));
        }
        if let Some(new) = want {
            self.deadlines.insert((new, peer));
        }
        entry.deadline = want;
    }

    /// Checks that deadlines mirror live counts and progress times.
    pub fn check(&self) -> Result<(), String> {
        let mut entries = 0;
        for (&peer, e) in &self.peers {
            if e.blocks.is_empty() {
                return Err(format!("{peer:?} kept with no requests"));
            }
            if e.live as usize > e.blocks.len() {
                return Err(format!(
                    "{peer:?} has {} live of {} requests",
                    e.live,
                    e.blocks.len()
                ));
            }
            let want = if e.live > 0 {
                e.progress.map(|t| t + self.timeout)
            } else {
                None
            };
            if e.deadline != want {
                return Err(format!(
                    "{peer:?} deadline {:?}, expected {want:?}",
                    e.deadline
                ));
            }
            if let Some(d) = e.deadline {
                entries += 1;
                if !self.deadlines.contains(&(d, peer)) {
                    return Err(format!("{peer:?} deadline not indexed"));
                }
            }
        }
        if entries != self.deadlines.len() {
            return Err("deadline index holds stale entries".into());
        }
        Ok(())
    }
}
