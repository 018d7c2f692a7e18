//! Downloading: peer events, blocks into pieces, pieces to disk and back.

use std::time::Instant;

use bytes::Bytes;
use shoal_core::PieceIndex;
use shoal_picker::{BlockOutcome, BlockRef, PeerKey};
use shoal_wire::{BlockRange, PeerEvent};

use crate::peer::Counted;
use crate::requests::count_common;
use crate::swarm::{PieceBuf, Swarm};
use crate::types::{CloseReason, DiskDone, DiskOp, SwarmEvent};

impl Swarm {
    /// Acts on everything the session decoded.
    pub(crate) fn drain_session_events(&mut self, now: Instant, key: PeerKey) {
        loop {
            let Some(peer) = self.peers.get_mut(&key) else {
                return;
            };
            let Some(event) = peer.session.poll_event() else {
                return;
            };
            self.on_peer_event(now, key, event);
        }
    }

    fn on_peer_event(&mut self, now: Instant, key: PeerKey, event: PeerEvent) {
        match event {
            PeerEvent::Bitfield(bits) => {
                let wanted = self.picker.wanted();
                let Some(peer) = self.peers.get_mut(&key) else {
                    return;
                };
                if bits.is_full() {
                    peer.counted = Counted::All;
                    peer.wanted_have = wanted.count_ones();
                    self.picker.peer_has_all();
                } else {
                    peer.wanted_have = count_common(&bits, wanted);
                    self.picker.peer_bitfield(&bits);
                }
                if self.completed && bits.is_full() {
                    // Two seeds have nothing to say to each other.
                    self.close(now, key, CloseReason::NotUseful);
                    return;
                }
                self.update_interest(now, key);
                self.to_fill.insert(key);
            }
            PeerEvent::Have(piece) => {
                let wanted = self.picker.wanted().has(piece);
                let Some(peer) = self.peers.get_mut(&key) else {
                    return;
                };
                if peer.counted == Counted::Pieces {
                    self.picker.peer_has(piece);
                    if wanted {
                        peer.wanted_have += 1;
                        peer.starved = false;
                        self.update_interest(now, key);
                        self.to_fill.insert(key);
                    }
                }
            }
            PeerEvent::Unchoked | PeerEvent::AllowedFast(_) => {
                self.to_fill.insert(key);
            }
            PeerEvent::Choked { .. } => {
                // Without the fast extension the choke voided every request: they go back to
                // the pool now, for other peers to take (blocks that still arrive for them are
                // accepted while missing). With it, BEP 6 promises a block or a reject for
                // each, and the session still holds them: they stay this peer's until then
                // (each reject frees its block), so a quick unchoke finds them still counted.
                // A peer that never answers is caught by the request timeout.
                let fast = self
                    .peers
                    .get(&key)
                    .is_some_and(|p| p.session.features().fast);
                if !fast && !self.picker.on_peer_choked_us(key).is_empty() {
                    self.fill_all = true;
                }
            }
            PeerEvent::Block { block, data } | PeerEvent::LateBlock { block, data } => {
                self.on_block(now, key, block, data);
            }
            PeerEvent::UnrequestedBlock { len } => {
                self.totals.downloaded += u64::from(len);
                self.totals.wasted += u64::from(len);
            }
            PeerEvent::Rejected(block) => {
                if let Some(b) = self.block_ref(block) {
                    self.picker.on_request_rejected(key, b);
                }
                self.fill_all = true;
            }
            PeerEvent::Request(block) => self.on_peer_request(now, key, block),
            PeerEvent::Cancel(_) => {}
            PeerEvent::Interested => self.rechoke_if_room(now),
            PeerEvent::NotInterested => {
                if self.choker.is_unchoked(key) {
                    self.rechoke_if_room(now);
                }
            }
            PeerEvent::ExtHandshake(_) => self.on_peer_ext_handshake(key),
            PeerEvent::Extended { id, payload } => self.on_peer_extended(now, key, id, payload),
            PeerEvent::Suggest(_) => {}
            PeerEvent::DhtPort(_) => {}
        }
    }

    pub(crate) fn block_ref(&self, block: BlockRange) -> Option<BlockRef> {
        self.blocks.block_at(block.piece, block.offset, block.len)
    }

    fn block_range(&self, block: BlockRef) -> BlockRange {
        BlockRange {
            piece: block.piece(),
            offset: block.offset(),
            len: self.blocks.block_len(block),
        }
    }

    fn on_block(&mut self, now: Instant, key: PeerKey, block: BlockRange, data: Bytes) {
        let len = data.len() as u64;
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.down.add(now, len);
        peer.last_block_at = Some(now);
        let addr = peer.addr;
        self.down_rate.add(now, len);
        self.totals.downloaded += len;
        self.to_fill.insert(key);
        let Some(b) = self.block_ref(block) else {
            self.totals.wasted += len;
            return;
        };
        match self.picker.on_block_received(key, b, now) {
            BlockOutcome::Accepted {
                cancel,
                piece_complete,
            } => {
                for other in cancel {
                    if let Some(p) = self.peers.get_mut(&other) {
                        p.session.cancel(now, block);
                        self.dirty.insert(other);
                    }
                }
                let blocks_in_piece = self.blocks.blocks_in_piece(b.piece()) as usize;
                let buf = self.pieces.entry(b.piece()).or_insert_with(|| PieceBuf {
                    blocks: vec![None; blocks_in_piece],
                    senders: vec![None; blocks_in_piece],
                });
                if let Some(slot) = buf.blocks.get_mut(b.index() as usize) {
                    *slot = Some(data);
                }
                if let Some(slot) = buf.senders.get_mut(b.index() as usize) {
                    *slot = Some(addr);
                }
                if piece_complete {
                    self.submit_piece(b.piece());
                }
            }
            BlockOutcome::Duplicate | BlockOutcome::Unrequested => self.totals.wasted += len,
        }
    }

    fn submit_piece(&mut self, piece: PieceIndex) {
        let Some(buf) = self.pieces.remove(&piece) else {
            return;
        };
        let Some(blocks) = buf.blocks.into_iter().collect::<Option<Vec<Bytes>>>() else {
            // The picker said complete but a block is missing here: a bug on our side. Drop
            // the piece and let the picker fetch it again rather than write a hole.
            self.picker.on_piece_failed(piece);
            self.fill_all = true;
            return;
        };
        let Some(expected) = self.hashes.get(piece.as_usize()).copied() else {
            return;
        };
        self.disk_queue_bytes += blocks.iter().map(|b| b.len() as u64).sum::<u64>();
        self.at_disk.insert(piece, buf.senders);
        let block_hashes = self.suspects.has(piece);
        self.disk_ops.push_back(DiskOp::WritePiece {
            piece,
            blocks,
            expected,
            block_hashes,
        });
    }

    /// A disk operation finished.
    pub fn handle_disk_done(&mut self, now: Instant, done: DiskDone) {
        match done {
            DiskDone::PieceWritten {
                piece,
                block_hashes,
            } => {
                self.release_disk_bytes(piece);
                self.at_disk.remove(&piece);
                self.retries.on_done(piece);
                for culprit in self.suspects.on_passed(piece, &block_hashes) {
                    self.ban_ip(now, culprit);
                }
                self.on_piece_verified(now, piece);
            }
            DiskDone::PieceFailed { piece, blocks } => {
                self.release_disk_bytes(piece);
                self.totals.hash_failures += 1;
                self.totals.wasted += blocks.iter().map(|b| b.len() as u64).sum::<u64>();
                let senders = self.at_disk.remove(&piece).unwrap_or_default();
                self.suspects.on_failed(piece, &blocks, &senders);
                let contributors = self.picker.on_piece_failed(piece);
                self.retries.on_failed(piece);
                // A peer that sent the whole piece alone is proven to have sent bad data and
                // earns a strike. Where several peers shared the piece nobody is blamed yet:
                // the block hashes remembered above name the culprit once the piece passes.
                if let [only] = contributors[..] {
                    if let Some(p) = self.peers.get_mut(&only) {
                        p.strikes += 1;
                        if p.strikes >= self.config.ban_strikes {
                            self.close(now, only, CloseReason::Banned);
                        }
                    }
                }
                self.events.push_back(SwarmEvent::HashFailed(piece));
                self.fill_all = true;
            }
            DiskDone::WriteError {
                piece,
                disk_full,
                message,
            } => {
                self.release_disk_bytes(piece);
                self.at_disk.remove(&piece);
                // The data was good but is not on disk: it must be fetched again later.
                self.retries.on_done(piece);
                self.totals.wasted += u64::from(self.geometry.piece_len(piece));
                self.picker.on_piece_failed(piece);
                if !self.download_paused {
                    self.download_paused = true;
                    self.cancel_all_requests(now);
                    let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                    for k in keys {
                        self.update_interest(now, k);
                    }
                }
                self.events
                    .push_back(SwarmEvent::DiskError { message, disk_full });
            }
            DiskDone::Read { peer, block, data } => self.on_read_done(now, peer, block, data),
        }
        self.finish_input(now);
    }

    /// `piece` hashed correctly and is on disk: tell the peers, update interest, and finish
    /// the download if it was the last one.
    fn on_piece_verified(&mut self, now: Instant, piece: PieceIndex) {
        if self.picker.have().has(piece) {
            // A second completion for the same piece (the owner's mistake): already told.
            return;
        }
        let was_wanted = self.picker.wanted().has(piece);
        for pb in self.picker.on_piece_verified(piece) {
            let range = self.block_range(pb.block);
            if let Some(p) = self.peers.get_mut(&pb.peer) {
                p.session.cancel(now, range);
                self.dirty.insert(pb.peer);
            }
        }
        let mut lost_interest = Vec::new();
        for (k, p) in self.peers.iter_mut() {
            if p.has(piece) {
                // A HAVE tells a peer that has the piece nothing.
                if was_wanted {
                    p.wanted_have = p.wanted_have.saturating_sub(1);
                    if p.wanted_have == 0 && p.interesting {
                        lost_interest.push(*k);
                    }
                }
            } else {
                p.session.have(now, piece);
                self.dirty.insert(*k);
            }
        }
        for k in lost_interest {
            self.update_interest(now, k);
        }
        self.events.push_back(SwarmEvent::PieceVerified(piece));
        if self.picker.is_finished() && !self.completed {
            self.completed = true;
            self.choker.set_seeding(true);
            self.events.push_back(SwarmEvent::Completed);
            // Seeds among our peers have nothing more for us, nor we for them.
            let seeds: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.is_seed() || p.session.peer_pieces().is_some_and(|b| b.is_full())
                })
                .map(|(k, _)| *k)
                .collect();
            for k in seeds {
                self.close(now, k, CloseReason::NotUseful);
            }
        }
    }

    fn release_disk_bytes(&mut self, piece: PieceIndex) {
        let before = self.disk_queue_bytes;
        let len = u64::from(self.geometry.piece_len(piece));
        self.disk_queue_bytes = before.saturating_sub(len);
        if before >= self.config.max_disk_queue
            && self.disk_queue_bytes < self.config.max_disk_queue
        {
            // Every pipeline stopped while the disk was behind; restart them now.
            self.fill_all = true;
        }
    }

    /// Lifts a disk-error pause (space was freed).
    pub fn resume_downloading(&mut self, now: Instant) {
        if !self.download_paused {
            return;
        }
        self.download_paused = false;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.update_interest(now, k);
        }
        self.fill_all = true;
        self.finish_input(now);
    }

    pub fn is_download_paused(&self) -> bool {
        self.download_paused
    }

    /// Bans the IP of a peer proven to have sent bad data, closing its connections.
    fn ban_ip(&mut self, now: Instant, ip: std::net::IpAddr) {
        let keys: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.addr.ip() == ip)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.close(now, k, CloseReason::Banned);
        }
        self.addrs.ban(ip);
    }
}
