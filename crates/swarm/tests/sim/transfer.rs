//! Plain transfers: one seeder to one leecher over many geometries.

use std::time::Duration;

use shoal_swarm::{SwarmConfig, SwarmEvent};

use crate::support::{seeds, Have, LinkOpts, Sim};

/// (piece length, total length): short last pieces, last blocks under 16 KiB, pieces smaller
/// than a block, an exact multiple.
const GEOMETRIES: &[(u32, u64)] = &[
    (16_384, 16_384 * 8 + 100),
    (32_768, 32_768 * 5 + 16_384 + 5_000),
    (65_536, (1 << 20) - 1),
    (49_152, 49_152 * 6),
    (1_000, 25_500),
    (262_144, 3 * 262_144 + 7),
];

#[test]
fn one_seeder_one_leecher() {
    for seed in seeds(&[1, 2]) {
        for (i, &(piece_len, total)) in GEOMETRIES.iter().enumerate() {
            for (fast, ext) in [(true, true), (false, false), (true, false), (false, true)] {
                let mut sim = Sim::new(seed * 100 + i as u64, total, piece_len);
                let s = sim.add_swarm("seeder", Have::All, SwarmConfig::default());
                let l = sim.add_swarm("leecher", Have::None, SwarmConfig::default());
                let opts = LinkOpts::default().fast(fast).ext(ext);
                sim.connect(l, s, opts).expect("connected");
                sim.run_to_completion(&[l], Duration::from_secs(60));
                sim.assert_complete_and_correct(l);

                let pieces = sim.content.piece_count() as usize;
                assert_eq!(
                    sim.count_events(l, |e| matches!(e, SwarmEvent::PieceVerified(_))),
                    pieces
                );
                assert_eq!(
                    sim.count_events(l, |e| matches!(e, SwarmEvent::HashFailed(_))),
                    0
                );
                assert_eq!(sim.count_events(s, |e| *e == SwarmEvent::Completed), 0);
                let lt = sim.swarm(l).totals().clone();
                let st = sim.swarm(s).totals().clone();
                assert_eq!(lt.downloaded, total, "seed {seed} geometry {i}: {lt:?}");
                assert_eq!(lt.wasted, 0, "one peer never duplicates: {lt:?}");
                assert_eq!(lt.uploaded, 0);
                assert_eq!(st.uploaded, total, "the seeder sent each byte once: {st:?}");
                assert_eq!(st.downloaded, 0);
                assert_eq!(sim.swarm(l).bytes_have(), total);
                assert_eq!(sim.nodes[l].disk.pieces_written as usize, pieces);
            }
        }
    }
}
