//! Endgame: duplicate requests for blocks already in flight.
//!
//! Near the end of a download the last blocks are often queued behind slow peers. Once every
//! obtainable piece is started, a peer with spare pipeline room may ask for blocks that are in
//! flight elsewhere; the first copy to arrive wins and the other requesters get a CANCEL
//! (the `cancel` list of [`BlockOutcome::Accepted`](crate::BlockOutcome::Accepted)).
//! Duplicates cost upload bandwidth on the remote side, so each block may be in flight from at
//! most `1 + max_duplicates` peers, and blocks with the fewest copies, then the oldest
//! requests, are duplicated first.

use std::time::Instant;

use shoal_core::PieceIndex;

use crate::blocks::Class;
use crate::pick::PeerView;
use crate::picker::Picker;
use crate::BlockRef;

impl Picker {
    /// Adds duplicate requests for `peer` until `out` holds `want` blocks or none are left.
    pub(crate) fn pick_endgame(
        &mut self,
        peer: &PeerView<'_>,
        want: usize,
        now: Instant,
        out: &mut Vec<BlockRef>,
    ) {
        let limit = 1 + self.config.max_duplicates as usize;
        // (copies in flight, oldest request, piece, block)
        let mut candidates: Vec<(usize, Instant, u32, u32)> = Vec::new();
        for (&p, part) in &self.partials {
            if part.live() == 0 || !self.wanted.get(p) || !peer.has.get(p) {
                continue;
            }
            for (i, b) in (0u32..).zip(part.blocks()) {
                if b.class() != Class::Live || b.requested_by(peer.key) {
                    continue;
                }
                let copies = b.live_requests();
                if copies >= limit {
                    continue;
                }
                if let Some(oldest) = b.requests().iter().map(|r| r.at).min() {
                    candidates.push((copies, oldest, p, i));
                }
            }
        }
        candidates.sort_unstable();
        let room = want.saturating_sub(out.len());
        for (_, _, p, i) in candidates.into_iter().take(room) {
            if let Some(block) = self
                .geometry
                .block(PieceIndex::new_unchecked_in_range(p), i)
            {
                if self.add_request(block, peer.key, now) {
                    out.push(block);
                }
            }
        }
    }
}
