//! Endgame: the last blocks are asked of several peers, the losers get CANCEL, and a block
//! that crosses its cancel on the wire is dropped without harm.

use std::collections::BTreeSet;
use std::time::Duration;

use shoal_swarm::SwarmConfig;
use shoal_wire::BlockSpec;

use crate::support::{cancels, pieces, requests, seeds, Have, LinkOpts, Sim};

/// A leecher with a fast and a slow, distant seeder.
fn endgame_sim(seed: u64, fast: bool) -> (Sim, usize, usize, usize) {
    let mut sim = Sim::new(seed, 768 << 10, 32_768);
    let l = sim.add_swarm("leecher", Have::None, SwarmConfig::default());
    // Pieces take a while to verify, so the download is not over (and the slow connection
    // not closed) the moment the last block arrives: late copies still reach the leecher.
    sim.nodes[l].disk.write_delay = Duration::from_millis(400);
    let quick = sim.add_swarm("fast seeder", Have::All, SwarmConfig::default());
    let slow = sim.add_swarm("slow seeder", Have::All, SwarmConfig::default());
    sim.connect(l, quick, LinkOpts::default().fast(fast).rate(1 << 20))
        .expect("quick");
    let far = LinkOpts::default()
        .fast(fast)
        .rate(48 << 10)
        .latency(Duration::from_millis(250));
    sim.connect(l, slow, far).expect("slow");
    (sim, l, quick, slow)
}

#[test]
fn endgame_duplicates_requests_and_cancels_the_losers() {
    for fast in [true, false] {
        for seed in seeds(&[1, 2, 3]) {
            let (mut sim, l, quick, slow) = endgame_sim(seed, fast);
            sim.run_to_completion(&[l], Duration::from_secs(60));
            sim.assert_complete_and_correct(l);
            let lq = sim.link_between(l, quick).expect("link");
            let ls = sim.link_between(l, slow).expect("link");
            let asked = |link: usize| -> BTreeSet<BlockSpec> {
                requests(sim.links[link].sent_by(l))
                    .into_iter()
                    .map(|(_, s)| s)
                    .collect()
            };
            let both: Vec<BlockSpec> = asked(lq).intersection(&asked(ls)).copied().collect();
            assert!(
                !both.is_empty(),
                "seed {seed} fast {fast}: no block asked of both seeders"
            );
            let cancelled: Vec<(Duration, BlockSpec)> = [lq, ls]
                .iter()
                .flat_map(|&k| cancels(sim.links[k].sent_by(l)))
                .collect();
            assert!(
                !cancelled.is_empty(),
                "seed {seed} fast {fast}: no CANCEL sent"
            );
            for (at, spec) in &cancelled {
                // Every cancel withdraws a duplicate: the block was asked of both, and the
                // cancel went out no earlier than the first copy arrived.
                assert!(
                    both.contains(spec),
                    "seed {seed}: cancel of a lone request {spec:?}"
                );
                let first = [lq, ls]
                    .iter()
                    .flat_map(|&k| pieces(sim.links[k].received_by(l)))
                    .filter(|(_, s)| s == spec)
                    .map(|(t, _)| t)
                    .min();
                assert!(
                    first.is_some_and(|t| t <= *at),
                    "seed {seed}: {spec:?} cancelled early"
                );
            }
        }
    }
}

#[test]
fn block_arriving_after_its_cancel_is_wasted_not_written() {
    for fast in [true, false] {
        let mut crossed = 0;
        for seed in seeds(&[1, 2, 3, 4]) {
            let (mut sim, l, _, slow) = endgame_sim(seed, fast);
            sim.run_to_completion(&[l], Duration::from_secs(60));
            sim.assert_complete_and_correct(l);
            let ls = sim.link_between(l, slow).expect("link");
            let link = &sim.links[ls];
            // Blocks the slow seeder delivered after the leecher had cancelled them.
            let late: Vec<BlockSpec> = cancels(link.sent_by(l))
                .into_iter()
                .filter(|(cancelled, spec)| {
                    pieces(link.received_by(l))
                        .iter()
                        .any(|(at, s)| s == spec && at > cancelled)
                })
                .map(|(_, s)| s)
                .collect();
            let late_bytes: u64 = late.iter().map(|s| u64::from(s.length)).sum();
            let totals = sim.swarm(l).totals();
            assert!(
                totals.wasted >= late_bytes,
                "seed {seed}: {totals:?}, late {late:?}"
            );
            assert_eq!(
                totals.downloaded - totals.wasted,
                sim.content.total(),
                "seed {seed}: {totals:?}"
            );
            crossed += late.len();
        }
        assert!(
            crossed > 0,
            "fast {fast}: no block crossed its cancel; the scenario tests nothing"
        );
    }
}
