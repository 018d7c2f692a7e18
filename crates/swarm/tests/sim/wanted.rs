//! Choosing files: only the wanted files' pieces are asked for, interest follows the choice,
//! and finishing them is completion.

use std::time::Duration;

use shoal_swarm::{SwarmConfig, SwarmEvent};
use shoal_wire::Message;

use crate::support::{first_at, requests, Have, LinkOpts, Sim};

#[test]
fn only_wanted_files_are_downloaded() {
    let mut sim = Sim::new(11, 1 << 20, 65_536);
    let l = sim.add_swarm("leecher", Have::None, SwarmConfig::default());
    let s = sim.add_swarm("seeder", Have::All, SwarmConfig::default());
    // A peer holding only pieces of the first file, which will not be wanted.
    let p = sim.add_swarm("first-file peer", Have::Range(0..4), SwarmConfig::default());
    let ls = sim
        .connect(l, s, LinkOpts::default().rate(256 << 10))
        .expect("l-s");
    let lp = sim
        .connect(l, p, LinkOpts::default().rate(256 << 10))
        .expect("l-p");
    sim.run_for(Duration::from_millis(100));
    // Files of 300 000, 400 000 and the rest; only the middle one: pieces 4..=10.
    let lengths = [300_000, 400_000, (1 << 20) - 700_000];
    assert!(sim.command(l, |sw, _| sw
        .set_wanted_files(&lengths, &[false, true, false])));
    let chosen_at = sim.elapsed();
    sim.run_to_completion(&[l], Duration::from_secs(30));

    let have = sim.swarm(l).have();
    assert!((4..=10).all(|i| have.get(i)), "{have:?}");
    assert!(!have.is_full());
    assert_eq!(sim.count_events(l, |e| *e == SwarmEvent::Completed), 1);
    for i in 4..=10 {
        let r = sim.content.piece_range(sim.content.piece(i));
        assert!(
            sim.nodes[l].disk.data[r.clone()] == sim.content.data[r],
            "piece {i}"
        );
    }
    for link in [ls, lp] {
        for (t, spec) in requests(sim.links[link].sent_by(l)) {
            assert!(
                t < chosen_at || (4..=10).contains(&spec.index),
                "asked for {spec:?} at {t:?}"
            );
        }
    }
    // Interest in the first-file peer was withdrawn.
    let lost = first_at(sim.links[lp].sent_by(l), |m| *m == Message::NotInterested);
    assert!(lost.is_some_and(|t| t >= chosen_at));
    // A list that does not fit changes nothing.
    assert!(!sim.command(l, |sw, _| sw.set_wanted_files(&lengths, &[true])));
    assert!(sim.swarm(l).is_complete());
}
