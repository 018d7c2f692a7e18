//! Choosing blocks for a peer.

use std::time::Instant;

use rand::Rng;
use shoal_core::{Bitfield, PieceIndex};

use crate::availability::CLASSES;
use crate::blocks::Class;
use crate::picker::Picker;
use crate::{BlockRef, PeerKey};

/// Most blocks one `pick` hands out, whatever `want` says (the largest pipeline is 250).
const MAX_PICK: usize = 1024;

/// The peer a pick is for.
#[derive(Clone, Copy, Debug)]
pub struct PeerView<'a> {
    pub key: PeerKey,
    /// Pieces the peer has (bitfield plus HAVEs; a full bitfield for HAVE ALL).
    pub has: &'a Bitfield,
    /// The peer has not sent us a block for a long time (60 s) although we have requests out.
    pub snubbed: bool,
}

/// How new pieces of one priority are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// Lowest availability first, random among equals.
    Rarest,
    /// Uniformly random: the first few pieces.
    Random,
    /// Highest availability first: snubbed peers.
    Common,
}

impl Picker {
    /// Picks up to `want` blocks to request from `peer` and records them as requested at
    /// `now`. The caller sends a REQUEST for each.
    ///
    /// Rules, in order:
    /// 1. Only pieces the peer has, we want (not had, priority > 0), and blocks not received
    ///    and not already requested from this peer.
    /// 2. Higher priority first. Within a priority, pieces in progress first (rarest first),
    ///    so open pieces complete before new ones start; then new pieces, rarest first with
    ///    random tie-breaks.
    /// 3. While we have fewer than `initial_random_pieces` pieces, new pieces are chosen at
    ///    random instead, so a first piece completes quickly and we can trade.
    /// 4. Sequential mode: pieces in progress, then new pieces, both in index order (priority
    ///    levels other than 0 are ignored). Finding the next new piece walks forward from the
    ///    lowest wanted index, skipping pieces the peer lacks.
    /// 5. Blocks whose requests all timed out count as free.
    /// 6. Snubbed peers get at most one request in flight, never join a piece another peer is
    ///    downloading, and get the most common pieces: a slow peer then holds up no piece
    ///    that is hard to get elsewhere, and nobody else waits on it.
    /// 7. Endgame (every wanted piece that any peer has is started): when free blocks run out,
    ///    blocks already in flight are requested again, up to `max_duplicates` extra requests
    ///    per block, fewest copies and oldest requests first. Snubbed peers get no duplicates.
    ///
    /// Cost: O(pieces in progress) plus the pieces examined in the order until enough blocks
    /// are found, which is about `want / blocks per piece` when the peer has most pieces and
    /// grows toward O(pieces) only for a peer holding few pieces we want.
    pub fn pick(
        &mut self,
        peer: &PeerView<'_>,
        want: usize,
        rng: &mut impl Rng,
        now: Instant,
    ) -> Vec<BlockRef> {
        let mut want = want.min(MAX_PICK);
        if peer.snubbed {
            want = want.min(1usize.saturating_sub(self.peers.outstanding(peer.key)));
        }
        let mut out = Vec::new();
        if want == 0 {
            return out;
        }
        let mut partials = self.partial_candidates(peer);
        if self.config.sequential {
            // Streaming wants the lowest open piece done first, whatever its rarity.
            partials.sort_unstable_by_key(|c| c.2);
            for &(_, _, p) in &partials {
                self.take_blocks(p, peer.key, want, now, &mut out);
            }
            self.pick_sequential(peer, want, now, &mut out);
        } else {
            let order = if peer.snubbed {
                Order::Common
            } else if self.num_have() < self.config.initial_random_pieces {
                Order::Random
            } else {
                Order::Rarest
            };
            let mut partials = partials.iter().peekable();
            for class in 0..CLASSES {
                while let Some(&(_, _, p)) = partials.next_if(|c| c.0 == class) {
                    self.take_blocks(p, peer.key, want, now, &mut out);
                }
                if out.len() >= want {
                    break;
                }
                for p in self.select_new(class, order, peer.has, want - out.len(), rng) {
                    if self.start_piece(p) {
                        self.take_blocks(p, peer.key, want, now, &mut out);
                    }
                }
            }
        }
        if out.len() < want && !peer.snubbed && self.in_endgame() {
            self.pick_endgame(peer, want, now, &mut out);
        }
        self.debug_check();
        out
    }

    /// Pieces in progress this peer could get blocks from, as (class, availability, piece),
    /// sorted: highest priority, then rarest, then lowest index.
    fn partial_candidates(&self, peer: &PeerView<'_>) -> Vec<(u32, u32, u32)> {
        let mut out: Vec<(u32, u32, u32)> = self
            .partials
            .iter()
            .filter(|(&p, part)| {
                part.pickable() > 0
                    && self.wanted.get(p)
                    && peer.has.get(p)
                    && !(peer.snubbed
                        && part
                            .blocks()
                            .iter()
                            .any(|b| b.requests().iter().any(|r| r.peer != peer.key)))
            })
            .map(|(&p, _)| {
                let k = self.key(p);
                (k.class, k.avail, p)
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Requests free (or stale) blocks of piece `p` from `peer`, in block order, until `out`
    /// holds `want` blocks.
    fn take_blocks(
        &mut self,
        p: u32,
        peer: PeerKey,
        want: usize,
        now: Instant,
        out: &mut Vec<BlockRef>,
    ) {
        let Some(part) = self.partials.get(&p) else {
            return;
        };
        let room = want.saturating_sub(out.len());
        let picks: Vec<u32> = (0u32..)
            .zip(part.blocks())
            .filter(|(_, b)| {
                matches!(b.class(), Class::Free | Class::Stale) && !b.requested_by(peer)
            })
            .map(|(i, _)| i)
            .take(room)
            .collect();
        let piece = PieceIndex::new_unchecked_in_range(p);
        for i in picks {
            if let Some(block) = self.geometry.block(piece, i) {
                if self.add_request(block, peer, now) {
                    out.push(block);
                }
            }
        }
    }

    /// Unstarted pieces of priority class `class` that the peer has, in `order`, enough to
    /// hold `need` blocks. Reads the order only; the caller starts the pieces afterwards.
    fn select_new(
        &mut self,
        class: u32,
        order: Order,
        has: &Bitfield,
        need: usize,
        rng: &mut impl Rng,
    ) -> Vec<u32> {
        let mut chosen = Vec::new();
        let mut blocks = 0usize;
        let mut scanned = 0u64;
        let mut visit = |p: u32| {
            scanned += 1;
            if has.get(p) {
                chosen.push(p);
                blocks += self
                    .geometry
                    .blocks_in_piece(PieceIndex::new_unchecked_in_range(p))
                    as usize;
            }
            blocks >= need
        };
        let stride = self.order.stride();
        match order {
            Order::Random => {
                cyclic(self.order.class(class), rng, &mut visit);
            }
            Order::Rarest => {
                for a in 0..stride {
                    if cyclic(self.order.bucket(class, a), rng, &mut visit) {
                        break;
                    }
                }
            }
            Order::Common => {
                for a in (0..stride).rev() {
                    if cyclic(self.order.bucket(class, a), rng, &mut visit) {
                        break;
                    }
                }
            }
        }
        self.scanned += scanned;
        chosen
    }

    /// Sequential mode: unstarted pieces from the lowest wanted index up.
    fn pick_sequential(
        &mut self,
        peer: &PeerView<'_>,
        want: usize,
        now: Instant,
        out: &mut Vec<BlockRef>,
    ) {
        let n = self.geometry.piece_count();
        while self.seq_cursor < n && !self.wanted.get(self.seq_cursor) {
            self.seq_cursor += 1;
        }
        let mut p = self.seq_cursor;
        while p < n && out.len() < want {
            self.scanned += 1;
            if self.order.contains(p) && peer.has.get(p) && self.start_piece(p) {
                self.take_blocks(p, peer.key, want, now, out);
            }
            p += 1;
        }
    }
}

/// Visits `items` once each, starting at a random position and wrapping around, until `visit`
/// returns true; returns whether it did. A random start is the tie-break among equally rare
/// pieces: O(1) per pick, no shuffling of the order.
fn cyclic(items: &[u32], rng: &mut impl Rng, visit: &mut impl FnMut(u32) -> bool) -> bool {
    if items.is_empty() {
        return false;
    }
    let start = rng.random_range(0..items.len());
    let (head, tail) = items.split_at(start);
    tail.iter().chain(head).any(|&p| visit(p))
}
