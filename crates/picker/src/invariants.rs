//! The picker's invariants, written once and checked as a whole.

use std::collections::BTreeMap;

use shoal_core::PieceIndex;

use crate::picker::Picker;
use crate::{BlockRef, PeerKey};

/// A broken internal invariant: a bug in the picker or a caller breaking the call contract
/// (e.g. reusing a peer key). The state cannot be trusted; drop and rebuild the picker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("picker invariant violated: {0}")]
pub struct InvariantViolation(pub String);

impl Picker {
    /// Validates every internal count and index. O(pieces + blocks in progress + requests).
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.check().map_err(InvariantViolation)
    }

    fn check(&self) -> Result<(), String> {
        let n = self.geometry.piece_count();
        let sizes = [
            self.have.len(),
            self.wanted.len(),
            self.priority.len() as u32,
            self.avail.len() as u32,
        ];
        if sizes.iter().any(|&s| s != n) {
            return Err(format!("per-piece tables sized {sizes:?} for {n} pieces"));
        }
        for p in 0..n {
            let want = !self.have.get(p) && self.priority.get(p as usize).is_some_and(|&v| v > 0);
            if self.wanted.get(p) != want {
                return Err(format!(
                    "piece {p}: wanted bit {} but should be {want}",
                    self.wanted.get(p)
                ));
            }
            if p < self.seq_cursor && want {
                return Err(format!(
                    "piece {p} wanted below the sequential cursor {}",
                    self.seq_cursor
                ));
            }
        }
        if self.priority.iter().any(|&v| v > 7) {
            return Err("priority above 7".into());
        }

        // Pieces in progress and their requests, gathered per peer for the cross-check.
        let mut by_peer: BTreeMap<PeerKey, (Vec<BlockRef>, u32)> = BTreeMap::new();
        for (&p, part) in &self.partials {
            if p >= n || self.have.get(p) {
                return Err(format!("piece {p} in progress but out of range or had"));
            }
            let piece = PieceIndex::new_unchecked_in_range(p);
            if part.blocks().len() as u32 != self.geometry.blocks_in_piece(piece) {
                return Err(format!("piece {p} tracks {} blocks", part.blocks().len()));
            }
            if part.is_all_free() {
                return Err(format!("piece {p} in progress with every block free"));
            }
            part.check().map_err(|e| format!("piece {p}: {e}"))?;
            for (i, b) in (0u32..).zip(part.blocks()) {
                let block = self.geometry.block(piece, i).ok_or("block out of range")?;
                for r in b.requests() {
                    let entry = by_peer.entry(r.peer).or_default();
                    entry.0.push(block);
                    entry.1 += u32::from(!r.timed_out);
                }
            }
        }

        self.order.check(|p| {
            (self.wanted.get(p) && !self.partials.contains_key(&p)).then(|| self.key(p))
        })?;
        self.peers.check()?;

        let indexed: usize = self.peers.iter().count();
        if indexed != by_peer.len() {
            return Err(format!(
                "{indexed} peers indexed, {} have requests",
                by_peer.len()
            ));
        }
        for (peer, (mut blocks, live)) in by_peer {
            let entry = self
                .peers
                .get(peer)
                .ok_or(format!("{peer:?} has requests but no entry"))?;
            blocks.sort_unstable();
            if !blocks.iter().eq(entry.blocks.iter()) {
                return Err(format!("{peer:?} request index differs from block states"));
            }
            if live != entry.live {
                return Err(format!(
                    "{peer:?} live count {} but {live} live requests",
                    entry.live
                ));
            }
        }
        Ok(())
    }
}
