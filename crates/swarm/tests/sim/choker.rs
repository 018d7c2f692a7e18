//! Upload slots: an interested peer is unchoked at once when there is room, and a seed
//! rotates its slots among more leechers than it has slots for.

use std::collections::BTreeSet;
use std::time::Duration;

use shoal_swarm::SwarmConfig;
use shoal_wire::Message;

use crate::support::{first_at, pieces, seeds, Have, LinkOpts, Sim};

#[test]
fn interested_peer_is_unchoked_at_once_when_a_slot_is_free() {
    for seed in seeds(&[1]) {
        let mut sim = Sim::new(seed, 256 << 10, 32_768);
        let s = sim.add_swarm("seeder", Have::All, SwarmConfig::default());
        let l = sim.add_swarm("leecher", Have::None, SwarmConfig::default());
        // Connected after the seeder's first rechoke round, which found nobody interested.
        sim.run_for(Duration::from_secs(1));
        let link = sim.connect(l, s, LinkOpts::default()).expect("connected");
        sim.run_to_completion(&[l], Duration::from_secs(5));
        let interested = first_at(sim.links[link].received_by(s), |m| {
            *m == Message::Interested
        });
        let unchoke = first_at(sim.links[link].sent_by(s), |m| *m == Message::Unchoke);
        // Not at the next 10 s round: in the same instant the INTERESTED arrived.
        assert_eq!(unchoke, interested, "seed {seed}");
    }
}

#[test]
fn seed_rotates_a_bounded_set_of_unchoked_leechers() {
    for seed in seeds(&[2]) {
        let mut sim = Sim::new(seed, 4 << 20, 65_536);
        // Without PEX the leechers cannot find each other: the seed is their only source.
        let cfg = SwarmConfig {
            pex: false,
            ..SwarmConfig::default()
        };
        let cap = cfg.choker.slots + 1;
        let s = sim.add_swarm("seed", Have::All, cfg);
        let leechers: Vec<usize> = (0..6)
            .map(|i| sim.add_swarm(&format!("leecher{i}"), Have::None, SwarmConfig::default()))
            .collect();
        // Slow links: no leecher can finish within the test, so all stay interested.
        let links: Vec<usize> = leechers
            .iter()
            .map(|&l| {
                sim.connect(l, s, LinkOpts::default().rate(24 << 10))
                    .expect("connected")
            })
            .collect();
        let mut most = 0;
        let mut ever_unchoked = BTreeSet::new();
        sim.run_until(Duration::from_secs(75), |sim| {
            let infos = sim.command(s, |sw, now| sw.peer_infos(now));
            let unchoked: Vec<_> = infos
                .iter()
                .filter(|p| !p.am_choking)
                .map(|p| p.key)
                .collect();
            most = most.max(unchoked.len());
            ever_unchoked.extend(unchoked);
            false
        });
        assert!(most <= cap, "seed {seed}: {most} unchoked at once");
        assert_eq!(most, cap, "seed {seed}: slots left unused");
        assert_eq!(
            ever_unchoked.len(),
            leechers.len(),
            "seed {seed}: someone never had a turn"
        );
        let mut rotated = false;
        for (&l, &link) in leechers.iter().zip(&links) {
            let got = pieces(sim.links[link].received_by(l));
            assert!(
                !got.is_empty(),
                "seed {seed}: {} got nothing",
                sim.nodes[l].name
            );
            assert!(!sim.swarm(l).is_complete());
            let sent = sim.links[link].sent_by(s);
            let unchoked = first_at(sent, |m| *m == Message::Unchoke);
            let choked = first_at(sent, |m| *m == Message::Choke);
            rotated |= matches!((unchoked, choked), (Some(u), Some(c)) if c > u);
        }
        assert!(rotated, "seed {seed}: no leecher ever lost its slot");
    }
}
