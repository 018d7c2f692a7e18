//! The dashboard's snapshot model: what one redraw knows about the session.
//!
//! [`TorrentView`] wraps the engine's [`TorrentStats`] and [`TrackerStatus`] and adds the
//! fields the engine does not publish yet (per-piece data, rate limits, disk limits, peer
//! transports). Each added field is optional or has a neutral default, so the engine can fill
//! them one at a time and the dashboard shows "—" for what is missing instead of guessing.

use std::fmt;

use shoal_core::{Bitfield, PieceIndex};
use shoal_engine::announce::TrackerStatus;
use shoal_engine::{TorrentState, TorrentStats};
use shoal_swarm::{PeerKey, SwarmConfig};

/// Names a torrent in [`crate::Command`]s: its info-hash in hex, exactly as the engine
/// publishes it in [`TorrentStats::info_hash_hex`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentId(String);

impl TorrentId {
    pub fn new(info_hash_hex: impl Into<String>) -> Self {
        Self(info_hash_hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TorrentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything one redraw shows, replaced as a whole on every publish.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Torrents in the order the list shows them.
    pub torrents: Vec<TorrentView>,
    /// The session's DHT node, when one runs.
    pub dht: Option<DhtView>,
}

/// What the DHT node reports (session-wide).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DhtView {
    /// Nodes in the routing table.
    pub nodes: usize,
    /// Iterative lookups (get_peers / announce) running now.
    pub lookups: usize,
}

/// One torrent as the dashboard sees it.
#[derive(Clone, Debug)]
pub struct TorrentView {
    pub stats: TorrentStats,
    /// One entry per tracker (or per tracker tier, as the announcer reports); empty for a
    /// trackerless torrent.
    pub trackers: Vec<TrackerStatus>,
    /// Per-piece state; `None` until the engine publishes it.
    pub pieces: Option<PieceMap>,
    pub limits: RateLimits,
    pub disk: DiskView,
    /// Transport details per connected peer; peers not listed are shown as unknown.
    pub transports: Vec<(PeerKey, PeerTransport)>,
}

impl TorrentView {
    /// A view with only what the engine publishes today.
    pub fn new(stats: TorrentStats, trackers: Vec<TrackerStatus>) -> Self {
        Self {
            stats,
            trackers,
            pieces: None,
            limits: RateLimits::default(),
            disk: DiskView::default(),
            transports: Vec::new(),
        }
    }

    pub fn id(&self) -> TorrentId {
        TorrentId::new(self.stats.info_hash_hex.clone())
    }

    pub fn state(&self) -> &TorrentState {
        &self.stats.state
    }

    pub fn transport(&self, key: PeerKey) -> Option<PeerTransport> {
        self.transports
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| *t)
    }

    /// The disk queue size above which downloading waits for the disk.
    pub fn disk_queue_limit(&self) -> u64 {
        self.disk
            .queue_limit
            .unwrap_or_else(|| SwarmConfig::default().max_disk_queue)
    }
}

/// Configured rate limits in bytes per second; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub down: Option<u64>,
    pub up: Option<u64>,
}

/// Disk facts beyond the queue size in [`TorrentStats::disk_queue_bytes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskView {
    /// The engine's cap on queued bytes; `None` means the swarm default.
    pub queue_limit: Option<u64>,
    /// The last disk error was "no space left"; explains [`TorrentState::DiskPaused`].
    pub full: bool,
}

/// How the connection to a peer is carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerTransport {
    pub encrypted: bool,
    pub utp: bool,
}

/// The lengths of a [`PieceMap`]'s parts disagree; the dashboard shows no piece data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("piece map parts disagree: have {have}, downloading {downloading}, availability {availability} pieces")]
pub struct PieceMapError {
    pub have: u32,
    pub downloading: u32,
    pub availability: usize,
}

/// Per-piece state of one torrent: what we have, what is being fetched, and how many
/// connected peers hold each piece. The three parts always have the same length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceMap {
    have: Bitfield,
    downloading: Bitfield,
    availability: Vec<u16>,
}

impl PieceMap {
    pub fn new(
        have: Bitfield,
        downloading: Bitfield,
        availability: Vec<u16>,
    ) -> Result<Self, PieceMapError> {
        let same = have.len() == downloading.len()
            && usize::try_from(have.len()).is_ok_and(|n| n == availability.len());
        if !same {
            return Err(PieceMapError {
                have: have.len(),
                downloading: downloading.len(),
                availability: availability.len(),
            });
        }
        Ok(Self {
            have,
            downloading,
            availability,
        })
    }

    pub fn len(&self) -> u32 {
        self.have.len()
    }

    pub fn is_empty(&self) -> bool {
        self.have.is_empty()
    }

    pub fn have(&self, i: u32) -> bool {
        self.have.get(i)
    }

    pub fn downloading(&self, i: u32) -> bool {
        self.downloading.get(i)
    }

    /// Connected peers holding piece `i` (0 when out of range).
    pub fn availability(&self, i: u32) -> u16 {
        self.availability.get(i as usize).copied().unwrap_or(0)
    }

    pub fn have_count(&self) -> u32 {
        self.have.count_ones()
    }

    pub fn downloading_count(&self) -> u32 {
        self.downloading.count_ones()
    }

    /// Pieces we lack that no connected peer holds: the download cannot finish until a peer
    /// with them connects.
    pub fn unavailable_missing(&self) -> u32 {
        let n = self
            .availability
            .iter()
            .enumerate()
            .filter(|&(i, &a)| a == 0 && !self.have.get(i as u32))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Distributed copies among the connected peers (we are not counted): the lowest
    /// availability plus the fraction of pieces above it. Below 1.0 the peers together do
    /// not hold the whole torrent.
    pub fn distributed_copies(&self) -> Option<f64> {
        let min = *self.availability.iter().min()?;
        let above = self.availability.iter().filter(|&&a| a > min).count();
        Some(f64::from(min) + above as f64 / self.availability.len() as f64)
    }

    /// Up to `n` of the rarest pieces we still need (all pieces once we have everything),
    /// rarest first, ties by index.
    pub fn rarest(&self, n: usize) -> Vec<(PieceIndex, u16)> {
        let complete = self.have.is_full();
        let mut out: Vec<(PieceIndex, u16)> = self
            .availability
            .iter()
            .enumerate()
            .filter(|&(i, _)| complete || !self.have.get(i as u32))
            .map(|(i, &a)| (PieceIndex::new_unchecked_in_range(i as u32), a))
            .collect();
        out.sort_by_key(|&(i, a)| (a, i));
        out.truncate(n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(s: &str) -> Bitfield {
        let mut b = Bitfield::new(s.len() as u32);
        for (i, c) in s.chars().enumerate() {
            b.set(i as u32, c == '1');
        }
        b
    }

    #[test]
    fn rejects_mismatched_parts() {
        let err = PieceMap::new(bits("101"), bits("000"), vec![1, 2]).unwrap_err();
        assert_eq!(err.availability, 2);
        assert!(PieceMap::new(bits("101"), bits("00"), vec![1, 2, 3]).is_err());
    }

    #[test]
    fn counts_unavailable_missing_and_copies() {
        let map = PieceMap::new(bits("1100"), bits("0010"), vec![0, 2, 0, 3]).unwrap();
        // Piece 0 has no peer but we hold it; piece 2 is missing everywhere.
        assert_eq!(map.unavailable_missing(), 1);
        assert_eq!(map.distributed_copies(), Some(0.5));
        let rare: Vec<u32> = map.rarest(5).iter().map(|(i, _)| i.get()).collect();
        assert_eq!(rare, vec![2, 3]);
        assert_eq!(map.availability(99), 0);
    }

    #[test]
    fn rarest_covers_all_pieces_when_complete() {
        let map = PieceMap::new(bits("111"), bits("000"), vec![3, 1, 2]).unwrap();
        assert_eq!(map.rarest(2)[0].0.get(), 1);
        assert_eq!(map.distributed_copies(), Some(1.0 + 2.0 / 3.0));
    }
}
