//! What goes into and out of a [`crate::Swarm`] besides peer bytes.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use shoal_core::PieceIndex;
use shoal_picker::{ChokerConfig, PeerKey, PickerConfig};
use shoal_wire::{BlockRange, SessionConfig};

/// Tunables of one torrent's swarm.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Connections (both directions) at most.
    pub max_peers: usize,
    /// Outgoing connection attempts in flight at most.
    pub max_connecting: usize,
    /// Known-address book size.
    pub max_known_addrs: usize,
    pub session: SessionConfig,
    pub picker: PickerConfig,
    pub choker: ChokerConfig,
    /// Hash-failure strikes after which a peer is banned (a peer proven to have sent a bad
    /// block is banned at once; see `ban.rs`).
    pub ban_strikes: u32,
    /// Bytes of pieces waiting for the disk (hash + write) at most; above it, no new requests
    /// go out until the disk catches up. Makes disk backpressure explicit.
    pub max_disk_queue: u64,
    /// Period of the bookkeeping tick: connection keep-alives and idle timeouts, dialling, and
    /// a safety-net pipeline refill (requests are otherwise driven by events).
    pub tick: Duration,
    /// Assumed round trip for sizing request pipelines.
    pub rtt: Duration,
    /// Upload requests a peer may have waiting on disk reads at once.
    pub max_reads_per_peer: usize,
    /// Exchange peers with PEX (BEP 11). Never done for private torrents, whatever this says.
    pub pex: bool,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        Self {
            max_peers: 80,
            max_connecting: 16,
            max_known_addrs: 4000,
            session: SessionConfig::default(),
            picker: PickerConfig::default(),
            choker: ChokerConfig::default(),
            ban_strikes: 3,
            max_disk_queue: 64 << 20,
            tick: Duration::from_millis(500),
            rtt: Duration::from_millis(100),
            max_reads_per_peer: 256,
            pex: true,
        }
    }
}

/// Work for the disk, run by the owner off the swarm's thread; the result comes back through
/// [`crate::Swarm::handle_disk_done`].
#[derive(Debug)]
pub enum DiskOp {
    /// Hash a complete piece against `expected` and, if it matches, write it.
    /// `blocks` are the piece's blocks in order. With `block_hashes`, the result also carries
    /// the SHA-1 of every block (used to find which peer sent bad data).
    WritePiece {
        piece: PieceIndex,
        blocks: Vec<Bytes>,
        expected: [u8; 20],
        block_hashes: bool,
    },
    /// Read a block to upload to `peer`.
    Read { peer: PeerKey, block: BlockRange },
}

/// The result of a [`DiskOp`].
#[derive(Debug)]
pub enum DiskDone {
    /// The piece hashed correctly and is written.
    PieceWritten {
        piece: PieceIndex,
        block_hashes: Vec<[u8; 20]>,
    },
    /// The piece's hash did not match; nothing was written. The blocks come back so the swarm
    /// can remember who sent what.
    PieceFailed {
        piece: PieceIndex,
        blocks: Vec<Bytes>,
    },
    /// Writing failed (the disk, not the data). `disk_full` pauses downloading.
    WriteError {
        piece: PieceIndex,
        disk_full: bool,
        message: String,
    },
    Read {
        peer: PeerKey,
        block: BlockRange,
        data: Result<Bytes, String>,
    },
}

/// Why the swarm wants a connection closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer broke the protocol; the text says how.
    Protocol(String),
    /// The peer sent data that failed hash checks; its IP is banned.
    Banned,
    /// We have enough peers, or both sides are seeds.
    NotUseful,
    /// The torrent is stopping.
    Stopping,
}

/// Things the owner must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwarmEvent {
    /// Dial this address and, after the handshake, call `peer_connected`; on failure call
    /// `dial_failed`.
    Dial(SocketAddr),
    /// Close this connection (and call nothing more for it).
    Close(PeerKey, CloseReason),
    PieceVerified(PieceIndex),
    HashFailed(PieceIndex),
    /// Every wanted piece is verified and written.
    Completed,
    /// The disk refused a write; downloading is paused until `resume_downloading`.
    DiskError {
        message: String,
        disk_full: bool,
    },
}
