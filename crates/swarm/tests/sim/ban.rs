//! A peer sending corrupt data: found by block hashes or strikes, banned by IP, never
//! dialled or accepted again; the peers it shared pieces with go free.

use std::time::Duration;

use shoal_swarm::{CloseReason, PeerSource, SwarmConfig, SwarmEvent};

use crate::support::{seeds, Have, LinkOpts, Sim};

struct Corrupt {
    sim: Sim,
    leecher: usize,
    good: [usize; 2],
    bad: usize,
}

/// A leecher that learns of two good seeders and one that corrupts every block it sends.
fn corrupt_swarm(seed: u64, piece_len: u32, config: SwarmConfig) -> Corrupt {
    let mut sim = Sim::new(seed, 1 << 20, piece_len);
    let leecher = sim.add_swarm("leecher", Have::None, config);
    let good = [
        sim.add_swarm("good1", Have::All, SwarmConfig::default()),
        sim.add_swarm("good2", Have::All, SwarmConfig::default()),
    ];
    let bad = sim.add_swarm("corrupt", Have::All, SwarmConfig::default());
    sim.nodes[bad].corrupt = true;
    sim.dial_opts = LinkOpts::default().rate(512 << 10);
    let addrs: Vec<_> = [good[0], good[1], bad]
        .iter()
        .map(|&n| sim.nodes[n].addr)
        .collect();
    let added = sim.command(leecher, |s, now| {
        s.add_peers(now, addrs, PeerSource::Tracker)
    });
    assert_eq!(added, 3);
    Corrupt {
        sim,
        leecher,
        good,
        bad,
    }
}

fn check_outcome(c: &mut Corrupt, seed: u64) {
    let Corrupt {
        sim,
        leecher: l,
        good,
        bad,
    } = c;
    let (l, bad) = (*l, *bad);
    sim.run_to_completion(&[l], Duration::from_secs(60));
    sim.assert_complete_and_correct(l);
    assert!(
        sim.count_events(l, |e| matches!(e, SwarmEvent::HashFailed(_))) > 0,
        "seed {seed}: the corrupt peer never got a piece failed"
    );
    let bad_link = sim.link_between(l, bad).expect("dialled the corrupt peer");
    let bad_key = sim.key(bad_link, l);
    let banned: Vec<_> = sim
        .closes(l)
        .into_iter()
        .filter(|(_, r)| *r == CloseReason::Banned)
        .collect();
    assert_eq!(banned, vec![(bad_key, CloseReason::Banned)], "seed {seed}");
    for &g in good.iter() {
        let link = sim.link_between(l, g).expect("dialled");
        let key = sim.key(link, l);
        assert!(
            sim.closes(l)
                .iter()
                .all(|(k, r)| *k != key || *r == CloseReason::NotUseful),
            "seed {seed}: innocent {} closed: {:?}",
            sim.nodes[g].name,
            sim.closes(l)
        );
    }
    assert_eq!(
        sim.swarm(l).addr_counts().1,
        1,
        "seed {seed}: one IP banned"
    );

    // Never again: not re-added, not dialled, not accepted.
    let banned_at = sim.links[bad_link].closed_at.expect("closed");
    let bad_addr = sim.nodes[bad].addr;
    let again = sim.command(l, |s, now| s.add_peers(now, [bad_addr], PeerSource::Pex));
    assert_eq!(again, 0, "seed {seed}: a banned address was taken back");
    sim.run_for(Duration::from_secs(120));
    assert!(
        sim.nodes[l]
            .dials
            .iter()
            .all(|(t, a)| *t <= banned_at || a.ip() != bad_addr.ip()),
        "seed {seed}: dialled a banned IP: {:?}",
        sim.nodes[l].dials
    );
    assert!(
        sim.connect(bad, l, LinkOpts::default()).is_none(),
        "seed {seed}: accepted"
    );
    assert!(matches!(
        sim.nodes[l].refused.last(),
        Some((_, _, CloseReason::Banned))
    ));
}

#[test]
fn corrupt_seeder_is_banned_and_the_download_completes() {
    for seed in seeds(&[1, 2, 3, 4]) {
        let mut c = corrupt_swarm(seed, 65_536, SwarmConfig::default());
        check_outcome(&mut c, seed);
    }
}

/// Peers that merely shared a failed piece with the corrupt one take no strike, so even a
/// ban on the first strike never hits them: only proof (block hashes, or a piece sent alone)
/// bans.
#[test]
fn sharing_a_failed_piece_is_no_strike() {
    for seed in seeds(&[5, 6, 7, 8]) {
        // Large pieces: nearly every piece has blocks from more than one peer.
        let cfg = SwarmConfig {
            ban_strikes: 1,
            ..SwarmConfig::default()
        };
        let mut c = corrupt_swarm(seed, 262_144, cfg);
        check_outcome(&mut c, seed);
        let infos = c.sim.command(c.leecher, |s, now| s.peer_infos(now));
        assert!(
            infos.iter().all(|p| p.hash_strikes == 0),
            "seed {seed}: {infos:?}"
        );
    }
}

/// Alone, a corrupt peer is the proven sender of every failed piece: it is banned after
/// `ban_strikes` of them, and a good peer finishes the job.
#[test]
fn lone_corrupt_peer_is_banned_after_its_strikes() {
    for seed in seeds(&[9, 10]) {
        let mut sim = Sim::new(seed, 1 << 20, 65_536);
        let cfg = SwarmConfig::default();
        let strikes = cfg.ban_strikes as usize;
        let l = sim.add_swarm("leecher", Have::None, cfg);
        let bad = sim.add_swarm("corrupt", Have::All, SwarmConfig::default());
        let good = sim.add_swarm("good", Have::All, SwarmConfig::default());
        sim.nodes[bad].corrupt = true;
        let link = sim.connect(l, bad, LinkOpts::default()).expect("connected");
        assert!(sim.run_until(Duration::from_secs(30), |sim| !sim.links[link].open));
        let bad_key = sim.key(link, l);
        assert_eq!(sim.closes(l), vec![(bad_key, CloseReason::Banned)]);
        // Banned at the strike that reached the limit, not before.
        let failures: Vec<Duration> = sim.nodes[l]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, SwarmEvent::HashFailed(_)))
            .map(|(t, _)| *t)
            .collect();
        assert!(failures.len() >= strikes, "seed {seed}: {failures:?}");
        assert_eq!(
            failures[strikes - 1],
            sim.links[link].closed_at.expect("closed")
        );
        assert_eq!(sim.swarm(l).have().count_ones(), 0);
        sim.connect(l, good, LinkOpts::default()).expect("good");
        sim.run_to_completion(&[l], Duration::from_secs(60));
        sim.assert_complete_and_correct(l);
    }
}
