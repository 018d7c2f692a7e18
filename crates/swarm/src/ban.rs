//! Finding the peer that sent bad data.
//!
//! When a piece fails its hash we cannot tell which block was bad. We remember the SHA-1 of
//! every block and who sent it ([`Suspects`]); when the piece later passes, each remembered
//! block whose hash differs from the good block's was bad, and its sender is banned. Innocent
//! peers that only shared a failed piece with a bad one are never banned this way.
//!
//! For that proof to come soon, a failed piece is fetched again from one peer alone
//! ([`Retries`]): the next attempt either passes (and the block hashes name the culprit) or
//! fails with a single sender, which is then proven guilty and earns a strike. Without this a
//! corrupt peer sharing pieces with honest ones could spoil one piece after another, each
//! failure mixing its blocks with theirs again.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use sha1::{Digest, Sha1};
use shoal_core::PieceIndex;
use shoal_picker::PeerKey;

/// Failed pieces' block hashes, per piece: (sender, block index, hash).
#[derive(Default, Debug)]
pub(crate) struct Suspects {
    by_piece: HashMap<PieceIndex, Vec<(IpAddr, usize, [u8; 20])>>,
}

/// Failed pieces remembered at most; beyond this the oldest knowledge is simply not kept
/// (strikes still ban repeat offenders).
const MAX_PIECES: usize = 256;
/// Block records kept per failed piece at most (several failures' worth).
const MAX_RECORDS: usize = 4096;

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
                if entry.len() >= MAX_RECORDS {
                    break;
                }
                entry.push((addr.ip(), i, Sha1::digest(block).into()));
            }
        }
    }

    /// The piece passed with these block hashes: returns the IPs proven to have sent a bad
    /// block of it. Senders of the good copy are not suspects.
    pub fn on_passed(&mut self, piece: PieceIndex, good: &[[u8; 20]]) -> Vec<IpAddr> {
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

/// Pieces that failed their hash and are being fetched again, each from one peer only.
#[derive(Default, Debug)]
pub(crate) struct Retries {
    /// The peer a retried piece is reserved for; `None` until a peer claims it.
    owner: BTreeMap<PieceIndex, Option<PeerKey>>,
}

impl Retries {
    pub fn is_empty(&self) -> bool {
        self.owner.is_empty()
    }

    /// `piece` failed: it goes to the next peer that claims it (possibly the same one again,
    /// which then earns another strike if it really is the culprit).
    pub fn on_failed(&mut self, piece: PieceIndex) {
        self.owner.insert(piece, None);
    }

    /// `piece` passed (or is no longer wanted): anyone may have it.
    pub fn on_done(&mut self, piece: PieceIndex) {
        self.owner.remove(&piece);
    }

    /// The retried pieces `peer` must not be asked for, claiming the unclaimed ones it has.
    /// `valid_owner` says whether a claimant can still deliver (connected, not choking us);
    /// a piece whose owner cannot is claimed afresh.
    pub fn hidden_from(
        &mut self,
        peer: PeerKey,
        peer_has: impl Fn(PieceIndex) -> bool,
        valid_owner: impl Fn(PeerKey) -> bool,
    ) -> Vec<PieceIndex> {
        let mut hidden = Vec::new();
        for (&piece, owner) in self.owner.iter_mut() {
            // A piece the peer lacks needs no hiding (so usually no masked copy is made).
            if !peer_has(piece) {
                continue;
            }
            match *owner {
                Some(o) if o == peer => {}
                Some(o) if valid_owner(o) => hidden.push(piece),
                _ => *owner = Some(peer),
            }
        }
        hidden
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
        assert_eq!(s.on_passed(piece, &hashes), vec![liar.ip()]);
        assert!(!s.has(piece));
    }

    #[test]
    fn a_retried_piece_has_one_owner_until_it_cannot_deliver() {
        let piece = PieceIndex::checked(3, 10).unwrap();
        let (a, b) = (PeerKey::new(1), PeerKey::new(2));
        let mut r = Retries::default();
        r.on_failed(piece);
        assert!(
            r.hidden_from(b, |_| false, |_| true).is_empty(),
            "b lacks it: nothing to hide, nothing claimed"
        );
        assert!(
            r.hidden_from(a, |_| true, |_| true).is_empty(),
            "a claims it"
        );
        assert_eq!(
            r.hidden_from(b, |_| true, |_| true),
            vec![piece],
            "reserved for a"
        );
        assert!(
            r.hidden_from(b, |_| true, |k| k != a).is_empty(),
            "a went away: b claims"
        );
        assert_eq!(r.hidden_from(a, |_| true, |_| true), vec![piece]);
        r.on_done(piece);
        assert!(r.is_empty());
    }
}
