//! Which blocks to ask which peer for, and which peers to upload to: the piece picker and the
//! choker of shoal, as two sans-IO state machines that deal in numbers only.
//!
//! # Design: numbers in, numbers out
//!
//! Neither type knows about sockets, wire messages, files or clocks. The picker sees piece
//! indices, block indices, peer keys (opaque numbers chosen by the caller), bitfields and
//! `Instant`s passed in; it answers with [`BlockRef`]s to request, peers to cancel, and peers
//! that sent bad data. The choker sees per-peer rates and flags and answers with who to choke
//! and unchoke. Randomness comes in as `&mut impl Rng`.
//!
//! That is what makes the hard cases testable one line at a time: a piece picker state is
//! written as a string (availability digits, a have mask, block letters per piece in progress)
//! and a test asserts what `pick` returns, with a seeded RNG. Tests of this crate never open a
//! socket, sleep, or read a file; the swarm core joins this crate with the wire protocol.
//!
//! # Picker outline
//!
//! * Availability is a per-piece count of connected peers that have the piece, plus one shared
//!   count of seeds (a seed adds one to every piece, so it costs O(1) and changes no ranking).
//! * Pieces nobody has started live in one array sorted into buckets by (priority, availability)
//!   (`availability.rs`): an availability change is an O(1) swap across one bucket boundary, and
//!   picking walks from the rarest bucket of the highest priority until enough blocks are found.
//! * Pieces in progress (`blocks.rs`) hold per-block state: free, requested (by whom, when, timed
//!   out or not), received (from whom). They are finished before new pieces of the same
//!   priority are started, so few pieces are open at once and hash failures have few suspects.
//! * Endgame, timeouts, snubbed peers, sequential mode and the first random pieces are rules
//!   inside `pick`; see [`Picker::pick`].
//!
//! Costs: HAVE and lost-peer updates are O(1); a bitfield is O(pieces / 8 + set bits); a pick
//! is O(pieces in progress + pieces examined), and a peer holding what we want makes the pieces
//! examined about `want / blocks per piece` (the `tests/scale.rs` test asserts this on 2^21
//! pieces). Only a peer holding very few of our wanted pieces makes a pick walk the order;
//! libtorrent accepts the same trade rather than keep per-peer indexes.
//!
//! The choker ([`Choker`]) is independent of the picker: it ranks peers every 10 s.

mod availability;
mod blocks;
mod choker;
mod endgame;
mod geometry;
mod invariants;
mod lifecycle;
mod peers;
mod pick;
mod picker;
mod pipeline;

#[cfg(test)]
mod tests;

pub use choker::{ChokePeerStats, Choker, ChokerConfig, Rechoke};
pub use geometry::{BlockRef, Geometry, BLOCK_LEN, MAX_PIECES, MAX_PIECE_LEN};
pub use invariants::InvariantViolation;
pub use pick::PeerView;
pub use picker::{BlockStatus, Picker, PickerConfig};
pub use pipeline::{pipeline_depth, MAX_PIPELINE, MIN_PIPELINE, PIPELINE_WINDOW};

use shoal_core::PieceIndex;

/// The caller's handle for a connected peer. The picker and choker never interpret it; the
/// swarm chooses it (a connection number) and must not reuse it while the peer's requests are
/// still known to the picker.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerKey(u64);

impl PeerKey {
    pub fn new(key: u64) -> Self {
        Self(key)
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Download priority of a piece or file: 0 = skip, 1 (lowest) ..= 7 (highest). Higher
/// priorities are always picked before lower ones; 4 is the default.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Priority(u8);

impl Priority {
    /// Do not download.
    pub const SKIP: Priority = Priority(0);
    pub const LOWEST: Priority = Priority(1);
    pub const NORMAL: Priority = Priority(4);
    pub const HIGHEST: Priority = Priority(7);

    /// `Some` for 0..=7.
    pub fn new(level: u8) -> Option<Self> {
        (level <= 7).then_some(Self(level))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::NORMAL
    }
}

/// A request of one block from one peer: something to send a CANCEL for, or a request that
/// timed out.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerBlock {
    pub peer: PeerKey,
    pub block: BlockRef,
}

/// What to do with a block of data that arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// We need this data: write it. Send CANCEL for this block to every peer in `cancel` (they
    /// were asked too, in endgame or after a timeout). When `piece_complete`, every block of
    /// the piece has now arrived: hash it once written, then call
    /// [`Picker::on_piece_verified`] or [`Picker::on_piece_failed`]. Data from a peer whose
    /// request was already returned (after a choke or cancel) is accepted too, as long as the
    /// block is still missing.
    Accepted {
        cancel: Vec<PeerKey>,
        piece_complete: bool,
    },
    /// We already have this block (a duplicate crossing our CANCEL, or a verified piece).
    /// Discard it; the peer did nothing wrong.
    Duplicate,
    /// Nobody asked for anything in this piece (or it is not one of ours). Discard it. One
    /// right after a choke or cancel is normal; a peer that keeps sending these is wasting
    /// our bandwidth.
    Unrequested,
}

/// Errors from building or commanding the picker. Each says what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickerError {
    #[error("piece length {0} is outside 1..={MAX_PIECE_LEN}; the torrent cannot be loaded")]
    BadPieceLength(u64),
    #[error("the torrent holds no data; there is nothing to download")]
    EmptyTorrent,
    #[error("the torrent has {count} pieces, more than the supported {max}; it cannot be loaded")]
    TooManyPieces { count: u64, max: u32 },
    #[error(
        "have-bitfield has {got} bits for {expected} pieces; recheck the data instead of resuming"
    )]
    HaveLengthMismatch { got: u32, expected: u32 },
    #[error(
        "file lengths add up to {got} bytes but the torrent has {expected}; priorities unchanged"
    )]
    FileLengthMismatch { got: u64, expected: u64 },
    #[error("piece {0} is not part of this torrent; command ignored")]
    PieceOutOfRange(PieceIndex),
    #[error("block {0} is not needed (we have it or its piece is skipped); do not request it")]
    BlockNotNeeded(BlockRef),
    #[error("block {0} is already requested from this peer; do not request it again")]
    AlreadyRequested(BlockRef),
}
