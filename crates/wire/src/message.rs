//! The messages of the peer wire protocol (BEP 3, BEP 6, BEP 10) and their encoding.
//!
//! Fields here are raw wire values (`u32` piece indices, byte offsets): a message alone cannot
//! know how many pieces the torrent has. [`crate::PeerSession`] validates them against the
//! torrent and hands out `PieceIndex` and [`crate::BlockRange`] instead.

use bytes::{BufMut, Bytes};

/// Message ids on the wire.
pub mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    /// BEP 5: the sender's DHT port.
    pub const PORT: u8 = 9;
    /// BEP 6 (fast extension) from here to `ALLOWED_FAST`.
    pub const SUGGEST: u8 = 13;
    pub const HAVE_ALL: u8 = 14;
    pub const HAVE_NONE: u8 = 15;
    pub const REJECT: u8 = 16;
    pub const ALLOWED_FAST: u8 = 17;
    /// BEP 10.
    pub const EXTENDED: u8 = 20;
}

/// `<index><begin><length>`: the body of request, cancel and reject. Unvalidated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockSpec {
    /// Piece index as sent; may be out of range.
    pub index: u32,
    /// Byte offset inside the piece.
    pub begin: u32,
    /// Number of bytes.
    pub length: u32,
}

/// One peer wire message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A zero-length frame; keeps idle connections open.
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    /// Raw bitfield bytes, wire order; the session checks its length and spare bits.
    Bitfield(Bytes),
    Request(BlockSpec),
    /// A block of data. `data` shares the receive buffer (no copy).
    Piece {
        index: u32,
        begin: u32,
        data: Bytes,
    },
    Cancel(BlockSpec),
    /// BEP 5: the sender's DHT listen port.
    Port(u16),
    /// BEP 6: "you might like to download this piece".
    Suggest(u32),
    /// BEP 6: replaces the bitfield when the sender has every piece.
    HaveAll,
    /// BEP 6: replaces the bitfield when the sender has no piece.
    HaveNone,
    /// BEP 6: the sender will not serve this request.
    Reject(BlockSpec),
    /// BEP 6: the receiver may request this piece even while choked.
    AllowedFast(u32),
    /// BEP 10: `id` 0 is the extension handshake, others are ids from that handshake.
    Extended {
        id: u8,
        payload: Bytes,
    },
}

impl Message {
    /// The message id byte, `None` for keep-alive.
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have(_) => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece { .. } => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::Suggest(_) => id::SUGGEST,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::Reject(_) => id::REJECT,
            Message::AllowedFast(_) => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
        })
    }

    /// The value of the length prefix: bytes after the prefix.
    fn body_len(&self) -> usize {
        match self {
            Message::KeepAlive => 0,
            Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 1,
            Message::Have(_) | Message::Suggest(_) | Message::AllowedFast(_) => 5,
            Message::Bitfield(bits) => 1 + bits.len(),
            Message::Request(_) | Message::Cancel(_) | Message::Reject(_) => 13,
            Message::Piece { data, .. } => 9 + data.len(),
            Message::Port(_) => 3,
            Message::Extended { payload, .. } => 2 + payload.len(),
        }
    }

    /// Size of the encoded frame, length prefix included.
    pub fn encoded_len(&self) -> usize {
        4 + self.body_len()
    }

    /// Appends the framed message to `out` (a `BytesMut`, a `Vec<u8>`, ...).
    ///
    /// Only our own messages are encoded, so sizes are trusted; a body over 4 GiB cannot be
    /// framed and is a caller bug (checked in debug builds).
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        let body = self.body_len();
        debug_assert!(
            u32::try_from(body).is_ok(),
            "message body too large to frame"
        );
        out.put_u32(body as u32);
        if let Some(id) = self.id() {
            out.put_u8(id);
        }
        match self {
            Message::Have(i) | Message::Suggest(i) | Message::AllowedFast(i) => out.put_u32(*i),
            Message::Bitfield(bits) => out.put_slice(bits),
            Message::Request(b) | Message::Cancel(b) | Message::Reject(b) => {
                out.put_u32(b.index);
                out.put_u32(b.begin);
                out.put_u32(b.length);
            }
            Message::Piece { index, begin, data } => {
                out.put_u32(*index);
                out.put_u32(*begin);
                out.put_slice(data);
            }
            Message::Port(port) => out.put_u16(*port),
            Message::Extended { id, payload } => {
                out.put_u8(*id);
                out.put_slice(payload);
            }
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => {}
        }
    }

    /// The framed message in a fresh `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Just the 13-byte header of a piece message (prefix, id, index, begin), so a sender can
    /// queue the block's `Bytes` after it without copying the data.
    pub fn piece_header(index: u32, begin: u32, data_len: usize) -> [u8; 13] {
        let mut out = [0u8; 13];
        let body = 9 + data_len;
        debug_assert!(u32::try_from(body).is_ok(), "block too large to frame");
        out[..4].copy_from_slice(&(body as u32).to_be_bytes());
        out[4] = id::PIECE;
        out[5..9].copy_from_slice(&index.to_be_bytes());
        out[9..13].copy_from_slice(&begin.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        assert_eq!(Message::KeepAlive.to_vec(), [0, 0, 0, 0]);
        assert_eq!(Message::Interested.to_vec(), [0, 0, 0, 1, 2]);
        assert_eq!(
            Message::Have(0x0102_0304).to_vec(),
            [0, 0, 0, 5, 4, 1, 2, 3, 4]
        );
        assert_eq!(
            Message::Request(BlockSpec {
                index: 1,
                begin: 0x4000,
                length: 0x4000
            })
            .to_vec(),
            [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0]
        );
        assert_eq!(Message::Port(6881).to_vec(), [0, 0, 0, 3, 9, 0x1a, 0xe1]);
        assert_eq!(Message::HaveNone.to_vec(), [0, 0, 0, 1, 15]);
        assert_eq!(
            Message::Extended {
                id: 3,
                payload: Bytes::from_static(b"de")
            }
            .to_vec(),
            [0, 0, 0, 4, 20, 3, b'd', b'e']
        );
    }

    #[test]
    fn piece_header_matches_full_encoding() {
        let data = Bytes::from_static(b"hello");
        let full = Message::Piece {
            index: 7,
            begin: 16384,
            data: data.clone(),
        }
        .to_vec();
        let mut split = Message::piece_header(7, 16384, data.len()).to_vec();
        split.extend_from_slice(&data);
        assert_eq!(full, split);
    }
}
