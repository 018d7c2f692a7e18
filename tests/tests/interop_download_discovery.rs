//! How `shoal download` finds its peers: through an HTTP tracker, through a UDP tracker
//! (BEP 15), or from `--peer` alone with a torrent that names no tracker at all.
//!
//! The tracker is opentracker on its own loopback address, with the torrent's hash on its
//! whitelist; the seeder is libtorrent, which announces itself there. shoal gets no `--peer`
//! in the tracker tests and no DHT, so a completed download proves the tracker's peer list
//! was the way in. Before shoal starts, a scrape confirms the tracker already counts the
//! seeder: opentracker's announce interval is half an hour, so shoal hears from it once.

use std::time::Duration;

use shoal_testkit::{
    next_loopback, poll_until, retry_on_reference_crash, KitError, LibtorrentClient, Opentracker,
    RefClient,
};
use shoal_tests::interop::{Fixture, DOWNLOAD_LIMIT};
use shoal_tests::scrape;
use shoal_tests::shoal_process::{Download, FinalStats, ShoalProcess};

/// How long the seeder's first announce may take to show up at the tracker.
const ANNOUNCE_SEEN: Duration = Duration::from_secs(20);

/// Runs shoal on `d` and checks the download byte for byte; a seeder that died meanwhile
/// is reported as such so the caller can retry it.
fn run_and_verify(
    fx: &Fixture,
    d: &Download,
    seeder: &dyn RefClient,
) -> Result<FinalStats, KitError> {
    let mut shoal = ShoalProcess::start(d).map_err(|e| KitError::Io {
        context: "starting shoal".into(),
        source: e,
    })?;
    let result = shoal.finish(DOWNLOAD_LIMIT);
    seeder.check_alive()?;
    let stats = result.unwrap_or_else(|e| panic!("shoal download: {e}"));
    if let Err(e) = fx.verify(&d.output) {
        panic!("{e}\n{}", shoal.diagnostics());
    }
    assert!(stats.have_all, "{stats:?}");
    assert!(stats.downloaded >= fx.total_len(), "{stats:?}");
    assert!(
        stats.downloaded <= fx.total_len() + stats.wasted,
        "pieces fetched twice: {stats:?}"
    );
    Ok(stats)
}

/// A libtorrent seeder announces to the tracker named by `url(tracker)`; shoal learns of it
/// from the same tracker.
fn download_through_tracker(url: fn(&Opentracker) -> String) {
    let tracker = Opentracker::start().unwrap();
    let fx = Fixture::standard(&[url(&tracker)]).unwrap();
    let torrent = fx.content.torrent();
    let ih = torrent.info_hash();
    tracker.whitelist(&[ih.0]).unwrap();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let seeder = LibtorrentClient::start()?;
        fx.seed(&seeder)?;
        let seen = poll_until(
            "the tracker to count the seeder",
            ANNOUNCE_SEEN,
            Duration::from_millis(100),
            || {
                seeder.check_alive()?;
                let n = scrape::seeds(tracker.addr(), ih).unwrap_or_else(|e| panic!("{e}"));
                Ok((n >= 1).then_some(()))
            },
        );
        if let Err(e) = seen {
            panic!("{e}: libtorrent never announced to {}", url(&tracker));
        }
        let out = fx.output_dir(&format!("tracker-{attempt}"));
        // No --peer: the tracker is the only source.
        let d = Download::new(torrent.path(), &out, next_loopback());
        run_and_verify(&fx, &d, &seeder)?;
        assert!(tracker.is_alive(), "opentracker died");
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn finds_the_seeder_through_an_http_tracker() {
    download_through_tracker(Opentracker::http_announce_url);
}

#[test]
fn finds_the_seeder_through_a_udp_tracker() {
    download_through_tracker(Opentracker::udp_announce_url);
}

#[test]
fn downloads_a_trackerless_torrent_from_a_given_peer() {
    let fx = Fixture::standard(&[]).unwrap();
    let torrent = fx.content.torrent();
    assert!(
        torrent.trackers().is_empty(),
        "the torrent must name no tracker"
    );
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let seeder = LibtorrentClient::start()?;
        fx.seed(&seeder)?;
        let out = fx.output_dir(&format!("trackerless-{attempt}"));
        // No --no-trackers: there are none to skip.
        let d = Download::new(torrent.path(), &out, next_loopback()).peer(seeder.peer_addr());
        run_and_verify(&fx, &d, &seeder)?;
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
