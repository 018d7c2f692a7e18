//! Serving our own info dictionary to peers that ask for it.

use bytes::Bytes;

use super::message::{MetadataError, MetadataMessage, MetadataSize};

/// Answers ut_metadata requests for one torrent whose metadata we have (and have verified:
/// BEP 9 forbids sending pieces that do not pass the info-hash check).
///
/// Immutable and cheap to clone (the bytes are shared), so one server can back every
/// connection of the torrent. While the metadata is still being fetched there is no server;
/// the owner answers each request with [`MetadataMessage::Reject`], as BEP 9 requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataServer {
    /// The info dictionary exactly as hashed.
    info: Bytes,
    size: MetadataSize,
}

impl MetadataServer {
    /// A server for `info`, the raw info dictionary. Refused when it is empty or larger than
    /// [`super::MAX_METADATA_SIZE`]: peers would refuse to fetch it anyway.
    pub fn new(info: Bytes) -> Result<Self, MetadataError> {
        let len = u64::try_from(info.len()).unwrap_or(u64::MAX);
        let size = MetadataSize::new(len)?;
        Ok(Self { info, size })
    }

    /// The size to announce as `metadata_size` in our extension handshake.
    pub fn size(&self) -> MetadataSize {
        self.size
    }

    /// The answer to a request for `piece`: the piece as a data message, or a reject when our
    /// metadata has no such piece.
    pub fn answer(&self, piece: u32) -> MetadataMessage {
        let Some(index) = self.size.piece(piece) else {
            return MetadataMessage::Reject { piece };
        };
        let start = self.size.piece_offset(index);
        let end = start + self.size.piece_len(index);
        match self.info.get(start..end) {
            Some(_) => MetadataMessage::Data {
                piece,
                total_size: self.size.get(),
                data: self.info.slice(start..end),
            },
            // Unreachable: `size` was measured from `info`. Refusing is the safe answer.
            None => MetadataMessage::Reject { piece },
        }
    }

    /// Convenience for the owner: the answer to a decoded message, if it asks for one
    /// (only requests do).
    pub fn respond(&self, msg: &MetadataMessage) -> Option<MetadataMessage> {
        match msg {
            MetadataMessage::Request { piece } => Some(self.answer(*piece)),
            MetadataMessage::Data { .. } | MetadataMessage::Reject { .. } => None,
        }
    }
}
