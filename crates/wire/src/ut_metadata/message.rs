//! The three ut_metadata messages (BEP 9), the validated size and piece types they talk
//! about, and the errors of both.

use bytes::{BufMut, Bytes};
use shoal_bencode::{Limits, OwnedValue, Value};

use crate::ext_action::ExtAction;

/// Name of the extension in the BEP 10 handshake's `m` dictionary.
pub const UT_METADATA: &str = "ut_metadata";

/// Metadata travels in pieces of this many bytes; only the last one may be shorter (BEP 9).
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

/// Largest info dictionary we fetch or serve. 16 MiB holds more than 800,000 SHA-1 piece
/// hashes, an order of magnitude past the largest torrents in circulation; a bigger announced
/// size is far more likely a lie meant to make us reserve memory than a real torrent.
pub const MAX_METADATA_SIZE: u32 = 16 * 1024 * 1024;

/// Number of pieces in metadata of [`MAX_METADATA_SIZE`]: no valid piece index reaches it.
pub const MAX_METADATA_PIECES: u32 = MAX_METADATA_SIZE / METADATA_PIECE_LEN;

/// Largest ut_metadata payload we parse: one full piece plus 1 KiB for the dictionary in
/// front of it (ours is under 60 bytes; the slack is for keys other clients may add). The same
/// bound libtorrent applies, so nothing a real client sends is refused.
pub const MAX_MESSAGE_LEN: usize = METADATA_PIECE_LEN as usize + 1024;

/// The dictionary has three integer keys; these limits only have to bound junk around them.
const LIMITS: Limits = Limits {
    max_depth: 8,
    max_tokens: 256,
    max_input: MAX_MESSAGE_LEN,
};

/// BEP 9 `msg_type` values.
mod msg_type {
    pub const REQUEST: i64 = 0;
    pub const DATA: i64 = 1;
    pub const REJECT: i64 = 2;
}

/// Why a ut_metadata message or size was refused. [`MetadataError::action`] says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The payload is longer than any ut_metadata message can be.
    #[error("ut_metadata message of {len} bytes exceeds the cap of {cap}")]
    TooLarge { len: usize, cap: usize },
    /// The payload does not start with a bencoded dictionary.
    #[error("ut_metadata message is not a bencoded dictionary: {0}")]
    NotADict(String),
    /// A required key is missing, not an integer, or negative.
    #[error("ut_metadata message has no valid `{0}`")]
    BadField(&'static str),
    /// A `msg_type` this crate does not know. BEP 9: "an unrecognized message ID MUST be
    /// ignored".
    #[error("unknown ut_metadata msg_type {0}")]
    UnknownType(i64),
    /// A piece index past the last piece of the metadata it refers to.
    #[error("ut_metadata piece {piece} out of range ({piece_count} pieces)")]
    PieceOutOfRange { piece: i64, piece_count: u32 },
    /// A metadata size of zero or over [`MAX_METADATA_SIZE`].
    #[error("metadata size {0} is outside 1..={MAX_METADATA_SIZE}")]
    SizeOutOfRange(i64),
    /// A data message whose piece is not exactly as long as that piece must be.
    #[error("ut_metadata data for piece {piece} has {len} bytes, expected {expected}")]
    BadDataLength {
        piece: u32,
        len: usize,
        expected: usize,
    },
    /// Bytes after the dictionary of a request or reject, which carry none.
    #[error("{0} stray bytes after a ut_metadata request or reject")]
    TrailingBytes(usize),
}

impl MetadataError {
    /// What the owner of the connection does about it.
    pub fn action(&self) -> ExtAction {
        match self {
            MetadataError::UnknownType(_) => ExtAction::IgnoreMessage,
            _ => ExtAction::Disconnect,
        }
    }
}

/// The size of an info dictionary, validated: `1..=MAX_METADATA_SIZE` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetadataSize(u32);

/// Index of a metadata piece, validated against a [`MetadataSize`] by [`MetadataSize::piece`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetadataPiece(u32);

impl MetadataSize {
    /// Checks a size announced by a peer (`metadata_size` in its extension handshake, or
    /// `total_size` in a data message) or our own.
    pub fn new(bytes: u64) -> Result<Self, MetadataError> {
        u32::try_from(bytes)
            .ok()
            .filter(|&b| (1..=MAX_METADATA_SIZE).contains(&b))
            .map(Self)
            .ok_or(MetadataError::SizeOutOfRange(
                i64::try_from(bytes).unwrap_or(i64::MAX),
            ))
    }
    /// The size in bytes.
    pub fn get(self) -> u32 {
        self.0
    }
    /// `ceil(size / 16 KiB)`: at least 1, at most [`MAX_METADATA_PIECES`].
    pub fn piece_count(self) -> u32 {
        self.0.div_ceil(METADATA_PIECE_LEN)
    }
    /// `Some` when `index` names a piece of metadata this size.
    pub fn piece(self, index: u32) -> Option<MetadataPiece> {
        (index < self.piece_count()).then_some(MetadataPiece(index))
    }
    /// Every piece, first to last.
    pub fn pieces(self) -> impl Iterator<Item = MetadataPiece> {
        (0..self.piece_count()).map(MetadataPiece)
    }
    /// Length of `piece`: 16 KiB, except the last piece, which holds the remainder.
    pub fn piece_len(self, piece: MetadataPiece) -> usize {
        let start = piece.0.saturating_mul(METADATA_PIECE_LEN);
        self.0.saturating_sub(start).min(METADATA_PIECE_LEN) as usize
    }
    /// Byte offset of `piece` in the metadata.
    pub fn piece_offset(self, piece: MetadataPiece) -> usize {
        piece.0 as usize * METADATA_PIECE_LEN as usize
    }
}

impl MetadataPiece {
    /// The index as sent on the wire.
    pub fn get(self) -> u32 {
        self.0
    }
    /// As a `usize`, for indexing per-piece tables.
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

/// One ut_metadata message. Piece indices of requests and rejects are raw wire values below
/// [`MAX_METADATA_PIECES`] (whether the sender's metadata has that piece is for the receiver
/// to check); a data message is consistent by construction when decoded: its piece exists in
/// metadata of `total_size`, and `data` has exactly that piece's length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMessage {
    /// "Send me this piece."
    Request { piece: u32 },
    /// One piece of the metadata; `total_size` is the whole dictionary's size.
    Data {
        piece: u32,
        total_size: u32,
        data: Bytes,
    },
    /// "I will not send this piece" (typically: I do not have the metadata yet).
    Reject { piece: u32 },
}

impl MetadataMessage {
    /// Parses the payload of an extended message that arrived on our ut_metadata id. `data`
    /// of a data message shares `payload`'s buffer.
    pub fn decode(payload: &Bytes) -> Result<Self, MetadataError> {
        if payload.len() > MAX_MESSAGE_LEN {
            return Err(MetadataError::TooLarge {
                len: payload.len(),
                cap: MAX_MESSAGE_LEN,
            });
        }
        let (value, dict_len) = shoal_bencode::decode_prefix(payload, &LIMITS)
            .map_err(|e| MetadataError::NotADict(e.to_string()))?;
        if value.as_dict().is_none() {
            return Err(MetadataError::NotADict("not a dictionary".into()));
        }
        let int = |key: &'static [u8], name: &'static str| {
            value
                .get(key)
                .and_then(Value::as_int)
                .filter(|&n| n >= 0)
                .ok_or(MetadataError::BadField(name))
        };
        let kind = value
            .get(b"msg_type")
            .and_then(Value::as_int)
            .ok_or(MetadataError::BadField("msg_type"))?;
        if !matches!(kind, msg_type::REQUEST | msg_type::DATA | msg_type::REJECT) {
            return Err(MetadataError::UnknownType(kind));
        }
        let piece = int(b"piece", "piece")?;
        let rest = payload.len() - dict_len;
        match kind {
            msg_type::DATA => {
                let total = int(b"total_size", "total_size")?;
                let size = MetadataSize::new(total.unsigned_abs())?;
                let index = u32::try_from(piece)
                    .ok()
                    .and_then(|p| size.piece(p))
                    .ok_or(MetadataError::PieceOutOfRange {
                        piece,
                        piece_count: size.piece_count(),
                    })?;
                let expected = size.piece_len(index);
                if rest != expected {
                    return Err(MetadataError::BadDataLength {
                        piece: index.get(),
                        len: rest,
                        expected,
                    });
                }
                Ok(MetadataMessage::Data {
                    piece: index.get(),
                    total_size: size.get(),
                    data: payload.slice(dict_len..),
                })
            }
            _ => {
                let piece = u32::try_from(piece)
                    .ok()
                    .filter(|&p| p < MAX_METADATA_PIECES)
                    .ok_or(MetadataError::PieceOutOfRange {
                        piece,
                        piece_count: MAX_METADATA_PIECES,
                    })?;
                if rest != 0 {
                    return Err(MetadataError::TrailingBytes(rest));
                }
                Ok(if kind == msg_type::REQUEST {
                    MetadataMessage::Request { piece }
                } else {
                    MetadataMessage::Reject { piece }
                })
            }
        }
    }

    /// The payload to send on the peer's ut_metadata id: the canonical dictionary, followed
    /// by the piece for a data message.
    pub fn encode(&self) -> Bytes {
        let (kind, piece) = match self {
            MetadataMessage::Request { piece } => (msg_type::REQUEST, piece),
            MetadataMessage::Data { piece, .. } => (msg_type::DATA, piece),
            MetadataMessage::Reject { piece } => (msg_type::REJECT, piece),
        };
        let mut dict = OwnedValue::dict()
            .with(b"msg_type", OwnedValue::int(kind))
            .with(b"piece", OwnedValue::int(i64::from(*piece)));
        let mut out = Vec::new();
        if let MetadataMessage::Data {
            total_size, data, ..
        } = self
        {
            dict.insert(b"total_size", OwnedValue::int(i64::from(*total_size)));
            out.reserve(64 + data.len());
            dict.encode_into(&mut out);
            out.put_slice(data);
        } else {
            dict.encode_into(&mut out);
        }
        Bytes::from(out)
    }

    /// The piece index the message refers to.
    pub fn piece(&self) -> u32 {
        match self {
            MetadataMessage::Request { piece }
            | MetadataMessage::Data { piece, .. }
            | MetadataMessage::Reject { piece } => *piece,
        }
    }
}
