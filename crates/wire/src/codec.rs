//! Framing: check that a whole, well-sized frame is buffered, then parse it.
//!
//! Decoding is two steps, as in mini-redis' `frame.rs`. [`check_frame`] looks only at the
//! 4-byte length prefix and the id byte, refuses a length that no message of that type may
//! have, and otherwise says how long the frame is or that more bytes are needed. Only then does
//! `parse` read the body, which can no longer run short. Because the caps are enforced on the
//! first five bytes of a frame, a peer announcing a 4 GiB message is refused before a single
//! byte of it is buffered, let alone allocated.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::WireError;
use crate::message::{id, BlockSpec, Message};

/// Largest block payload we accept in a `piece` message. Everyone requests 16 KiB blocks
/// (BEP 3) and the session drops any block it did not request, so this only bounds how much
/// a peer can make us buffer for one frame. 128 KiB leaves room for clients that serve larger
/// requests without letting a single frame cost more than a few blocks of memory.
pub const MAX_BLOCK_LEN: u32 = 128 * 1024;

/// Largest piece count a bitfield may describe: 2^22 pieces, the same ceiling the piece picker
/// puts on a torrent, so every torrent the client can hold can also be talked about. A v1
/// torrent that large carries an 80 MiB `pieces` string; with 16 KiB pieces it covers 64 GiB,
/// with 16 MiB pieces 64 TiB. The session checks the exact length against the torrent; this cap
/// only bounds the buffer before it can.
pub const MAX_PIECES: u32 = 1 << 22;

/// Largest bitfield payload in bytes: [`MAX_PIECES`] bits (512 KiB).
pub const MAX_BITFIELD_LEN: u32 = MAX_PIECES / 8;

/// Largest BEP 10 payload (after the extended id). The biggest legitimate extended message is a
/// ut_metadata data message: a short dictionary plus one 16 KiB metadata block. Handshakes and
/// PEX lists are a few KiB. 1 MiB is generous for all of them yet keeps a hostile peer from
/// parking megabytes in our receive buffer.
pub const MAX_EXTENDED_LEN: u32 = 1024 * 1024;

/// The largest length prefix of any message: no frame may be longer than this, whatever its id.
pub const MAX_FRAME_LEN: u32 = max(
    max(9 + MAX_BLOCK_LEN, 1 + MAX_BITFIELD_LEN),
    2 + MAX_EXTENDED_LEN,
);

const fn max(a: u32, b: u32) -> u32 {
    if a > b {
        a
    } else {
        b
    }
}

/// Which lengths (the value of the prefix, id byte included) a message id allows.
fn length_allowed(msg_id: u8, len: u32) -> Result<bool, WireError> {
    Ok(match msg_id {
        id::CHOKE
        | id::UNCHOKE
        | id::INTERESTED
        | id::NOT_INTERESTED
        | id::HAVE_ALL
        | id::HAVE_NONE => len == 1,
        id::HAVE | id::SUGGEST | id::ALLOWED_FAST => len == 5,
        id::REQUEST | id::CANCEL | id::REJECT => len == 13,
        id::PORT => len == 3,
        // An empty bitfield describes a torrent with no pieces, which cannot exist.
        id::BITFIELD => (2..=1 + MAX_BITFIELD_LEN).contains(&len),
        // An empty block is framed correctly; the session drops it as never requested.
        id::PIECE => (9..=9 + MAX_BLOCK_LEN).contains(&len),
        id::EXTENDED => (2..=2 + MAX_EXTENDED_LEN).contains(&len),
        other => return Err(WireError::UnknownMessage(other)),
    })
}

/// Looks at the start of `buf`: `Ok(Some(n))` when a complete, acceptably sized frame of `n`
/// bytes (length prefix included) is buffered; `Ok(None)` when more bytes are needed; an error
/// as soon as the prefix or id is unacceptable, even if the body has not arrived.
pub fn check_frame(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix);
    if len > MAX_FRAME_LEN {
        return Err(WireError::FrameTooLarge {
            len,
            cap: MAX_FRAME_LEN,
        });
    }
    if len > 0 {
        let Some(&msg_id) = buf.get(4) else {
            return Ok(None);
        };
        if !length_allowed(msg_id, len)? {
            return Err(WireError::BadLength { id: msg_id, len });
        }
    }
    // len <= MAX_FRAME_LEN, so this cannot overflow.
    let total = 4 + len as usize;
    Ok((buf.len() >= total).then_some(total))
}

/// Decodes one message from the start of `buf`, copying its payload (if any) into a new
/// buffer. Returns the message and the bytes consumed, or `Ok(None)` if the frame is not
/// complete yet. Prefer [`decode_from`] on a receive buffer: it shares instead of copying.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
    match check_frame(buf)? {
        None => Ok(None),
        Some(n) => {
            let frame = buf.get(..n).map(Bytes::copy_from_slice).unwrap_or_default();
            Ok(Some((parse(frame), n)))
        }
    }
}

/// Decodes one message from the front of `buf` and removes its bytes. Payloads (`piece` data,
/// bitfields, extended payloads) are slices of the same allocation, not copies.
pub fn decode_from(buf: &mut BytesMut) -> Result<Option<Message>, WireError> {
    match check_frame(buf)? {
        None => Ok(None),
        Some(n) => Ok(Some(parse(buf.split_to(n).freeze()))),
    }
}

/// Parses a frame that [`check_frame`] accepted. Every length below was checked there, so the
/// reads cannot run past the end; the `Buf` getters would panic if they did, which is why this
/// stays private and is only reached through `check_frame`.
fn parse(mut frame: Bytes) -> Message {
    frame.advance(4);
    if frame.is_empty() {
        return Message::KeepAlive;
    }
    let msg_id = frame.get_u8();
    match msg_id {
        id::CHOKE => Message::Choke,
        id::UNCHOKE => Message::Unchoke,
        id::INTERESTED => Message::Interested,
        id::NOT_INTERESTED => Message::NotInterested,
        id::HAVE => Message::Have(frame.get_u32()),
        id::BITFIELD => Message::Bitfield(frame),
        id::REQUEST => Message::Request(block_spec(&mut frame)),
        id::PIECE => {
            let index = frame.get_u32();
            let begin = frame.get_u32();
            Message::Piece {
                index,
                begin,
                data: frame,
            }
        }
        id::CANCEL => Message::Cancel(block_spec(&mut frame)),
        id::PORT => Message::Port(frame.get_u16()),
        id::SUGGEST => Message::Suggest(frame.get_u32()),
        id::HAVE_ALL => Message::HaveAll,
        id::HAVE_NONE => Message::HaveNone,
        id::REJECT => Message::Reject(block_spec(&mut frame)),
        id::ALLOWED_FAST => Message::AllowedFast(frame.get_u32()),
        // id::EXTENDED; check_frame refused every other id.
        _ => {
            let ext_id = frame.get_u8();
            Message::Extended {
                id: ext_id,
                payload: frame,
            }
        }
    }
}

fn block_spec(frame: &mut Bytes) -> BlockSpec {
    BlockSpec {
        index: frame.get_u32(),
        begin: frame.get_u32(),
        length: frame.get_u32(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::{arb_bytes, arb_message};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip_every_message(msg in arb_message(), tail in arb_bytes(20)) {
            let mut wire = msg.to_vec();
            prop_assert_eq!(wire.len(), msg.encoded_len());
            let frame_len = wire.len();
            // Every strict prefix asks for more bytes.
            for cut in 0..frame_len {
                prop_assert_eq!(decode(&wire[..cut]), Ok(None));
            }
            wire.extend_from_slice(&tail);
            prop_assert_eq!(decode(&wire), Ok(Some((msg.clone(), frame_len))));
            let mut buf = BytesMut::from(&wire[..]);
            prop_assert_eq!(decode_from(&mut buf), Ok(Some(msg)));
            prop_assert_eq!(&buf[..], &tail[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = decode_from(&mut buf) {}
        }

        /// Frames with plausible headers (any id, small lengths): whatever is accepted
        /// re-encodes to exactly the bytes it came from, so nothing is silently lost.
        #[test]
        fn accepted_frames_re_encode_identically(
            msg_id in 0u8..=24,
            body in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut frame = (body.len() as u32 + 1).to_be_bytes().to_vec();
            frame.push(msg_id);
            frame.extend_from_slice(&body);
            if let Ok(Some((msg, used))) = decode(&frame) {
                prop_assert_eq!(used, frame.len());
                prop_assert_eq!(msg.to_vec(), frame);
            }
        }
    }

    fn frame(len: u32, msg_id: u8, body_len: usize) -> Vec<u8> {
        let mut v = len.to_be_bytes().to_vec();
        v.push(msg_id);
        v.resize(v.len() + body_len, 0);
        v
    }

    #[test]
    fn fixed_size_messages_reject_every_wrong_length() {
        let fixed: &[(u8, u32)] = &[
            (id::CHOKE, 1),
            (id::UNCHOKE, 1),
            (id::INTERESTED, 1),
            (id::NOT_INTERESTED, 1),
            (id::HAVE, 5),
            (id::REQUEST, 13),
            (id::CANCEL, 13),
            (id::PORT, 3),
            (id::SUGGEST, 5),
            (id::HAVE_ALL, 1),
            (id::HAVE_NONE, 1),
            (id::REJECT, 13),
            (id::ALLOWED_FAST, 5),
        ];
        for &(msg_id, good) in fixed {
            for len in [1, 2, 3, 4, 5, 6, 9, 12, 13, 14, 17, 100] {
                // Only the header is supplied: a bad length must fail before the body arrives.
                let result = check_frame(&frame(len, msg_id, 0));
                if len == good {
                    // A one-byte message is complete with its header; others need their body.
                    let expected = (len == 1).then_some(5);
                    assert_eq!(result, Ok(expected), "id {msg_id} len {len}");
                    let full = frame(len, msg_id, len as usize - 1);
                    assert!(decode(&full).unwrap().is_some(), "id {msg_id} len {len}");
                } else {
                    assert_eq!(result, Err(WireError::BadLength { id: msg_id, len }));
                }
            }
        }
    }

    #[test]
    fn variable_size_messages_have_bounds() {
        let cases: &[(u8, u32, u32)] = &[
            (id::BITFIELD, 2, 1 + MAX_BITFIELD_LEN),
            (id::PIECE, 9, 9 + MAX_BLOCK_LEN),
            (id::EXTENDED, 2, 2 + MAX_EXTENDED_LEN),
        ];
        for &(msg_id, lo, hi) in cases {
            assert_eq!(check_frame(&frame(lo, msg_id, 0)), Ok(None));
            assert_eq!(check_frame(&frame(hi, msg_id, 0)), Ok(None));
            for bad in [lo - 1, hi + 1] {
                let expected = if bad > MAX_FRAME_LEN {
                    WireError::FrameTooLarge {
                        len: bad,
                        cap: MAX_FRAME_LEN,
                    }
                } else {
                    WireError::BadLength {
                        id: msg_id,
                        len: bad,
                    }
                };
                assert_eq!(
                    check_frame(&frame(bad, msg_id, 0)),
                    Err(expected),
                    "id {msg_id}"
                );
            }
        }
    }

    #[test]
    fn unknown_ids_are_errors() {
        for msg_id in [10u8, 11, 12, 18, 19, 21, 22, 23, 255] {
            assert_eq!(
                check_frame(&frame(1, msg_id, 0)),
                Err(WireError::UnknownMessage(msg_id))
            );
        }
    }

    #[test]
    fn huge_length_prefix_refused_from_the_prefix_alone() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let cap_before = buf.capacity();
        assert_eq!(
            decode_from(&mut buf),
            Err(WireError::FrameTooLarge {
                len: u32::MAX,
                cap: MAX_FRAME_LEN
            })
        );
        // Nothing was reserved for the announced body.
        assert_eq!(buf.capacity(), cap_before);
        assert_eq!(buf.len(), 4);
    }

    #[test]
    fn piece_data_shares_the_receive_buffer() {
        let msg = Message::Piece {
            index: 1,
            begin: 0,
            data: Bytes::from(vec![7u8; 16384]),
        };
        let mut buf = BytesMut::from(&msg.to_vec()[..]);
        let start = buf.as_ptr() as usize;
        let Some(Message::Piece { data, .. }) = decode_from(&mut buf).unwrap() else {
            panic!("not a piece");
        };
        assert_eq!(data.as_ptr() as usize, start + 13);
    }
}
