//! The peers other nodes announced to us (BEP 5 `announce_peer`), with expiry and caps.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::proto::compact::Family;
use crate::proto::id::NodeId;

/// An announced peer is forgotten this long after its last announce (peers re-announce
/// every 15 to 30 minutes).
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
/// Peers kept per info-hash; a full list drops the peer closest to expiry.
pub const MAX_PEERS_PER_HASH: usize = 100;
/// Info-hashes kept; announces for new ones are refused when full.
pub const MAX_HASHES: usize = 1000;

/// What an announce did to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    Refreshed,
    /// The store holds [`MAX_HASHES`] info-hashes already: the announce is refused (202).
    Full,
}

#[derive(Clone, Copy, Debug)]
struct Stored {
    addr: SocketAddr,
    expires: Instant,
}

/// Announced peers by info-hash.
#[derive(Clone, Debug, Default)]
pub struct PeerStore {
    map: HashMap<NodeId, Vec<Stored>>,
}

impl PeerStore {
    pub fn announce(&mut self, now: Instant, info_hash: NodeId, addr: SocketAddr) -> StoreOutcome {
        if !self.map.contains_key(&info_hash) && self.map.len() >= MAX_HASHES {
            self.expire(now);
            if self.map.len() >= MAX_HASHES {
                return StoreOutcome::Full;
            }
        }
        let list = self.map.entry(info_hash).or_default();
        let expires = now + PEER_TTL;
        if let Some(p) = list.iter_mut().find(|p| p.addr == addr) {
            p.expires = expires;
            return StoreOutcome::Refreshed;
        }
        list.retain(|p| p.expires > now);
        if list.len() >= MAX_PEERS_PER_HASH {
            if let Some(pos) = list
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.expires)
                .map(|(i, _)| i)
            {
                list.swap_remove(pos);
            }
        }
        list.push(Stored { addr, expires });
        StoreOutcome::Stored
    }

    /// Up to `max` live peers of `family` for `info_hash`, most recently announced first.
    pub fn peers(
        &self,
        now: Instant,
        info_hash: &NodeId,
        family: Family,
        max: usize,
    ) -> Vec<SocketAddr> {
        let Some(list) = self.map.get(info_hash) else {
            return Vec::new();
        };
        let mut live: Vec<&Stored> = list
            .iter()
            .filter(|p| p.expires > now && Family::of(&p.addr) == family)
            .collect();
        live.sort_by_key(|p| std::cmp::Reverse(p.expires));
        live.into_iter().take(max).map(|p| p.addr).collect()
    }

    /// Drops expired peers and empty info-hashes.
    pub fn expire(&mut self, now: Instant) {
        self.map.retain(|_, list| {
            list.retain(|p| p.expires > now);
            !list.is_empty()
        });
    }

    /// (info-hashes, peers) held.
    pub fn size(&self) -> (usize, usize) {
        (self.map.len(), self.map.values().map(Vec::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::from(([127, 1, (i >> 8) as u8, i as u8], 6881))
    }

    #[test]
    fn peers_expire_after_thirty_minutes_unless_reannounced() {
        let t0 = Instant::now();
        let mut s = PeerStore::default();
        let ih = NodeId([1; 20]);
        assert_eq!(s.announce(t0, ih, addr(1)), StoreOutcome::Stored);
        assert_eq!(s.announce(t0, ih, addr(2)), StoreOutcome::Stored);
        let t1 = t0 + Duration::from_secs(20 * 60);
        assert_eq!(s.announce(t1, ih, addr(2)), StoreOutcome::Refreshed);
        assert_eq!(s.peers(t1, &ih, Family::V4, 10), vec![addr(2), addr(1)]);
        let t2 = t0 + PEER_TTL;
        assert_eq!(s.peers(t2, &ih, Family::V4, 10), vec![addr(2)]);
        assert!(s.peers(t2, &ih, Family::V6, 10).is_empty());
        s.expire(t1 + PEER_TTL);
        assert_eq!(s.size(), (0, 0));
    }

    #[test]
    fn caps_hold() {
        let t0 = Instant::now();
        let mut s = PeerStore::default();
        let ih = NodeId([1; 20]);
        for i in 0..(MAX_PEERS_PER_HASH as u32 + 50) {
            s.announce(t0 + Duration::from_secs(u64::from(i)), ih, addr(i));
        }
        let now = t0 + Duration::from_secs(1000);
        let peers = s.peers(now, &ih, Family::V4, usize::MAX);
        assert_eq!(peers.len(), MAX_PEERS_PER_HASH);
        assert!(!peers.contains(&addr(0)), "the oldest was dropped");
        for i in 1..MAX_HASHES {
            let mut id = [0u8; 20];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            assert_ne!(s.announce(now, NodeId(id), addr(1)), StoreOutcome::Full);
        }
        assert_eq!(
            s.announce(now, NodeId([9; 20]), addr(1)),
            StoreOutcome::Full
        );
        // Once entries expire there is room again.
        let later = now + PEER_TTL + Duration::from_secs(200);
        assert_eq!(
            s.announce(later, NodeId([9; 20]), addr(1)),
            StoreOutcome::Stored
        );
    }
}
