//! Block ranges checked against their piece and cut into per-file runs.
//!
//! The piece and file arithmetic itself is `shoal_core::layout::Layout`; this adds what block
//! I/O needs on top: a range that does not fit its piece is an error (not silently clipped),
//! and each run carries its offset in the caller's buffer.

use shoal_core::layout::{FileSlice, Layout};
use shoal_core::PieceIndex;

use crate::error::StorageError;

/// The largest piece length accepted. Real torrents stay at or below 64 MiB; the cap bounds
/// every buffer a single piece operation can ask for.
pub const MAX_PIECE_LENGTH: u32 = 256 * 1024 * 1024;

/// Piece geometry of one torrent.
#[derive(Clone, Debug)]
pub(crate) struct Geometry {
    layout: Layout,
}

/// One contiguous run of a block that lies inside a single file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slice {
    /// Index of the file in the torrent's file list.
    pub file: usize,
    /// Where the run starts in that file.
    pub file_offset: u64,
    /// Where the run starts in the caller's block buffer.
    pub buf_offset: usize,
    /// Length of the run; never zero.
    pub len: usize,
}

impl Geometry {
    /// Validates the piece length and file lengths.
    pub fn new(piece_length: u32, lengths: &[u64]) -> Result<Self, StorageError> {
        if piece_length > MAX_PIECE_LENGTH {
            return Err(StorageError::InvalidLayout {
                reason: format!("piece length {piece_length} is above {MAX_PIECE_LENGTH}"),
            });
        }
        let layout =
            Layout::new(piece_length, lengths).map_err(|e| StorageError::InvalidLayout {
                reason: e.to_string(),
            })?;
        Ok(Self { layout })
    }

    pub fn piece_count(&self) -> u32 {
        self.layout.piece_count()
    }

    /// Length of `piece`: the nominal length, or what is left for the last piece.
    pub fn piece_len(&self, piece: PieceIndex) -> Result<u32, StorageError> {
        let piece_count = self.layout.piece_count();
        if piece.get() >= piece_count {
            return Err(StorageError::NoSuchPiece {
                piece: piece.get(),
                piece_count,
            });
        }
        Ok(self.layout.piece_size(piece))
    }

    /// Checks that `offset..offset+len` lies inside `piece`; returns the absolute start offset.
    pub fn check_range(
        &self,
        piece: PieceIndex,
        offset: u32,
        len: usize,
    ) -> Result<u64, StorageError> {
        let piece_len = self.piece_len(piece)?;
        let len64 = len as u64;
        if u64::from(offset) + len64 > u64::from(piece_len) {
            return Err(StorageError::OutOfBounds {
                piece: piece.get(),
                offset,
                len: len64,
                piece_len,
            });
        }
        Ok(self.layout.piece_offset(piece) + u64::from(offset))
    }

    /// The per-file runs that make up `len` bytes at `offset` in `piece`, in stream order.
    /// Zero-length files are skipped: they hold no bytes.
    pub fn slices(
        &self,
        piece: PieceIndex,
        offset: u32,
        len: usize,
    ) -> Result<impl Iterator<Item = Slice> + '_, StorageError> {
        let start = self.check_range(piece, offset, len)?;
        let mut buf_offset = 0usize;
        Ok(self
            .layout
            .range_slices(start, len as u64)
            .map(move |s: FileSlice| {
                // Each run is part of a block held in memory, so its length fits a usize.
                let run = Slice {
                    file: s.file_index,
                    file_offset: s.offset_in_file,
                    buf_offset,
                    len: s.len as usize,
                };
                buf_offset += run.len;
                run
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(i: u32) -> PieceIndex {
        PieceIndex::new_unchecked_in_range(i)
    }

    fn slices(g: &Geometry, piece: u32, offset: u32, len: usize) -> Vec<Slice> {
        g.slices(p(piece), offset, len).unwrap().collect()
    }

    #[test]
    fn short_last_piece_and_count() {
        let g = Geometry::new(10, &[7, 0, 18]).unwrap();
        assert_eq!(g.piece_count(), 3);
        assert_eq!(g.piece_len(p(0)).unwrap(), 10);
        assert_eq!(g.piece_len(p(2)).unwrap(), 5);
        assert!(matches!(
            g.piece_len(p(3)),
            Err(StorageError::NoSuchPiece {
                piece: 3,
                piece_count: 3
            })
        ));
    }

    #[test]
    fn slices_skip_empty_files_and_carry_buffer_offsets() {
        let g = Geometry::new(10, &[7, 0, 18]).unwrap();
        assert_eq!(
            slices(&g, 0, 0, 10),
            vec![
                Slice {
                    file: 0,
                    file_offset: 0,
                    buf_offset: 0,
                    len: 7
                },
                Slice {
                    file: 2,
                    file_offset: 0,
                    buf_offset: 7,
                    len: 3
                },
            ]
        );
        assert_eq!(
            slices(&g, 2, 1, 4),
            vec![Slice {
                file: 2,
                file_offset: 14,
                buf_offset: 0,
                len: 4
            }]
        );
        assert!(slices(&g, 1, 3, 0).is_empty());
    }

    #[test]
    fn ranges_outside_the_piece_are_refused_not_clipped() {
        let g = Geometry::new(10, &[25]).unwrap();
        assert!(matches!(
            g.slices(p(2), 0, 6),
            Err(StorageError::OutOfBounds { .. })
        ));
        assert!(matches!(
            g.slices(p(0), u32::MAX, 1),
            Err(StorageError::OutOfBounds { .. })
        ));
        assert!(matches!(
            g.slices(p(3), 0, 0),
            Err(StorageError::NoSuchPiece { .. })
        ));
        assert!(g.slices(p(2), 0, 5).is_ok());
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert!(Geometry::new(0, &[1]).is_err());
        assert!(Geometry::new(MAX_PIECE_LENGTH + 1, &[1]).is_err());
        assert!(Geometry::new(1, &[u64::MAX, 1]).is_err());
        assert!(Geometry::new(1, &[1 << 33]).is_err());
    }
}
