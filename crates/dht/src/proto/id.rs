//! Node ids and the XOR metric (BEP 5).

use std::fmt;

use rand::Rng;
use shoal_core::ids::{to_hex, InfoHash, InfoHashV1};

/// Length of a node id (and of a DHT key) in bytes.
pub const ID_LEN: usize = 20;
/// Length of a node id in bits.
pub const ID_BITS: usize = ID_LEN * 8;

/// A 160-bit DHT node id. Info-hashes live in the same space, so lookups for peers use
/// an info-hash as their target id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; ID_LEN]);

/// The XOR distance between two ids, ordered as a 160-bit big-endian unsigned integer
/// (byte-wise lexicographic order on big-endian bytes is numeric order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Distance(pub [u8; ID_LEN]);

impl NodeId {
    /// A uniformly random id.
    pub fn random(rng: &mut impl Rng) -> Self {
        Self(rng.random())
    }

    /// `|self xor other|`.
    pub fn distance(&self, other: &NodeId) -> Distance {
        let mut d = self.0;
        for (x, y) in d.iter_mut().zip(other.0.iter()) {
            *x ^= y;
        }
        Distance(d)
    }

    /// How many leading bits `self` and `other` share (160 when equal).
    pub fn common_prefix_len(&self, other: &NodeId) -> usize {
        for (i, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        ID_BITS
    }

    /// Bit `i` counted from the most significant bit (0..160); false beyond.
    pub fn bit(&self, i: usize) -> bool {
        self.0
            .get(i / 8)
            .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    /// A random id that shares exactly `prefix` leading bits with `self` (when `prefix < 160`):
    /// the first `prefix` bits copied, the next one flipped, the rest random. This is a random
    /// id inside the routing-table bucket at depth `prefix`, used to refresh that bucket.
    pub fn random_at_prefix(&self, prefix: usize, rng: &mut impl Rng) -> NodeId {
        let mut out = NodeId::random(rng);
        for i in 0..prefix.min(ID_BITS) {
            out.set_bit(i, self.bit(i));
        }
        if prefix < ID_BITS {
            out.set_bit(prefix, !self.bit(prefix));
        }
        out
    }

    /// A random id sharing at least `prefix` leading bits with `self`.
    pub fn random_within_prefix(&self, prefix: usize, rng: &mut impl Rng) -> NodeId {
        let mut out = NodeId::random(rng);
        for i in 0..prefix.min(ID_BITS) {
            out.set_bit(i, self.bit(i));
        }
        out
    }

    fn set_bit(&mut self, i: usize, on: bool) {
        if let Some(b) = self.0.get_mut(i / 8) {
            let mask = 0x80 >> (i % 8);
            if on {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
    }

    /// The id from a byte string of exactly 20 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        <[u8; ID_LEN]>::try_from(b).ok().map(Self)
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl From<InfoHashV1> for NodeId {
    fn from(h: InfoHashV1) -> Self {
        NodeId(h.0)
    }
}

/// The DHT key of a torrent: its v1 info-hash, or the truncated v2 hash for a v2-only torrent
/// (BEP 52). A hybrid torrent is looked up under its v1 hash, where v1 clients find it too.
impl From<InfoHash> for NodeId {
    fn from(h: InfoHash) -> Self {
        NodeId(h.wire_id())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.to_hex())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn distance_is_xor_and_orders_numerically() {
        let a = NodeId([0; 20]);
        let mut b = NodeId([0; 20]);
        b.0[19] = 0xff;
        let mut c = NodeId([0; 20]);
        c.0[0] = 0x01;
        assert!(a.distance(&b) < a.distance(&c));
        assert_eq!(a.distance(&a), Distance([0; 20]));
        assert_eq!(b.distance(&c), c.distance(&b));
    }

    #[test]
    fn common_prefix_counts_bits() {
        let a = NodeId([0; 20]);
        let mut b = a;
        assert_eq!(a.common_prefix_len(&b), 160);
        b.0[0] = 0x80;
        assert_eq!(a.common_prefix_len(&b), 0);
        b.0[0] = 0;
        b.0[2] = 0x10;
        assert_eq!(a.common_prefix_len(&b), 19);
    }

    #[test]
    fn random_at_prefix_lands_in_its_bucket() {
        let mut rng = StdRng::seed_from_u64(7);
        let own = NodeId::random(&mut rng);
        for prefix in [0, 1, 7, 8, 33, 159] {
            for _ in 0..20 {
                let id = own.random_at_prefix(prefix, &mut rng);
                assert_eq!(own.common_prefix_len(&id), prefix);
                let id = own.random_within_prefix(prefix, &mut rng);
                assert!(own.common_prefix_len(&id) >= prefix);
            }
        }
    }
}
