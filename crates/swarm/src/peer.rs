//! What the swarm keeps about one connected peer besides its wire session.

use std::net::SocketAddr;
use std::time::Instant;

use shoal_core::PeerId;
use shoal_wire::PeerSession;

use crate::addrs::PeerSource;
use crate::extensions::PeerExt;
use crate::rate::Rate;

/// How this peer's pieces are counted in the picker's availability, so that exactly the same
/// thing is taken back when it leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counted {
    /// No bitfield yet (or have-none): only individual HAVEs, which the session's bitfield holds.
    Pieces,
    /// Counted as a seed (have-all or a full bitfield).
    All,
}

pub(crate) struct Peer {
    pub addr: SocketAddr,
    pub source: PeerSource,
    pub peer_id: PeerId,
    pub session: PeerSession,
    pub counted: Counted,
    /// Pieces it has that we want, kept up to date on its HAVEs and our verified pieces so
    /// interest never needs a scan of the bitfields.
    pub wanted_have: u32,
    /// We want something it has (and said so).
    pub interesting: bool,
    /// Its last pick came back short: nothing more to ask it for until the pool changes.
    /// Only the periodic tick looks at this (to skip a pointless pick); events always refill.
    pub starved: bool,
    pub down: Rate,
    pub up: Rate,
    pub connected_at: Instant,
    pub last_block_at: Option<Instant>,
    /// Pieces that failed their hash with a block from this peer.
    pub strikes: u32,
    /// Upload reads waiting on the disk.
    pub reads_in_flight: usize,
    pub outgoing: bool,
    /// ut_metadata and ut_pex state.
    pub ext: PeerExt,
    /// The session's refused-request count when we last choked the peer (flood detection).
    pub refused_at_choke: u64,
}

impl Peer {
    pub fn new(
        now: Instant,
        addr: SocketAddr,
        source: PeerSource,
        peer_id: PeerId,
        session: PeerSession,
        outgoing: bool,
        ext: PeerExt,
    ) -> Self {
        Self {
            addr,
            source,
            peer_id,
            session,
            counted: Counted::Pieces,
            wanted_have: 0,
            interesting: false,
            starved: false,
            down: Rate::new(now),
            up: Rate::new(now),
            connected_at: now,
            last_block_at: None,
            strikes: 0,
            reads_in_flight: 0,
            outgoing,
            ext,
            refused_at_choke: 0,
        }
    }

    pub fn is_seed(&self) -> bool {
        self.counted == Counted::All
    }

    /// Whether the peer has `piece` (as far as it told us).
    pub fn has(&self, piece: shoal_core::PieceIndex) -> bool {
        match self.counted {
            Counted::All => true,
            Counted::Pieces => self.session.peer_pieces().is_some_and(|b| b.has(piece)),
        }
    }
}
