//! Configuration, events, command outcomes and counters of a [`super::PeerSession`].

use std::time::Duration;

use bytes::Bytes;
use shoal_core::{Bitfield, PieceIndex};

use crate::extension::ExtHandshake;
use crate::geometry::BlockRange;

/// Tunables of one connection. `Default` gives the values used by common clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Send a keep-alive after writing nothing for this long. Half the idle timeout, so a peer
    /// using the same timeout as we do never mistakes us for dead.
    pub keep_alive_interval: Duration,
    /// Close the connection after receiving nothing (not even part of a frame) for this long.
    /// BEP 3 says keep-alives usually come every two minutes.
    pub idle_timeout: Duration,
    /// Requests from the peer that we track at once; more are rejected (fast extension) or
    /// dropped. Bounds memory, and is what we advertise as `reqq`.
    pub max_peer_requests: usize,
    /// Longest block the peer may request. BEP 3: "all current implementations use 2^14 (16
    /// kiB), and close connections which request an amount greater than that".
    pub max_request_len: u32,
    /// Blocks we never requested (nor cancelled recently) tolerated over the life of the
    /// connection before it is closed with a ban: each one is wasted bandwidth.
    pub max_unrequested_blocks: u32,
    /// Allowed-fast pieces from the peer that we remember. BEP 6 suggests sets of 10; a peer
    /// that names thousands is only growing our memory.
    pub max_allowed_fast: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            keep_alive_interval: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
            max_peer_requests: 500,
            max_request_len: 16 * 1024,
            max_unrequested_blocks: 256,
            max_allowed_fast: 64,
        }
    }
}

/// What the peer told us, validated against the torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// The peer choked us. Without the fast extension every request we had outstanding is
    /// void and listed in `dropped` (blocks for them may still trickle in as
    /// [`PeerEvent::LateBlock`]). With it, `dropped` is empty: each request still gets a block
    /// or an explicit [`PeerEvent::Rejected`].
    Choked {
        dropped: Vec<BlockRange>,
    },
    Unchoked,
    Interested,
    NotInterested,
    /// The peer's initial piece set (from a bitfield, have-all or have-none), or, for a
    /// torrent whose metadata arrived later, its piece set as of [`super::PeerSession::set_geometry`].
    Bitfield(Bitfield),
    /// The peer completed a piece it did not have before.
    Have(PieceIndex),
    /// BEP 6 advice: this piece would be good to download from the peer.
    Suggest(PieceIndex),
    /// BEP 6: we may request this piece from the peer even while choked.
    AllowedFast(PieceIndex),
    /// A block we requested and still wanted.
    Block {
        block: BlockRange,
        data: Bytes,
    },
    /// A block whose request we had cancelled, or that the peer's choke had voided. The data is
    /// as good as any; the owner may still use it if the block is still missing.
    LateBlock {
        block: BlockRange,
        data: Bytes,
    },
    /// A block nobody asked for was dropped (and counted towards
    /// [`SessionConfig::max_unrequested_blocks`]).
    UnrequestedBlock {
        len: u32,
    },
    /// BEP 6: the peer will not serve one of our requests. It is no longer outstanding.
    Rejected(BlockRange),
    /// The peer asks us for a block. Answer with [`super::PeerSession::send_piece`] or
    /// [`super::PeerSession::refuse_request`].
    Request(BlockRange),
    /// The peer withdrew a request we had not served yet; a late `send_piece` for it is refused.
    Cancel(BlockRange),
    /// BEP 10 handshake (the first or an update); the session already merged its `m`.
    ExtHandshake(ExtHandshake),
    /// BEP 10 message on one of *our* extension ids (those we sent in our handshake).
    Extended {
        id: u8,
        payload: Bytes,
    },
    /// BEP 5: the peer's DHT port.
    DhtPort(u16),
}

/// Result of [`super::PeerSession::request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    Sent,
    /// The torrent's metadata is not known yet, so no block can be named.
    NoMetadata,
    /// The block is not inside its piece or is longer than the codec's block cap.
    Invalid,
    /// The peer has not announced this piece.
    PeerLacksPiece,
    /// The peer is choking us and has not allowed this piece fast.
    Choked,
    /// A request for this block is already outstanding (or cancelled but not yet answered).
    AlreadyPending,
}

/// Result of [`super::PeerSession::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    Sent,
    /// No live request for this block (never sent, answered, rejected, cancelled or voided).
    NotPending,
}

/// Result of [`super::PeerSession::send_piece`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeOutcome {
    Sent,
    /// The peer does not (or no longer) want this block: cancelled, voided by our choke, or
    /// never asked. Nothing was sent.
    NotRequested,
    /// `data` is not `block.len` bytes long. Nothing was sent.
    WrongLength,
}

/// Result of [`super::PeerSession::refuse_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseOutcome {
    /// A reject was sent (fast extension).
    Rejected,
    /// Forgotten silently: without the fast extension there is no reject message.
    Forgotten,
    /// There was no such pending request.
    NotRequested,
}

/// Result of commands that need a negotiated extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// The extension this message belongs to is not enabled on the connection.
    NotNegotiated,
    /// The payload is larger than a peer will accept
    /// ([`MAX_EXTENDED_LEN`](crate::codec::MAX_EXTENDED_LEN)).
    TooLarge,
}

/// Counters for statistics and policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Requested blocks received, and their bytes.
    pub blocks_received: u64,
    pub block_bytes_received: u64,
    /// Blocks received after we cancelled them or the peer's choke voided them.
    pub late_blocks: u64,
    /// Blocks received that were never requested, and their bytes.
    pub unrequested_blocks: u32,
    pub unrequested_bytes: u64,
    /// Blocks sent, and their bytes.
    pub blocks_sent: u64,
    pub block_bytes_sent: u64,
    /// Peer requests we rejected or dropped unseen (while choking, or over the queue cap).
    pub requests_refused: u64,
}
