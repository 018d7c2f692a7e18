//! Bookkeeping of the requests we sent, so every incoming block can be classified as wanted,
//! late, or never requested.

use std::collections::{BTreeMap, VecDeque};

use crate::geometry::BlockRange;
use crate::message::BlockSpec;

/// How many given-up requests (cancelled, or voided by a choke, without the fast extension) we
/// remember so a block that crosses our cancel on the wire is recognised as late rather than
/// unrequested. A few pipelines' worth; older ones are forgotten first.
const LATE_MEMORY: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// We want the block.
    Live,
    /// Fast extension only: we cancelled, but BEP 6 guarantees a block or a reject still comes,
    /// so the entry stays until then.
    Cancelled,
}

/// What an incoming block or reject corresponds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Match {
    Live(BlockRange),
    Late(BlockRange),
    Unrequested,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct OurRequests {
    /// Keyed by the raw wire form so incoming (unvalidated) specs can be looked up directly.
    pending: BTreeMap<BlockSpec, (BlockRange, State)>,
    late: VecDeque<BlockRange>,
}

impl OurRequests {
    /// Live requests (not counting cancelled ones awaiting their answer).
    pub(crate) fn live(&self) -> impl Iterator<Item = BlockRange> + '_ {
        self.pending
            .values()
            .filter(|(_, s)| *s == State::Live)
            .map(|(b, _)| *b)
    }

    pub(crate) fn is_pending(&self, block: &BlockRange) -> bool {
        self.pending.contains_key(&block.spec())
    }

    pub(crate) fn cancelled_count(&self) -> usize {
        self.pending
            .values()
            .filter(|(_, s)| *s == State::Cancelled)
            .count()
    }

    #[cfg(test)]
    pub(crate) fn late_len(&self) -> usize {
        self.late.len()
    }

    pub(crate) fn insert(&mut self, block: BlockRange) {
        self.late.retain(|b| *b != block);
        self.pending.insert(block.spec(), (block, State::Live));
    }

    /// Cancels a live request. With `keep_until_answered` (fast extension) it stays pending in
    /// the cancelled state; otherwise it moves to the late memory. False if it was not live.
    pub(crate) fn cancel(&mut self, block: &BlockRange, keep_until_answered: bool) -> bool {
        let spec = block.spec();
        match self.pending.get_mut(&spec) {
            Some((_, state @ State::Live)) => {
                if keep_until_answered {
                    *state = State::Cancelled;
                } else {
                    self.pending.remove(&spec);
                    self.remember_late(*block);
                }
                true
            }
            _ => false,
        }
    }

    /// A choke without the fast extension voids every request; they move to the late memory.
    /// Returns the ones that were live, in key order.
    pub(crate) fn void_all(&mut self) -> Vec<BlockRange> {
        let voided: Vec<BlockRange> = std::mem::take(&mut self.pending)
            .into_values()
            .filter(|(_, s)| *s == State::Live)
            .map(|(b, _)| b)
            .collect();
        for b in &voided {
            self.remember_late(*b);
        }
        voided
    }

    /// Classifies and consumes an incoming block.
    pub(crate) fn on_block(&mut self, spec: BlockSpec) -> Match {
        if let Some((block, state)) = self.pending.remove(&spec) {
            return match state {
                State::Live => Match::Live(block),
                State::Cancelled => Match::Late(block),
            };
        }
        match self.late.iter().position(|b| b.spec() == spec) {
            Some(pos) => self
                .late
                .remove(pos)
                .map_or(Match::Unrequested, Match::Late),
            None => Match::Unrequested,
        }
    }

    /// Consumes a reject. `Live` means the owner still wanted it; `Late` that it was cancelled.
    pub(crate) fn on_reject(&mut self, spec: BlockSpec) -> Match {
        match self.pending.remove(&spec) {
            Some((block, State::Live)) => Match::Live(block),
            Some((block, State::Cancelled)) => Match::Late(block),
            None => Match::Unrequested,
        }
    }

    fn remember_late(&mut self, block: BlockRange) {
        if self.late.len() == LATE_MEMORY {
            self.late.pop_front();
        }
        self.late.push_back(block);
    }

    pub(crate) fn check_invariants(&self) {
        debug_assert!(self.late.len() <= LATE_MEMORY);
        debug_assert!(self.pending.iter().all(|(spec, (b, _))| *spec == b.spec()));
        debug_assert!(self
            .late
            .iter()
            .all(|b| !self.pending.contains_key(&b.spec())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::PieceIndex;

    fn block(piece: u32, offset: u32) -> BlockRange {
        BlockRange {
            piece: PieceIndex::checked(piece, 100).unwrap(),
            offset,
            len: 16_384,
        }
    }

    #[test]
    fn late_memory_is_bounded_and_forgets_oldest() {
        let mut r = OurRequests::default();
        for i in 0..(LATE_MEMORY as u32 + 1) {
            let b = block(i % 100, (i / 100) * 16_384);
            r.insert(b);
            assert!(r.cancel(&b, false));
        }
        r.check_invariants();
        assert_eq!(r.late_len(), LATE_MEMORY);
        assert_eq!(
            r.on_block(block(0, 0).spec()),
            Match::Unrequested,
            "oldest forgotten"
        );
        assert_eq!(r.on_block(block(1, 0).spec()), Match::Late(block(1, 0)));
        assert_eq!(
            r.on_block(block(1, 0).spec()),
            Match::Unrequested,
            "consumed once"
        );
    }

    #[test]
    fn re_request_after_cancel_is_live_again() {
        let mut r = OurRequests::default();
        let b = block(3, 0);
        r.insert(b);
        r.cancel(&b, false);
        r.insert(b);
        r.check_invariants();
        assert_eq!(r.on_block(b.spec()), Match::Live(b));
    }
}
