//! The [`Picker`] type: construction, availability, priorities and queries. Picking lives in
//! `pick.rs`/`endgame.rs`, the block lifecycle in `lifecycle.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use shoal_core::{Bitfield, PieceIndex};

use crate::availability::{Key, PieceOrder, CLASSES};
use crate::blocks::{Block, Partial};
use crate::peers::PeerTable;
use crate::{BlockRef, Geometry, PeerKey, PickerError, Priority};

/// Tunables of the picker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickerConfig {
    /// While we have fewer verified pieces than this, new pieces are chosen at random rather
    /// than rarest first. Rare pieces take longest to complete, and until we have a piece we
    /// have nothing to trade; a random common piece completes quickly.
    pub initial_random_pieces: u32,
    /// Endgame: how many peers besides the first one a block may be requested from at once.
    pub max_duplicates: u32,
    /// A peer with requests in flight that delivers nothing for this long has its requests
    /// marked timed out, and other peers may ask for those blocks.
    pub request_timeout: Duration,
    /// Pick pieces in index order (for streaming) instead of rarest first.
    pub sequential: bool,
}

impl Default for PickerConfig {
    fn default() -> Self {
        Self {
            initial_random_pieces: 4,
            max_duplicates: 2,
            request_timeout: Duration::from_secs(30),
            sequential: false,
        }
    }
}

/// What the picker knows about one block (for tests, snapshots and debugging).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockStatus {
    /// The piece is ours (verified, or had before).
    Have,
    /// Nobody is asked for it.
    Free,
    /// In flight from `peers`, first requester first; `timed_out` when every request has.
    Requested {
        peers: Vec<PeerKey>,
        timed_out: bool,
    },
    /// Handed to the caller to write, from `from`; waiting for the piece hash.
    Received { from: PeerKey },
}

/// Sans-IO piece picker for one torrent.
///
/// Call order:
/// 1. [`Picker::new`] with the layout and the pieces we already have.
/// 2. As peers announce pieces: [`peer_bitfield`](Self::peer_bitfield) /
///    [`peer_has_all`](Self::peer_has_all), then [`peer_has`](Self::peer_has) per HAVE; on
///    disconnect [`peer_lost`](Self::peer_lost) with the same bitfield (or
///    [`peer_lost_all`](Self::peer_lost_all)).
/// 3. When a peer unchokes us or its queue drains below
///    [`pipeline_depth`](crate::pipeline_depth): [`pick`](Self::pick), send the requests.
/// 4. On PIECE: [`on_block_received`](Self::on_block_received); write the data when accepted,
///    hash the piece when complete, then [`on_piece_verified`](Self::on_piece_verified) or
///    [`on_piece_failed`](Self::on_piece_failed).
/// 5. On REJECT, CHOKE, disconnect: [`on_request_rejected`](Self::on_request_rejected),
///    [`on_peer_choked_us`](Self::on_peer_choked_us),
///    [`on_peer_disconnected`](Self::on_peer_disconnected).
/// 6. When [`poll_timeout`](Self::poll_timeout) passes: [`handle_timeout`](Self::handle_timeout).
///
/// Invariants (checked by [`check_invariants`](Self::check_invariants), and after every
/// mutation in debug builds for torrents up to 16 Ki pieces): a piece is in the pick order iff
/// we want it and it is not in progress, in the bucket of its priority and availability; each
/// piece in progress has block counts matching its blocks; every request is indexed under its
/// peer and vice versa; every peer with live requests has exactly one deadline.
#[derive(Clone)]
pub struct Picker {
    pub(crate) geometry: Geometry,
    pub(crate) config: PickerConfig,
    /// Verified pieces.
    pub(crate) have: Bitfield,
    /// Pieces we still want: not had, priority above 0. Kept as a bitfield so interest in a
    /// peer is a byte-wise AND.
    pub(crate) wanted: Bitfield,
    pub(crate) priority: Vec<u8>,
    /// Connected non-seed peers that have each piece.
    pub(crate) avail: Vec<u32>,
    /// Connected peers that have every piece.
    pub(crate) seeds: u32,
    /// Wanted pieces not yet started, by (priority, availability).
    pub(crate) order: PieceOrder,
    /// Pieces in progress, by index (ordered for deterministic iteration).
    pub(crate) partials: BTreeMap<u32, Partial>,
    pub(crate) peers: PeerTable,
    /// Sequential mode: no wanted piece below this index.
    pub(crate) seq_cursor: u32,
    /// Pieces examined by picks so far; lets tests assert the cost of picking.
    pub(crate) scanned: u64,
}

impl Picker {
    /// A picker for a torrent laid out as `geometry`, where `have` marks verified pieces.
    /// Every piece starts at [`Priority::NORMAL`].
    pub fn new(
        geometry: Geometry,
        have: &Bitfield,
        config: PickerConfig,
    ) -> Result<Self, PickerError> {
        let n = geometry.piece_count();
        if have.len() != n {
            return Err(PickerError::HaveLengthMismatch {
                got: have.len(),
                expected: n,
            });
        }
        let normal = Priority::NORMAL.get();
        let mut wanted = Bitfield::new(n);
        for p in have.iter_zeros() {
            wanted.set(p, true);
        }
        let class = u32::from(7 - normal);
        let order = PieceOrder::new(n, have.iter_zeros().map(|p| (p, class)));
        Ok(Self {
            peers: PeerTable::new(config.request_timeout),
            config,
            have: have.clone(),
            wanted,
            priority: vec![normal; n as usize],
            avail: vec![0; n as usize],
            seeds: 0,
            order,
            partials: BTreeMap::new(),
            seq_cursor: 0,
            scanned: 0,
            geometry,
        })
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }
    pub fn config(&self) -> &PickerConfig {
        &self.config
    }
    /// Verified pieces.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }
    pub fn num_have(&self) -> u32 {
        self.have.count_ones()
    }
    /// Pieces not had with priority above 0 (including those in progress).
    pub fn wanted(&self) -> &Bitfield {
        &self.wanted
    }
    /// Nothing left to download at the current priorities.
    pub fn is_finished(&self) -> bool {
        self.wanted.is_clear()
    }
    pub fn set_sequential(&mut self, on: bool) {
        self.config.sequential = on;
        self.seq_cursor = 0;
    }

    /// Connected peers holding `piece`, seeds included.
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        self.avail
            .get(piece.as_usize())
            .map_or(0, |a| a + self.seeds)
    }
    /// Connected peers holding every piece.
    pub fn seeds(&self) -> u32 {
        self.seeds
    }
    pub fn piece_priority(&self, piece: PieceIndex) -> Priority {
        Priority(self.priority.get(piece.as_usize()).copied().unwrap_or(0))
    }

    /// Whether a peer with pieces `has` has anything we want (send INTERESTED). O(pieces / 8).
    pub fn is_interesting(&self, has: &Bitfield) -> bool {
        has.as_bytes()
            .iter()
            .zip(self.wanted.as_bytes())
            .any(|(a, b)| a & b != 0)
    }

    /// Requests `peer` has in flight (timed-out ones included).
    pub fn outstanding(&self, peer: PeerKey) -> usize {
        self.peers.outstanding(peer)
    }

    /// The blocks `peer` has in flight.
    pub fn requests_of(&self, peer: PeerKey) -> impl Iterator<Item = BlockRef> + '_ {
        self.peers
            .get(peer)
            .into_iter()
            .flat_map(|p| p.blocks.iter().copied())
    }

    /// Pieces in progress, ascending.
    pub fn partial_pieces(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.partials
            .keys()
            .map(|&p| PieceIndex::new_unchecked_in_range(p))
    }

    /// Endgame: every wanted piece that any connected peer has is already started, so `pick`
    /// may request in-flight blocks again from other peers.
    pub fn in_endgame(&self) -> bool {
        // With a seed connected every unstarted piece is available to someone.
        let unobtainable = if self.seeds > 0 {
            0
        } else {
            self.order.unavailable()
        };
        self.order.len() == unobtainable && !self.partials.is_empty()
    }

    pub fn block_status(&self, block: BlockRef) -> BlockStatus {
        let p = block.piece().get();
        if self.have.get(p) {
            return BlockStatus::Have;
        }
        match self
            .partials
            .get(&p)
            .and_then(|part| part.block(block.index()))
        {
            None | Some(Block::Free) => BlockStatus::Free,
            Some(Block::Received(from)) => BlockStatus::Received { from: *from },
            Some(b @ Block::Requested(reqs)) => BlockStatus::Requested {
                peers: reqs.iter().map(|r| r.peer).collect(),
                timed_out: b.live_requests() == 0,
            },
        }
    }

    // ---- availability -------------------------------------------------------------------

    /// A peer announced `piece` (HAVE). Out-of-range pieces are ignored. O(1).
    pub fn peer_has(&mut self, piece: PieceIndex) {
        self.inc_avail(piece.get());
        self.debug_check();
    }

    /// A peer sent its bitfield. Bits past our piece count are ignored. O(pieces / 8 + ones).
    pub fn peer_bitfield(&mut self, has: &Bitfield) {
        for p in ones(has) {
            self.inc_avail(p);
        }
        self.debug_check();
    }

    /// A peer has every piece (HAVE ALL, or a full bitfield the caller chose to count as a
    /// seed; it must then call [`peer_lost_all`](Self::peer_lost_all) on disconnect). O(1).
    pub fn peer_has_all(&mut self) {
        self.seeds += 1;
    }

    /// A peer that announced `has` (bitfield plus HAVEs) disconnected.
    pub fn peer_lost(&mut self, has: &Bitfield) {
        for p in ones(has) {
            self.dec_avail(p);
        }
        self.debug_check();
    }

    /// A peer counted by [`peer_has_all`](Self::peer_has_all) disconnected.
    pub fn peer_lost_all(&mut self) {
        self.seeds = self.seeds.saturating_sub(1);
    }

    pub(crate) fn key(&self, p: u32) -> Key {
        let prio = self.priority.get(p as usize).copied().unwrap_or(0);
        Key {
            class: CLASSES.saturating_sub(u32::from(prio)),
            avail: self.avail.get(p as usize).copied().unwrap_or(0),
        }
    }

    fn inc_avail(&mut self, p: u32) {
        if p as usize >= self.avail.len() {
            return;
        }
        if self.order.contains(p) {
            self.order.increment(p, self.key(p));
        }
        if let Some(a) = self.avail.get_mut(p as usize) {
            *a = a.saturating_add(1);
        }
    }

    fn dec_avail(&mut self, p: u32) {
        if self.avail.get(p as usize).is_none_or(|&a| a == 0) {
            return;
        }
        if self.order.contains(p) {
            self.order.decrement(p, self.key(p));
        }
        if let Some(a) = self.avail.get_mut(p as usize) {
            *a -= 1;
        }
    }

    // ---- priorities ---------------------------------------------------------------------

    /// Sets one piece's priority. Requests already in flight for it are left alone.
    pub fn set_piece_priority(
        &mut self,
        piece: PieceIndex,
        priority: Priority,
    ) -> Result<(), PickerError> {
        let p = piece.get();
        if p >= self.geometry.piece_count() {
            return Err(PickerError::PieceOutOfRange(piece));
        }
        self.apply_priority(p, priority.get());
        self.debug_check();
        Ok(())
    }

    /// Sets priorities from files: `files` lists each file's length and priority in metainfo
    /// order. A piece shared by several files gets the highest of their priorities, so a
    /// skipped file next to a wanted one still has its boundary piece downloaded.
    pub fn set_file_priorities(&mut self, files: &[(u64, Priority)]) -> Result<(), PickerError> {
        let lengths: Vec<u64> = files.iter().map(|f| f.0).collect();
        let ranges = self.geometry.file_piece_ranges(&lengths)?;
        let mut prio = vec![0u8; self.priority.len()];
        for (range, &(_, p)) in ranges.into_iter().zip(files) {
            for slot in prio
                .get_mut(range.start as usize..range.end as usize)
                .unwrap_or(&mut [])
            {
                *slot = (*slot).max(p.get());
            }
        }
        for (p, level) in (0u32..).zip(prio) {
            self.apply_priority(p, level);
        }
        self.debug_check();
        Ok(())
    }

    fn apply_priority(&mut self, p: u32, level: u8) {
        let Some(&old) = self.priority.get(p as usize) else {
            return;
        };
        if old == level {
            return;
        }
        if self.order.contains(p) {
            self.order.remove(p, self.key(p));
        }
        if let Some(slot) = self.priority.get_mut(p as usize) {
            *slot = level;
        }
        let want = level > 0 && !self.have.get(p);
        self.wanted.set(p, want);
        if want {
            self.seq_cursor = self.seq_cursor.min(p);
            if !self.partials.contains_key(&p) {
                self.order.insert(p, self.key(p));
            }
        }
    }

    // ---- helpers shared by picking and the lifecycle -----------------------------------------

    /// Moves a wanted piece from the order into progress.
    pub(crate) fn start_piece(&mut self, p: u32) -> bool {
        if self.partials.contains_key(&p) {
            return true;
        }
        if !self.order.contains(p) {
            return false;
        }
        self.order.remove(p, self.key(p));
        let blocks = self
            .geometry
            .blocks_in_piece(PieceIndex::new_unchecked_in_range(p));
        self.partials.insert(p, Partial::new(blocks));
        true
    }

    /// A piece in progress whose blocks are all free again goes back to the order, so it is
    /// ranked by rarity like any other unstarted piece.
    pub(crate) fn settle(&mut self, p: u32) {
        if self.partials.get(&p).is_some_and(Partial::is_all_free) {
            self.partials.remove(&p);
            if self.wanted.get(p) {
                self.order.insert(p, self.key(p));
            }
        }
    }

    pub(crate) fn debug_check(&self) {
        #[cfg(debug_assertions)]
        if self.geometry.piece_count() <= 16 * 1024 {
            let r = self.check_invariants();
            debug_assert!(r.is_ok(), "picker invariant broken: {r:?}");
        }
    }
}

/// Indices of the set bits of `bf`, skipping zero bytes (peers' bitfields are often sparse).
pub(crate) fn ones(bf: &Bitfield) -> impl Iterator<Item = u32> + '_ {
    (0u32..)
        .zip(bf.as_bytes())
        .filter(|(_, &b)| b != 0)
        .flat_map(|(i, &byte)| {
            let mut rest = byte;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.leading_zeros();
                rest &= !(0x80u8 >> bit);
                Some(i * 8 + bit)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ones_matches_iter_ones() {
        let mut bf = Bitfield::new(21);
        for i in [0, 3, 7, 8, 15, 20] {
            bf.set(i, true);
        }
        assert_eq!(
            ones(&bf).collect::<Vec<_>>(),
            bf.iter_ones().collect::<Vec<_>>()
        );
    }
}
