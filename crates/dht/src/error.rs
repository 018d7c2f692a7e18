//! Errors, shaped by what happens next.

use thiserror::Error;

/// Why a datagram is not a usable KRPC message. What the DHT does about it depends on how far
/// decoding got (see [`crate::proto::DecodeFailure::reply_code`]): a broken *query* with a
/// transaction id is answered with a KRPC error (203, or 204 for an unknown method);
/// anything else is dropped without a reply, so that a forged datagram cannot make us send
/// traffic to a third party.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KrpcError {
    /// Larger than [`crate::proto::MAX_DATAGRAM`]: dropped before parsing.
    #[error("datagram of {0} bytes is over the size cap")]
    TooLarge(usize),
    /// Not bencode, or over the nesting/token limits: dropped.
    #[error("not a KRPC message: {0}")]
    Bencode(#[from] shoal_bencode::DecodeError),
    /// The top level is not a dictionary: dropped.
    #[error("KRPC message is not a dictionary")]
    NotADict,
    /// A required key is missing.
    #[error("missing key {0:?}")]
    MissingKey(&'static str),
    /// A key has the wrong type, length or range.
    #[error("bad value for {0:?}")]
    BadValue(&'static str),
    /// `y` is not `q`, `r` or `e`.
    #[error("unknown message type")]
    UnknownType,
    /// A query method this node does not implement: answered with error 204.
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
}

/// Why the tokio DHT node could not do what was asked.
#[cfg(feature = "node")]
#[derive(Debug, Error)]
pub enum NodeError {
    /// The UDP socket could not be bound or read: the node cannot run; report to the user.
    #[error("DHT socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The node's task has ended (shut down or failed); start a new node.
    #[error("the DHT node has stopped")]
    Stopped,
    /// A saved routing table is unreadable or over its caps: start without it.
    #[error("unusable routing table file: {0}")]
    BadStateFile(String),
}
