//! Per-block state of the pieces in progress.
//!
//! ```text
//!            pick / request_block                 on_block_received
//!   Free ───────────────────────────▶ Requested ─────────────────────▶ Received
//!    ▲  ◀── reject / choke / disconnect ──┘ │                              │
//!    │                           timeout: every request stale,            │
//!    │                           pickable again by other peers            │
//!    └──────────────── on_piece_failed / on_write_failed ◀───────────────┘
//! ```
//!
//! A `Requested` block lists every peer it is in flight from: one normally, more in endgame or
//! after a timeout. Each piece keeps counts of its blocks per [`Class`] so that "has this piece
//! anything to pick?" and "is it complete?" are O(1).

use std::time::Instant;

use crate::PeerKey;

/// One outstanding request for a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub peer: PeerKey,
    /// When we asked; endgame prefers duplicating the oldest requests.
    pub at: Instant,
    /// The peer delivered nothing for the request timeout after this was sent, so others may
    /// ask for the block too. The request itself stays valid: if the data comes, we take it.
    pub timed_out: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Block {
    Free,
    /// In flight from these peers (never empty, no peer twice).
    Requested(Vec<Request>),
    /// Data handed to the caller to write; waiting for the piece hash. Remembers the sender so
    /// a hash failure can name who contributed.
    Received(PeerKey),
}

/// What a block means to the picker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Free,
    /// Requested, but every request timed out: pickable by peers not already asked.
    Stale,
    /// Requested and at least one request is still within its deadline.
    Live,
    Received,
}

impl Block {
    pub fn class(&self) -> Class {
        match self {
            Block::Free => Class::Free,
            Block::Requested(r) if r.iter().all(|r| r.timed_out) => Class::Stale,
            Block::Requested(_) => Class::Live,
            Block::Received(_) => Class::Received,
        }
    }

    pub fn requests(&self) -> &[Request] {
        match self {
            Block::Requested(r) => r,
            _ => &[],
        }
    }

    pub fn requested_by(&self, peer: PeerKey) -> bool {
        self.requests().iter().any(|r| r.peer == peer)
    }

    /// Number of requests still within their deadline.
    pub fn live_requests(&self) -> usize {
        self.requests().iter().filter(|r| !r.timed_out).count()
    }
}

/// A piece with at least one block that is not free (or, briefly, one that just became all
/// free and is about to return to the pick order).
#[derive(Clone, Debug)]
pub(crate) struct Partial {
    blocks: Vec<Block>,
    free: u32,
    stale: u32,
    live: u32,
    received: u32,
}

impl Partial {
    pub fn new(blocks: u32) -> Self {
        Self {
            blocks: vec![Block::Free; blocks as usize],
            free: blocks,
            stale: 0,
            live: 0,
            received: 0,
        }
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn block(&self, index: u32) -> Option<&Block> {
        self.blocks.get(index as usize)
    }

    /// Blocks a peer could be given without duplicating a live request.
    pub fn pickable(&self) -> u32 {
        self.free + self.stale
    }

    /// Blocks with at least one live request (endgame duplicates come from these).
    pub fn live(&self) -> u32 {
        self.live
    }

    pub fn is_complete(&self) -> bool {
        self.received as usize == self.blocks.len()
    }

    pub fn is_all_free(&self) -> bool {
        self.free as usize == self.blocks.len()
    }

    /// Mutates block `index` through `f`, keeping the per-class counts right.
    pub fn update<R>(&mut self, index: u32, f: impl FnOnce(&mut Block) -> R) -> Option<R> {
        let block = self.blocks.get_mut(index as usize)?;
        let before = block.class();
        let out = f(block);
        let after = block.class();
        if before != after {
            let dec = self.count(before);
            *dec = dec.saturating_sub(1);
            *self.count(after) += 1;
        }
        Some(out)
    }

    fn count(&mut self, class: Class) -> &mut u32 {
        match class {
            Class::Free => &mut self.free,
            Class::Stale => &mut self.stale,
            Class::Live => &mut self.live,
            Class::Received => &mut self.received,
        }
    }

    /// Recounts the classes and checks each block's request list.
    pub fn check(&self) -> Result<(), String> {
        let mut counts = [0u32; 4];
        for (i, b) in self.blocks.iter().enumerate() {
            let slot = match b.class() {
                Class::Free => 0,
                Class::Stale => 1,
                Class::Live => 2,
                Class::Received => 3,
            };
            counts[slot] += 1;
            let reqs = b.requests();
            if matches!(b, Block::Requested(_)) && reqs.is_empty() {
                return Err(format!("block {i} requested by nobody"));
            }
            for (j, r) in reqs.iter().enumerate() {
                if reqs[..j].iter().any(|o| o.peer == r.peer) {
                    return Err(format!("block {i} requested twice by {:?}", r.peer));
                }
            }
        }
        let stored = [self.free, self.stale, self.live, self.received];
        if counts != stored {
            return Err(format!("block counts {stored:?}, recounted {counts:?}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_transitions() {
        let now = Instant::now();
        let a = PeerKey::new(1);
        let mut p = Partial::new(3);
        assert_eq!(p.pickable(), 3);
        p.update(0, |b| {
            *b = Block::Requested(vec![Request {
                peer: a,
                at: now,
                timed_out: false,
            }])
        });
        assert_eq!((p.pickable(), p.live()), (2, 1));
        p.update(0, |b| {
            if let Block::Requested(r) = b {
                r[0].timed_out = true;
            }
        });
        assert_eq!(
            (p.pickable(), p.live()),
            (3, 0),
            "a stale block is pickable again"
        );
        p.update(1, |b| *b = Block::Received(a));
        p.update(0, |b| *b = Block::Received(a));
        p.update(2, |b| *b = Block::Received(a));
        assert!(p.is_complete());
        p.check().unwrap();
        assert!(p.update(3, |_| ()).is_none());
    }
}
