//! The reference clients move real data between each other on loopback, which proves the
//! configurations in the launchers work on this machine.

mod common;

use std::time::Duration;

use common::{assert_not_our_child, TRANSFER_TIMEOUT};
use shoal_testkit::{
    retry_on_reference_crash, AddMode, Aria2Client, ContentSpec, KitError, LibtorrentClient,
    Opentracker, QbittorrentClient, RefClient, TestContent, TransmissionClient, VerifyOptions,
};

/// Small content with an HTTP announce URL of `tracker`, whitelisted there.
fn content_for(dir: &std::path::Path, tracker: &Opentracker) -> TestContent {
    let spec = ContentSpec::small().with_tracker(tracker.http_announce_url());
    let content = TestContent::generate(dir, &spec).unwrap();
    tracker
        .whitelist(&[content.torrent().info_hash().0])
        .unwrap();
    content
}

fn seed(client: &dyn RefClient, content: &TestContent) {
    let ih = content.torrent().info_hash();
    client
        .add_torrent(content.torrent(), content.data_dir(), AddMode::Seed)
        .unwrap();
    let s = client.wait_complete(ih, Duration::from_secs(30)).unwrap();
    assert_eq!(s.done, content.spec().total_len());
}

#[test]
fn libtorrent_seeds_to_aria2_through_the_http_tracker() {
    let tracker = Opentracker::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let content = content_for(dir.path(), &tracker);
    let ih = content.torrent().info_hash();
    let downloads = dir.path().join("aria2");

    let pids = retry_on_reference_crash(|| {
        let seeder = LibtorrentClient::start()?;
        seed(&seeder, &content);
        let leecher = Aria2Client::start()?;
        leecher.add_torrent(content.torrent(), &downloads, AddMode::Download)?;
        let done = leecher.wait_complete(ih, TRANSFER_TIMEOUT)?;
        assert_eq!(done.done, content.spec().total_len());
        // The seeder counted what it sent (aria2 hangs up once it is a seed itself, so the
        // per-peer entry may be gone by now).
        let sent = seeder.status(ih)?;
        assert!(
            sent.uploaded >= Some(content.spec().total_len()),
            "{sent:?}"
        );
        Ok::<_, KitError>([seeder.pid(), leecher.pid()])
    })
    .unwrap();
    content.verify(&downloads, VerifyOptions::EXACT).unwrap();
    for pid in pids {
        assert_not_our_child(pid);
    }
}

#[test]
fn libtorrent_dials_a_transmission_leecher() {
    let dir = tempfile::tempdir().unwrap();
    // No tracker: Transmission would not dial a 127.x seeder anyway.
    let content = TestContent::generate(dir.path(), &ContentSpec::small()).unwrap();
    let ih = content.torrent().info_hash();
    let downloads = dir.path().join("transmission");

    let pids = retry_on_reference_crash(|| {
        let leecher = TransmissionClient::start()?;
        leecher.add_torrent(content.torrent(), &downloads, AddMode::Download)?;
        let seeder = LibtorrentClient::start()?;
        seed(&seeder, &content);
        seeder.connect_peer(ih, leecher.peer_addr())?;
        let done = leecher.wait_complete(ih, TRANSFER_TIMEOUT)?;
        assert_eq!(done.done, content.spec().total_len());
        assert!(matches!(
            leecher.connect_peer(ih, seeder.peer_addr()),
            Err(KitError::Unsupported { .. })
        ));
        Ok::<_, KitError>([seeder.pid(), leecher.pid()])
    })
    .unwrap();
    // Transmission skips zero-length files.
    content
        .verify(&downloads, VerifyOptions::ALLOW_MISSING_EMPTY)
        .unwrap();
    for pid in pids {
        assert_not_our_child(pid);
    }
}

#[test]
fn qbittorrent_seeds_to_libtorrent_through_the_http_tracker() {
    let tracker = Opentracker::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let content = content_for(dir.path(), &tracker);
    let ih = content.torrent().info_hash();
    let downloads = dir.path().join("libtorrent");

    let pids = retry_on_reference_crash(|| {
        let seeder = QbittorrentClient::start()?;
        seed(&seeder, &content);
        let leecher = LibtorrentClient::start()?;
        leecher.add_torrent(content.torrent(), &downloads, AddMode::Download)?;
        let done = leecher.wait_complete(ih, TRANSFER_TIMEOUT)?;
        assert!(
            done.downloaded >= Some(content.spec().total_len()),
            "{done:?}"
        );
        Ok::<_, KitError>([seeder.pid(), leecher.pid()])
    })
    .unwrap();
    content.verify(&downloads, VerifyOptions::EXACT).unwrap();
    for pid in pids {
        assert_not_our_child(pid);
    }
}
