//! Being choked: requests in flight go back to the pool, and unchokes refill pipelines in one
//! full burst.

use std::collections::BTreeSet;
use std::time::Duration;

use shoal_picker::pipeline_depth;
use shoal_swarm::SwarmConfig;
use shoal_wire::{BlockSpec, Message};

use crate::support::{requests, seeds, unanswered, Behavior, Have, LinkOpts, Sim};

/// A tick so long it never fires during a test: refills must come from events alone.
fn no_tick() -> SwarmConfig {
    SwarmConfig {
        tick: Duration::from_secs(3600),
        ..SwarmConfig::default()
    }
}

fn got_choke(sim: &Sim, link: usize, node: usize, count: usize) -> bool {
    sim.links[link]
        .received_by(node)
        .iter()
        .filter(|m| m.msg == Message::Choke)
        .count()
        >= count
}

#[test]
fn choke_with_requests_in_flight_returns_them_to_the_pool() {
    for fast in [false, true] {
        for seed in seeds(&[1, 2]) {
            let mut sim = Sim::new(seed, 512 << 10, 32_768);
            let l = sim.add_swarm("leecher", Have::None, no_tick());
            let p = sim.add_script("choker", Have::All, Behavior::ChokeAfter(6));
            let s = sim.add_swarm("seeder", Have::All, SwarmConfig::default());
            let lp = sim
                .connect(l, p, LinkOpts::default().fast(fast))
                .expect("l-p");
            assert!(sim.run_until(Duration::from_secs(10), |sim| got_choke(sim, lp, l, 1)));
            let choked_at = sim.elapsed();
            let stranded: Vec<BlockSpec> = unanswered(&sim.links[lp], l);
            assert!(
                !stranded.is_empty(),
                "seed {seed} fast {fast}: nothing was in flight"
            );
            let in_flight =
                |sim: &mut Sim| sim.command(l, |sw, now| sw.peer_infos(now))[0].requests_in_flight;
            if !fast {
                // The choke itself voided them.
                assert_eq!(in_flight(&mut sim), 0, "seed {seed}");
            }
            // With the fast extension each comes back with its reject, one round trip later.
            // Nobody else to ask meanwhile; nothing is asked of the choking peer either.
            sim.run_for(Duration::from_secs(1));
            assert_eq!(in_flight(&mut sim), 0, "seed {seed} fast {fast}");
            let late = requests(sim.links[lp].sent_by(l))
                .into_iter()
                .filter(|(t, _)| *t > choked_at);
            assert_eq!(
                late.count(),
                0,
                "seed {seed} fast {fast}: requested from a choking peer"
            );

            let ls = sim.connect(l, s, LinkOpts::default()).expect("l-s");
            // Well before any request timeout could have freed the blocks.
            sim.run_to_completion(&[l], choked_at + Duration::from_secs(20));
            sim.assert_complete_and_correct(l);
            let from_seeder: BTreeSet<BlockSpec> = requests(sim.links[ls].sent_by(l))
                .into_iter()
                .map(|(_, s)| s)
                .collect();
            for spec in &stranded {
                assert!(
                    from_seeder.contains(spec),
                    "seed {seed} fast {fast}: {spec:?} not re-requested"
                );
            }
        }
    }
}

#[test]
fn unchoke_requests_a_full_pipeline_at_once() {
    for seed in seeds(&[3, 4]) {
        let mut sim = Sim::new(seed, 4 << 20, 65_536);
        let cfg = no_tick();
        let rtt = cfg.rtt;
        let l = sim.add_swarm("leecher", Have::None, cfg);
        let pause = Behavior::Pause {
            after: 100,
            pause: Duration::from_secs(2),
        };
        let p = sim.add_script("pauser", Have::All, pause);
        // Without the fast extension a choke voids every request, so the burst after the
        // second unchoke is entirely new requests on the wire.
        let lp = sim
            .connect(l, p, LinkOpts::default().fast(false))
            .expect("l-p");
        let unchokes = |sim: &Sim| {
            sim.links[lp]
                .received_by(l)
                .iter()
                .filter(|m| m.msg == Message::Unchoke)
                .count()
        };
        let mut bursts = Vec::new();
        let mut seen = 0;
        sim.run_until(Duration::from_secs(30), |sim| {
            if unchokes(sim) > seen {
                seen = unchokes(sim);
                let at = sim.elapsed();
                let info = sim.command(l, |sw, now| sw.peer_infos(now)).remove(0);
                let sent = requests(sim.links[lp].sent_by(l))
                    .iter()
                    .filter(|(t, _)| *t == at)
                    .count();
                bursts.push((info.down_rate, info.requests_in_flight, sent));
            }
            seen == 2
        });
        assert_eq!(bursts.len(), 2, "seed {seed}: {bursts:?}");
        for (i, &(rate, in_flight, sent)) in bursts.iter().enumerate() {
            let depth = pipeline_depth(rate, rtt, Some(500));
            assert_eq!(in_flight, depth, "seed {seed}: unchoke {i}: {bursts:?}");
            assert_eq!(
                sent, depth,
                "seed {seed}: unchoke {i} sent in one burst: {bursts:?}"
            );
        }
        assert!(
            bursts[1].1 > bursts[0].1,
            "a measured rate deepens the pipeline: {bursts:?}"
        );
        sim.run_to_completion(&[l], Duration::from_secs(60));
        sim.assert_complete_and_correct(l);
    }
}

/// With the fast extension a choke leaves requests pending until the peer answers them. If it
/// unchokes again first, re-picking those blocks finds them still in flight: they must stay
/// counted as this peer's, or the pipeline runs short and the blocks are handed out twice.
#[test]
fn fast_choke_then_unchoke_keeps_pending_requests_counted() {
    for seed in seeds(&[5, 6]) {
        let mut sim = Sim::new(seed, 2 << 20, 65_536);
        let l = sim.add_swarm("leecher", Have::None, no_tick());
        let p = sim.add_script("server", Have::All, Behavior::Serve);
        let lp = sim
            .connect(l, p, LinkOpts::default().latency(Duration::from_millis(30)))
            .expect("l-p");
        assert!(sim.run_until(Duration::from_secs(10), |sim| {
            sim.links[lp]
                .received_by(l)
                .iter()
                .filter(|m| matches!(m.msg, Message::Piece { .. }))
                .count()
                >= 20
        }));
        // Behind the server's back (its session keeps serving the queued requests).
        let mut raw = Message::Choke.to_vec();
        raw.extend(Message::Unchoke.to_vec());
        sim.inject(lp, p, &raw);
        assert!(sim.run_until(Duration::from_secs(10), |sim| got_choke(sim, lp, l, 1)));
        let on_wire = unanswered(&sim.links[lp], l);
        let info = sim.command(l, |sw, now| sw.peer_infos(now)).remove(0);
        assert!(
            !info.peer_choking,
            "seed {seed}: the unchoke came with the choke"
        );
        assert_eq!(
            info.requests_in_flight,
            on_wire.len(),
            "seed {seed}: {on_wire:?}"
        );
        sim.run_to_completion(&[l], Duration::from_secs(60));
        sim.assert_complete_and_correct(l);
        assert_eq!(
            sim.swarm(l).totals().wasted,
            0,
            "seed {seed}: a block came twice"
        );
    }
}
