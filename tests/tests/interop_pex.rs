//! Peer exchange (BEP 11) with libtorrent: shoal learns of a peer only through a libtorrent
//! peer's PEX messages and connects to it.
//!
//! Two libtorrent leechers, A (PEX on) and B (PEX off), know each other (A dialled B). shoal
//! seeds, with A as its only peer: no tracker, no DHT. A's PEX tells shoal about B. B has PEX
//! off and nobody else knows shoal, so a connection between shoal and B can only be shoal's
//! dial. An upload limit keeps the transfer going for a while, so the connection is still
//! there to be seen.

use std::time::Duration;

use shoal_testkit::{
    free_port, next_loopback, poll_until, retry_on_reference_crash, AddMode, KitError,
    LibtorrentClient, LibtorrentOptions, RefClient,
};
use shoal_tests::interop::Fixture;
use shoal_tests::shoal_process::{Download, ShoalProcess};

/// 25 MiB at this rate take about 25 s: long enough to look, short enough for a test.
const UPLOAD_LIMIT: &str = "1M";
const SEE_WITHIN: Duration = Duration::from_secs(30);

#[test]
fn shoal_connects_to_a_peer_it_heard_of_only_through_pex() {
    let fx = Fixture::standard(&[]).unwrap();
    let ih = fx.content.torrent().info_hash();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let a = LibtorrentClient::start_with(LibtorrentOptions {
            pex: true,
            ..LibtorrentOptions::default()
        })?;
        let b = LibtorrentClient::start_with(LibtorrentOptions::default())?;
        let save_a = fx.output_dir(&format!("a-{attempt}"));
        let save_b = fx.output_dir(&format!("b-{attempt}"));
        a.add_torrent(fx.content.torrent(), &save_a, AddMode::Download)?;
        b.add_torrent(fx.content.torrent(), &save_b, AddMode::Download)?;
        a.connect_peer(ih, b.peer_addr())?;
        poll_until(
            "A and B to connect",
            SEE_WITHIN,
            Duration::from_millis(100),
            || {
                let s = a.status(ih)?;
                Ok(s.peers
                    .iter()
                    .any(|p| p.addr.ip() == b.peer_addr().ip())
                    .then_some(()))
            },
        )?;

        let data = fx.seed_copy(&format!("shoal-{attempt}"))?;
        let ip = next_loopback();
        let d = Download::new(fx.content.torrent().path(), &data, ip)
            .port(free_port(ip)?)
            .peer(a.peer_addr())
            .no_trackers()
            .arg("--seed")
            .arg("--upload-limit")
            .arg(UPLOAD_LIMIT);
        let mut shoal = ShoalProcess::start(&d).map_err(|e| KitError::Io {
            context: "starting shoal".into(),
            source: e,
        })?;
        let seen = poll_until(
            "B connected to shoal",
            SEE_WITHIN,
            Duration::from_millis(100),
            || {
                let s = b.status(ih)?;
                Ok(s.peers
                    .iter()
                    .any(|p| p.addr.ip() == std::net::IpAddr::V4(ip))
                    .then_some(()))
            },
        );
        if let Err(e) = seen {
            panic!("{e}\n{}", shoal.diagnostics());
        }
        // shoal's own account: B came from PEX, and shoal dialled it.
        shoal.stop();
        let stats = shoal.final_stats().unwrap_or_else(|e| panic!("{e}"));
        let peer_b = stats.peers.iter().find(|p| p.addr == b.peer_addr());
        let Some(peer_b) = peer_b else {
            panic!(
                "B not among shoal's peers: {:?}\n{}",
                stats.peers,
                shoal.diagnostics()
            );
        };
        assert_eq!(peer_b.source, "pex", "{peer_b:?}");
        assert!(peer_b.outgoing, "{peer_b:?}");
        let peer_a = stats.peers.iter().find(|p| p.addr == a.peer_addr());
        assert!(
            peer_a.is_some_and(|p| p.source == "manual"),
            "{:?}",
            stats.peers
        );
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
