//! A fixed-length bit set in the wire format of BEP 3 (piece 0 is the high bit of byte 0).

use crate::ids::PieceIndex;

/// Which pieces a peer (or we) have. The length is fixed at creation; spare bits in the last
/// byte are always zero, which `from_bytes` enforces for bitfields that come from peers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    ones: u32,
}

/// Why a received bitfield was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitfieldError {
    #[error("bitfield has {got} bytes, expected {expected}")]
    WrongLength { got: usize, expected: usize },
    #[error("bitfield has spare bits set past the last piece")]
    SpareBitsSet,
}

impl Bitfield {
    /// Number of bytes needed for `len` bits.
    pub fn byte_len(len: u32) -> usize {
        (len as usize).div_ceil(8)
    }

    pub fn new(len: u32) -> Self {
        Self {
            bytes: vec![0; Self::byte_len(len)],
            len,
            ones: 0,
        }
    }

    pub fn full(len: u32) -> Self {
        let mut b = Self {
            bytes: vec![0xff; Self::byte_len(len)],
            len,
            ones: len,
        };
        b.clear_spare_bits();
        b
    }

    /// Parses a peer's bitfield message payload for a torrent of `len` pieces.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Self, BitfieldError> {
        let expected = Self::byte_len(len);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                got: bytes.len(),
                expected,
            });
        }
        let mut b = Self {
            bytes: bytes.to_vec(),
            len,
            ones: 0,
        };
        let before: u32 = b.bytes.iter().map(|x| x.count_ones()).sum();
        b.clear_spare_bits();
        let after: u32 = b.bytes.iter().map(|x| x.count_ones()).sum();
        if before != after {
            return Err(BitfieldError::SpareBitsSet);
        }
        b.ones = after;
        Ok(b)
    }

    fn clear_spare_bits(&mut self) {
        let rem = self.len % 8;
        if rem != 0 {
            if let Some(last) = self.bytes.last_mut() {
                *last &= 0xffu8 << (8 - rem);
            }
        }
    }

    pub fn len(&self) -> u32 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.ones
    }
    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }
    pub fn is_clear(&self) -> bool {
        self.ones == 0
    }

    /// Bit `i`; false when out of range.
    pub fn get(&self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    pub fn has(&self, piece: PieceIndex) -> bool {
        self.get(piece.get())
    }

    /// Sets bit `i` to `value`; returns whether it changed. Out-of-range indices are ignored.
    pub fn set(&mut self, i: u32, value: bool) -> bool {
        if i >= self.len {
            return false;
        }
        let byte = &mut self.bytes[(i / 8) as usize];
        let mask = 0x80 >> (i % 8);
        let old = *byte & mask != 0;
        if old == value {
            return false;
        }
        if value {
            *byte |= mask;
            self.ones += 1;
        } else {
            *byte &= !mask;
            self.ones -= 1;
        }
        true
    }

    /// Indices of set bits, ascending.
    pub fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(move |&i| self.get(i))
    }

    /// Indices of clear bits, ascending.
    pub fn iter_zeros(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(move |&i| !self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_order_and_counts() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0, true));
        assert!(b.set(9, true));
        assert!(!b.set(9, true));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count_ones(), 2);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![0, 9]);
        assert!(!b.set(10, true));
        assert!(!b.get(10));
    }

    #[test]
    fn full_clears_spare_bits() {
        let b = Bitfield::full(10);
        assert_eq!(b.as_bytes(), &[0xff, 0xc0]);
        assert!(b.is_full());
    }

    #[test]
    fn from_bytes_rejects_bad_input() {
        assert_eq!(
            Bitfield::from_bytes(&[0xff], 10),
            Err(BitfieldError::WrongLength {
                got: 1,
                expected: 2
            })
        );
        assert_eq!(
            Bitfield::from_bytes(&[0xff, 0xe0], 10),
            Err(BitfieldError::SpareBitsSet)
        );
        let b = Bitfield::from_bytes(&[0xff, 0xc0], 10).unwrap();
        assert!(b.is_full());
    }
}
