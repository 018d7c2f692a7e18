//! The disk: a full disk pauses downloading (uploads go on) until resumed, and a slow disk
//! holds requests back at `max_disk_queue`.

use std::time::Duration;

use shoal_swarm::{SwarmConfig, SwarmEvent};

use crate::support::{pieces, requests, seeds, Have, LinkOpts, Sim, WriteFault};

#[test]
fn disk_full_pauses_downloading_until_resumed_while_uploads_go_on() {
    for seed in seeds(&[1, 2]) {
        let mut sim = Sim::new(seed, 1 << 20, 32_768);
        let half = sim.content.piece_count() / 2;
        // Without PEX the downstream peer cannot learn of the seeder and depends on `l`.
        let no_pex = SwarmConfig {
            pex: false,
            ..SwarmConfig::default()
        };
        let l = sim.add_swarm("leecher", Have::Range(0..half), no_pex);
        let s = sim.add_swarm("seeder", Have::All, SwarmConfig::default());
        let downstream = sim.add_swarm("downstream", Have::None, SwarmConfig::default());
        sim.nodes[l].disk.fault = Some(WriteFault {
            nth: 2,
            disk_full: true,
        });
        let ls = sim
            .connect(l, s, LinkOpts::default().rate(128 << 10))
            .expect("l-s");
        let ld = sim
            .connect(downstream, l, LinkOpts::default().rate(64 << 10))
            .expect("d-l");

        let paused = |sim: &Sim| {
            sim.events(l).any(|e| {
                matches!(
                    e,
                    SwarmEvent::DiskError {
                        disk_full: true,
                        ..
                    }
                )
            })
        };
        assert!(
            sim.run_until(Duration::from_secs(30), |sim| paused(sim)),
            "seed {seed}"
        );
        let paused_at = sim.elapsed();
        assert!(sim.swarm(l).is_download_paused());
        assert_eq!(sim.nodes[l].disk.pieces_written, 2);
        let have_at_pause = sim.swarm(l).have().count_ones();

        sim.run_for(Duration::from_secs(10));
        let resumed_at = sim.elapsed();
        // Paused: not a request on any connection, no new piece.
        for link in [ls, ld] {
            let asked = requests(sim.links[link].sent_by(l));
            assert!(
                asked.iter().all(|(t, _)| *t <= paused_at),
                "seed {seed}: requested while paused"
            );
        }
        assert_eq!(sim.swarm(l).have().count_ones(), have_at_pause);
        // Uploads went on.
        let served = pieces(sim.links[ld].sent_by(l));
        assert!(
            served
                .iter()
                .any(|(t, _)| *t > paused_at + Duration::from_secs(1)),
            "seed {seed}: uploads stopped"
        );

        sim.command(l, |sw, now| sw.resume_downloading(now));
        assert!(!sim.swarm(l).is_download_paused());
        sim.run_to_completion(&[l, downstream], Duration::from_secs(120));
        sim.assert_complete_and_correct(l);
        sim.assert_complete_and_correct(downstream);
        assert_eq!(
            sim.count_events(l, |e| matches!(e, SwarmEvent::DiskError { .. })),
            1
        );
        // Interested again at once, unchoked by the seeder without waiting for its next
        // rechoke round, and asking within a few round trips.
        let next = requests(sim.links[ls].sent_by(l))
            .into_iter()
            .find(|(t, _)| *t >= resumed_at);
        let next = next.expect("requests after resuming").0;
        assert!(
            next < resumed_at + Duration::from_millis(200),
            "seed {seed}: resumed at {resumed_at:?}, asked at {next:?}"
        );
        let t = sim.swarm(l).totals();
        assert_eq!(
            t.downloaded - t.wasted,
            sim.content.total() - u64::from(half) * 32_768,
            "seed {seed}: {t:?}"
        );
    }
}

#[test]
fn slow_disk_holds_requests_at_the_queue_limit() {
    for seed in seeds(&[3, 4]) {
        let mut sim = Sim::new(seed, 1 << 20, 65_536);
        let cfg = SwarmConfig {
            max_disk_queue: 2 * 65_536,
            // Only disk completions may restart the pipelines.
            tick: Duration::from_secs(3600),
            ..SwarmConfig::default()
        };
        let l = sim.add_swarm("leecher", Have::None, cfg);
        let s = sim.add_swarm("seeder", Have::All, SwarmConfig::default());
        sim.nodes[l].disk.write_delay = Duration::from_millis(300);
        sim.connect(l, s, LinkOpts::default().rate(8 << 20))
            .expect("l-s");
        let mut peak = 0;
        let done = sim.run_until(Duration::from_secs(60), |sim| {
            peak = peak.max(sim.swarm(l).disk_queue_bytes());
            sim.swarm(l).is_complete()
        });
        assert!(done, "seed {seed}: stalled");
        sim.assert_complete_and_correct(l);
        // The harness checks on every step that no request leaves at or above the limit;
        // this makes sure the limit was actually reached.
        assert!(peak >= 2 * 65_536, "seed {seed}: queue peaked at {peak}");
    }
}
