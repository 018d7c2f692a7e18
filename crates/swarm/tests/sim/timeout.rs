//! Request timeouts: blocks asked of a peer that never answers go to another peer once the
//! request timeout passes, and only then.

use std::time::Duration;

use shoal_picker::PickerConfig;
use shoal_swarm::{CloseReason, SwarmConfig};

use crate::support::{requests, seeds, Behavior, Have, LinkOpts, Sim};

#[test]
fn silent_peer_blocks_move_after_the_request_timeout() {
    for fast in [true, false] {
        for seed in seeds(&[1, 2]) {
            let mut sim = Sim::new(seed, 512 << 10, 32_768);
            let timeout = Duration::from_secs(30);
            let cfg = SwarmConfig {
                // No endgame duplicates: the timeout alone must free the blocks. And no tick:
                // the timeout itself must wake the other peer's pipeline.
                picker: PickerConfig {
                    max_duplicates: 0,
                    request_timeout: timeout,
                    ..PickerConfig::default()
                },
                tick: Duration::from_secs(3600),
                ..SwarmConfig::default()
            };
            let l = sim.add_swarm("leecher", Have::None, cfg);
            let mute = sim.add_script("mute", Have::All, Behavior::Silent);
            let s = sim.add_swarm("seeder", Have::All, SwarmConfig::default());
            let lm = sim
                .connect(l, mute, LinkOpts::default().fast(fast))
                .expect("l-mute");
            assert!(sim.run_until(Duration::from_secs(5), |sim| !requests(
                sim.links[lm].sent_by(l)
            )
            .is_empty()));
            let asked = requests(sim.links[lm].sent_by(l));
            let first = asked[0].0;
            sim.run_for(Duration::from_secs(1));
            let ls = sim
                .connect(l, s, LinkOpts::default().fast(fast))
                .expect("l-s");
            sim.run_to_completion(&[l], Duration::from_secs(120));
            sim.assert_complete_and_correct(l);
            // A silent peer within its idle timeout is kept until the download is over.
            let mute_key = sim.key(lm, l);
            let closes = sim.closes(l);
            assert_eq!(
                closes.iter().find(|(k, _)| *k == mute_key).map(|c| &c.1),
                Some(&CloseReason::NotUseful)
            );
            let from_seeder = requests(sim.links[ls].sent_by(l));
            for (_, spec) in &asked {
                let at = from_seeder.iter().find(|(_, s)| s == spec).map(|(t, _)| *t);
                let at = at
                    .unwrap_or_else(|| panic!("seed {seed} fast {fast}: {spec:?} never re-asked"));
                assert!(
                    at >= first + timeout,
                    "seed {seed} fast {fast}: {spec:?} re-asked at {at:?}"
                );
                // Re-asked when the timeout fired, not a tick later.
                assert!(
                    at <= first + timeout + Duration::from_millis(100),
                    "seed {seed}: {at:?}"
                );
            }
        }
    }
}
