//! The one error type of the crate, and what the caller should do about each variant.

use std::time::Duration;

/// What the owner of a connection does when the wire layer reports an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorAction {
    /// Close the connection. The peer may be dialled again later: the failure may be transient
    /// (a timeout) or an incompatibility the swarm's own retry policy will give up on.
    Disconnect,
    /// Close the connection and do not connect to this peer again for this torrent: the peer did
    /// something no compliant client does by accident (a frame far beyond any sane size, or a
    /// stream of blocks nobody asked for), so it is either hostile or badly broken.
    Ban,
}

/// Everything that can go wrong on a peer connection. Every variant is fatal for the connection;
/// [`WireError::action`] says whether to also ban the peer. After a [`crate::PeerSession`]
/// returned one, the session is closed and returns the same error from every later input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    // --- handshake ---
    /// The first byte of the handshake was not 19: another protocol, or an encrypted stream.
    #[error("handshake protocol string length is {0}, expected 19")]
    BadProtocolLength(u8),
    /// The handshake did not name "BitTorrent protocol".
    #[error("handshake protocol string is not \"BitTorrent protocol\"")]
    BadProtocolString,

    // --- framing ---
    /// A length prefix larger than any message we accept. Refused before reading the body.
    #[error("frame length {len} exceeds the cap of {cap} bytes")]
    FrameTooLarge { len: u32, cap: u32 },
    /// A message whose length does not fit its type (e.g. a `have` that is not 5 bytes long).
    #[error("message id {id} with invalid length {len}")]
    BadLength { id: u8, len: u32 },
    /// A message id this crate does not know.
    #[error("unknown message id {0}")]
    UnknownMessage(u8),

    // --- BEP 10 ---
    /// The extension handshake payload is not a bencoded dictionary.
    #[error("invalid extension handshake: {0}")]
    BadExtHandshake(String),
    /// An extended message on a connection where one side did not announce BEP 10.
    #[error("extended message without the extension protocol")]
    ExtendedNotNegotiated,

    // --- session state rules ---
    /// A BEP 6 message (have all/none, suggest, reject, allowed fast) while the fast extension
    /// is not enabled on both sides (BEP 6: "MUST close the connection").
    #[error("fast-extension message id {0} without the fast extension")]
    FastNotNegotiated(u8),
    /// A bitfield, have-all or have-none that was not the peer's first message.
    #[error("bitfield, have-all or have-none received after other messages")]
    BitfieldNotFirst,
    /// A bitfield whose byte length does not match the torrent's piece count.
    #[error("bitfield has {got} bytes, expected {expected}")]
    BitfieldLength { got: usize, expected: usize },
    /// A bitfield with bits set past the last piece (BEP 3: spare bits are zero).
    #[error("bitfield has spare bits set")]
    BitfieldSpareBits,
    /// A piece index at or past the torrent's piece count.
    #[error("piece index {index} out of range (piece count {piece_count})")]
    PieceOutOfRange { index: u32, piece_count: u32 },
    /// A request or cancel for a range that is empty, longer than the block cap, or runs past
    /// the end of its piece.
    #[error("invalid block range: piece {index}, offset {begin}, length {length}")]
    BadBlockRange { index: u32, begin: u32, length: u32 },
    /// More blocks arrived that we never requested than the configured tolerance.
    #[error("{0} unrequested blocks received")]
    TooManyUnrequestedBlocks(u32),
    /// Nothing was received for the configured idle time.
    #[error("peer silent for {0:?}")]
    Timeout(Duration),
}

impl WireError {
    /// What to do with the connection (it is always closed) and the peer.
    pub fn action(&self) -> ErrorAction {
        match self {
            WireError::FrameTooLarge { .. } | WireError::TooManyUnrequestedBlocks(_) => {
                ErrorAction::Ban
            }
            _ => ErrorAction::Disconnect,
        }
    }
}
