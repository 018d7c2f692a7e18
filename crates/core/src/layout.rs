//! Piece, block and file arithmetic for one torrent.
//!
//! A torrent's payload is the concatenation of its files, cut into pieces of `piece_length`
//! bytes (the last one shorter), each piece requested in blocks of [`BLOCK`] bytes (the last
//! block of a piece shorter). [`Layout`] answers "which file ranges make up this piece" and
//! "which pieces touch this file" for torrents of up to 2^21 pieces and hundreds of thousands of
//! files.
//!
//! The design decision: store only the start offset of every file (one `u64` per file) and
//! answer every question by binary search over it, rather than precomputing per-piece tables.
//! A per-piece list of file slices would cost memory proportional to pieces × files touched and
//! would have to be built before the first byte is verified; a search is `O(log files)` and
//! allocation-free. All offsets are computed with checked or provably bounded arithmetic, and
//! the constructor refuses anything whose total length or piece count does not fit, so no
//! method can overflow or panic afterwards, even when handed a [`PieceIndex`] that was validated
//! against some other torrent (such a piece simply has size 0 and no slices).

use std::iter::FusedIterator;
use std::ops::Range;

use crate::ids::PieceIndex;

/// The request size every client uses (BEP 3 de facto; larger requests are refused by peers).
pub const BLOCK: u32 = 16384;

/// The largest piece count accepted: libtorrent's `max_pieces`, which keeps a full bitfield at
/// 256 KiB and every piece index comfortably inside `u32`/`i32` arithmetic.
pub const MAX_PIECES: u32 = 1 << 21;

/// Why a torrent's sizes cannot be laid out. Each means the metadata is unusable: reject the
/// torrent and tell the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("invalid piece length 0")]
    ZeroPieceLength,
    #[error("invalid length of torrent: it has no data")]
    Empty,
    #[error("invalid length of torrent: the file lengths overflow")]
    LengthOverflow,
    #[error("too many pieces in torrent ({count} > {MAX_PIECES})")]
    TooManyPieces { count: u64 },
}

/// A contiguous byte range of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileSlice {
    /// Index into the torrent's file list.
    pub file_index: usize,
    /// Where the range starts inside the file.
    pub offset_in_file: u64,
    /// Length of the range, never 0.
    pub len: u64,
}

/// Sizes and offsets of a torrent's pieces, blocks and files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    piece_length: u32,
    piece_count: u32,
    total_length: u64,
    /// `file_starts[i]` is the payload offset of file `i`; one extra last entry holds the total
    /// length, so file `i` spans `file_starts[i]..file_starts[i + 1]`. Non-decreasing.
    file_starts: Vec<u64>,
}

impl Layout {
    /// Lays out files of the given lengths, in order, in pieces of `piece_length` bytes.
    pub fn new(piece_length: u32, file_lengths: &[u64]) -> Result<Self, LayoutError> {
        if piece_length == 0 {
            return Err(LayoutError::ZeroPieceLength);
        }
        let mut file_starts = Vec::with_capacity(file_lengths.len().saturating_add(1));
        let mut total: u64 = 0;
        for &len in file_lengths {
            file_starts.push(total);
            total = total.checked_add(len).ok_or(LayoutError::LengthOverflow)?;
        }
        file_starts.push(total);
        if total == 0 {
            return Err(LayoutError::Empty);
        }
        let count = total.div_ceil(u64::from(piece_length));
        let piece_count = u32::try_from(count)
            .ok()
            .filter(|&c| c <= MAX_PIECES)
            .ok_or(LayoutError::TooManyPieces { count })?;
        let layout = Self {
            piece_length,
            piece_count,
            total_length: total,
            file_starts,
        };
        layout.debug_check_invariants();
        Ok(layout)
    }

    fn debug_check_invariants(&self) {
        debug_assert!(self.file_starts.windows(2).all(|w| w[0] <= w[1]));
        debug_assert_eq!(self.file_starts.last(), Some(&self.total_length));
        debug_assert_eq!(
            u64::from(self.piece_count),
            self.total_length.div_ceil(u64::from(self.piece_length))
        );
    }

    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// The nominal piece length (every piece but the last has exactly this size).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    pub fn num_files(&self) -> usize {
        self.file_starts.len() - 1
    }

    /// Validates a raw index (from a peer, a resume file) against this torrent.
    pub fn piece(&self, index: u32) -> Option<PieceIndex> {
        PieceIndex::checked(index, self.piece_count)
    }

    /// All pieces in order.
    pub fn pieces(&self) -> impl Iterator<Item = PieceIndex> + use<> {
        (0..self.piece_count).map(PieceIndex::new_unchecked_in_range)
    }

    /// Payload offset of the first byte of `piece`; `total_length` for a piece outside this
    /// torrent.
    pub fn piece_offset(&self, piece: PieceIndex) -> u64 {
        // At most 2^21 * (2^32 - 1): cannot overflow.
        (u64::from(piece.get()) * u64::from(self.piece_length)).min(self.total_length)
    }

    /// Size of `piece` in bytes: `piece_length`, less for the last piece, 0 outside the torrent.
    pub fn piece_size(&self, piece: PieceIndex) -> u32 {
        let start = self.piece_offset(piece);
        let left = self.total_length - start;
        // Bounded by piece_length, which is a u32.
        left.min(u64::from(self.piece_length)) as u32
    }

    /// Number of blocks in `piece` (0 outside the torrent).
    pub fn blocks_in_piece(&self, piece: PieceIndex) -> u32 {
        self.piece_size(piece).div_ceil(BLOCK)
    }

    /// Size of block `block` of `piece`: [`BLOCK`], less for the last block of a piece whose
    /// size is not a multiple of it, 0 for a block outside the piece.
    pub fn block_size(&self, piece: PieceIndex, block: u32) -> u32 {
        let size = u64::from(self.piece_size(piece));
        let start = u64::from(block) * u64::from(BLOCK);
        // Bounded by BLOCK.
        size.saturating_sub(start).min(u64::from(BLOCK)) as u32
    }

    /// Payload offset of file `file`, `None` if there is no such file.
    pub fn file_offset(&self, file: usize) -> Option<u64> {
        if file < self.num_files() {
            self.file_starts.get(file).copied()
        } else {
            None
        }
    }

    /// Length of file `file`, `None` if there is no such file.
    pub fn file_length(&self, file: usize) -> Option<u64> {
        let start = self.file_offset(file)?;
        let end = *self.file_starts.get(file.checked_add(1)?)?;
        Some(end - start)
    }

    /// The file ranges that make up `piece`, in payload order; zero-length files never appear.
    pub fn file_slices(&self, piece: PieceIndex) -> FileSlices<'_> {
        self.range_slices(self.piece_offset(piece), u64::from(self.piece_size(piece)))
    }

    /// The file ranges covering payload bytes `start..start + len`, clipped to the torrent
    /// (e.g. the slices of one block: `piece_offset + block * BLOCK`, `block_size`).
    pub fn range_slices(&self, start: u64, len: u64) -> FileSlices<'_> {
        let end = start.saturating_add(len).min(self.total_length);
        let pos = start.min(end);
        // The first file that ends after `pos`; earlier ones (and empty files at `pos`) hold
        // none of the range.
        let ends = self.file_starts.get(1..).unwrap_or(&[]);
        let file = ends.partition_point(|&e| e <= pos);
        FileSlices {
            file_starts: &self.file_starts,
            file,
            pos,
            end,
        }
    }

    /// The pieces holding any byte of file `file`; empty for a zero-length file and for a file
    /// index outside the torrent.
    pub fn piece_range_of_file(&self, file: usize) -> Range<u32> {
        let (Some(start), Some(len)) = (self.file_offset(file), self.file_length(file)) else {
            return 0..0;
        };
        let pl = u64::from(self.piece_length);
        // Offsets are below total_length, so quotients are at most piece_count (a u32).
        let first = (start / pl) as u32;
        if len == 0 {
            return first..first;
        }
        let last = ((start + len - 1) / pl) as u32;
        first..last + 1
    }

    /// [`Layout::piece_range_of_file`] as validated indices.
    pub fn pieces_of_file(&self, file: usize) -> impl Iterator<Item = PieceIndex> + use<> {
        self.piece_range_of_file(file)
            .map(PieceIndex::new_unchecked_in_range)
    }
}

/// Iterator over the [`FileSlice`]s of a byte range; see [`Layout::file_slices`].
#[derive(Debug, Clone)]
pub struct FileSlices<'a> {
    file_starts: &'a [u64],
    /// Next file to look at.
    file: usize,
    /// Next payload byte to cover.
    pos: u64,
    /// End of the range (exclusive).
    end: u64,
}

impl Iterator for FileSlices<'_> {
    type Item = FileSlice;

    fn next(&mut self) -> Option<FileSlice> {
        while self.pos < self.end {
            let start = *self.file_starts.get(self.file)?;
            let file_end = *self.file_starts.get(self.file.checked_add(1)?)?;
            if file_end <= self.pos {
                // A zero-length file sitting at this offset.
                self.file += 1;
                continue;
            }
            let slice_end = file_end.min(self.end);
            let slice = FileSlice {
                file_index: self.file,
                offset_in_file: self.pos - start,
                len: slice_end - self.pos,
            };
            self.pos = slice_end;
            self.file += 1;
            return Some(slice);
        }
        None
    }
}

impl FusedIterator for FileSlices<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(i: u32) -> PieceIndex {
        PieceIndex::new_unchecked_in_range(i)
    }

    fn slices(l: &Layout, piece: u32) -> Vec<(usize, u64, u64)> {
        l.file_slices(p(piece))
            .map(|s| (s.file_index, s.offset_in_file, s.len))
            .collect()
    }

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(Layout::new(0, &[1]), Err(LayoutError::ZeroPieceLength));
        assert_eq!(Layout::new(16384, &[]), Err(LayoutError::Empty));
        assert_eq!(Layout::new(16384, &[0, 0]), Err(LayoutError::Empty));
        assert_eq!(
            Layout::new(16384, &[u64::MAX, 1]),
            Err(LayoutError::LengthOverflow)
        );
        // libtorrent's many_pieces.torrent: 1759218597889 bytes in 16 KiB pieces.
        assert_eq!(
            Layout::new(16384, &[1_759_218_597_889]),
            Err(LayoutError::TooManyPieces { count: 107_374_183 })
        );
        let max = u64::from(MAX_PIECES) * 16384;
        assert_eq!(
            Layout::new(16384, &[max]).unwrap().piece_count(),
            MAX_PIECES
        );
        assert!(Layout::new(16384, &[max + 1]).is_err());
        // u64 total whose piece count does not even fit a u32.
        assert!(matches!(
            Layout::new(1, &[u64::MAX]),
            Err(LayoutError::TooManyPieces { .. })
        ));
    }

    #[test]
    fn single_file_short_last_piece_and_block() {
        // libtorrent's base.torrent: one 425-byte file, 16 KiB pieces.
        let l = Layout::new(16384, &[425]).unwrap();
        assert_eq!(l.piece_count(), 1);
        assert_eq!(l.piece_size(p(0)), 425);
        assert_eq!(l.blocks_in_piece(p(0)), 1);
        assert_eq!(l.block_size(p(0), 0), 425);
        assert_eq!(slices(&l, 0), [(0, 0, 425)]);
        assert_eq!(l.piece_range_of_file(0), 0..1);

        let l = Layout::new(65536, &[65536 * 2 + 40000]).unwrap();
        assert_eq!(l.piece_count(), 3);
        assert_eq!(l.piece_size(p(1)), 65536);
        assert_eq!(l.piece_size(p(2)), 40000);
        assert_eq!(l.blocks_in_piece(p(1)), 4);
        assert_eq!(l.blocks_in_piece(p(2)), 3);
        assert_eq!(l.block_size(p(2), 1), 16384);
        assert_eq!(l.block_size(p(2), 2), 40000 - 32768);
        assert_eq!(l.block_size(p(2), 3), 0);
        assert_eq!(l.piece_offset(p(2)), 131072);
    }

    #[test]
    fn piece_length_not_a_multiple_of_block() {
        // large_piece_size.torrent uses 32767 * 16384; a small odd size shows the same shape.
        let l = Layout::new(20000, &[50000]).unwrap();
        assert_eq!(l.blocks_in_piece(p(0)), 2);
        assert_eq!(l.block_size(p(0), 0), 16384);
        assert_eq!(l.block_size(p(0), 1), 20000 - 16384);
        assert_eq!(l.piece_size(p(2)), 10000);
        let l = Layout::new(32767 * 16384, &[32767 * 16384]).unwrap();
        assert_eq!(l.blocks_in_piece(p(0)), 32767);
    }

    #[test]
    fn files_straddling_pieces_and_zero_length_files() {
        // Files: 0:10, 1:0, 2:25, 3:0, 4:5, 5:0 with 16-byte pieces (total 40, 3 pieces).
        let l = Layout::new(16, &[10, 0, 25, 0, 5, 0]).unwrap();
        assert_eq!(l.piece_count(), 3);
        assert_eq!(l.num_files(), 6);
        assert_eq!(slices(&l, 0), [(0, 0, 10), (2, 0, 6)]);
        assert_eq!(slices(&l, 1), [(2, 6, 16)]);
        assert_eq!(slices(&l, 2), [(2, 22, 3), (4, 0, 5)]);
        assert_eq!(l.piece_size(p(2)), 8);
        assert_eq!(l.piece_range_of_file(0), 0..1);
        assert!(l.piece_range_of_file(1).is_empty());
        assert_eq!(l.piece_range_of_file(2), 0..3);
        assert!(l.piece_range_of_file(3).is_empty());
        assert_eq!(l.piece_range_of_file(4), 2..3);
        assert!(l.piece_range_of_file(5).is_empty());
        assert!(l.piece_range_of_file(6).is_empty());
        assert_eq!(l.file_offset(4), Some(35));
        assert_eq!(l.file_offset(5), Some(40));
        assert_eq!(l.file_offset(6), None);
        assert_eq!(l.file_length(2), Some(25));
        assert_eq!(l.file_length(6), None);
        // A range inside one block.
        let r: Vec<_> = l.range_slices(8, 4).collect();
        assert_eq!(
            r,
            [
                FileSlice {
                    file_index: 0,
                    offset_in_file: 8,
                    len: 2
                },
                FileSlice {
                    file_index: 2,
                    offset_in_file: 0,
                    len: 2
                },
            ]
        );
    }

    #[test]
    fn file_ending_on_piece_boundary() {
        let l = Layout::new(16, &[16, 16, 1]).unwrap();
        assert_eq!(slices(&l, 0), [(0, 0, 16)]);
        assert_eq!(slices(&l, 1), [(1, 0, 16)]);
        assert_eq!(slices(&l, 2), [(2, 0, 1)]);
        assert_eq!(l.piece_range_of_file(1), 1..2);
    }

    #[test]
    fn foreign_piece_index_is_harmless() {
        let l = Layout::new(16, &[40]).unwrap();
        assert_eq!(l.piece(3), None);
        assert_eq!(l.piece(2), Some(p(2)));
        assert_eq!(l.piece_size(p(3)), 0);
        assert_eq!(l.piece_size(p(u32::MAX)), 0);
        assert_eq!(l.blocks_in_piece(p(u32::MAX)), 0);
        assert_eq!(l.block_size(p(0), u32::MAX), 0);
        assert_eq!(l.file_slices(p(u32::MAX)).count(), 0);
        assert_eq!(l.range_slices(u64::MAX, u64::MAX).count(), 0);
    }

    #[test]
    fn many_files_and_max_pieces() {
        let files = vec![3u64; 100_000];
        let l = Layout::new(16384, &files).unwrap();
        assert_eq!(l.total_length(), 300_000);
        let s: Vec<_> = l.file_slices(p(1)).collect();
        assert_eq!(s.len(), 5462);
        assert_eq!(
            s[0],
            FileSlice {
                file_index: 5461,
                offset_in_file: 1,
                len: 2
            }
        );

        let l = Layout::new(16384, &[u64::from(MAX_PIECES) * 16384 - 1]).unwrap();
        let last = l.piece(MAX_PIECES - 1).unwrap();
        assert_eq!(l.piece_size(last), 16383);
        assert_eq!(l.pieces().count(), MAX_PIECES as usize);
        assert_eq!(l.pieces_of_file(0).last(), Some(last));
    }

    proptest! {
        #[test]
        fn slices_tile_every_file_exactly(
            piece_length in 1u32..100,
            files in proptest::collection::vec(prop_oneof![Just(0u64), 0u64..300], 1..20),
        ) {
            prop_assume!(files.iter().sum::<u64>() > 0);
            let l = Layout::new(piece_length, &files).unwrap();
            let mut covered = vec![0u64; files.len()];
            let mut touching: Vec<Vec<u32>> = vec![Vec::new(); files.len()];
            let mut payload = 0u64;
            for piece in l.pieces() {
                let mut piece_bytes = 0u64;
                for s in l.file_slices(piece) {
                    prop_assert!(s.len > 0);
                    // In order and contiguous within each file.
                    prop_assert_eq!(s.offset_in_file, covered[s.file_index]);
                    covered[s.file_index] += s.len;
                    prop_assert_eq!(l.file_offset(s.file_index).unwrap() + s.offset_in_file,
                                    payload);
                    payload += s.len;
                    piece_bytes += s.len;
                    touching[s.file_index].push(piece.get());
                }
                prop_assert_eq!(piece_bytes, u64::from(l.piece_size(piece)));
                let blocks: u64 = (0..l.blocks_in_piece(piece))
                    .map(|b| u64::from(l.block_size(piece, b)))
                    .sum();
                prop_assert_eq!(blocks, piece_bytes);
            }
            prop_assert_eq!(&covered, &files);
            prop_assert_eq!(payload, l.total_length());
            for (f, pieces) in touching.iter().enumerate() {
                let range: Vec<u32> = l.piece_range_of_file(f).collect();
                prop_assert_eq!(&range, pieces);
            }
        }
    }
}
