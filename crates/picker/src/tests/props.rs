//! Property tests: random sequences of operations, with a model of who has what, keep the
//! invariants and never hand out a block we have, a block of a skipped piece, or a block of a
//! piece the peer lacks.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_core::{Bitfield, PieceIndex};

use crate::{
    BlockOutcome, BlockRef, BlockStatus, Geometry, PeerKey, PeerView, Picker, PickerConfig,
    Priority, BLOCK_LEN,
};

const PEERS: u8 = 5;

#[derive(Clone, Debug)]
enum Op {
    Connect {
        peer: u8,
        bits: u32,
        seed: bool,
    },
    Have {
        peer: u8,
        piece: u32,
    },
    Disconnect {
        peer: u8,
    },
    Pick {
        peer: u8,
        want: u8,
        snubbed: bool,
    },
    /// Deliver one of the peer's outstanding requests, or any block when `any`.
    Receive {
        peer: u8,
        pick: u16,
        any: bool,
    },
    Reject {
        peer: u8,
        pick: u16,
    },
    Choke {
        peer: u8,
    },
    Advance {
        secs: u8,
    },
    Verify {
        pick: u16,
    },
    Fail {
        pick: u16,
    },
    WeHave {
        piece: u32,
    },
    SetPriority {
        piece: u32,
        level: u8,
    },
    Sequential(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let peer = 0..PEERS;
    prop_oneof![
        2 => (peer.clone(), any::<u32>(), prop::bool::weighted(0.2))
            .prop_map(|(peer, bits, seed)| Op::Connect { peer, bits, seed }),
        2 => (peer.clone(), any::<u32>()).prop_map(|(peer, piece)| Op::Have { peer, piece }),
        1 => peer.clone().prop_map(|peer| Op::Disconnect { peer }),
        6 => (peer.clone(), 0..12u8, prop::bool::weighted(0.15))
            .prop_map(|(peer, want, snubbed)| Op::Pick { peer, want, snubbed }),
        6 => (peer.clone(), any::<u16>(), prop::bool::weighted(0.1))
            .prop_map(|(peer, pick, any)| Op::Receive { peer, pick, any }),
        1 => (peer.clone(), any::<u16>()).prop_map(|(peer, pick)| Op::Reject { peer, pick }),
        1 => peer.clone().prop_map(|peer| Op::Choke { peer }),
        2 => (0..40u8).prop_map(|secs| Op::Advance { secs }),
        2 => any::<u16>().prop_map(|pick| Op::Verify { pick }),
        1 => any::<u16>().prop_map(|pick| Op::Fail { pick }),
        1 => any::<u32>().prop_map(|piece| Op::WeHave { piece }),
        1 => (any::<u32>(), 0..8u8).prop_map(|(piece, level)| Op::SetPriority { piece, level }),
        1 => any::<bool>().prop_map(Op::Sequential),
    ]
}

struct Run {
    p: Picker,
    /// What each peer announced, and whether it counts as a seed.
    peers: Vec<Option<(Bitfield, bool)>>,
    /// Pieces reported complete and not yet verified or failed.
    pending: Vec<PieceIndex>,
    rng: StdRng,
    now: Instant,
    n: u32,
}

impl Run {
    fn all_blocks(&self) -> Vec<BlockRef> {
        let g = self.p.geometry();
        (0..self.n)
            .flat_map(|i| g.blocks(PieceIndex::new_unchecked_in_range(i)))
            .collect()
    }

    fn is_partial(&self, piece: PieceIndex) -> bool {
        self.p.partial_pieces().any(|x| x == piece)
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let n = self.n;
        let key = |peer: u8| PeerKey::new(u64::from(peer));
        match *op {
            Op::Connect { peer, bits, seed } => {
                if self.peers[peer as usize].is_none() {
                    let bf = if seed {
                        self.p.peer_has_all();
                        Bitfield::full(n)
                    } else {
                        let mut bf = Bitfield::new(n);
                        for i in 0..n {
                            bf.set(i, bits & (1 << i) != 0);
                        }
                        self.p.peer_bitfield(&bf);
                        bf
                    };
                    self.peers[peer as usize] = Some((bf, seed));
                }
            }
            Op::Have { peer, piece } => {
                if let Some((bf, false)) = self.peers[peer as usize].as_mut() {
                    let i = piece % n;
                    if !bf.get(i) {
                        bf.set(i, true);
                        self.p.peer_has(PieceIndex::new_unchecked_in_range(i));
                    }
                }
            }
            Op::Disconnect { peer } => {
                if let Some((bf, seed)) = self.peers[peer as usize].take() {
                    let before: Vec<BlockRef> = self.p.requests_of(key(peer)).collect();
                    prop_assert_eq!(self.p.on_peer_disconnected(key(peer)), before);
                    if seed {
                        self.p.peer_lost_all();
                    } else {
                        self.p.peer_lost(&bf);
                    }
                }
            }
            Op::Pick {
                peer,
                want,
                snubbed,
            } => {
                let Some((bf, _)) = self.peers[peer as usize].clone() else {
                    return Ok(());
                };
                let before = self.p.outstanding(key(peer));
                let view = PeerView {
                    key: key(peer),
                    has: &bf,
                    snubbed,
                };
                let blocks = self
                    .p
                    .pick(&view, usize::from(want), &mut self.rng, self.now);
                prop_assert!(blocks.len() <= usize::from(want));
                if snubbed {
                    prop_assert!(
                        blocks.len() <= 1usize.saturating_sub(before),
                        "snubbed peer got {}",
                        blocks.len()
                    );
                }
                let mut seen = blocks.clone();
                seen.sort();
                seen.dedup();
                prop_assert_eq!(seen.len(), blocks.len(), "a block picked twice in one pick");
                for b in blocks {
                    let piece = b.piece();
                    prop_assert!(!self.p.have().has(piece), "picked {} which we have", b);
                    prop_assert!(bf.has(piece), "picked {} which the peer lacks", b);
                    prop_assert!(
                        self.p.piece_priority(piece) != Priority::SKIP,
                        "picked skipped {}",
                        b
                    );
                    match self.p.block_status(b) {
                        BlockStatus::Requested { peers, .. } => {
                            prop_assert!(peers.contains(&key(peer)))
                        }
                        other => prop_assert!(false, "picked {} is {:?}", b, other),
                    }
                }
            }
            Op::Receive { peer, pick, any } => {
                let requests: Vec<BlockRef> = self.p.requests_of(key(peer)).collect();
                let block = if any || requests.is_empty() {
                    let all = self.all_blocks();
                    all[usize::from(pick) % all.len()]
                } else {
                    requests[usize::from(pick) % requests.len()]
                };
                let before = self.p.block_status(block);
                let partial = self.is_partial(block.piece());
                match self.p.on_block_received(key(peer), block, self.now) {
                    BlockOutcome::Accepted {
                        cancel,
                        piece_complete,
                    } => {
                        prop_assert!(
                            partial
                                && matches!(
                                    before,
                                    BlockStatus::Free | BlockStatus::Requested { .. }
                                ),
                            "accepted {:?}",
                            before
                        );
                        prop_assert!(!cancel.contains(&key(peer)));
                        prop_assert_eq!(
                            self.p.block_status(block),
                            BlockStatus::Received { from: key(peer) }
                        );
                        if piece_complete {
                            let g = self.p.geometry();
                            prop_assert!(
                                g.blocks(block.piece()).all(|b| matches!(
                                    self.p.block_status(b),
                                    BlockStatus::Received { .. }
                                )),
                                "complete but not all received"
                            );
                            self.pending.push(block.piece());
                        }
                    }
                    BlockOutcome::Duplicate => {
                        prop_assert!(
                            matches!(before, BlockStatus::Have | BlockStatus::Received { .. }),
                            "duplicate of {:?}",
                            before
                        )
                    }
                    BlockOutcome::Unrequested => {
                        prop_assert!(!partial && before == BlockStatus::Free)
                    }
                }
            }
            Op::Reject { peer, pick } => {
                let requests: Vec<BlockRef> = self.p.requests_of(key(peer)).collect();
                if let Some(&block) = requests.get(usize::from(pick) % requests.len().max(1)) {
                    self.p.on_request_rejected(key(peer), block);
                    if let BlockStatus::Requested { peers, .. } = self.p.block_status(block) {
                        prop_assert!(!peers.contains(&key(peer)));
                    }
                }
            }
            Op::Choke { peer } => {
                let before: Vec<BlockRef> = self.p.requests_of(key(peer)).collect();
                prop_assert_eq!(self.p.on_peer_choked_us(key(peer)), before);
                prop_assert_eq!(self.p.outstanding(key(peer)), 0);
            }
            Op::Advance { secs } => {
                self.now += Duration::from_secs(u64::from(secs));
                for pb in self.p.handle_timeout(self.now) {
                    match self.p.block_status(pb.block) {
                        BlockStatus::Requested { peers, .. } => {
                            prop_assert!(peers.contains(&pb.peer))
                        }
                        other => prop_assert!(false, "timed out {} is {:?}", pb.block, other),
                    }
                }
                prop_assert!(self.p.poll_timeout().is_none_or(|d| d > self.now));
            }
            Op::Verify { pick } => {
                if !self.pending.is_empty() {
                    let piece = self
                        .pending
                        .swap_remove(usize::from(pick) % self.pending.len());
                    self.p.on_piece_verified(piece);
                    prop_assert!(self.p.have().has(piece));
                }
            }
            Op::Fail { pick } => {
                if !self.pending.is_empty() {
                    let piece = self
                        .pending
                        .swap_remove(usize::from(pick) % self.pending.len());
                    let complete = self.is_partial(piece);
                    let senders = self.p.on_piece_failed(piece);
                    prop_assert_eq!(complete, !senders.is_empty());
                    prop_assert!(!self.is_partial(piece));
                }
            }
            Op::WeHave { piece } => {
                let piece = PieceIndex::new_unchecked_in_range(piece % n);
                for pb in self.p.we_have(piece) {
                    prop_assert_eq!(pb.block.piece(), piece);
                }
                self.pending.retain(|&x| x != piece);
            }
            Op::SetPriority { piece, level } => {
                let prio = Priority::new(level).unwrap_or_default();
                self.p
                    .set_piece_priority(PieceIndex::new_unchecked_in_range(piece % n), prio)
                    .ok();
            }
            Op::Sequential(on) => self.p.set_sequential(on),
        }
        self.check_model()
    }

    fn check_model(&self) -> Result<(), TestCaseError> {
        if let Err(e) = self.p.check_invariants() {
            return Err(TestCaseError::fail(e.to_string()));
        }
        for i in 0..self.n {
            let holders = self
                .peers
                .iter()
                .flatten()
                .filter(|(bf, _)| bf.get(i))
                .count() as u32;
            prop_assert_eq!(
                self.p.availability(PieceIndex::new_unchecked_in_range(i)),
                holders,
                "piece {}",
                i
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_invariants(
        pieces in 1u32..=12,
        blocks in 1u32..=3,
        tail in 1u32..=49_152,
        have in any::<u32>(),
        dups in 0u32..=2,
        random_first in 0u32..=2,
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..150),
    ) {
        let piece_len = blocks * BLOCK_LEN;
        let last = 1 + (tail - 1) % piece_len;
        let total = u64::from(pieces - 1) * u64::from(piece_len) + u64::from(last);
        let geometry = Geometry::new(piece_len, total).unwrap();
        let mut have_bf = Bitfield::new(pieces);
        for i in 0..pieces {
            have_bf.set(i, have & (1 << i) != 0 && i % 3 == 0);
        }
        let config = PickerConfig { max_duplicates: dups, initial_random_pieces: random_first, ..PickerConfig::default() };
        let p = Picker::new(geometry, &have_bf, config).unwrap();
        let mut run = Run {
            p,
            peers: vec![None; usize::from(PEERS)],
            pending: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            now: Instant::now(),
            n: pieces,
        };
        run.check_model()?;
        for op in &ops {
            run.apply(op)?;
        }
    }
}
