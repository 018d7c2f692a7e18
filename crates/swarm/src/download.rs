//! Downloading: peer events, interest, request pipelines, blocks into pieces, pieces to disk.

use std::time::Instant;

use bytes::Bytes;
use shoal_core::PieceIndex;
use shoal_picker::{pipeline_depth, BlockOutcome, BlockRef, PeerKey, PeerView};
use shoal_wire::{BlockRange, PeerEvent, RequestOutcome};

use crate::peer::Counted;
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
                let Some(peer) = self.peers.get_mut(&key) else {
                    return;
                };
                if bits.is_full() {
                    peer.counted = Counted::All;
                    self.picker.peer_has_all();
                } else {
                    self.picker.peer_bitfield(&bits);
                }
                if self.completed && bits.is_full() {
                    // Two seeds have nothing to say to each other.
                    self.close(now, key, CloseReason::NotUseful);
                    return;
                }
                self.update_interest(now, key);
                self.fill_requests(now, key);
            }
            PeerEvent::Have(piece) => {
                let Some(peer) = self.peers.get_mut(&key) else {
                    return;
                };
                if peer.counted == Counted::Pieces {
                    self.picker.peer_has(piece);
                }
                let wanted = self.picker.wanted().has(piece);
                if wanted && !self.peers.get(&key).is_some_and(|p| p.interesting) {
                    self.update_interest(now, key);
                }
                self.fill_requests(now, key);
            }
            PeerEvent::Unchoked | PeerEvent::AllowedFast(_) => self.fill_requests(now, key),
            PeerEvent::Choked { .. } => {
                // Requests the choke voided go back to the pool for other peers; blocks that
                // still arrive for them are accepted as late blocks.
                let returned = self.picker.on_peer_choked_us(key);
                if !returned.is_empty() {
                    self.refill_others(now, key);
                }
            }
            PeerEvent::Block { block, data } | PeerEvent::LateBlock { block, data } => {
                self.on_block(now, key, block, data);
            }
            PeerEvent::UnrequestedBlock { len } => {
                self.totals.wasted += u64::from(len);
            }
            PeerEvent::Rejected(block) => {
                if let Some(b) = self.block_ref(block) {
                    self.picker.on_request_rejected(key, b);
                }
                self.fill_requests(now, key);
            }
            PeerEvent::Request(block) => self.on_peer_request(now, key, block),
            PeerEvent::Cancel(_) => {}
            PeerEvent::Interested | PeerEvent::NotInterested => {}
            PeerEvent::Suggest(_) | PeerEvent::ExtHandshake(_) | PeerEvent::Extended { .. } => {}
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

    /// Sends INTERESTED / NOT INTERESTED as the peer's pieces and ours change.
    pub(crate) fn update_interest(&mut self, now: Instant, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let interesting = !self.download_paused
            && match peer.counted {
                Counted::All => !self.picker.is_finished(),
                Counted::Pieces => peer
                    .session
                    .peer_pieces()
                    .is_some_and(|b| self.picker.is_interesting(b)),
            };
        if interesting != peer.interesting {
            peer.interesting = interesting;
            if interesting {
                peer.session.send_interested(now);
            } else {
                peer.session.send_not_interested(now);
            }
            self.dirty.insert(key);
        }
    }

    /// Tops up the peer's request pipeline.
    pub(crate) fn fill_requests(&mut self, now: Instant, key: PeerKey) {
        if self.download_paused
            || self.completed
            || self.disk_queue_bytes >= self.config.max_disk_queue
        {
            return;
        }
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if !peer.interesting
            || (peer.session.peer_choking() && peer.session.allowed_fast().is_empty())
        {
            return;
        }
        let rate = peer.down.per_second(now);
        let reqq = peer.session.peer_ext_handshake().and_then(|h| h.reqq);
        let depth = pipeline_depth(rate, self.config.rtt, reqq);
        let outstanding = self.picker.outstanding(key);
        if outstanding >= depth {
            return;
        }
        let snubbed = self.choker.is_snubbing(key);
        let full;
        let has = match peer.counted {
            Counted::All => {
                full = shoal_core::Bitfield::full(self.geometry.piece_count());
                &full
            }
            Counted::Pieces => match peer.session.peer_pieces() {
                Some(b) => b,
                None => return,
            },
        };
        let view = PeerView { key, has, snubbed };
        let picked = self
            .picker
            .pick(&view, depth - outstanding, &mut self.rng, now);
        for b in picked {
            let range = self.block_range(b);
            let Some(peer) = self.peers.get_mut(&key) else {
                return;
            };
            if peer.session.request(now, range) != RequestOutcome::Sent {
                self.picker.on_request_rejected(key, b);
            }
        }
        self.dirty.insert(key);
    }

    /// After a peer's requests were returned, other peers may take them.
    fn refill_others(&mut self, now: Instant, except: PeerKey) {
        let keys: Vec<PeerKey> = self
            .peers
            .keys()
            .copied()
            .filter(|k| *k != except)
            .collect();
        for k in keys {
            self.fill_requests(now, k);
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
        self.fill_requests(now, key);
    }

    fn submit_piece(&mut self, piece: PieceIndex) {
        let Some(buf) = self.pieces.remove(&piece) else {
            return;
        };
        let Some(blocks) = buf.blocks.into_iter().collect::<Option<Vec<Bytes>>>() else {
            // The picker said complete but a block is missing here: a bug on our side. Drop
            // the piece and let the picker fetch it again rather than write a hole.
            self.picker.on_piece_failed(piece);
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
                let senders = self.at_disk.remove(&piece).unwrap_or_default();
                for culprit in self.suspects.on_passed(piece, &block_hashes, &senders) {
                    self.ban_ip(now, culprit);
                }
                let to_cancel = self.picker.on_piece_verified(piece);
                for pb in to_cancel {
                    let range = self.block_range(pb.block);
                    if let Some(p) = self.peers.get_mut(&pb.peer) {
                        p.session.cancel(now, range);
                        self.dirty.insert(pb.peer);
                    }
                }
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in &keys {
                    if let Some(p) = self.peers.get_mut(k) {
                        p.session.have(now, piece);
                        self.dirty.insert(*k);
                    }
                }
                self.events.push_back(SwarmEvent::PieceVerified(piece));
                if self.picker.is_finished() && !self.completed {
                    self.completed = true;
                    self.choker.set_seeding(true);
                    self.events.push_back(SwarmEvent::Completed);
                    for k in keys {
                        self.update_interest(now, k);
                    }
                    // Seeds among our peers have nothing more for us.
                    let seeds: Vec<PeerKey> = self
                        .peers
                        .iter()
                        .filter(|(_, p)| p.is_seed())
                        .map(|(k, _)| *k)
                        .collect();
                    for k in seeds {
                        self.close(now, k, CloseReason::NotUseful);
                    }
                }
            }
            DiskDone::PieceFailed { piece, blocks } => {
                self.release_disk_bytes(piece);
                self.totals.hash_failures += 1;
                self.totals.wasted += blocks.iter().map(|b| b.len() as u64).sum::<u64>();
                let senders = self.at_disk.remove(&piece).unwrap_or_default();
                self.suspects.on_failed(piece, &blocks, &senders);
                let contributors = self.picker.on_piece_failed(piece);
                for key in contributors {
                    let Some(p) = self.peers.get_mut(&key) else {
                        continue;
                    };
                    p.strikes += 1;
                    if p.strikes >= self.config.ban_strikes {
                        self.close(now, key, CloseReason::Banned);
                    }
                }
                self.events.push_back(SwarmEvent::HashFailed(piece));
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in keys {
                    self.fill_requests(now, k);
                }
            }
            DiskDone::WriteError {
                piece,
                disk_full,
                message,
            } => {
                self.release_disk_bytes(piece);
                self.at_disk.remove(&piece);
                // The data was good but is not on disk: fetch the piece again later.
                self.picker.on_piece_failed(piece);
                self.download_paused = true;
                self.events
                    .push_back(SwarmEvent::DiskError { message, disk_full });
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in keys {
                    self.update_interest(now, k);
                }
            }
            DiskDone::Read { peer, block, data } => self.on_read_done(now, peer, block, data),
        }
    }

    fn release_disk_bytes(&mut self, piece: PieceIndex) {
        let len = u64::from(self.geometry.piece_len(piece));
        self.disk_queue_bytes = self.disk_queue_bytes.saturating_sub(len);
    }

    /// Lifts a disk-error pause (space was freed).
    pub fn resume_downloading(&mut self, now: Instant) {
        self.download_paused = false;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.update_interest(now, k);
            self.fill_requests(now, k);
        }
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
