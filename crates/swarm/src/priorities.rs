//! Which files to download.

use shoal_picker::Priority;

use crate::swarm::Swarm;

impl Swarm {
    /// Downloads only the files flagged `true` (`lengths` and `wanted` in file order, pad
    /// files included); pieces shared with a wanted file are still downloaded. Returns false,
    /// changing nothing, when the lists do not fit the torrent. Interest in peers is recounted
    /// on the next input. When every wanted piece is already here this sends
    /// [`SwarmEvent::Completed`](crate::SwarmEvent::Completed).
    pub fn set_wanted_files(&mut self, lengths: &[u64], wanted: &[bool]) -> bool {
        if lengths.len() != wanted.len() {
            return false;
        }
        let files: Vec<(u64, Priority)> = lengths
            .iter()
            .zip(wanted)
            .map(|(len, w)| (*len, if *w { Priority::NORMAL } else { Priority::SKIP }))
            .collect();
        if self.picker.set_file_priorities(&files).is_err() {
            return false;
        }
        let finished = self.picker.is_finished();
        if finished && !self.completed {
            self.events.push_back(crate::SwarmEvent::Completed);
        }
        self.completed = finished;
        self.choker.set_seeding(finished);
        // Which peers are interesting changed; recounted with the time of the next input.
        self.recount_interest = true;
        true
    }
}

/// Per-piece state for the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceMapSnapshot {
    /// Verified pieces.
    pub have: shoal_core::Bitfield,
    /// Pieces with blocks requested or received but not yet verified.
    pub downloading: shoal_core::Bitfield,
    /// Connected peers holding each piece (saturating at `u16::MAX`).
    pub availability: Vec<u16>,
}

impl Swarm {
    /// A copy of the per-piece state: O(pieces), so callers take it at a slow pace.
    pub fn piece_map(&self) -> PieceMapSnapshot {
        let have = self.picker.have().clone();
        let count = have.len();
        let mut downloading = shoal_core::Bitfield::new(count);
        for p in self.picker.partial_pieces() {
            downloading.set(p.get(), true);
        }
        for p in self.pieces.keys().chain(self.at_disk.keys()) {
            downloading.set(p.get(), true);
        }
        let availability = (0..count)
            .map(|i| {
                let piece = shoal_core::PieceIndex::new_unchecked_in_range(i);
                u16::try_from(self.picker.availability(piece)).unwrap_or(u16::MAX)
            })
            .collect();
        PieceMapSnapshot {
            have,
            downloading,
            availability,
        }
    }
}

impl Swarm {
    /// Pieces we had are gone or changed on disk: they are missing again and will be
    /// downloaded (peers asking for them are refused from now on).
    pub fn lose_pieces(&mut self, now: std::time::Instant, pieces: &[shoal_core::PieceIndex]) {
        let mut lost = false;
        for p in pieces {
            lost |= self.picker.on_piece_lost(*p);
        }
        if !lost {
            return;
        }
        if self.completed && !self.picker.is_finished() {
            self.completed = false;
            self.choker.set_seeding(false);
        }
        // The wanted set changed: every peer's interest count is redone.
        self.recount_all_interest(now);
        self.finish_input(now);
    }
}

impl Swarm {
    /// Pauses or resumes the torrent for the user. Paused: every connection is closed and
    /// nobody is dialled or accepted. Resumed: known peers are dialled again at once.
    pub fn set_paused(&mut self, now: std::time::Instant, paused: bool) {
        if self.user_paused == paused {
            return;
        }
        self.user_paused = paused;
        if paused {
            let keys: Vec<shoal_picker::PeerKey> = self.peers.keys().copied().collect();
            for key in keys {
                self.close(now, key, crate::CloseReason::Stopping);
            }
        } else {
            self.addrs.retry_all_now(now);
            self.dial_more(now);
        }
    }

    pub fn is_paused(&self) -> bool {
        self.user_paused
    }
}
