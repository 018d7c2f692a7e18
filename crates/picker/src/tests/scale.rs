//! A 2^21-piece torrent: availability updates and picks stay cheap. Costs are asserted as
//! work counts (pieces examined), never as wall time; the timings are printed for reference.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_core::{Bitfield, PieceIndex};

use crate::{BlockOutcome, Geometry, PeerKey, PeerView, Picker, PickerConfig, BLOCK_LEN};

#[test]
fn two_million_pieces() {
    let n: u32 = 1 << 21;
    let geometry = Geometry::new(BLOCK_LEN, u64::from(n) * u64::from(BLOCK_LEN)).unwrap();
    let config = PickerConfig {
        initial_random_pieces: 0,
        ..PickerConfig::default()
    };
    let mut p = Picker::new(geometry, &Bitfield::new(n), config).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let clock = Instant::now();

    // Four peers with random halves of the torrent, one seed, and a stream of HAVEs.
    for _ in 0..4 {
        let bytes: Vec<u8> = (0..n / 8).map(|_| rng.random()).collect();
        p.peer_bitfield(&Bitfield::from_bytes(&bytes, n).unwrap());
    }
    p.peer_has_all();
    for _ in 0..100_000 {
        p.peer_has(PieceIndex::new_unchecked_in_range(rng.random_range(0..n)));
    }
    let fed = clock.elapsed();
    let rarest = (0..n)
        .map(|i| p.availability(PieceIndex::new_unchecked_in_range(i)))
        .min()
        .unwrap();

    // The seed asks for 16 blocks (16 pieces of one block) 2 000 times; pieces complete as
    // they arrive, as in a real download.
    let seed = Bitfield::full(n);
    let key = PeerKey::new(1);
    let now = Instant::now();
    let before = p.scanned;
    for round in 0..2000 {
        let view = PeerView {
            key,
            has: &seed,
            snubbed: false,
        };
        let blocks = p.pick(&view, 16, &mut rng, now);
        assert_eq!(blocks.len(), 16);
        if round == 0 {
            assert!(
                blocks.iter().all(|b| p.availability(b.piece()) == rarest),
                "rarest first"
            );
        }
        for b in blocks {
            if let BlockOutcome::Accepted {
                piece_complete: true,
                ..
            } = p.on_block_received(key, b, now)
            {
                p.on_piece_verified(b.piece());
            }
        }
    }
    let per_pick = (p.scanned - before) as f64 / 2000.0;
    // A peer that has everything takes every piece it examines.
    assert!(per_pick <= 16.0, "examined {per_pick} pieces per pick");
    let picked = clock.elapsed() - fed;

    // A peer with a single piece: the worst case walks the order, and still finds it.
    let lone = (0..n).rev().find(|&i| !p.have().get(i)).unwrap();
    let mut sparse = Bitfield::new(n);
    sparse.set(lone, true);
    let view = PeerView {
        key: PeerKey::new(2),
        has: &sparse,
        snubbed: false,
    };
    let got = p.pick(&view, 4, &mut rng, now);
    assert_eq!(
        got.iter().map(|b| b.piece().get()).collect::<Vec<_>>(),
        [lone]
    );

    assert_eq!(p.num_have(), 32_000);
    p.check_invariants().unwrap();
    eprintln!(
        "2^21 pieces: feeding availability {fed:?}, 2000 picks {picked:?}, total {:?}",
        clock.elapsed()
    );
}
