//! `shoal download` when things go wrong: a seeder that sends corrupt data, and a user who
//! presses Ctrl-C halfway and starts again.
//!
//! The corrupt seeder (`shoal_tests::evil_seeder`) claims every piece and flips a byte in
//! every block it sends; it runs beside an honest libtorrent seeder, each on its own
//! loopback address. The download must still complete with the right bytes, and the liar
//! must have been caught by the piece hashes and banned.
//!
//! The interrupted download runs under a download limit so that SIGINT lands mid-transfer,
//! whatever the machine's speed. shoal must exit with 130, and a second run on the partial
//! data must fetch only what is missing: once with the resume data the first run left, once
//! on a copy of the files with no resume data at all, so that what is on disk is hashed.

use std::path::Path;
use std::time::Duration;

use shoal_core::metainfo::Metainfo;
use shoal_testkit::{
    next_loopback, retry_on_reference_crash, KitError, LibtorrentClient, RefClient,
};
use shoal_tests::evil_seeder::EvilSeeder;
use shoal_tests::interop::{copy_tree, Fixture, DOWNLOAD_LIMIT};
use shoal_tests::shoal_process::{progress_percent, Download, Exit, FinalStats, ShoalProcess};

fn start(d: &Download) -> Result<ShoalProcess, KitError> {
    ShoalProcess::start(d).map_err(|e| KitError::Io {
        context: "starting shoal".into(),
        source: e,
    })
}

#[test]
fn corrupt_seeder_is_banned_and_the_download_completes() {
    let fx = Fixture::standard(&[]).unwrap();
    let torrent = fx.content.torrent();
    let meta = Metainfo::from_bytes(torrent.bytes()).unwrap();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let evil_ip = next_loopback();
        let evil_data = fx.seed_copy(&format!("evil-{attempt}"))?;
        let evil = EvilSeeder::start(&meta, &evil_data, &evil_ip.to_string()).map_err(|e| {
            KitError::Io {
                context: "starting the corrupt seeder".into(),
                source: e,
            }
        })?;
        let honest = LibtorrentClient::start()?;
        fx.seed(&honest)?;

        let out = fx.output_dir(&format!("evil-{attempt}"));
        let d = Download::new(torrent.path(), &out, next_loopback())
            .peer(evil.addr())
            .peer(honest.peer_addr());
        let mut shoal = start(&d)?;
        let result = shoal.finish(DOWNLOAD_LIMIT);
        honest.check_alive()?;
        let stats = result.unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = fx.verify(&out) {
            panic!("{e}\n{}", shoal.diagnostics());
        }
        let sent = evil.blocks_sent.load(std::sync::atomic::Ordering::Relaxed);
        let summary = format!("corrupt blocks sent {sent}; shoal {stats:?}");
        eprintln!("{summary}");
        assert!(sent > 0, "the corrupt seeder was never asked: {summary}");
        assert!(stats.hash_failures > 0, "no piece failed: {summary}");
        assert!(
            stats.banned >= 1,
            "the corrupt seeder was not banned: {summary}"
        );
        assert!(
            stats.peers.iter().all(|p| p.addr.ip() != evil_ip),
            "still connected to the corrupt seeder: {summary}"
        );
        assert!(stats.have_all, "{summary}");
        // Corrupt blocks count as wasted; nothing verified was fetched twice.
        assert!(
            stats.downloaded <= fx.total_len() + stats.wasted,
            "pieces fetched twice: {summary}"
        );
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The first run's rate: 25 MiB take about six seconds, so a SIGINT after a third is
/// mid-transfer on any machine that can run these tests at all.
const SLOW_RATE: &str = "4M";
/// Interrupt once at least this much is on disk.
const INTERRUPT_AT_PERCENT: f64 = 30.0;
/// SIGINT to exit: shoal stops its torrent (at most 8 s) and the session (2 s).
const EXIT_LIMIT: Duration = Duration::from_secs(20);

#[test]
fn ctrl_c_then_resume_fetches_only_the_rest() {
    let fx = Fixture::standard(&[]).unwrap();
    let torrent = fx.content.torrent();
    let total = fx.total_len();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let seeder = LibtorrentClient::start()?;
        fx.seed(&seeder)?;
        let out = fx.output_dir(&format!("resume-{attempt}"));
        let state = fx.dir.path().join(format!("state-{attempt}"));

        // First run: slow, interrupted once a good part is on disk.
        let d = Download::new(torrent.path(), &out, next_loopback())
            .peer(seeder.peer_addr())
            .state_dir(&state)
            .arg("--download-limit")
            .arg(SLOW_RATE);
        let mut first = start(&d)?;
        let line = first.wait_line(DOWNLOAD_LIMIT, |l| {
            progress_percent(l).is_some_and(|p| p >= INTERRUPT_AT_PERCENT)
        });
        seeder.check_alive()?;
        let line = line.unwrap_or_else(|| panic!("no progress\n{}", first.diagnostics()));
        assert!(
            progress_percent(&line).is_some_and(|p| p < 100.0),
            "finished before the interrupt: {line}\n{}",
            first.diagnostics()
        );
        assert!(first.signal(libc::SIGINT), "{}", first.diagnostics());
        let exit = first.wait_exit(EXIT_LIMIT);
        assert_eq!(exit, Some(Exit::Code(130)), "{}", first.diagnostics());
        let s1 = first.final_stats().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s1.exit_code, 130);
        assert!(
            s1.have_bytes > 0 && s1.have_bytes < total,
            "not a partial download: {s1:?}"
        );
        eprintln!(
            "interrupted with {} of {total} bytes verified",
            s1.have_bytes
        );

        // A copy of the partial files for the run without resume data.
        let bare = fx.output_dir(&format!("resume-bare-{attempt}"));
        copy_tree(&out, &bare)?;

        // Second run with the resume data, third on the copy without it.
        let with_resume = Download::new(torrent.path(), &out, next_loopback())
            .peer(seeder.peer_addr())
            .state_dir(&state);
        let s2 = finish_partial(&fx, &with_resume, &seeder, &s1, "with resume data")?;
        let fresh_state = fx.dir.path().join(format!("state-bare-{attempt}"));
        let bare_run = Download::new(torrent.path(), &bare, next_loopback())
            .peer(seeder.peer_addr())
            .state_dir(&fresh_state);
        let s3 = finish_partial(&fx, &bare_run, &seeder, &s1, "checking the files")?;
        eprintln!(
            "second runs downloaded {} (resume data) and {} (files checked) of {total}",
            s2.downloaded, s3.downloaded
        );
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Completes a partial download and checks that it fetched only what `before` lacked.
fn finish_partial(
    fx: &Fixture,
    d: &Download,
    seeder: &dyn RefClient,
    before: &FinalStats,
    how: &str,
) -> Result<FinalStats, KitError> {
    let total = fx.total_len();
    let mut shoal = start(d)?;
    let result = shoal.finish(DOWNLOAD_LIMIT);
    seeder.check_alive()?;
    let stats = result.unwrap_or_else(|e| panic!("{how}: {e}"));
    verify(fx, &d.output, &shoal, how);
    let summary = format!("{how}: {stats:?}\n{}", shoal.diagnostics());
    // The first progress line comes after the start-up check: the verified part is there.
    let first_pct = shoal
        .stdout_lines()
        .first()
        .and_then(|l| progress_percent(l))
        .unwrap_or(0.0);
    assert!(
        first_pct > 0.0,
        "started from nothing instead of the partial data: {summary}"
    );
    assert!(stats.have_all, "{summary}");
    assert!(
        stats.downloaded < total,
        "fetched everything again: {summary}"
    );
    // Every piece verified before the interrupt is still good, so at most the rest (plus
    // whatever was wasted on duplicates) comes over the wire.
    assert!(
        stats.downloaded <= total - before.have_bytes + stats.wasted,
        "fetched {} although {} of {total} were on disk: {summary}",
        stats.downloaded,
        before.have_bytes
    );
    Ok(stats)
}

fn verify(fx: &Fixture, out: &Path, shoal: &ShoalProcess, how: &str) {
    if let Err(e) = fx.verify(out) {
        panic!("{how}: {e}\n{}", shoal.diagnostics());
    }
}
