//! Finding the peer that sent bad data.
//!
//! When a piece fails its hash we cannot tell which block was bad. We remember the SHA-1 of
//! every block and who sent it; when the piece later passes, each remembered block whose hash
//! differs from the good block's was bad, and its sender is banned. Innocent peers that only
//! shared a failed piece with a bad one are never banned this way.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use sha1::{Digest, Sha1};
use shoal_core::PieceIndex;

/// Failed pieces' block hashes, per piece: (sender, block index, hash).
#[derive(Default, Debug)]
pub(crate) struct Suspects {
    by_piece: HashMap<PieceIndex, Vec<(IpAddr, usize, [u8; 20])>>,
}

/// Failed pieces remembered at most; beyond this the oldest knowledge is simply not kept
/// (strikes still ban repeat offenders).
const MAX_PIECES: usize = 256;

impl Suspects {
    pub fn has(&self, piece: PieceIndex) -> bool {
        self.by_piece.contains_key(&piece)
    }

    pub fn on_failed(
        &mut self,
        piece: PieceIndex,
        blocks: &[Bytes],
        senders: &[Option<SocketAddr>],
    ) {
        if !self.by_piece.contains_key(&piece) && self.by_piece.len() >= MAX_PIECES {
            return;
        }
        let entry = self.by_piece.entry(piece).or_default();
        for (i, (block, sender)) in blocks.iter().zip(senders).enumerate() {
            if let Some(addr) = sender {
                entry.push((addr.ip(), i, Sha1::digest(block).into()));
            }
        }
    }

    /// The piece passed with these block hashes: returns the IPs proven to have sent a bad
    /// block of it. Senders of the good copy are not suspects.
    pub fn on_passed(
        &mut self,
        piece: PieceIndex,
        good: &[[u8; 20]],
        _senders: &[Option<SocketAddr>],
    ) -> Vec<IpAddr> {
        let Some(records) = self.by_piece.remove(&piece) else {
            return Vec::new();
        };
        let mut bad: Vec<IpAddr> = records
            .into_iter()
            .filter(|(_, i, h)| good.get(*i).is_some_and(|g| g != h))
            .map(|(ip, _, _)| ip)
            .collect();
        bad.sort();
        bad.dedup();
        bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sender_of_the_differing_block_is_blamed() {
        let piece = PieceIndex::checked(0, 1).unwrap();
        let good_a = Bytes::from_static(b"good block a");
        let good_b = Bytes::from_static(b"good block b");
        let evil = Bytes::from_static(b"evil block b");
        let honest: SocketAddr = "127.0.0.2:1".parse().unwrap();
        let liar: SocketAddr = "127.0.0.3:1".parse().unwrap();
        let mut s = Suspects::default();
        s.on_failed(piece, &[good_a.clone(), evil], &[Some(honest), Some(liar)]);
        assert!(s.has(piece));
        let hashes: Vec<[u8; 20]> = [good_a, good_b]
            .iter()
            .map(|b| Sha1::digest(b).into())
            .collect();
        assert_eq!(s.on_passed(piece, &hashes, &[]), vec![liar.ip()]);
        assert!(!s.has(piece));
    }
}
