//! A peer vanishing while it holds requests: its blocks are asked of others at once.

use std::collections::BTreeSet;
use std::time::Duration;

use shoal_swarm::SwarmConfig;
use shoal_wire::BlockSpec;

use crate::support::{requests, seeds, unanswered, Have, LinkOpts, Sim};

#[test]
fn peer_vanishing_mid_piece_hands_its_blocks_to_others() {
    for fast in [true, false] {
        for seed in seeds(&[1, 2, 3]) {
            let mut sim = Sim::new(seed, 1 << 20, 65_536);
            // A tick that never fires: the re-requests must come from the disconnect itself.
            let cfg = SwarmConfig {
                tick: Duration::from_secs(3600),
                ..SwarmConfig::default()
            };
            let l = sim.add_swarm("leecher", Have::None, cfg);
            let a = sim.add_swarm("vanishing seeder", Have::All, SwarmConfig::default());
            let b = sim.add_swarm("other seeder", Have::All, SwarmConfig::default());
            let la = sim
                .connect(l, a, LinkOpts::default().fast(fast).rate(2 << 20))
                .expect("l-a");
            let lb = sim
                .connect(l, b, LinkOpts::default().fast(fast).rate(256 << 10))
                .expect("l-b");
            let third = u64::from(sim.content.piece_count() / 3);
            assert!(sim.run_until(Duration::from_secs(30), |sim| {
                u64::from(sim.swarm(l).have().count_ones()) >= third
                    && !unanswered(&sim.links[la], l).is_empty()
            }));
            let held: Vec<BlockSpec> = unanswered(&sim.links[la], l);
            let dropped_at = sim.elapsed();
            sim.drop_link(la);
            assert_eq!(sim.swarm(l).peer_count(), 1);
            sim.run_to_completion(&[l], Duration::from_secs(60));
            sim.assert_complete_and_correct(l);
            let asked_b: BTreeSet<BlockSpec> = requests(sim.links[lb].sent_by(l))
                .into_iter()
                .filter(|(t, _)| *t >= dropped_at)
                .map(|(_, s)| s)
                .collect();
            for spec in &held {
                // Unless the other seeder already had it in flight (endgame), it was asked for
                // after the drop.
                let before = requests(sim.links[lb].sent_by(l))
                    .iter()
                    .any(|(t, s)| s == spec && *t < dropped_at);
                assert!(
                    asked_b.contains(spec) || before,
                    "seed {seed} fast {fast}: {spec:?} lost"
                );
            }
        }
    }
}
