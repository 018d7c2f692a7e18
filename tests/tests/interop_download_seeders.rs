//! `shoal download` against real seeders: libtorrent, Transmission, qBittorrent and aria2,
//! each alone, then all four at once.
//!
//! shoal dials every seeder with `--peer`: Transmission never dials loopback peers and aria2
//! cannot be told to dial anyone, while all four accept incoming connections. The torrent
//! names a tracker on a loopback port where nothing listens, and shoal runs with
//! `--no-trackers`, so the peers given on the command line are the only source.
//!
//! Every test checks every byte of the download against the generated source, and reads
//! shoal's final statistics (`--stats-json`) for what the transfer looked like. A reference
//! client that dies from a signal is retried once and reported as its own failure.

use std::time::{Duration, Instant};

use shoal_testkit::{next_loopback, poll_until, retry_on_reference_crash, KitError, RefClient};
use shoal_tests::interop::{Fixture, Seeder, DOWNLOAD_LIMIT};
use shoal_tests::shoal_process::{Download, FinalStats, ShoalProcess};

/// A tracker URL on a port where nothing listens: `--no-trackers` must keep shoal away from
/// it, and if it did not, nothing would leave loopback anyway.
const DEAD_TRACKER: &str = "http://127.0.0.1:1/announce";

/// Starts shoal on a fresh loopback address with `peers` and waits for it to finish.
/// A reference client that died meanwhile is reported as such (so the caller retries it).
fn shoal_download(
    fx: &Fixture,
    label: &str,
    seeders: &[&dyn RefClient],
    extra: &[&str],
) -> Result<FinalStats, KitError> {
    let out = fx.output_dir(label);
    let mut d = Download::new(fx.content.torrent().path(), &out, next_loopback()).no_trackers();
    for a in extra {
        d = d.arg(*a);
    }
    for s in seeders {
        d = d.peer(s.peer_addr());
    }
    let mut shoal = ShoalProcess::start(&d).map_err(|e| KitError::Io {
        context: "starting shoal".into(),
        source: e,
    })?;
    let result = shoal.finish(DOWNLOAD_LIMIT);
    for s in seeders {
        s.check_alive()?;
    }
    let stats = result.unwrap_or_else(|e| panic!("shoal download from {label}: {e}"));
    if let Err(e) = fx.verify(&out) {
        panic!("{label}: {e}\n{}", shoal.diagnostics());
    }
    assert!(stats.have_all, "{label}: {stats:?}");
    assert_eq!(stats.have_bytes, fx.total_len(), "{label}");
    assert!(
        stats.downloaded >= fx.total_len(),
        "{label}: downloaded {} of {}",
        stats.downloaded,
        fx.total_len()
    );
    assert_eq!(stats.hash_failures, 0, "{label}: honest seeders only");
    // Every byte received is either part of the content or counted as wasted (duplicates
    // in endgame); more means verified pieces were dropped and fetched again.
    assert!(
        stats.downloaded <= fx.total_len() + stats.wasted,
        "{label}: pieces fetched twice: {stats:?}"
    );
    Ok(stats)
}

fn download_from_one(seeder: Seeder) {
    let fx = Fixture::standard(&[DEAD_TRACKER.to_string()]).unwrap();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let t0 = Instant::now();
        let client = seeder.start()?;
        fx.seed(&*client)?;
        let ready = t0.elapsed();
        let label = format!("{seeder:?}-{attempt}");
        let stats = shoal_download(&fx, &label, &[&*client], &[])?;
        eprintln!(
            "{label}: seeder ready after {ready:?}, download done after {:?}; {stats:?}",
            t0.elapsed()
        );
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{seeder:?}: {e}"));
}

#[test]
fn downloads_from_libtorrent() {
    download_from_one(Seeder::Libtorrent);
}

#[test]
fn downloads_from_transmission() {
    download_from_one(Seeder::Transmission);
}

#[test]
fn downloads_from_qbittorrent() {
    download_from_one(Seeder::Qbittorrent);
}

#[test]
fn downloads_from_aria2() {
    download_from_one(Seeder::Aria2);
}

/// How long seeders get to bring their upload counters up to date after shoal finished
/// (qBittorrent refreshes its Web API figures every 1.5 s).
const COUNTERS_SETTLE: Duration = Duration::from_secs(10);

/// shoal's download limit in the four-seeder test: 25 MiB take about six seconds.
const SHARED_RATE: &str = "4M";

#[test]
fn downloads_from_all_four_at_once() {
    let fx = Fixture::standard(&[DEAD_TRACKER.to_string()]).unwrap();
    let ih = fx.content.torrent().info_hash();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let clients = Seeder::ALL
            .iter()
            .map(|s| s.start())
            .collect::<Result<Vec<_>, _>>()?;
        for c in &clients {
            fx.seed(&**c)?;
        }
        let refs: Vec<&dyn RefClient> = clients.iter().map(|c| &**c).collect();
        // At full speed libtorrent alone sends all 25 MiB in a quarter of a second, before
        // aria2 has even answered the handshake (it works in one-second ticks). A download
        // limit on shoal's side stretches the transfer to several seconds, so every seeder
        // that unchokes within that time gets requests.
        let stats = shoal_download(
            &fx,
            &format!("all-four-{attempt}"),
            &refs,
            &["--download-limit", SHARED_RATE],
        )?;

        // The seeders are the independent witnesses of who sent what. Transmission only
        // unchokes at its 10 s rechoke, by which time the others may have sent everything,
        // so three of four must have sent data.
        let mut last = Vec::new();
        let waited = poll_until(
            "three seeders to report uploads",
            COUNTERS_SETTLE,
            Duration::from_millis(200),
            || {
                last.clear();
                for c in &clients {
                    let up = c.status(ih)?.uploaded.unwrap_or(0);
                    last.push((c.name(), up));
                }
                Ok((last.iter().filter(|(_, up)| *up > 0).count() >= 3).then_some(()))
            },
        );
        eprintln!("all four: shoal {stats:?}; seeders uploaded {last:?}");
        match waited {
            Ok(()) => Ok(()),
            Err(KitError::Timeout { .. }) => {
                panic!("fewer than three seeders sent data: {last:?}; shoal: {stats:?}")
            }
            Err(e) => Err(e),
        }
    })
    .unwrap_or_else(|e| panic!("all four: {e}"));
}
