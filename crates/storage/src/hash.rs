//! v1 piece hashing (SHA-1, BEP 3) and verification against the torrent's piece hashes.

use sha1::{Digest, Sha1};
use shoal_core::PieceIndex;

use crate::error::StorageError;
use crate::storage::Storage;

/// SHA-1 of a whole piece, as listed in the info dictionary's `pieces` string.
pub fn hash_piece_v1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// Whether a piece's bytes match the expected hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCheck {
    /// The piece is good: it may be marked complete (once it is also written).
    Match,
    /// The piece is corrupt: discard it and hold its contributors to account.
    Mismatch,
}

/// The expected hash of every piece of one torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceVerifier {
    /// Expected SHA-1 of piece `i` at index `i`.
    hashes: Vec<[u8; 20]>,
}

impl PieceVerifier {
    pub fn new(hashes: Vec<[u8; 20]>) -> Self {
        Self { hashes }
    }

    pub fn hashes(&self) -> &[[u8; 20]] {
        &self.hashes
    }

    /// The expected hash of `piece`, if the torrent has that piece.
    pub fn expected(&self, piece: PieceIndex) -> Option<&[u8; 20]> {
        self.hashes.get(piece.as_usize())
    }

    /// Checks a piece held in memory.
    pub fn verify(&self, piece: PieceIndex, data: &[u8]) -> Result<HashCheck, StorageError> {
        let expected = self.expected_or_err(piece)?;
        Ok(Self::compare(expected, &hash_piece_v1(data)))
    }

    /// Reads `piece` back from `storage` and checks it: the bytes that count are the ones on disk.
    pub fn verify_stored<S: Storage + ?Sized>(
        &self,
        storage: &S,
        piece: PieceIndex,
    ) -> Result<HashCheck, StorageError> {
        let expected = self.expected_or_err(piece)?;
        Ok(Self::compare(expected, &storage.hash_piece(piece)?))
    }

    fn expected_or_err(&self, piece: PieceIndex) -> Result<&[u8; 20], StorageError> {
        self.expected(piece).ok_or(StorageError::NoSuchPiece {
            piece: piece.get(),
            piece_count: u32::try_from(self.hashes.len()).unwrap_or(u32::MAX),
        })
    }

    fn compare(expected: &[u8; 20], actual: &[u8; 20]) -> HashCheck {
        if expected == actual {
            HashCheck::Match
        } else {
            HashCheck::Mismatch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;

    #[test]
    fn known_sha1() {
        // SHA-1("abc") from FIPS 180-2, appendix A.
        let expected = [
            0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
            0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d,
        ];
        assert_eq!(hash_piece_v1(b"abc"), expected);
    }

    #[test]
    fn verifier_matches_memory_and_storage() {
        let p0 = PieceIndex::new_unchecked_in_range(0);
        let p1 = PieceIndex::new_unchecked_in_range(1);
        let v = PieceVerifier::new(vec![hash_piece_v1(b"abcd"), hash_piece_v1(b"ef")]);
        assert_eq!(v.verify(p0, b"abcd").unwrap(), HashCheck::Match);
        assert_eq!(v.verify(p0, b"abce").unwrap(), HashCheck::Mismatch);
        let two = PieceIndex::new_unchecked_in_range(2);
        assert!(matches!(
            v.verify(two, b""),
            Err(StorageError::NoSuchPiece { .. })
        ));

        let s = MemoryStorage::new(4, 6).unwrap();
        s.write_block(p0, 0, b"abcd").unwrap();
        s.write_block(p1, 0, b"eX").unwrap();
        assert_eq!(v.verify_stored(&s, p0).unwrap(), HashCheck::Match);
        assert_eq!(v.verify_stored(&s, p1).unwrap(), HashCheck::Mismatch);
    }
}
