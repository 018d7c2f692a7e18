//! `shoal download` killed with SIGKILL again and again finishes with the right data, and
//! never claims a piece it does not have.
//!
//! A libtorrent seeder serves the content; shoal downloads it at a limited rate (so the
//! download spans every kill) into one folder with one `--state-dir`, and is killed after a
//! delay drawn from a seeded generator: mostly 50-800 ms (during start-up, connecting,
//! mid-piece, mid-write), and every eighth run 4.8-6.5 s, around the first periodic save of
//! its resume file (5 s after start). After the last kill a final run without a limit must
//! complete.
//!
//! "Never claims a piece it does not have" is checked at both places a claim can surface:
//!
//! * **On the wire.** An observer peer connects to every run and checks each piece shoal
//!   announces (its bitfield at connect, every HAVE) by hashing that piece from shoal's files
//!   the moment the announcement arrives, and compares every block shoal serves it with the
//!   source content.
//! * **In the resume file**, which decides what the next run announces without a check.
//!   After each kill it must be absent or decode cleanly (it is replaced atomically, so a kill
//!   can never leave half of one), and every piece it lists must hash right on disk.
//!
//! The schedule is deterministic (seeded), the test's own waits are all bounded, and shoal's
//! final statistics must show no hash failure.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use shoal_engine::resume::{self, ResumeData};
use shoal_testkit::{
    free_port, next_loopback, retry_on_reference_crash, ContentSpec, KitError, LibtorrentClient,
    RefClient, VerifyOptions,
};
use shoal_tests::interop::Fixture;
use shoal_tests::seeding::{DiskPieces, Observer, ObserverReport};
use shoal_tests::shoal_process::{Download, Exit, ShoalProcess};

/// Killed runs before the final one.
const KILLS: u32 = 24;
/// Seed of the kill schedule; a failing schedule replays exactly.
const SCHEDULE_SEED: u64 = 0x005e_ed0f_c7a5;
/// Most kills land this many milliseconds after the start.
const SHORT_KILL_MS: std::ops::Range<u64> = 50..800;
/// Every `LONG_EVERY`-th kill waits this long instead, around the first resume save.
const LONG_KILL_MS: std::ops::Range<u64> = 4_800..6_500;
const LONG_EVERY: u32 = 8;
/// Download limit of the killed runs: slow enough that the content (12.6 MiB) outlasts the
/// kill schedule (about 17 s of transfer), fast enough that short runs finish pieces.
const RATE: &str = "300K";
/// How long SIGKILL takes to end the process, at most.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// The final, unlimited run takes a second or two.
const FINAL_LIMIT: Duration = Duration::from_secs(60);

fn io(context: &str, source: std::io::Error) -> KitError {
    KitError::Io {
        context: context.to_string(),
        source,
    }
}

/// What one killed run left behind.
struct RunRecord {
    delay: Duration,
    observer: ObserverReport,
    /// Pieces the resume file claimed after the kill (`None`: no resume file).
    claimed: Option<u32>,
    /// Pieces that hash right on disk after the kill.
    on_disk: u32,
}

/// Checks the resume file after a kill; returns how many pieces it claims.
fn check_resume(path: &Path, pieces: &DiskPieces, out: &Path, wire_id: [u8; 20]) -> Option<u32> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("reading {}: {e}", path.display()),
    };
    let data = ResumeData::decode(&bytes).unwrap_or_else(|| {
        panic!(
            "{} does not decode ({} bytes): a kill left a torn resume file",
            path.display(),
            bytes.len()
        )
    });
    assert_eq!(data.info_hash, wire_id, "resume file of another torrent");
    assert_eq!(data.have.len(), pieces.piece_count());
    let bad = pieces
        .bad_claims(out, &data.have)
        .unwrap_or_else(|e| panic!("reading shoal's files: {e}"));
    assert!(
        bad.is_empty(),
        "the resume file claims pieces {bad:?}, which are not on disk with the right bytes"
    );
    Some(data.have.count_ones())
}

#[test]
fn sigkill_at_random_points_never_loses_or_fakes_a_piece() {
    let spec = ContentSpec::tree("shoal-crash", 17);
    let fx = Fixture::with_spec(&spec).unwrap();
    let torrent = fx.content.torrent();
    let wire_id = torrent.info_hash().0;
    let pieces = Arc::new(DiskPieces::load(torrent.path()).unwrap());
    let out = fx.output_dir("crash");
    let state = fx.dir.path().join("state");
    let resume_path = resume::path_for(&state, &wire_id);
    let source = fx.content.data_dir().to_path_buf();

    retry_on_reference_crash(|| {
        // A retry starts the whole schedule again from nothing.
        for d in [&out, &state] {
            if d.exists() {
                std::fs::remove_dir_all(d).map_err(|e| io("clearing a previous attempt", e))?;
            }
        }
        let t0 = Instant::now();
        let lt = LibtorrentClient::start()?;
        fx.seed(&lt)?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(SCHEDULE_SEED);
        let mut records = Vec::new();
        for run in 0..KILLS {
            let ms = if run % LONG_EVERY == LONG_EVERY - 1 {
                rng.random_range(LONG_KILL_MS)
            } else {
                rng.random_range(SHORT_KILL_MS)
            };
            let delay = Duration::from_millis(ms);
            let ip = next_loopback();
            let port = free_port(ip)?;
            let d = Download::new(torrent.path(), &out, ip)
                .port(port)
                .state_dir(&state)
                .no_trackers()
                .peer(lt.peer_addr())
                .arg("--download-limit")
                .arg(RATE);
            let mut shoal = ShoalProcess::start(&d).map_err(|e| io("starting shoal", e))?;
            let observer = Observer::start(
                SocketAddr::from((ip, port)),
                Arc::clone(&pieces),
                out.clone(),
                source.clone(),
            );
            if let Some(exit) = shoal.wait_exit(delay) {
                panic!(
                    "run {run}: shoal ended ({exit:?}) before its kill at {delay:?}; the \
                     download must outlast the schedule\n{}",
                    shoal.diagnostics()
                );
            }
            assert!(shoal.signal(libc::SIGKILL), "run {run}: SIGKILL not sent");
            let exit = shoal.wait_exit(KILL_WAIT);
            assert_eq!(exit, Some(Exit::Signal(libc::SIGKILL)), "run {run}");
            let report = observer.finish();
            assert!(
                report.problems.is_empty(),
                "run {run} (killed at {delay:?}): {:?}\n{}",
                report.problems,
                shoal.diagnostics()
            );
            let claimed = check_resume(&resume_path, &pieces, &out, wire_id);
            let on_disk = pieces
                .good_pieces(&out)
                .map_err(|e| io("reading shoal's files", e))?
                .count_ones();
            records.push(RunRecord {
                delay,
                observer: report,
                claimed,
                on_disk,
            });
            // A crashed seeder would stall the next runs: report it as the reference's fault.
            lt.check_alive()?;
        }
        let killed_for = t0.elapsed();

        // The final run, without a limit, must finish from whatever the kills left.
        let ip = next_loopback();
        let port = free_port(ip)?;
        let d = Download::new(torrent.path(), &out, ip)
            .port(port)
            .state_dir(&state)
            .no_trackers()
            .peer(lt.peer_addr());
        let mut shoal = ShoalProcess::start(&d).map_err(|e| io("starting shoal", e))?;
        let observer = Observer::start(
            SocketAddr::from((ip, port)),
            Arc::clone(&pieces),
            out.clone(),
            source.clone(),
        );
        let stats = shoal.finish(FINAL_LIMIT);
        let report = observer.finish();
        lt.check_alive()?;
        let stats = stats.unwrap_or_else(|e| panic!("final run: {e}"));
        assert!(
            report.problems.is_empty(),
            "final run: {:?}",
            report.problems
        );
        fx.content
            .verify(&out, VerifyOptions::EXACT)
            .unwrap_or_else(|e| panic!("final data: {e}\n{}", shoal.diagnostics()));
        assert!(stats.have_all, "{stats:?}");
        assert_eq!(stats.hash_failures, 0, "{stats:?}");

        for (i, r) in records.iter().enumerate() {
            eprintln!(
                "run {i:2}: killed at {:>5} ms; observer {} announced {:3} ({} HAVE), served {:3}; \
                 resume claims {:>4}; good on disk {:3}",
                r.delay.as_millis(),
                if r.observer.connected { "saw" } else { "missed" },
                r.observer.announced.len(),
                r.observer.haves,
                r.observer.blocks_served,
                r.claimed.map_or("-".to_string(), |c| c.to_string()),
                r.on_disk
            );
        }
        let total = pieces.piece_count();
        let last_on_disk = records.last().map_or(0, |r| r.on_disk);
        eprintln!(
            "{KILLS} kills in {killed_for:?}; final run downloaded {} of {} bytes; total {:?}",
            stats.downloaded,
            fx.total_len(),
            t0.elapsed()
        );
        // The proofs above mean something only if the kills hit a download in progress, the
        // resume file was written and vouched for pieces, and the final run built on them.
        assert!(
            last_on_disk > 0 && last_on_disk < total,
            "after the last kill {last_on_disk} of {total} pieces were on disk: the kills did \
             not land mid-download"
        );
        assert!(
            records.iter().any(|r| r.claimed.unwrap_or(0) > 0),
            "no kill left a resume file that claims a piece"
        );
        assert!(
            records.iter().any(|r| r.observer.haves > 0),
            "the observer never saw a HAVE"
        );
        assert!(
            records
                .iter()
                .map(|r| r.observer.blocks_served)
                .sum::<u64>()
                > 0,
            "shoal never served the observer a block"
        );
        assert!(
            stats.downloaded < fx.total_len(),
            "the final run downloaded everything again ({} bytes)",
            stats.downloaded
        );
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
