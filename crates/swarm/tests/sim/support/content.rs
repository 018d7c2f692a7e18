//! The torrent every simulated node shares: random bytes, their piece hashes and geometry.

use std::ops::Range;

use bytes::Bytes;
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};
use sha1::{Digest, Sha1};
use shoal_core::{Bitfield, PieceIndex};
use shoal_wire::{BlockRange, PieceGeometry};

pub struct Content {
    pub data: Bytes,
    pub piece_len: u32,
    pub hashes: Vec<[u8; 20]>,
    pub geometry: PieceGeometry,
}

impl Content {
    pub fn random(rng: &mut StdRng, total: u64, piece_len: u32) -> Self {
        let mut data = vec![0u8; total as usize];
        // A fast generator for the bulk bytes; seeded from the simulation's RNG.
        SmallRng::seed_from_u64(rng.random()).fill_bytes(&mut data);
        let geometry = PieceGeometry::new(total, piece_len).expect("test geometry");
        let hashes = data
            .chunks(piece_len as usize)
            .map(|c| Sha1::digest(c).into())
            .collect();
        Self {
            data: Bytes::from(data),
            piece_len,
            hashes,
            geometry,
        }
    }

    pub fn total(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn piece_count(&self) -> u32 {
        self.geometry.piece_count()
    }

    pub fn piece(&self, i: u32) -> PieceIndex {
        self.geometry.piece(i).expect("piece in range")
    }

    pub fn piece_range(&self, piece: PieceIndex) -> Range<usize> {
        let start = piece.as_usize() * self.piece_len as usize;
        start..start + self.geometry.piece_len(piece) as usize
    }

    /// A single-file info dictionary describing the content (bencoded by hand: the format
    /// is four sorted keys, and the tests check it against the fetcher's SHA-1 anyway).
    pub fn info_bytes(&self) -> Bytes {
        let mut out = format!(
            "d6:lengthi{}e4:name3:sim12:piece lengthi{}e6:pieces{}:",
            self.total(),
            self.piece_len,
            self.hashes.len() * 20
        )
        .into_bytes();
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        out.push(b'e');
        Bytes::from(out)
    }

    pub fn block(&self, block: BlockRange) -> Bytes {
        let start = self.piece_range(block.piece).start + block.offset as usize;
        self.data.slice(start..start + block.len as usize)
    }
}

/// Which pieces a node starts with.
#[derive(Clone, Debug)]
pub enum Have {
    All,
    None,
    /// Pieces with index in the range.
    Range(Range<u32>),
}

impl Have {
    pub fn bitfield(&self, piece_count: u32) -> Bitfield {
        match self {
            Have::All => Bitfield::full(piece_count),
            Have::None => Bitfield::new(piece_count),
            Have::Range(r) => {
                let mut b = Bitfield::new(piece_count);
                for i in r.start.min(piece_count)..r.end.min(piece_count) {
                    b.set(i, true);
                }
                b
            }
        }
    }
}
