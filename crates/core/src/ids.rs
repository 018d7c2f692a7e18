//! Identifiers: info-hashes, peer ids and piece indices.

use std::fmt;

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Decodes exactly `N` bytes from `2 * N` hex digits (either case).
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// The SHA-1 of a v1 info dictionary (BEP 3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV1(pub [u8; 20]);

/// The SHA-256 of a v2 info dictionary (BEP 52).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV2(pub [u8; 32]);

impl InfoHashV1 {
    /// Hashes a raw, exactly-as-received info dictionary.
    pub fn of_info_bytes(info: &[u8]) -> Self {
        use sha1::Digest;
        Self(sha1::Sha1::digest(info).into())
    }
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        from_hex(s).map(Self)
    }
}

impl InfoHashV2 {
    /// Hashes a raw, exactly-as-received info dictionary.
    pub fn of_info_bytes(info: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(info).into())
    }
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        from_hex(s).map(Self)
    }
    /// The 20-byte form used in handshakes, trackers and the DHT (BEP 52: truncated).
    pub fn truncated(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        out
    }
}

impl fmt::Debug for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV1({})", self.to_hex())
    }
}
impl fmt::Display for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({})", self.to_hex())
    }
}
impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The identity of a torrent: a v1 hash, a v2 hash, or both (hybrid). Never neither.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct InfoHash {
    v1: Option<InfoHashV1>,
    v2: Option<InfoHashV2>,
}

impl InfoHash {
    pub fn v1(h: InfoHashV1) -> Self {
        Self {
            v1: Some(h),
            v2: None,
        }
    }
    pub fn v2(h: InfoHashV2) -> Self {
        Self {
            v1: None,
            v2: Some(h),
        }
    }
    pub fn hybrid(v1: InfoHashV1, v2: InfoHashV2) -> Self {
        Self {
            v1: Some(v1),
            v2: Some(v2),
        }
    }
    /// Builds from optional parts; `None` when both are missing.
    pub fn from_parts(v1: Option<InfoHashV1>, v2: Option<InfoHashV2>) -> Option<Self> {
        if v1.is_none() && v2.is_none() {
            None
        } else {
            Some(Self { v1, v2 })
        }
    }
    pub fn get_v1(&self) -> Option<InfoHashV1> {
        self.v1
    }
    pub fn get_v2(&self) -> Option<InfoHashV2> {
        self.v2
    }
    /// The 20 bytes that identify the torrent on the wire, at trackers and in the DHT:
    /// the v1 hash when there is one, else the truncated v2 hash (BEP 52).
    pub fn wire_id(&self) -> [u8; 20] {
        match (self.v1, self.v2) {
            (Some(v1), _) => v1.0,
            (None, Some(v2)) => v2.truncated(),
            // Unreachable by construction; all-zero keeps this total without a panic.
            (None, None) => [0u8; 20],
        }
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.v1, self.v2) {
            (Some(v1), _) => write!(f, "{v1}"),
            (None, Some(v2)) => write!(f, "{v2}"),
            (None, None) => f.write_str("-"),
        }
    }
}

/// A 20-byte peer id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// Our client prefix, Azureus style: `-SH0100-` for shoal 0.1.0.
    pub const PREFIX: &'static [u8; 8] = b"-SH0100-";

    /// A fresh Azureus-style id: the prefix and 12 random printable characters.
    pub fn generate(rng: &mut impl rand::Rng) -> Self {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(Self::PREFIX);
        for b in &mut id[8..] {
            *b = ALPHABET[rng.random_range(0..ALPHABET.len())];
        }
        Self(id)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PeerId({})",
            String::from_utf8_lossy(&self.0).escape_debug()
        )
    }
}

/// Index of a piece, validated against a torrent's piece count where it is built from
/// outside input (`PieceIndex::checked`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PieceIndex(u32);

impl PieceIndex {
    /// `Some` when `index < piece_count`.
    pub fn checked(index: u32, piece_count: u32) -> Option<Self> {
        (index < piece_count).then_some(Self(index))
    }
    /// For indices produced by iterating `0..piece_count` of a known torrent.
    pub fn new_unchecked_in_range(index: u32) -> Self {
        Self(index)
    }
    pub fn get(self) -> u32 {
        self.0
    }
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn hex_round_trip() {
        let h = InfoHashV1([0xab; 20]);
        assert_eq!(InfoHashV1::from_hex(&h.to_hex()), Some(h));
        assert_eq!(InfoHashV1::from_hex("zz"), None);
        assert_eq!(from_hex::<2>("ABcd"), Some([0xab, 0xcd]));
    }

    #[test]
    fn peer_id_has_prefix_and_is_printable() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let id = PeerId::generate(&mut rng);
        assert_eq!(&id.0[..8], PeerId::PREFIX);
        assert!(id.0.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-'));
        assert_ne!(id, PeerId::generate(&mut rng));
    }

    #[test]
    fn wire_id_prefers_v1() {
        let v1 = InfoHashV1([1; 20]);
        let v2 = InfoHashV2([2; 32]);
        assert_eq!(InfoHash::hybrid(v1, v2).wire_id(), [1; 20]);
        assert_eq!(InfoHash::v2(v2).wire_id(), [2; 20]);
        assert!(InfoHash::from_parts(None, None).is_none());
    }

    #[test]
    fn piece_index_checks_range() {
        assert!(PieceIndex::checked(3, 3).is_none());
        assert_eq!(PieceIndex::checked(2, 3).map(PieceIndex::get), Some(2));
    }
}
