//! Commands: what the owner of a [`PeerSession`] tells the peer.

use std::time::Instant;

use bytes::Bytes;
use shoal_core::PieceIndex;

use super::{CancelOutcome, PeerSession, RefuseOutcome, RequestOutcome, SendOutcome, ServeOutcome};
use crate::codec::{self, MAX_EXTENDED_LEN};
use crate::extension::{ExtHandshake, EXT_HANDSHAKE_ID};
use crate::geometry::BlockRange;
use crate::message::Message;

impl PeerSession {
    /// Tells the peer we want something it has. Idempotent.
    pub fn send_interested(&mut self, now: Instant) {
        if !self.am_interested && self.is_open() {
            self.am_interested = true;
            self.queue(&Message::Interested, now);
        }
    }

    /// Tells the peer we want nothing it has. Idempotent.
    pub fn send_not_interested(&mut self, now: Instant) {
        if self.am_interested && self.is_open() {
            self.am_interested = false;
            self.queue(&Message::NotInterested, now);
        }
    }

    /// Chokes the peer. Its queued requests are voided; with the fast extension each one that
    /// is not for an allowed-fast piece gets a reject (after the choke, as BEP 6 advises, so the
    /// peer does not re-request in between). Idempotent.
    pub fn choke(&mut self, now: Instant) {
        if self.am_choking || !self.is_open() {
            return;
        }
        self.am_choking = true;
        self.queue(&Message::Choke, now);
        let queued = std::mem::take(&mut self.peer_requests);
        for block in queued {
            if self.features.fast && self.allowed_fast_out.contains(&block.piece) {
                self.peer_requests.insert(block);
            } else if self.features.fast {
                self.queue(&Message::Reject(block.spec()), now);
            }
        }
        self.check_invariants();
    }

    /// Unchokes the peer. Idempotent.
    pub fn unchoke(&mut self, now: Instant) {
        if self.am_choking && self.is_open() {
            self.am_choking = false;
            self.queue(&Message::Unchoke, now);
        }
    }

    /// Requests a block from the peer.
    pub fn request(&mut self, now: Instant, block: BlockRange) -> RequestOutcome {
        let Some(geometry) = self.geometry else {
            return RequestOutcome::NoMetadata;
        };
        if !geometry.contains(&block) || block.len > codec::MAX_BLOCK_LEN || block.len == 0 {
            return RequestOutcome::Invalid;
        }
        if !self
            .peer_pieces
            .known()
            .is_some_and(|bits| bits.has(block.piece))
        {
            return RequestOutcome::PeerLacksPiece;
        }
        if self.peer_choking && !(self.features.fast && self.allowed_fast_in.contains(&block.piece))
        {
            return RequestOutcome::Choked;
        }
        if self.our_requests.is_pending(&block) {
            return RequestOutcome::AlreadyPending;
        }
        if self.is_open() {
            self.our_requests.insert(block);
            self.queue(&Message::Request(block.spec()), now);
        }
        self.check_invariants();
        RequestOutcome::Sent
    }

    /// Cancels a live request. Without the fast extension it is forgotten at once (a block that
    /// still arrives is reported as [`PeerEvent::LateBlock`](super::PeerEvent::LateBlock)); with it, it stays pending until
    /// the peer's block or reject, which BEP 6 guarantees.
    pub fn cancel(&mut self, now: Instant, block: BlockRange) -> CancelOutcome {
        if !self.is_open() || !self.our_requests.cancel(&block, self.features.fast) {
            return CancelOutcome::NotPending;
        }
        self.queue(&Message::Cancel(block.spec()), now);
        self.check_invariants();
        CancelOutcome::Sent
    }

    /// Serves a request of the peer. `data` is queued as is, without copying.
    pub fn send_piece(&mut self, now: Instant, block: BlockRange, data: Bytes) -> ServeOutcome {
        if data.len() != block.len as usize {
            return ServeOutcome::WrongLength;
        }
        if !self.is_open() || !self.peer_requests.remove(&block) {
            return ServeOutcome::NotRequested;
        }
        let header = Message::piece_header(block.piece.get(), block.offset, data.len());
        self.out_small.extend_from_slice(&header);
        self.flush_small();
        self.out_len += data.len();
        self.out.push_back(data);
        self.last_write = now;
        self.stats.blocks_sent += 1;
        self.stats.block_bytes_sent += u64::from(block.len);
        ServeOutcome::Sent
    }

    /// Declines a request of the peer (we lack the piece, a disk error, upload policy).
    pub fn refuse_request(&mut self, now: Instant, block: BlockRange) -> RefuseOutcome {
        if !self.is_open() || !self.peer_requests.remove(&block) {
            return RefuseOutcome::NotRequested;
        }
        self.stats.requests_refused += 1;
        if self.features.fast {
            self.queue(&Message::Reject(block.spec()), now);
            RefuseOutcome::Rejected
        } else {
            RefuseOutcome::Forgotten
        }
    }

    /// Announces a piece we completed.
    pub fn have(&mut self, now: Instant, piece: PieceIndex) {
        if self.is_open() {
            self.queue(&Message::Have(piece.get()), now);
        }
    }

    /// BEP 6: lets the peer request `piece` even while we choke it.
    pub fn allow_fast(&mut self, now: Instant, piece: PieceIndex) -> SendOutcome {
        if !self.features.fast {
            return SendOutcome::NotNegotiated;
        }
        if self.is_open() && self.allowed_fast_out.insert(piece) {
            self.queue(&Message::AllowedFast(piece.get()), now);
        }
        SendOutcome::Sent
    }

    /// BEP 6: suggests a piece to the peer.
    pub fn suggest(&mut self, now: Instant, piece: PieceIndex) -> SendOutcome {
        if !self.features.fast {
            return SendOutcome::NotNegotiated;
        }
        if self.is_open() {
            self.queue(&Message::Suggest(piece.get()), now);
        }
        SendOutcome::Sent
    }

    /// BEP 10: sends our extension handshake (the first, or an update).
    pub fn send_ext_handshake(&mut self, now: Instant, handshake: &ExtHandshake) -> SendOutcome {
        self.send_extended(now, EXT_HANDSHAKE_ID, Bytes::from(handshake.encode()))
    }

    /// BEP 10: sends an extended message. `ext_id` is the *peer's* id for the extension
    /// (see [`peer_extension_id`](Self::peer_extension_id)).
    pub fn send_extended(&mut self, now: Instant, ext_id: u8, payload: Bytes) -> SendOutcome {
        if !self.features.extension_protocol {
            return SendOutcome::NotNegotiated;
        }
        if payload.len() > MAX_EXTENDED_LEN as usize {
            return SendOutcome::TooLarge;
        }
        if self.is_open() {
            self.queue(
                &Message::Extended {
                    id: ext_id,
                    payload,
                },
                now,
            );
        }
        SendOutcome::Sent
    }

    /// BEP 5: tells the peer our DHT port.
    pub fn send_dht_port(&mut self, now: Instant, port: u16) -> SendOutcome {
        if !self.features.dht {
            return SendOutcome::NotNegotiated;
        }
        if self.is_open() {
            self.queue(&Message::Port(port), now);
        }
        SendOutcome::Sent
    }
}
