//! Acting on the peer's messages: validation against the torrent and the protocol's ordering
//! rules, state changes, and events for the owner.

use std::time::Instant;

use bytes::Bytes;
use shoal_core::PieceIndex;

use super::peer_pieces::Initial;
use super::requests::Match;
use super::{PeerEvent, PeerSession};
use crate::error::WireError;
use crate::extension::{ExtHandshake, EXT_HANDSHAKE_ID, MAX_EXTENSIONS};
use crate::geometry::BlockRange;
use crate::message::{id, BlockSpec, Message};

impl PeerSession {
    pub(super) fn on_message(&mut self, now: Instant, msg: Message) -> Result<(), WireError> {
        let may_precede_pieces = matches!(
            msg,
            Message::KeepAlive | Message::Port(_) | Message::Extended { .. }
        );
        let first_allowed = self.initial_allowed;
        self.initial_allowed = first_allowed && may_precede_pieces;
        match msg {
            Message::KeepAlive => {}
            Message::Choke => self.on_choke(),
            Message::Unchoke => {
                if std::mem::replace(&mut self.peer_choking, false) {
                    self.events.push_back(PeerEvent::Unchoked);
                }
            }
            Message::Interested => {
                if !std::mem::replace(&mut self.peer_interested, true) {
                    self.events.push_back(PeerEvent::Interested);
                }
            }
            Message::NotInterested => {
                if std::mem::replace(&mut self.peer_interested, false) {
                    self.events.push_back(PeerEvent::NotInterested);
                }
            }
            Message::Have(index) => {
                if let Some(piece) = self.peer_pieces.on_have(index)? {
                    self.events.push_back(PeerEvent::Have(piece));
                }
            }
            Message::Bitfield(bits) => {
                self.on_initial(first_allowed, Initial::Bits(bits.to_vec()))?
            }
            Message::HaveAll => {
                self.require_fast(id::HAVE_ALL)?;
                self.on_initial(first_allowed, Initial::All)?;
            }
            Message::HaveNone => {
                self.require_fast(id::HAVE_NONE)?;
                self.on_initial(first_allowed, Initial::None)?;
            }
            Message::Request(spec) => self.on_request(now, spec)?,
            Message::Piece { index, begin, data } => self.on_piece(index, begin, data)?,
            Message::Cancel(spec) => self.on_cancel(now, spec)?,
            // Accepted even if one side lacks the DHT bit: some clients send it regardless,
            // and it is only advice.
            Message::Port(port) => self.events.push_back(PeerEvent::DhtPort(port)),
            Message::Suggest(index) => {
                self.require_fast(id::SUGGEST)?;
                if let Some(piece) = self.checked_piece(index)? {
                    self.events.push_back(PeerEvent::Suggest(piece));
                }
            }
            Message::Reject(spec) => {
                self.require_fast(id::REJECT)?;
                // A reject for a request we never sent is ignored rather than fatal (BEP 6 says
                // SHOULD close): it costs nothing and some clients reject twice around a choke.
                if let Match::Live(block) = self.our_requests.on_reject(spec) {
                    self.events.push_back(PeerEvent::Rejected(block));
                }
            }
            Message::AllowedFast(index) => {
                self.require_fast(id::ALLOWED_FAST)?;
                if let Some(piece) = self.checked_piece(index)? {
                    if self.allowed_fast_in.len() < self.config.max_allowed_fast
                        && self.allowed_fast_in.insert(piece)
                    {
                        self.events.push_back(PeerEvent::AllowedFast(piece));
                    }
                }
            }
            Message::Extended { id, payload } => self.on_extended(id, payload)?,
        }
        Ok(())
    }

    fn require_fast(&self, msg_id: u8) -> Result<(), WireError> {
        if self.features.fast {
            Ok(())
        } else {
            Err(WireError::FastNotNegotiated(msg_id))
        }
    }

    /// Validates an index from the peer; `Ok(None)` while the metadata is unknown (only used
    /// for advisory messages, which are then simply ignored).
    fn checked_piece(&self, index: u32) -> Result<Option<PieceIndex>, WireError> {
        match &self.geometry {
            None => Ok(None),
            Some(g) => g.piece(index).map(Some).ok_or(WireError::PieceOutOfRange {
                index,
                piece_count: g.piece_count(),
            }),
        }
    }

    /// Validates a block range from the peer; `Ok(None)` while the metadata is unknown.
    fn checked_block(&self, spec: BlockSpec) -> Result<Option<BlockRange>, WireError> {
        let Some(g) = &self.geometry else {
            return Ok(None);
        };
        if g.piece(spec.index).is_none() {
            return Err(WireError::PieceOutOfRange {
                index: spec.index,
                piece_count: g.piece_count(),
            });
        }
        match g.block(spec, self.config.max_request_len) {
            Some(block) => Ok(Some(block)),
            None => Err(WireError::BadBlockRange {
                index: spec.index,
                begin: spec.begin,
                length: spec.length,
            }),
        }
    }

    fn on_initial(&mut self, first_allowed: bool, initial: Initial) -> Result<(), WireError> {
        if !first_allowed {
            // aria2 sends a bitfield (or have-all once complete) in the middle of a connection
            // whenever that is shorter than the HAVEs it replaces. Pieces are never taken
            // back, so a later piece set can only add: each new piece is reported as a HAVE,
            // and a later have-none says nothing.
            for piece in self.peer_pieces.on_late(initial)? {
                self.events.push_back(PeerEvent::Have(piece));
            }
            return Ok(());
        }
        if let Some(bits) = self.peer_pieces.on_initial(initial)? {
            self.events.push_back(PeerEvent::Bitfield(bits));
        }
        Ok(())
    }

    fn on_choke(&mut self) {
        if std::mem::replace(&mut self.peer_choking, true) {
            return;
        }
        // BEP 6: with the fast extension a choke no longer discards requests; each will be
        // answered by a block or a reject.
        let dropped = if self.features.fast {
            Vec::new()
        } else {
            self.our_requests.void_all()
        };
        self.events.push_back(PeerEvent::Choked { dropped });
    }

    fn on_request(&mut self, now: Instant, spec: BlockSpec) -> Result<(), WireError> {
        let block = self.checked_block(spec)?;
        let acceptable = block.filter(|b| {
            let choked_out = self.am_choking
                && !(self.features.fast && self.allowed_fast_out.contains(&b.piece));
            !choked_out && self.peer_requests.len() < self.config.max_peer_requests
        });
        match acceptable {
            Some(block) => {
                if self.peer_requests.insert(block) {
                    self.events.push_back(PeerEvent::Request(block));
                }
            }
            None => {
                // Choked, over the queue cap, or no metadata to serve from. BEP 3 peers may
                // race our choke, so this is not an error: reject if we can, else drop.
                self.stats.requests_refused += 1;
                if self.features.fast {
                    self.queue(&Message::Reject(spec), now);
                }
            }
        }
        Ok(())
    }

    fn on_cancel(&mut self, now: Instant, spec: BlockSpec) -> Result<(), WireError> {
        let Some(block) = self.checked_block(spec)? else {
            return Ok(());
        };
        if self.peer_requests.remove(&block) {
            // BEP 6: every request gets exactly one answer, a cancelled one included.
            if self.features.fast {
                self.queue(&Message::Reject(spec), now);
            }
            self.events.push_back(PeerEvent::Cancel(block));
        }
        Ok(())
    }

    fn on_piece(&mut self, index: u32, begin: u32, data: Bytes) -> Result<(), WireError> {
        // The codec capped the block at MAX_BLOCK_LEN, so it fits in u32.
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let spec = BlockSpec {
            index,
            begin,
            length: len,
        };
        match self.our_requests.on_block(spec) {
            Match::Live(block) => {
                self.stats.blocks_received += 1;
                self.stats.block_bytes_received += u64::from(len);
                self.events.push_back(PeerEvent::Block { block, data });
            }
            Match::Late(block) => {
                self.stats.late_blocks += 1;
                self.events.push_back(PeerEvent::LateBlock { block, data });
            }
            Match::Unrequested => {
                self.stats.unrequested_blocks = self.stats.unrequested_blocks.saturating_add(1);
                self.stats.unrequested_bytes += u64::from(len);
                if self.stats.unrequested_blocks > self.config.max_unrequested_blocks {
                    return Err(WireError::TooManyUnrequestedBlocks(
                        self.stats.unrequested_blocks,
                    ));
                }
                self.events.push_back(PeerEvent::UnrequestedBlock { len });
            }
        }
        Ok(())
    }

    fn on_extended(&mut self, ext_id: u8, payload: Bytes) -> Result<(), WireError> {
        if !self.features.extension_protocol {
            return Err(WireError::ExtendedNotNegotiated);
        }
        if ext_id != EXT_HANDSHAKE_ID {
            self.events.push_back(PeerEvent::Extended {
                id: ext_id,
                payload,
            });
            return Ok(());
        }
        let handshake = ExtHandshake::decode(&payload)?;
        for (name, &ext) in &handshake.m {
            if ext == 0 {
                self.peer_ext_ids.remove(name);
            } else if self.peer_ext_ids.len() < MAX_EXTENSIONS
                || self.peer_ext_ids.contains_key(name)
            {
                self.peer_ext_ids.insert(name.clone(), ext);
            }
        }
        self.peer_ext = Some(handshake.clone());
        self.events.push_back(PeerEvent::ExtHandshake(handshake));
        Ok(())
    }
}
