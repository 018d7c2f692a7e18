//! Block lifecycle events: data arriving, requests rejected or dropped, peers choking or
//! leaving, timeouts, and pieces passing or failing their hash check.

use std::time::Instant;

use shoal_core::PieceIndex;

use crate::blocks::{Block, Request};
use crate::picker::Picker;
use crate::{BlockOutcome, BlockRef, PeerBlock, PeerKey, PickerError};

impl Picker {
    /// A block arrived from `peer`. See [`BlockOutcome`] for what to do with it.
    pub fn on_block_received(
        &mut self,
        peer: PeerKey,
        block: BlockRef,
        now: Instant,
    ) -> BlockOutcome {
        if !self.is_ours(block) {
            return BlockOutcome::Unrequested;
        }
        let p = block.piece().get();
        if self.have.get(p) {
            return BlockOutcome::Duplicate;
        }
        let Some(state) = self
            .partials
            .get(&p)
            .and_then(|part| part.block(block.index()))
        else {
            return BlockOutcome::Unrequested;
        };
        if matches!(state, Block::Received(_)) {
            return BlockOutcome::Duplicate;
        }
        let requests: Vec<Request> = state.requests().to_vec();
        let mut cancel = Vec::new();
        for r in &requests {
            self.peers.remove(r.peer, block, !r.timed_out);
            if r.peer != peer {
                cancel.push(r.peer);
            }
        }
        let mut piece_complete = false;
        if let Some(part) = self.partials.get_mut(&p) {
            part.update(block.index(), |b| *b = Block::Received(peer));
            piece_complete = part.is_complete();
        }
        self.peers.progress(peer, now);
        self.debug_check();
        BlockOutcome::Accepted {
            cancel,
            piece_complete,
        }
    }

    /// `peer` will not send `block`: it sent REJECT, or we sent CANCEL. The block is free
    /// again unless someone else has it in flight.
    pub fn on_request_rejected(&mut self, peer: PeerKey, block: BlockRef) {
        if let Some(r) = self.unlink(block, peer) {
            self.peers.remove(peer, block, !r.timed_out);
        }
        self.settle(block.piece().get());
        self.debug_check();
    }

    /// `peer` choked us without the fast extension, which drops all our requests: they go
    /// back to the pool. Returns them.
    pub fn on_peer_choked_us(&mut self, peer: PeerKey) -> Vec<BlockRef> {
        let blocks: Vec<BlockRef> = self.peers.take(peer).into_iter().collect();
        for &block in &blocks {
            self.unlink(block, peer);
            self.settle(block.piece().get());
        }
        self.debug_check();
        blocks
    }

    /// `peer` disconnected: its requests go back to the pool. Returns them. (Call
    /// [`peer_lost`](Self::peer_lost) separately for its availability.)
    pub fn on_peer_disconnected(&mut self, peer: PeerKey) -> Vec<BlockRef> {
        self.on_peer_choked_us(peer)
    }

    /// The earliest time at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers.next_deadline()
    }

    /// Marks the live requests of every peer that delivered nothing for the request timeout
    /// as timed out: other peers may now be given those blocks, while the stalled peer's
    /// requests stay valid in case the data still comes. Returns the requests that timed out,
    /// so the caller can treat those peers as snubbing us.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<PeerBlock> {
        let mut out = Vec::new();
        while let Some((peer, blocks)) = self.peers.pop_expired(now) {
            for block in blocks {
                let Some(part) = self.partials.get_mut(&block.piece().get()) else {
                    continue;
                };
                let newly = part.update(block.index(), |b| {
                    let Block::Requested(reqs) = b else {
                        return false;
                    };
                    match reqs.iter_mut().find(|r| r.peer == peer && !r.timed_out) {
                        Some(r) => {
                            r.timed_out = true;
                            true
                        }
                        None => false,
                    }
                });
                if newly == Some(true) {
                    out.push(PeerBlock { peer, block });
                }
            }
            self.peers.expired(peer);
        }
        self.debug_check();
        out
    }

    /// `piece` passed its hash check and is written. Returns requests still out for it (only
    /// possible if it was verified early), which should be cancelled.
    pub fn on_piece_verified(&mut self, piece: PieceIndex) -> Vec<PeerBlock> {
        self.we_have(piece)
    }

    /// We have `piece` by other means (resume data, a recheck). Requests still out for it are
    /// returned so the caller can cancel them.
    pub fn we_have(&mut self, piece: PieceIndex) -> Vec<PeerBlock> {
        let p = piece.get();
        if p >= self.geometry.piece_count() || self.have.get(p) {
            return Vec::new();
        }
        if self.order.contains(p) {
            self.order.remove(p, self.key(p));
        }
        let mut cancels = Vec::new();
        if let Some(part) = self.partials.remove(&p) {
            for (i, b) in (0u32..).zip(part.blocks()) {
                let Some(block) = self.geometry.block(piece, i) else {
                    continue;
                };
                for r in b.requests() {
                    self.peers.remove(r.peer, block, !r.timed_out);
                    cancels.push(PeerBlock {
                        peer: r.peer,
                        block,
                    });
                }
            }
        }
        self.have.set(p, true);
        self.wanted.set(p, false);
        self.debug_check();
        cancels
    }

    /// We no longer have `piece` (its file was truncated, deleted or changed on disk): it goes
    /// back to being picked if its priority wants it. Returns whether it was had.
    pub fn on_piece_lost(&mut self, piece: PieceIndex) -> bool {
        let p = piece.get();
        if p >= self.geometry.piece_count() || !self.have.get(p) {
            return false;
        }
        self.have.set(p, false);
        let level = self.priority.get(p as usize).copied().unwrap_or(0);
        if level > 0 {
            self.wanted.set(p, true);
            self.seq_cursor = self.seq_cursor.min(p);
            self.order.insert(p, self.key(p));
        }
        self.debug_check();
        true
    }

    /// `piece` failed its hash check. Every received block is freed and the piece goes back
    /// to being picked; returns the peers that sent data for it (sorted, once each), so the
    /// caller can penalise or ban them.
    pub fn on_piece_failed(&mut self, piece: PieceIndex) -> Vec<PeerKey> {
        let p = piece.get();
        let mut senders = Vec::new();
        if let Some(part) = self.partials.get_mut(&p) {
            for i in 0..part.blocks().len() as u32 {
                part.update(i, |b| {
                    if let Block::Received(from) = *b {
                        senders.push(from);
                        *b = Block::Free;
                    }
                });
            }
        }
        senders.sort();
        senders.dedup();
        self.settle(p);
        self.debug_check();
        senders
    }

    /// Writing an accepted block failed: the block is needed again.
    pub fn on_write_failed(&mut self, block: BlockRef) {
        let p = block.piece().get();
        if let Some(part) = self.partials.get_mut(&p) {
            part.update(block.index(), |b| {
                if matches!(b, Block::Received(_)) {
                    *b = Block::Free;
                }
            });
        }
        self.settle(p);
        self.debug_check();
    }

    /// Records that we asked `peer` for a specific `block` outside of [`pick`](Self::pick)
    /// (an allowed-fast piece, a streaming deadline). Duplicates of other peers' requests are
    /// allowed here; the endgame limit does not apply.
    pub fn request_block(
        &mut self,
        peer: PeerKey,
        block: BlockRef,
        now: Instant,
    ) -> Result<(), PickerError> {
        if !self.is_ours(block) {
            return Err(PickerError::PieceOutOfRange(block.piece()));
        }
        let p = block.piece().get();
        if !self.wanted.get(p) || !self.start_piece(p) {
            return Err(PickerError::BlockNotNeeded(block));
        }
        match self
            .partials
            .get(&p)
            .and_then(|part| part.block(block.index()))
        {
            Some(Block::Received(_)) | None => {
                self.settle(p);
                Err(PickerError::BlockNotNeeded(block))
            }
            Some(b) if b.requested_by(peer) => Err(PickerError::AlreadyRequested(block)),
            Some(_) => {
                self.add_request(block, peer, now);
                self.debug_check();
                Ok(())
            }
        }
    }

    // ---- helpers ------------------------------------------------------------------------

    /// `block` belongs to this torrent's geometry.
    pub(crate) fn is_ours(&self, block: BlockRef) -> bool {
        self.geometry.block(block.piece(), block.index()) == Some(block)
    }

    /// Adds a live request for `block` (in a piece in progress, not received, not already
    /// requested by `peer`).
    pub(crate) fn add_request(&mut self, block: BlockRef, peer: PeerKey, now: Instant) -> bool {
        let Some(part) = self.partials.get_mut(&block.piece().get()) else {
            return false;
        };
        let request = Request {
            peer,
            at: now,
            timed_out: false,
        };
        let added = part.update(block.index(), |b| match b {
            Block::Free => {
                *b = Block::Requested(vec![request]);
                true
            }
            Block::Requested(reqs) if !reqs.iter().any(|r| r.peer == peer) => {
                reqs.push(request);
                true
            }
            _ => false,
        });
        if added == Some(true) {
            self.peers.add(peer, block, now);
            return true;
        }
        false
    }

    /// Removes `peer`'s request from the block state only (not from the peer table).
    fn unlink(&mut self, block: BlockRef, peer: PeerKey) -> Option<Request> {
        let part = self.partials.get_mut(&block.piece().get())?;
        part.update(block.index(), |b| {
            let Block::Requested(reqs) = b else {
                return None;
            };
            let at = reqs.iter().position(|r| r.peer == peer)?;
            let r = reqs.remove(at);
            if reqs.is_empty() {
                *b = Block::Free;
            }
            Some(r)
        })
        .flatten()
    }
}
