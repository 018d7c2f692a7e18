//! The peer's piece set, including the stretch before we know how many pieces there are.
//!
//! A connection made for a magnet link starts without metadata, yet the peer sends its bitfield
//! and haves right away. They cannot be validated without the piece count, so they are kept raw
//! (bounded by the codec's caps) until [`PeerPieces::resolve`] gets the geometry.

use shoal_core::bitfield::BitfieldError;
use shoal_core::{Bitfield, PieceIndex};

use crate::codec::MAX_PIECES;
use crate::error::WireError;
use crate::geometry::PieceGeometry;

/// How the peer described its pieces in its first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Initial {
    Bits(Vec<u8>),
    All,
    None,
}

#[derive(Clone, Debug)]
pub(crate) enum PeerPieces {
    /// Metadata unknown. `haves` is a bit vector grown on demand, at most `MAX_PIECES` bits.
    Pending {
        initial: Option<Initial>,
        haves: Vec<u8>,
    },
    Known(Bitfield),
}

impl PeerPieces {
    pub(crate) fn new(geometry: Option<&PieceGeometry>) -> Self {
        match geometry {
            Some(g) => PeerPieces::Known(Bitfield::new(g.piece_count())),
            None => PeerPieces::Pending {
                initial: None,
                haves: Vec::new(),
            },
        }
    }

    pub(crate) fn known(&self) -> Option<&Bitfield> {
        match self {
            PeerPieces::Known(b) => Some(b),
            PeerPieces::Pending { .. } => None,
        }
    }

    /// Records the peer's first message. Returns the resulting piece set when it is known.
    /// The caller has already checked that this is the first such message.
    pub(crate) fn on_initial(&mut self, initial: Initial) -> Result<Option<Bitfield>, WireError> {
        match self {
            PeerPieces::Pending { initial: slot, .. } => {
                *slot = Some(initial);
                Ok(None)
            }
            PeerPieces::Known(bits) => {
                *bits = build(initial, bits.len())?;
                Ok(Some(bits.clone()))
            }
        }
    }

    /// Records a bitfield or have-all that came after other messages (see `on_initial` in
    /// `incoming.rs`): its pieces are added to those known. Returns the pieces that are new
    /// (none while the metadata is unknown).
    pub(crate) fn on_late(&mut self, late: Initial) -> Result<Vec<PieceIndex>, WireError> {
        match self {
            PeerPieces::Known(bits) => {
                let late = build(late, bits.len())?;
                let piece_count = bits.len();
                Ok(late
                    .iter_ones()
                    .filter(|&i| bits.set(i, true))
                    .filter_map(|i| PieceIndex::checked(i, piece_count))
                    .collect())
            }
            PeerPieces::Pending { initial, haves } => {
                match late {
                    Initial::None => {}
                    Initial::All => *initial = Some(Initial::All),
                    // Kept as haves: `resolve` checks them against the piece count.
                    Initial::Bits(raw) => {
                        if haves.len() < raw.len() {
                            haves.resize(raw.len(), 0);
                        }
                        for (h, r) in haves.iter_mut().zip(&raw) {
                            *h |= r;
                        }
                    }
                }
                Ok(Vec::new())
            }
        }
    }

    /// Records a `have`. Returns the piece when it is known and new to the peer.
    pub(crate) fn on_have(&mut self, index: u32) -> Result<Option<PieceIndex>, WireError> {
        match self {
            PeerPieces::Known(bits) => {
                let piece_count = bits.len();
                let piece = PieceIndex::checked(index, piece_count)
                    .ok_or(WireError::PieceOutOfRange { index, piece_count })?;
                Ok(bits.set(index, true).then_some(piece))
            }
            PeerPieces::Pending { haves, .. } => {
                if index >= MAX_PIECES {
                    return Err(WireError::PieceOutOfRange {
                        index,
                        piece_count: MAX_PIECES,
                    });
                }
                let byte = (index / 8) as usize;
                if haves.len() <= byte {
                    haves.resize(byte + 1, 0);
                }
                if let Some(b) = haves.get_mut(byte) {
                    *b |= 0x80 >> (index % 8);
                }
                Ok(None)
            }
        }
    }

    /// Validates what was kept while the metadata was unknown and switches to a known set.
    /// Returns the piece set (also when the peer announced nothing: then it is empty).
    pub(crate) fn resolve(&mut self, geometry: &PieceGeometry) -> Result<Bitfield, WireError> {
        let piece_count = geometry.piece_count();
        let bits = match self {
            PeerPieces::Known(bits) => return Ok(bits.clone()),
            PeerPieces::Pending { initial, haves } => {
                let mut bits = match initial.take() {
                    Some(init) => build(init, piece_count)?,
                    None => Bitfield::new(piece_count),
                };
                for (byte_index, byte) in haves.iter().enumerate() {
                    for bit in 0..8u32 {
                        if byte & (0x80 >> bit) == 0 {
                            continue;
                        }
                        // byte_index < MAX_PIECES / 8, so this fits in u32.
                        let index = byte_index as u32 * 8 + bit;
                        if index >= piece_count {
                            return Err(WireError::PieceOutOfRange { index, piece_count });
                        }
                        bits.set(index, true);
                    }
                }
                bits
            }
        };
        *self = PeerPieces::Known(bits.clone());
        Ok(bits)
    }
}

fn build(initial: Initial, piece_count: u32) -> Result<Bitfield, WireError> {
    match initial {
        Initial::All => Ok(Bitfield::full(piece_count)),
        Initial::None => Ok(Bitfield::new(piece_count)),
        Initial::Bits(raw) => Bitfield::from_bytes(&raw, piece_count).map_err(|e| match e {
            BitfieldError::WrongLength { got, expected } => {
                WireError::BitfieldLength { got, expected }
            }
            BitfieldError::SpareBitsSet => WireError::BitfieldSpareBits,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_haves_are_checked_when_resolved() {
        let geometry = PieceGeometry::new(10 * 16_384, 16_384).unwrap();
        let mut p = PeerPieces::new(None);
        assert_eq!(p.on_initial(Initial::Bits(vec![0x80, 0x00])), Ok(None));
        assert_eq!(p.on_have(9), Ok(None));
        let bits = p.resolve(&geometry).unwrap();
        assert_eq!(bits.iter_ones().collect::<Vec<_>>(), vec![0, 9]);
        assert_eq!(p.known(), Some(&bits));

        let mut p = PeerPieces::new(None);
        assert_eq!(p.on_have(10), Ok(None));
        assert_eq!(
            p.resolve(&geometry),
            Err(WireError::PieceOutOfRange {
                index: 10,
                piece_count: 10
            })
        );

        let mut p = PeerPieces::new(None);
        assert_eq!(
            p.on_have(MAX_PIECES),
            Err(WireError::PieceOutOfRange {
                index: MAX_PIECES,
                piece_count: MAX_PIECES
            })
        );
    }

    #[test]
    fn pending_bitfield_is_checked_when_resolved() {
        let geometry = PieceGeometry::new(10 * 16_384, 16_384).unwrap();
        let mut p = PeerPieces::new(None);
        p.on_initial(Initial::Bits(vec![0xff, 0xff])).unwrap();
        assert_eq!(p.resolve(&geometry), Err(WireError::BitfieldSpareBits));
        let mut p = PeerPieces::new(None);
        p.on_initial(Initial::All).unwrap();
        assert!(p.resolve(&geometry).unwrap().is_full());
    }
}
