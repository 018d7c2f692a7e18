//! What we ask peers for: interest, and topping up each peer's request pipeline.
//!
//! Pipelines are not refilled in the middle of an input. Inputs only note which peers may
//! have room (`to_fill`) or that blocks went back to the pool for everyone (`fill_all`), and
//! [`Swarm::flush_fills`] tops them up as the input's last step. A 64 KiB read holding four
//! blocks then costs one pick instead of four, and every request leaves after the disk queue
//! and interest were brought up to date by the same input.

use std::time::Instant;

use shoal_core::Bitfield;
use shoal_picker::{pipeline_depth, PeerKey, PeerView};
use shoal_wire::{BlockRange, RequestOutcome};

use crate::peer::Counted;
use crate::swarm::Swarm;

/// Pieces set in both bitfields (same length: both are this torrent's).
pub(crate) fn count_common(a: &Bitfield, b: &Bitfield) -> u32 {
    a.as_bytes()
        .iter()
        .zip(b.as_bytes())
        .map(|(x, y)| (x & y).count_ones())
        .sum()
}

impl Swarm {
    /// Sends INTERESTED / NOT INTERESTED when the peer's wanted-piece count says so.
    pub(crate) fn update_interest(&mut self, now: Instant, key: PeerKey) {
        let paused = self.download_paused;
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let interesting = !paused && peer.wanted_have > 0;
        if interesting != peer.interesting {
            peer.interesting = interesting;
            if interesting {
                peer.session.send_interested(now);
                self.to_fill.insert(key);
            } else {
                peer.session.send_not_interested(now);
            }
            self.dirty.insert(key);
        }
    }

    /// Recounts every peer's wanted pieces from scratch (after the wanted set changed) and
    /// updates interest. O(peers × pieces / 8); only for rare changes.
    pub(crate) fn recount_all_interest(&mut self, now: Instant) {
        let wanted = self.picker.wanted();
        let wanted_total = wanted.count_ones();
        for peer in self.peers.values_mut() {
            peer.wanted_have = match peer.counted {
                Counted::All => wanted_total,
                Counted::Pieces => peer
                    .session
                    .peer_pieces()
                    .map_or(0, |b| count_common(b, wanted)),
            };
            peer.starved = false;
        }
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.update_interest(now, k);
        }
        self.fill_all = true;
    }

    /// Tops up the pipelines of the peers this input concerned (or of every peer).
    pub(crate) fn flush_fills(&mut self, now: Instant) {
        // A round over every peer can ask for another (the endgame began during it); a few
        // rounds settle it, and the bound keeps a pathological flip-flop from spinning.
        let mut rounds = 0;
        loop {
            if self.fill_all && rounds < 4 {
                rounds += 1;
                self.fill_all = false;
                self.to_fill.clear();
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in keys {
                    self.fill_requests(now, k);
                }
            } else if let Some(k) = self.to_fill.pop_first() {
                self.fill_requests(now, k);
            } else {
                self.fill_all = false;
                return;
            }
        }
    }

    /// Tops up the peer's request pipeline to its depth, in one burst.
    ///
    /// Nothing is requested while downloading is paused, when the download is complete, or
    /// while the disk queue is at or above `max_disk_queue` (the disk completion that brings
    /// it back below wakes every peer).
    pub(crate) fn fill_requests(&mut self, now: Instant, key: PeerKey) {
        if self.download_paused
            || self.completed
            || self.disk_queue_bytes >= self.config.max_disk_queue
        {
            return;
        }
        let snubbed = self.choker.is_snubbing(key);
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if !peer.interesting {
            return;
        }
        let choked = peer.session.peer_choking();
        if choked && (!peer.session.features().fast || peer.session.allowed_fast().is_empty()) {
            return;
        }
        let rate = peer.down.per_second(now);
        let reqq = peer.session.peer_ext_handshake().and_then(|h| h.reqq);
        let depth = pipeline_depth(rate, self.config.rtt, reqq);
        let outstanding = self.picker.outstanding(key);
        if outstanding >= depth {
            return;
        }
        // Only now, when the peer can be asked for something, may it claim a retried piece.
        let hidden = self.retries_hidden_from(key);
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let want = depth - outstanding;
        // While choked only allowed-fast pieces can be asked for: pick from those alone
        // rather than have the session refuse everything else.
        let allowed;
        let has: &Bitfield = if choked {
            let mut bits = Bitfield::new(self.geometry.piece_count());
            for &p in peer.session.allowed_fast() {
                if peer.has(p) {
                    bits.set(p.get(), true);
                }
            }
            allowed = bits;
            &allowed
        } else {
            match peer.counted {
                Counted::All => &self.all_pieces,
                Counted::Pieces => match peer.session.peer_pieces() {
                    Some(b) => b,
                    None => return,
                },
            }
        };
        // Failed pieces being fetched again from another peer alone are not offered.
        let masked;
        let has: &Bitfield = if hidden.is_empty() {
            has
        } else {
            let mut bits = has.clone();
            for p in &hidden {
                bits.set(p.get(), false);
            }
            masked = bits;
            &masked
        };
        let was_endgame = self.picker.in_endgame();
        let view = PeerView { key, has, snubbed };
        let picked = self.picker.pick(&view, want, &mut self.rng, now);
        peer.starved = picked.len() < want;
        for b in picked {
            let range = BlockRange {
                piece: b.piece(),
                offset: b.offset(),
                len: self.blocks.block_len(b),
            };
            match peer.session.request(now, range) {
                RequestOutcome::Sent => {}
                // Still in flight on the wire (a fast-extension choke left it pending and the
                // peer unchoked again before answering): the request stands, so the picker
                // keeps counting it rather than hand the block out twice.
                RequestOutcome::AlreadyPending
                    if peer.session.outstanding_requests().any(|r| r == range) => {}
                _ => self.picker.on_request_rejected(key, b),
            }
        }
        self.dirty.insert(key);
        if !was_endgame && self.picker.in_endgame() {
            // Peers that had run out of blocks may now duplicate the last ones.
            self.fill_all = true;
        }
    }

    /// Retried pieces `key` must not be asked for (see `ban.rs`); claims unowned ones.
    fn retries_hidden_from(&mut self, key: PeerKey) -> Vec<shoal_core::PieceIndex> {
        if self.retries.is_empty() {
            return Vec::new();
        }
        let peers = &self.peers;
        let has = |p| peers.get(&key).is_some_and(|peer| peer.has(p));
        let valid = |k| {
            peers
                .get(&k)
                .is_some_and(|peer| !peer.session.peer_choking())
        };
        self.retries.hidden_from(key, has, valid)
    }

    /// Withdraws every request in flight (downloading is paused): CANCEL on the wire, the
    /// blocks back to the pool.
    pub(crate) fn cancel_all_requests(&mut self, now: Instant) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let blocks: Vec<_> = self.picker.requests_of(key).collect();
            for b in blocks {
                let range = BlockRange {
                    piece: b.piece(),
                    offset: b.offset(),
                    len: self.blocks.block_len(b),
                };
                if let Some(p) = self.peers.get_mut(&key) {
                    p.session.cancel(now, range);
                }
                self.picker.on_request_rejected(key, b);
            }
            self.dirty.insert(key);
        }
    }
}
