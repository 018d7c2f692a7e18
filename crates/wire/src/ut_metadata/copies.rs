//! The copies of each metadata piece received so far, and the search for an assembly of them
//! that hashes to the info-hash.
//!
//! The info-hash covers the whole dictionary, so a mismatch says *that* something is wrong,
//! never *which* piece. Instead of discarding everything and trusting the next round blindly,
//! every distinct copy of a piece is kept with the set of peers that sent it. Each time a new
//! distinct copy arrives, the assemblies that contain it (and were therefore never hashed
//! before) are tried; when one matches, every peer behind a losing copy is provably a liar.

use std::collections::BTreeSet;

use bytes::Bytes;
use shoal_core::{InfoHash, InfoHashV1, InfoHashV2};

use super::message::MetadataSize;

/// Distinct copies kept per piece. One honest copy and a few lies is the realistic worst case;
/// more variants are dropped rather than letting liars grow memory and the search space.
pub(super) const MAX_VARIANTS: usize = 4;

/// One distinct byte string received for a piece, and who sent it.
#[derive(Debug)]
struct Variant<P> {
    data: Bytes,
    from: BTreeSet<P>,
}

/// What [`PieceCopies::add`] did with a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Added {
    /// First copy with these bytes; its index among the piece's variants.
    NewVariant(usize),
    /// Same bytes as a copy we already had.
    Agreed,
    /// Different bytes, but the piece already has [`MAX_VARIANTS`] variants.
    Dropped,
}

/// Everything received for one piece.
#[derive(Debug)]
pub(super) struct PieceCopies<P> {
    /// Distinct copies, oldest first.
    variants: Vec<Variant<P>>,
    /// Every peer that sent this piece, including senders of dropped variants, so that none of
    /// them is asked for it again.
    suppliers: BTreeSet<P>,
}

impl<P: Ord + Clone> PieceCopies<P> {
    pub(super) fn new() -> Self {
        Self {
            variants: Vec::new(),
            suppliers: BTreeSet::new(),
        }
    }

    pub(super) fn add(&mut self, peer: P, data: Bytes) -> Added {
        self.suppliers.insert(peer.clone());
        if let Some(v) = self.variants.iter_mut().find(|v| v.data == data) {
            v.from.insert(peer);
            return Added::Agreed;
        }
        if self.variants.len() >= MAX_VARIANTS {
            return Added::Dropped;
        }
        self.variants.push(Variant {
            data,
            from: BTreeSet::from([peer]),
        });
        Added::NewVariant(self.variants.len() - 1)
    }

    pub(super) fn supplied_by(&self, peer: &P) -> bool {
        self.suppliers.contains(peer)
    }
    pub(super) fn supplier_count(&self) -> usize {
        self.suppliers.len()
    }
    pub(super) fn is_covered(&self) -> bool {
        !self.variants.is_empty()
    }
    pub(super) fn variant_count(&self) -> usize {
        self.variants.len()
    }
    /// Peers behind every variant except `winner`.
    pub(super) fn losers(&self, winner: usize) -> impl Iterator<Item = &P> {
        self.variants
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != winner)
            .flat_map(|(_, v)| v.from.iter())
    }

    pub(super) fn check_invariants(&self, expected_len: usize) {
        if cfg!(debug_assertions) {
            debug_assert!(self.variants.len() <= MAX_VARIANTS);
            for (i, v) in self.variants.iter().enumerate() {
                debug_assert_eq!(v.data.len(), expected_len);
                debug_assert!(!v.from.is_empty());
                debug_assert!(v.from.is_subset(&self.suppliers));
                debug_assert!(self.variants[..i].iter().all(|w| w.data != v.data));
            }
        }
    }
}

/// The verified assembly: the metadata and the winning variant of every piece.
pub(super) struct Verified {
    pub(super) bytes: Bytes,
    pub(super) choice: Vec<usize>,
}

/// Whether `bytes` hash to every hash `info_hash` carries (both, for a hybrid torrent: they
/// name the same dictionary).
pub(super) fn matches(info_hash: &InfoHash, bytes: &[u8]) -> bool {
    info_hash
        .get_v1()
        .is_none_or(|h| InfoHashV1::of_info_bytes(bytes) == h)
        && info_hash
            .get_v2()
            .is_none_or(|h| InfoHashV2::of_info_bytes(bytes) == h)
}

/// Tries the assemblies in which piece `fixed` is its variant `variant` and every other piece
/// any of its variants, newest variants first (copies fetched after a failed check come from
/// other peers, so they are the likelier truth). At most `max_attempts` assemblies are hashed,
/// which bounds the CPU a crowd of liars can cost; every piece must be covered.
pub(super) fn search<P: Ord + Clone>(
    pieces: &[&PieceCopies<P>],
    fixed: usize,
    variant: usize,
    size: MetadataSize,
    info_hash: &InfoHash,
    max_attempts: usize,
) -> Option<Verified> {
    let counts: Vec<usize> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| if i == fixed { 1 } else { p.variant_count() })
        .collect();
    if counts.contains(&0) {
        return None;
    }
    // `odometer[i]` counts up; the variant used is the newest minus that count.
    let mut odometer = vec![0usize; pieces.len()];
    let mut buf = Vec::with_capacity(size.get() as usize);
    for _ in 0..max_attempts.max(1) {
        let choice: Vec<usize> = pieces
            .iter()
            .zip(&odometer)
            .enumerate()
            .map(|(i, (p, &o))| {
                if i == fixed {
                    variant
                } else {
                    p.variant_count() - 1 - o
                }
            })
            .collect();
        buf.clear();
        for (p, &c) in pieces.iter().zip(&choice) {
            if let Some(v) = p.variants.get(c) {
                buf.extend_from_slice(&v.data);
            }
        }
        if buf.len() == size.get() as usize && matches(info_hash, &buf) {
            return Some(Verified {
                bytes: Bytes::from(buf),
                choice,
            });
        }
        if !advance(&mut odometer, &counts) {
            break;
        }
    }
    None
}

/// Next combination; false after the last.
fn advance(odometer: &mut [usize], counts: &[usize]) -> bool {
    for (digit, &count) in odometer.iter_mut().zip(counts) {
        *digit += 1;
        if *digit < count {
            return true;
        }
        *digit = 0;
    }
    false
}
