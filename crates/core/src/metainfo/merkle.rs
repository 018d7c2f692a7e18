//! BEP 52 merkle trees, as far as loading a .torrent needs them: checking that a piece layer
//! hashes up to its file's `pieces root`.
//!
//! A file's tree has one leaf per 16 KiB block, padded with zero hashes to a power of two. The
//! piece layer is the layer whose nodes each cover one piece; above it, the missing nodes past
//! the end of the file are roots of all-zero subtrees, so padding the layer with "the root of a
//! zero subtree one piece wide" and hashing up gives the file's root. Written here because it
//! is twenty lines over `sha2` and no crate does exactly this.

use sha2::{Digest, Sha256};

/// The BEP 52 leaf block size.
pub const BLOCK_SIZE: u64 = 16 * 1024;

/// A SHA-256 node of a merkle tree.
pub type Hash256 = [u8; 32];

fn hash_pair(left: &Hash256, right: &Hash256) -> Hash256 {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a subtree whose `2^levels` leaves are all zero hashes.
pub fn zero_subtree_root(levels: u32) -> Hash256 {
    let mut h = [0u8; 32];
    for _ in 0..levels {
        h = hash_pair(&h, &h);
    }
    h
}

/// The root of a tree over `leaves`, padded with `pad` up to the next power of two.
/// An empty slice gives `pad`.
pub fn root_with_padding(leaves: &[Hash256], pad: Hash256) -> Hash256 {
    let Some(first) = leaves.first() else {
        return pad;
    };
    if leaves.len() == 1 {
        return *first;
    }
    // Each level halves the count, so the scratch space is at most half the input.
    let mut level: Vec<Hash256> = leaves.chunks(2).map(|p| pair_or_pad(p, &pad)).collect();
    let mut pad = hash_pair(&pad, &pad);
    while level.len() > 1 {
        let next: Vec<Hash256> = level.chunks(2).map(|p| pair_or_pad(p, &pad)).collect();
        level = next;
        pad = hash_pair(&pad, &pad);
    }
    level.first().copied().unwrap_or(pad)
}

fn pair_or_pad(pair: &[Hash256], pad: &Hash256) -> Hash256 {
    match pair {
        [l, r] => hash_pair(l, r),
        [l] => hash_pair(l, pad),
        _ => *pad,
    }
}

/// Number of pieces of a v2 file of `length` bytes (files start on a piece boundary).
pub fn file_piece_count(length: u64, piece_length: u32) -> u64 {
    length.div_ceil(u64::from(piece_length))
}

/// Checks one piece layer against its file's root and returns its hashes.
///
/// `piece_length` must be a power of two of at least 16 KiB (checked when the info dictionary
/// was read). Errors are short phrases for [`super::MetainfoError::InvalidPieceLayer`].
pub fn check_piece_layer(
    layer: &[u8],
    file_length: u64,
    piece_length: u32,
    root: &Hash256,
) -> Result<Vec<Hash256>, &'static str> {
    if layer.len() % 32 != 0 {
        return Err("its length is not a multiple of 32");
    }
    let expected = file_piece_count(file_length, piece_length);
    if layer.len() as u64 / 32 != expected {
        return Err("it has the wrong number of hashes for the file's size");
    }
    let hashes: Vec<Hash256> = layer
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    let blocks_per_piece = u64::from(piece_length) / BLOCK_SIZE;
    let pad = zero_subtree_root(blocks_per_piece.trailing_zeros());
    if root_with_padding(&hashes, pad) != *root {
        return Err("its hashes do not hash to the file's pieces root");
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(b: u8) -> Hash256 {
        let mut h = Sha256::new();
        h.update([b; 16]);
        h.finalize().into()
    }

    #[test]
    fn root_pads_to_power_of_two() {
        let (a, b, c) = (leaf(1), leaf(2), leaf(3));
        let z = [0u8; 32];
        let expected = hash_pair(&hash_pair(&a, &b), &hash_pair(&c, &z));
        assert_eq!(root_with_padding(&[a, b, c], z), expected);
        assert_eq!(root_with_padding(&[a], z), a);
        assert_eq!(root_with_padding(&[], z), z);
        // Five leaves: the pad of the upper level is the hash of two pads.
        let d = leaf(4);
        let e = leaf(5);
        let zz = hash_pair(&z, &z);
        let left = hash_pair(&hash_pair(&a, &b), &hash_pair(&c, &d));
        let right = hash_pair(&hash_pair(&e, &z), &zz);
        assert_eq!(
            root_with_padding(&[a, b, c, d, e], z),
            hash_pair(&left, &right)
        );
    }

    #[test]
    fn zero_subtree() {
        let z = [0u8; 32];
        assert_eq!(zero_subtree_root(0), z);
        assert_eq!(
            zero_subtree_root(2),
            hash_pair(&hash_pair(&z, &z), &hash_pair(&z, &z))
        );
    }

    #[test]
    fn layer_checks() {
        // 32 KiB pieces: two blocks each. A file of three pieces (the last one short).
        let pl = 32 * 1024;
        let pieces = [leaf(1), leaf(2), leaf(3)];
        let pad = zero_subtree_root(1);
        let root = root_with_padding(&pieces, pad);
        let bytes: Vec<u8> = pieces.iter().flatten().copied().collect();
        let len = 2 * u64::from(pl) + 100;
        assert_eq!(
            check_piece_layer(&bytes, len, pl, &root),
            Ok(pieces.to_vec())
        );
        assert!(check_piece_layer(&bytes[..95], len, pl, &root).is_err());
        assert!(check_piece_layer(&bytes[..64], len, pl, &root).is_err());
        assert!(check_piece_layer(&bytes, len, pl, &leaf(9)).is_err());
        assert!(check_piece_layer(&bytes, 4 * u64::from(pl), pl, &root).is_err());
    }
}
