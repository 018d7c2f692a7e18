//! The libtorrent driver: crash reporting, the retry policy, and a private loopback DHT.

mod common;

use std::cell::Cell;
use std::process::Command;
use std::time::Duration;

use common::{assert_not_our_child, TRANSFER_TIMEOUT};
use shoal_testkit::{
    poll_until, retry_on_reference_crash, AddMode, Blame, ContentSpec, KitError, LibtorrentClient,
    LibtorrentOptions, RefClient, TestContent, VerifyOptions,
};

/// Sends `signal` to exactly `pid` (a client this test started).
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_segfault_is_the_reference_clients_failure_and_is_retried_once() {
    let dir = tempfile::tempdir().unwrap();
    let content = TestContent::generate(dir.path(), &ContentSpec::single_file(100_000)).unwrap();
    let ih = content.torrent().info_hash();
    let attempts = Cell::new(0);
    let pids = retry_on_reference_crash(|| {
        attempts.set(attempts.get() + 1);
        let client = LibtorrentClient::start()?;
        client.add_torrent(content.torrent(), content.data_dir(), AddMode::Seed)?;
        if attempts.get() == 1 {
            signal(client.pid(), "SEGV");
            // The next command finds the pipe closed and reports how the process ended.
            let err = client.status(ih).unwrap_err();
            assert!(err.is_reference_crash(), "{err}");
            assert_eq!(err.blame(), Blame::Reference);
            assert!(!client.is_alive());
            return Err(err);
        }
        client.wait_complete(ih, Duration::from_secs(10))?;
        Ok(client.pid())
    })
    .unwrap();
    assert_eq!(attempts.get(), 2);
    assert_not_our_child(pids);

    // A second crash in a row is returned, not retried again.
    let attempts = Cell::new(0);
    let err = retry_on_reference_crash(|| -> Result<(), KitError> {
        attempts.set(attempts.get() + 1);
        let client = LibtorrentClient::start()?;
        signal(client.pid(), "SEGV");
        poll_until(
            "the crash",
            Duration::from_secs(10),
            Duration::from_millis(20),
            || Ok(client.check_alive().err()),
        )
        .and_then(Err)
    })
    .unwrap_err();
    assert!(err.is_reference_crash());
    assert_eq!(attempts.get(), 2);
}

#[test]
fn driver_errors_are_replies_not_deaths() {
    let client = LibtorrentClient::start().unwrap();
    let unknown = shoal_core::ids::InfoHashV1([9; 20]);
    assert!(matches!(
        client.status(unknown),
        Err(KitError::Rejected { .. })
    ));
    assert!(matches!(
        client.command(serde_json::json!({"cmd": "no such command"})),
        Err(KitError::Rejected { .. })
    ));
    assert!(client
        .enable_dht(&["192.0.2.1:6881".parse().unwrap()])
        .is_err());
    client.check_alive().unwrap();
    let pid = client.pid();
    drop(client);
    assert_not_our_child(pid);
}

#[test]
fn magnet_download_through_a_private_loopback_dht() {
    let dir = tempfile::tempdir().unwrap();
    // Trackerless: the DHT is the only way to find the seeder.
    let content = TestContent::generate(dir.path(), &ContentSpec::small()).unwrap();
    let ih = content.torrent().info_hash();
    let downloads = dir.path().join("dl");
    let opts = LibtorrentOptions {
        dht: true,
        ..LibtorrentOptions::default()
    };

    retry_on_reference_crash(|| {
        let router = LibtorrentClient::start_with(opts.clone())?;
        let seeder = LibtorrentClient::start_with(opts.clone())?;
        let leecher = LibtorrentClient::start_with(opts.clone())?;
        // The DHT listens on the same UDP port as the peer socket.
        router.enable_dht(&[seeder.peer_addr(), leecher.peer_addr()])?;
        seeder.enable_dht(&[router.peer_addr()])?;
        leecher.enable_dht(&[router.peer_addr()])?;
        for node in [&router, &seeder, &leecher] {
            poll_until(
                "DHT routing tables",
                Duration::from_secs(20),
                Duration::from_millis(100),
                || Ok((node.dht_node_count()? >= 1).then_some(())),
            )?;
        }
        seeder.add_torrent(content.torrent(), content.data_dir(), AddMode::Seed)?;
        seeder.wait_complete(ih, Duration::from_secs(10))?;
        seeder.force_dht_announce(ih)?;
        leecher.add_magnet(&content.torrent().magnet(&[]), ih, &downloads)?;
        let done = leecher.wait_complete(ih, TRANSFER_TIMEOUT)?;
        assert!(
            done.downloaded >= Some(content.spec().total_len()),
            "{done:?}"
        );
        Ok(())
    })
    .unwrap();
    content.verify(&downloads, VerifyOptions::EXACT).unwrap();
}
