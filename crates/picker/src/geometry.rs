//! Piece and block arithmetic: how many pieces a torrent has, how long each piece is, and how
//! pieces split into 16 KiB blocks.
//!
//! The picker only needs numbers, so this is built from a piece length and either the total
//! length (BEP 3: one short piece at the very end) or the list of file lengths of a BEP 52
//! torrent (every file starts a new piece, so each file ends with its own short piece).

use std::fmt;
use std::ops::Range;

use shoal_core::PieceIndex;

use crate::PickerError;

/// The size of a request on the wire. Every block is this long except the last block of a
/// short piece.
pub const BLOCK_LEN: u32 = 16 * 1024;

/// Largest piece length accepted: 512 MiB, i.e. 32 768 blocks per piece. Per-block state of a
/// piece in progress is allocated up front, so this bounds that allocation.
pub const MAX_PIECE_LEN: u32 = 512 * 1024 * 1024;

/// Largest piece count accepted (4 Mi pieces). The picker keeps a few bytes per piece; this
/// caps that memory at about 60 MiB for a torrent nobody should be making.
pub const MAX_PIECES: u32 = 1 << 22;

/// One block of one piece, validated against a [`Geometry`] when built.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BlockRef {
    piece: PieceIndex,
    index: u32,
}

impl BlockRef {
    pub fn piece(self) -> PieceIndex {
        self.piece
    }
    /// Position of the block inside its piece (0-based).
    pub fn index(self) -> u32 {
        self.index
    }
    /// Byte offset of the block inside its piece (the `begin` of a wire request).
    pub fn offset(self) -> u32 {
        self.index * BLOCK_LEN
    }
}

impl fmt::Display for BlockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.piece, self.index)
    }
}

/// A run of pieces that are all `piece_len` long except the last, which is `last_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    first: u32,
    count: u32,
    last_len: u32,
}

/// Piece count, piece lengths and block layout of one torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    piece_len: u32,
    piece_count: u32,
    total_len: u64,
    /// One run for a BEP 3 torrent; one per non-empty file for a BEP 52 torrent. Sorted by
    /// `first`, contiguous, covering `0..piece_count`.
    runs: Vec<Run>,
    /// Pieces follow file boundaries (BEP 52) rather than one linear byte stream.
    file_aligned: bool,
}

impl Geometry {
    /// A BEP 3 layout: all pieces `piece_len` long except a possibly shorter last one.
    pub fn new(piece_len: u32, total_len: u64) -> Result<Self, PickerError> {
        check_piece_len(piece_len)?;
        let run = make_run(0, piece_len, total_len)?.ok_or(PickerError::EmptyTorrent)?;
        Ok(Self {
            piece_len,
            piece_count: run.count,
            total_len,
            runs: vec![run],
            file_aligned: false,
        })
    }

    /// A BEP 52 layout: each non-empty file starts at a piece boundary and ends with its own,
    /// possibly short, piece. Empty files take no pieces.
    pub fn with_aligned_files(piece_len: u32, file_lengths: &[u64]) -> Result<Self, PickerError> {
        check_piece_len(piece_len)?;
        let mut runs = Vec::new();
        let mut next = 0u32;
        let mut total = 0u64;
        for &len in file_lengths {
            if let Some(run) = make_run(next, piece_len, len)? {
                next = run.first.saturating_add(run.count);
                if next > MAX_PIECES {
                    return Err(PickerError::TooManyPieces {
                        count: u64::from(next),
                        max: MAX_PIECES,
                    });
                }
                total = total.saturating_add(len);
                runs.push(run);
            }
        }
        if runs.is_empty() {
            return Err(PickerError::EmptyTorrent);
        }
        Ok(Self {
            piece_len,
            piece_count: next,
            total_len: total,
            runs,
            file_aligned: true,
        })
    }

    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }
    pub fn total_len(&self) -> u64 {
        self.total_len
    }
    /// The nominal piece length from the metainfo.
    pub fn nominal_piece_len(&self) -> u32 {
        self.piece_len
    }

    /// `Some` when `index` is a piece of this torrent.
    pub fn piece(&self, index: u32) -> Option<PieceIndex> {
        PieceIndex::checked(index, self.piece_count)
    }

    /// Length of `piece` in bytes; 0 for a piece outside this torrent.
    pub fn piece_len(&self, piece: PieceIndex) -> u32 {
        let p = piece.get();
        if p >= self.piece_count {
            return 0;
        }
        // Runs are sorted by `first`; the run holding `p` is the last one starting at or before it.
        let at = self.runs.partition_point(|r| r.first <= p);
        match at.checked_sub(1).and_then(|i| self.runs.get(i)) {
            Some(run) if p + 1 == run.first + run.count => run.last_len,
            Some(_) => self.piece_len,
            None => 0,
        }
    }

    /// Number of blocks in `piece`; 0 for a piece outside this torrent.
    pub fn blocks_in_piece(&self, piece: PieceIndex) -> u32 {
        self.piece_len(piece).div_ceil(BLOCK_LEN)
    }

    /// Block `index` of `piece`, if both exist.
    pub fn block(&self, piece: PieceIndex, index: u32) -> Option<BlockRef> {
        (index < self.blocks_in_piece(piece)).then_some(BlockRef { piece, index })
    }

    /// Validates a (piece, begin, length) triple from the wire as exactly one of our blocks.
    pub fn block_at(&self, piece: PieceIndex, offset: u32, len: u32) -> Option<BlockRef> {
        if offset % BLOCK_LEN != 0 {
            return None;
        }
        let block = self.block(piece, offset / BLOCK_LEN)?;
        (self.block_len(block) == len).then_some(block)
    }

    /// Length of `block` in bytes: 16 KiB except for the tail of a short piece.
    pub fn block_len(&self, block: BlockRef) -> u32 {
        let piece_len = self.piece_len(block.piece);
        piece_len.saturating_sub(block.offset()).min(BLOCK_LEN)
    }

    /// The blocks of `piece` in order.
    pub fn blocks(&self, piece: PieceIndex) -> impl Iterator<Item = BlockRef> {
        (0..self.blocks_in_piece(piece)).map(move |index| BlockRef { piece, index })
    }

    /// For each file (lengths in metainfo order), the pieces holding its bytes. Empty files map
    /// to an empty range. Fails when the lengths do not describe this torrent.
    pub(crate) fn file_piece_ranges(
        &self,
        lengths: &[u64],
    ) -> Result<Vec<Range<u32>>, PickerError> {
        let sum = lengths.iter().fold(0u64, |a, &l| a.saturating_add(l));
        if sum != self.total_len {
            return Err(PickerError::FileLengthMismatch {
                got: sum,
                expected: self.total_len,
            });
        }
        let mut out = Vec::with_capacity(lengths.len());
        if self.file_aligned {
            let mut runs = self.runs.iter();
            for &len in lengths {
                if len == 0 {
                    out.push(0..0);
                    continue;
                }
                let expected = make_run(0, self.piece_len, len)?;
                match (runs.next(), expected) {
                    (Some(run), Some(e)) if run.count == e.count && run.last_len == e.last_len => {
                        out.push(run.first..run.first + run.count);
                    }
                    _ => {
                        return Err(PickerError::FileLengthMismatch {
                            got: sum,
                            expected: self.total_len,
                        })
                    }
                }
            }
        } else {
            let plen = u64::from(self.piece_len);
            let mut offset = 0u64;
            for &len in lengths {
                if len == 0 {
                    out.push(0..0);
                    continue;
                }
                // Both ends are below total_len, so the quotients fit in u32 (piece_count does).
                let first = u32::try_from(offset / plen).unwrap_or(u32::MAX);
                let last = u32::try_from((offset + len - 1) / plen).unwrap_or(u32::MAX);
                out.push(first..last.saturating_add(1).min(self.piece_count));
                offset += len;
            }
        }
        Ok(out)
    }
}

fn check_piece_len(piece_len: u32) -> Result<(), PickerError> {
    if piece_len == 0 || piece_len > MAX_PIECE_LEN {
        return Err(PickerError::BadPieceLength(u64::from(piece_len)));
    }
    Ok(())
}

/// The run of pieces covering `len` bytes starting at piece `first`; `None` for zero bytes.
fn make_run(first: u32, piece_len: u32, len: u64) -> Result<Option<Run>, PickerError> {
    if len == 0 {
        return Ok(None);
    }
    let plen = u64::from(piece_len);
    let count = len.div_ceil(plen);
    let end = u64::from(first) + count;
    if end > u64::from(MAX_PIECES) {
        return Err(PickerError::TooManyPieces {
            count: end,
            max: MAX_PIECES,
        });
    }
    // `len - (count-1)*plen` is in 1..=plen, so it fits in u32.
    let last_len = u32::try_from(len - (count - 1) * plen).unwrap_or(piece_len);
    Ok(Some(Run {
        first,
        count: end as u32 - first,
        last_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi(i: u32) -> PieceIndex {
        PieceIndex::new_unchecked_in_range(i)
    }

    #[test]
    fn short_last_piece_and_block() {
        let g = Geometry::new(65536, 3 * 65536 + 20000).unwrap();
        assert_eq!(g.piece_count(), 4);
        assert_eq!(g.piece_len(pi(2)), 65536);
        assert_eq!(g.piece_len(pi(3)), 20000);
        assert_eq!(g.blocks_in_piece(pi(3)), 2);
        let last = g.block(pi(3), 1).unwrap();
        assert_eq!(g.block_len(last), 20000 - BLOCK_LEN);
        assert!(g.block(pi(3), 2).is_none());
        assert!(g.block(pi(4), 0).is_none());
        assert_eq!(g.block_at(pi(3), BLOCK_LEN, 20000 - BLOCK_LEN), Some(last));
        assert_eq!(
            g.block_at(pi(3), BLOCK_LEN, BLOCK_LEN),
            None,
            "wrong length"
        );
        assert_eq!(g.block_at(pi(0), 1, BLOCK_LEN), None, "unaligned");
    }

    #[test]
    fn piece_smaller_than_a_block() {
        let g = Geometry::new(1000, 2500).unwrap();
        assert_eq!(g.piece_count(), 3);
        assert_eq!(g.blocks_in_piece(pi(0)), 1);
        assert_eq!(g.block_len(g.block(pi(2), 0).unwrap()), 500);
    }

    #[test]
    fn rejects_bad_layouts() {
        assert_eq!(Geometry::new(0, 10), Err(PickerError::BadPieceLength(0)));
        assert_eq!(Geometry::new(16384, 0), Err(PickerError::EmptyTorrent));
        assert!(matches!(
            Geometry::new(1, 1 << 40),
            Err(PickerError::TooManyPieces { .. })
        ));
        assert_eq!(
            Geometry::with_aligned_files(16384, &[0, 0]),
            Err(PickerError::EmptyTorrent)
        );
    }

    #[test]
    fn aligned_files_each_end_in_a_short_piece() {
        let g = Geometry::with_aligned_files(32768, &[40000, 0, 32768, 1]).unwrap();
        assert_eq!(g.piece_count(), 4);
        assert_eq!(
            (0..4).map(|i| g.piece_len(pi(i))).collect::<Vec<_>>(),
            vec![32768, 40000 - 32768, 32768, 1]
        );
        assert_eq!(
            g.file_piece_ranges(&[40000, 0, 32768, 1]).unwrap(),
            vec![0..2, 0..0, 2..3, 3..4]
        );
        assert!(
            g.file_piece_ranges(&[40000, 32768, 1]).is_ok(),
            "empty files are optional"
        );
        assert!(g.file_piece_ranges(&[40001, 32767, 1]).is_err());
    }

    #[test]
    fn linear_file_ranges_share_boundary_pieces() {
        let g = Geometry::new(100, 350).unwrap();
        assert_eq!(
            g.file_piece_ranges(&[150, 0, 100, 100]).unwrap(),
            vec![0..2, 0..0, 1..3, 2..4]
        );
        assert!(g.file_piece_ranges(&[100]).is_err());
    }
}
