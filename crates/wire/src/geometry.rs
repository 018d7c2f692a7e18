//! What a session must know about a torrent to validate what a peer says: the piece count and
//! the size of every piece.

use shoal_core::PieceIndex;

use crate::codec::MAX_PIECES;
use crate::message::BlockSpec;

/// Piece count and lengths of a torrent in the v1 layout (every piece `piece_length` bytes but
/// the last). Built once per torrent; the session checks every index and block range a peer
/// sends against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceGeometry {
    total_length: u64,
    piece_length: u32,
    piece_count: u32,
}

impl PieceGeometry {
    /// `None` for an empty torrent, a zero piece length, or more than
    /// [`MAX_PIECES`] pieces (a bitfield for such a torrent would be
    /// larger than the codec accepts, so no peer could talk to us about it).
    pub fn new(total_length: u64, piece_length: u32) -> Option<Self> {
        if total_length == 0 || piece_length == 0 {
            return None;
        }
        let count = total_length.div_ceil(u64::from(piece_length));
        let piece_count = u32::try_from(count).ok().filter(|&c| c <= MAX_PIECES)?;
        Some(Self {
            total_length,
            piece_length,
            piece_count,
        })
    }

    pub fn total_length(&self) -> u64 {
        self.total_length
    }
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// The index, if it is in range.
    pub fn piece(&self, index: u32) -> Option<PieceIndex> {
        PieceIndex::checked(index, self.piece_count)
    }

    /// Length of `piece` in bytes: `piece_length`, except for a shorter last piece.
    pub fn piece_len(&self, piece: PieceIndex) -> u32 {
        let start = u64::from(piece.get()) * u64::from(self.piece_length);
        let rest = self.total_length.saturating_sub(start);
        // rest < piece_length unless this is not the last piece, so the cast is lossless.
        rest.min(u64::from(self.piece_length)) as u32
    }

    /// The block named by a raw `<index><begin><length>`, if it is non-empty, at most
    /// `max_len` bytes, and inside its piece.
    pub fn block(&self, spec: BlockSpec, max_len: u32) -> Option<BlockRange> {
        let piece = self.piece(spec.index)?;
        let end = u64::from(spec.begin) + u64::from(spec.length);
        let ok =
            spec.length > 0 && spec.length <= max_len && end <= u64::from(self.piece_len(piece));
        ok.then_some(BlockRange {
            piece,
            offset: spec.begin,
            len: spec.length,
        })
    }

    /// Whether `block` lies inside its piece (and the piece inside the torrent).
    pub fn contains(&self, block: &BlockRange) -> bool {
        self.block(block.spec(), u32::MAX).is_some()
    }
}

/// A block of a piece whose index has been validated: what requests, cancels and rejects name
/// once they crossed the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRange {
    pub piece: PieceIndex,
    /// Byte offset inside the piece.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

impl BlockRange {
    /// The raw wire form.
    pub fn spec(&self) -> BlockSpec {
        BlockSpec {
            index: self.piece.get(),
            begin: self.offset,
            length: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_ranges() {
        let g = PieceGeometry::new(100_000, 32_768).unwrap();
        assert_eq!(g.piece_count(), 4);
        assert_eq!(g.piece_len(g.piece(0).unwrap()), 32_768);
        assert_eq!(g.piece_len(g.piece(3).unwrap()), 100_000 - 3 * 32_768);
        assert!(g.piece(4).is_none());
        let spec = |index, begin, length| BlockSpec {
            index,
            begin,
            length,
        };
        assert!(g.block(spec(0, 16_384, 16_384), 16_384).is_some());
        assert!(
            g.block(spec(0, 16_385, 16_384), 16_384).is_none(),
            "past piece end"
        );
        assert!(
            g.block(spec(0, 0, 32_768), 16_384).is_none(),
            "over max_len"
        );
        assert!(g.block(spec(0, 0, 0), 16_384).is_none(), "empty");
        assert!(g.block(spec(3, 0, 1_696), 16_384).is_some());
        assert!(
            g.block(spec(3, 0, 1_697), 16_384).is_none(),
            "past short last piece"
        );
        assert!(
            g.block(spec(0, u32::MAX, 1), 16_384).is_none(),
            "no overflow"
        );
    }

    #[test]
    fn rejects_degenerate_torrents() {
        assert!(PieceGeometry::new(0, 16_384).is_none());
        assert!(PieceGeometry::new(1, 0).is_none());
        assert!(PieceGeometry::new(u64::from(MAX_PIECES) * 16_384, 16_384).is_some());
        assert!(PieceGeometry::new(u64::from(MAX_PIECES) * 16_384 + 1, 16_384).is_none());
    }
}
