//! The 68-byte BEP 3 handshake and the reserved bits that announce extensions.

use shoal_core::PeerId;

use crate::error::WireError;

/// The protocol string every BitTorrent handshake starts with (after its length byte, 19).
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// `reserved[5] & 0x10`: the extension protocol (BEP 10).
const EXTENSION_BYTE: usize = 5;
const EXTENSION_MASK: u8 = 0x10;
/// `reserved[7] & 0x04`: the fast extension (BEP 6).
const FAST_BYTE: usize = 7;
const FAST_MASK: u8 = 0x04;
/// `reserved[7] & 0x01`: the peer runs a DHT node and understands `port` (BEP 5).
const DHT_BYTE: usize = 7;
const DHT_MASK: u8 = 0x01;

/// A peer wire handshake: `<19>"BitTorrent protocol"<reserved:8><info_hash:20><peer_id:20>`.
///
/// `info_hash` is the raw 20-byte wire id (see `shoal_core::InfoHash::wire_id`): on an incoming
/// connection it is what the listener looks the torrent up by, before any `InfoHash` exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Extension bits; see the `*_bit` helpers.
    pub reserved: [u8; 8],
    pub info_hash: [u8; 20],
    pub peer_id: PeerId,
}

impl Handshake {
    /// Encoded size of every handshake.
    pub const LEN: usize = 1 + PROTOCOL.len() + 8 + 20 + 20;

    /// A handshake with no reserved bits set; turn extensions on with the setters.
    pub fn new(info_hash: [u8; 20], peer_id: PeerId) -> Self {
        Self {
            reserved: [0; 8],
            info_hash,
            peer_id,
        }
    }

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = PROTOCOL.len() as u8;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    /// Decodes a handshake from the start of `buf`. `Ok(None)` until all 68 bytes are there;
    /// the protocol prefix is checked on every call against the bytes present so far, so a
    /// stream that is not BitTorrent (or is encrypted) fails on its first byte, not its 68th.
    /// On success also returns the bytes consumed (always [`Handshake::LEN`]); the rest of
    /// `buf` already belongs to the message stream.
    pub fn decode(buf: &[u8]) -> Result<Option<(Handshake, usize)>, WireError> {
        if let Some(&len) = buf.first() {
            if usize::from(len) != PROTOCOL.len() {
                return Err(WireError::BadProtocolLength(len));
            }
        }
        if buf
            .iter()
            .skip(1)
            .zip(PROTOCOL.iter())
            .any(|(got, want)| got != want)
        {
            return Err(WireError::BadProtocolString);
        }
        let Some(frame) = buf.get(..Self::LEN) else {
            return Ok(None);
        };
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&frame[20..28]);
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&frame[28..48]);
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(&frame[48..68]);
        Ok(Some((
            Handshake {
                reserved,
                info_hash,
                peer_id: PeerId(peer_id),
            },
            Self::LEN,
        )))
    }

    /// BEP 10 extension protocol announced.
    pub fn extension_protocol_bit(&self) -> bool {
        self.reserved[EXTENSION_BYTE] & EXTENSION_MASK != 0
    }
    /// BEP 6 fast extension announced.
    pub fn fast_bit(&self) -> bool {
        self.reserved[FAST_BYTE] & FAST_MASK != 0
    }
    /// BEP 5 DHT announced.
    pub fn dht_bit(&self) -> bool {
        self.reserved[DHT_BYTE] & DHT_MASK != 0
    }
    pub fn set_extension_protocol_bit(&mut self, on: bool) {
        set_bit(&mut self.reserved[EXTENSION_BYTE], EXTENSION_MASK, on);
    }
    pub fn set_fast_bit(&mut self, on: bool) {
        set_bit(&mut self.reserved[FAST_BYTE], FAST_MASK, on);
    }
    pub fn set_dht_bit(&mut self, on: bool) {
        set_bit(&mut self.reserved[DHT_BYTE], DHT_MASK, on);
    }
}

fn set_bit(byte: &mut u8, mask: u8, on: bool) {
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
}

/// The extensions in force on one connection: those both handshakes announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// BEP 6: have-all/none, reject, suggest, allowed fast; every request gets exactly one answer.
    pub fast: bool,
    /// BEP 10: extended messages (id 20).
    pub extension_protocol: bool,
    /// BEP 5: `port` messages are meaningful.
    pub dht: bool,
}

impl Features {
    /// An extension is on only if both ends set its bit (BEP 6 and BEP 10 say so explicitly).
    pub fn negotiate(ours: &Handshake, theirs: &Handshake) -> Self {
        Features {
            fast: ours.fast_bit() && theirs.fast_bit(),
            extension_protocol: ours.extension_protocol_bit() && theirs.extension_protocol_bit(),
            dht: ours.dht_bit() && theirs.dht_bit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        let mut h = Handshake::new([0xab; 20], PeerId(*b"-SH0100-abcdefghijkl"));
        h.set_extension_protocol_bit(true);
        h.set_fast_bit(true);
        h
    }

    #[test]
    fn round_trip_and_bits() {
        let h = sample();
        let bytes = h.encode();
        assert_eq!(bytes[0], 19);
        assert_eq!(&bytes[1..20], PROTOCOL);
        assert_eq!(bytes[25], 0x10);
        assert_eq!(bytes[27], 0x04);
        let (back, used) = Handshake::decode(&bytes).unwrap().unwrap();
        assert_eq!(back, h);
        assert_eq!(used, 68);
        assert!(back.extension_protocol_bit() && back.fast_bit() && !back.dht_bit());
        let mut h2 = back;
        h2.set_fast_bit(false);
        h2.set_dht_bit(true);
        assert_eq!(h2.reserved, [0, 0, 0, 0, 0, 0x10, 0, 0x01]);
    }

    #[test]
    fn partial_input_needs_more_and_extra_is_not_consumed() {
        let mut bytes = sample().encode().to_vec();
        for cut in 0..Handshake::LEN {
            assert_eq!(Handshake::decode(&bytes[..cut]), Ok(None), "cut {cut}");
        }
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(Handshake::decode(&bytes).unwrap().unwrap().1, 68);
    }

    #[test]
    fn wrong_prefix_fails_early() {
        assert_eq!(
            Handshake::decode(&[18]),
            Err(WireError::BadProtocolLength(18))
        );
        assert_eq!(Handshake::decode(b"\x13BitTorrent"), Ok(None));
        assert_eq!(
            Handshake::decode(b"\x13BitTorrenX"),
            Err(WireError::BadProtocolString)
        );
        let mut bytes = sample().encode();
        bytes[19] = b'X';
        assert_eq!(Handshake::decode(&bytes), Err(WireError::BadProtocolString));
    }

    #[test]
    fn features_need_both_sides() {
        let ours = sample();
        let mut theirs = Handshake::new([0; 20], PeerId([1; 20]));
        theirs.set_fast_bit(true);
        theirs.set_dht_bit(true);
        let f = Features::negotiate(&ours, &theirs);
        assert_eq!(
            f,
            Features {
                fast: true,
                extension_protocol: false,
                dht: false
            }
        );
    }
}
