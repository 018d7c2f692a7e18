//! Several peers: many seeders, and leechers trading with each other.

use std::time::Duration;

use shoal_swarm::SwarmConfig;

use crate::support::{pieces, seeds, Have, LinkOpts, Sim};

#[test]
fn three_seeders_one_leecher() {
    for seed in seeds(&[1, 2, 3]) {
        let mut sim = Sim::new(seed, 2 << 20, 32_768);
        let seeders: Vec<usize> = (0..3)
            .map(|i| sim.add_swarm(&format!("seeder{i}"), Have::All, SwarmConfig::default()))
            .collect();
        let l = sim.add_swarm("leecher", Have::None, SwarmConfig::default());
        for &s in &seeders {
            // Each link alone is slower than the three together.
            sim.connect(l, s, LinkOpts::default().rate(1 << 20))
                .expect("connected");
        }
        sim.run_to_completion(&[l], Duration::from_secs(60));
        sim.assert_complete_and_correct(l);
        let lt = sim.swarm(l).totals().clone();
        let mut sent = 0;
        for &s in &seeders {
            let up = sim.swarm(s).totals().uploaded;
            assert!(
                up > 0,
                "seed {seed}: {} uploaded nothing",
                sim.nodes[s].name
            );
            sent += up;
        }
        // Bytes still on the wire when the leecher closed its seeds never arrived.
        assert!(sent >= lt.downloaded, "seed {seed}: {sent} sent, {lt:?}");
        assert_eq!(
            lt.downloaded - lt.wasted,
            sim.content.total(),
            "seed {seed}: {lt:?}"
        );
    }
}

#[test]
fn leechers_trade_halves() {
    for seed in seeds(&[4, 5]) {
        let mut sim = Sim::new(seed, 1 << 20, 32_768);
        let half = sim.content.piece_count() / 2;
        let a = sim.add_swarm("a", Have::Range(0..half), SwarmConfig::default());
        let b = sim.add_swarm("b", Have::Range(half..u32::MAX), SwarmConfig::default());
        let s = sim.add_swarm("slow seeder", Have::All, SwarmConfig::default());
        let ab = sim
            .connect(a, b, LinkOpts::default().rate(2 << 20))
            .expect("a-b");
        let slow = LinkOpts::default()
            .rate(16 << 10)
            .latency(Duration::from_millis(80));
        sim.connect(a, s, slow).expect("a-s");
        sim.connect(b, s, slow).expect("b-s");
        sim.run_to_completion(&[a, b], Duration::from_secs(60));
        sim.assert_complete_and_correct(a);
        sim.assert_complete_and_correct(b);
        for (from, to) in [(a, b), (b, a)] {
            let up = sim.swarm(from).totals().uploaded;
            assert!(
                up > 0,
                "seed {seed}: {} uploaded nothing",
                sim.nodes[from].name
            );
            let blocks = pieces(sim.links[ab].sent_by(from)).len();
            assert!(blocks > 0, "seed {seed}: no block went {from} -> {to}");
        }
        // The slow seeder could not have carried the bulk.
        let via_seeder = sim.swarm(s).totals().uploaded;
        assert!(
            via_seeder < sim.content.total() / 2,
            "seed {seed}: seeder sent {via_seeder}"
        );
    }
}
