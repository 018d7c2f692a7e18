//! Storage in one in-memory buffer, for tests and for reference behaviour.

use std::sync::{PoisonError, RwLock};

use shoal_core::PieceIndex;

use crate::error::StorageError;
use crate::geometry::Geometry;
use crate::storage::{FileState, Storage};

/// The whole torrent as one zero-initialised `Vec<u8>`. It has no files: it models the byte
/// stream only, which is what piece-level code (picker, swarm, engine tests) cares about.
#[derive(Debug)]
pub struct MemoryStorage {
    /// Piece arithmetic over a single "file" spanning the torrent.
    geometry: Geometry,
    /// The torrent's bytes; readers share, writers exclude.
    data: RwLock<Vec<u8>>,
}

impl MemoryStorage {
    /// Allocates `total_length` (at least 1) bytes up front, so keep it to test-sized torrents.
    pub fn new(piece_length: u32, total_length: u64) -> Result<Self, StorageError> {
        let geometry = Geometry::new(piece_length, &[total_length])?;
        let len = usize::try_from(total_length).map_err(|_| StorageError::InvalidLayout {
            reason: format!("{total_length} bytes do not fit in memory"),
        })?;
        Ok(Self {
            geometry,
            data: RwLock::new(vec![0; len]),
        })
    }

    /// A copy of every byte stored.
    pub fn contents(&self) -> Vec<u8> {
        self.data
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The byte range of the buffer a checked block covers.
    fn range(
        &self,
        piece: PieceIndex,
        offset: u32,
        len: usize,
    ) -> Result<std::ops::Range<usize>, StorageError> {
        let start = self.geometry.check_range(piece, offset, len)?;
        // The buffer was allocated with the total length, so in-range offsets fit a usize.
        let start = start as usize;
        Ok(start..start + len)
    }

    fn out_of_bounds(&self, piece: PieceIndex, offset: u32, len: usize) -> StorageError {
        StorageError::OutOfBounds {
            piece: piece.get(),
            offset,
            len: len as u64,
            piece_len: self.geometry.piece_len(piece).unwrap_or(0),
        }
    }
}

impl Storage for MemoryStorage {
    fn piece_count(&self) -> u32 {
        self.geometry.piece_count()
    }

    fn piece_len(&self, piece: PieceIndex) -> Result<u32, StorageError> {
        self.geometry.piece_len(piece)
    }

    fn write_block(&self, piece: PieceIndex, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        let range = self.range(piece, offset, data.len())?;
        let mut buf = self.data.write().unwrap_or_else(PoisonError::into_inner);
        let dst = buf
            .get_mut(range)
            .ok_or_else(|| self.out_of_bounds(piece, offset, data.len()))?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        out: &mut [u8],
    ) -> Result<(), StorageError> {
        let range = self.range(piece, offset, out.len())?;
        let buf = self.data.read().unwrap_or_else(PoisonError::into_inner);
        let src = buf
            .get(range)
            .ok_or_else(|| self.out_of_bounds(piece, offset, out.len()))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// Memory storage has no files.
    fn file_sizes_and_mtimes(&self) -> Result<Vec<FileState>, StorageError> {
        Ok(Vec::new())
    }

    fn set_file_len(&self, file: usize) -> Result<(), StorageError> {
        Err(StorageError::NoSuchFile {
            index: file,
            file_count: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let s = MemoryStorage::new(4, 10).unwrap();
        let p2 = PieceIndex::new_unchecked_in_range(2);
        s.write_block(p2, 0, b"xy").unwrap();
        assert_eq!(s.read_block_vec(p2, 0, 2).unwrap(), b"xy");
        assert!(matches!(
            s.write_block(p2, 1, b"xy"),
            Err(StorageError::OutOfBounds {
                piece: 2,
                offset: 1,
                len: 2,
                piece_len: 2
            })
        ));
        // A huge length from a peer is refused before any allocation.
        assert!(s.read_block_vec(p2, 0, u32::MAX).is_err());
        assert_eq!(&s.contents()[8..], b"xy");
    }
}
