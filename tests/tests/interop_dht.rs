//! Trackerless torrents over a private loopback DHT of eight python-libtorrent nodes that
//! bootstrapped only from each other.
//!
//! - libtorrent seeds and announces; shoal, given only a magnet link and one DHT node, finds
//!   it through the DHT, fetches the metadata and every byte.
//! - shoal seeds and announces; a libtorrent client given only the magnet link and the DHT
//!   finds shoal and downloads everything, metadata included, from it.
//!
//! No tracker is named anywhere and shoal's only DHT entry point is a loopback node.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use shoal_core::metainfo::Metainfo;
use shoal_testkit::{
    free_port, next_loopback, retry_on_reference_crash, KitError, LibtorrentClient,
    LibtorrentOptions, RefClient, VerifyOptions,
};
use shoal_tests::dht_net::{magnet_link, LoopbackDht};
use shoal_tests::interop::{Fixture, DOWNLOAD_LIMIT};
use shoal_tests::shoal_process::{Download, ShoalProcess};

const DHT_NODES: usize = 8;

fn start_shoal(d: &Download) -> Result<ShoalProcess, KitError> {
    ShoalProcess::start(d).map_err(|e| KitError::Io {
        context: "starting shoal".into(),
        source: e,
    })
}

/// The .torrent shoal saved next to the download names the same torrent.
fn check_saved_torrent(fx: &Fixture, out: &Path) {
    let name = &fx.content.spec().name;
    let bytes = std::fs::read(out.join(format!("{name}.torrent"))).expect("saved .torrent");
    let meta = Metainfo::from_bytes(&bytes).expect("valid .torrent");
    assert_eq!(
        meta.info_hash().get_v1(),
        Some(fx.content.torrent().info_hash())
    );
}

#[test]
fn shoal_downloads_a_magnet_link_found_through_the_dht() {
    let fx = Fixture::standard(&[]).unwrap();
    let ih = fx.content.torrent().info_hash();
    assert!(fx.content.torrent().trackers().is_empty(), "trackerless");
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let dht = LoopbackDht::start(DHT_NODES, &LibtorrentOptions::default())?;
        let seeder = &dht.nodes[1];
        fx.seed(seeder)?;
        seeder.force_dht_announce(ih)?;
        dht.wait_findable(6, ih, seeder.peer_addr())?;

        let magnet = magnet_link(ih, &fx.content.spec().name, &[], &[]);
        let out = fx.output_dir(&format!("dht-{attempt}"));
        let d =
            Download::new(Path::new(&magnet), &out, next_loopback()).dht_bootstrap(dht.addrs()[0]);
        let started = std::time::Instant::now();
        let mut shoal = start_shoal(&d)?;
        let result = shoal.finish(DOWNLOAD_LIMIT);
        for n in &dht.nodes {
            n.check_alive()?;
        }
        let stats = result.unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "magnet over the DHT: {:?}, {} bytes\n{}",
            started.elapsed(),
            stats.downloaded,
            shoal.diagnostics()
        );
        if let Err(e) = fx.verify(&out) {
            panic!("{e}\n{}", shoal.diagnostics());
        }
        assert!(stats.have_all);
        assert_eq!(stats.hash_failures, 0);
        check_saved_torrent(&fx, &out);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn libtorrent_downloads_from_shoal_found_through_the_dht() {
    let fx = Fixture::standard(&[]).unwrap();
    let ih = fx.content.torrent().info_hash();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let dht = LoopbackDht::start(DHT_NODES, &LibtorrentOptions::default())?;
        let data = fx.seed_copy(&format!("shoal-{attempt}"))?;
        let ip = next_loopback();
        let port = free_port(ip)?;
        let d = Download::new(fx.content.torrent().path(), &data, ip)
            .port(port)
            .dht_bootstrap(dht.addrs()[2])
            .arg("--seed");
        let mut shoal = start_shoal(&d)?;
        let shoal_addr = SocketAddr::from((ip, port));
        let found = dht.wait_findable(5, ih, shoal_addr);
        if let Err(e) = &found {
            panic!(
                "shoal's announce never showed up: {e}\n{}",
                shoal.diagnostics()
            );
        }

        let leecher = LibtorrentClient::start_with(LibtorrentOptions {
            dht: true,
            ..LibtorrentOptions::default()
        })?;
        dht.join(&leecher)?;
        let save = fx.output_dir(&format!("lt-{attempt}"));
        let magnet = magnet_link(ih, &fx.content.spec().name, &[], &[]);
        let started = std::time::Instant::now();
        leecher.add_magnet(&magnet, ih, &save)?;
        let done = leecher.wait_complete(ih, DOWNLOAD_LIMIT);
        if shoal.wait_exit(Duration::ZERO).is_some() {
            panic!("shoal exited while seeding\n{}", shoal.diagnostics());
        }
        let status = done?;
        eprintln!(
            "libtorrent got the magnet from shoal in {:?}: {:?}",
            started.elapsed(),
            status.peers
        );
        fx.content.verify(&save, VerifyOptions::EXACT)?;
        // The DHT named nobody but shoal, so shoal sent every byte (and the metadata).
        assert!(
            status.peers.iter().all(|p| p.addr.ip() == shoal_addr.ip()),
            "{:?}",
            status.peers
        );
        shoal.stop();
        let stats = shoal.final_stats().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stats.uploaded >= fx.total_len(),
            "shoal uploaded {} of {}\n{}",
            stats.uploaded,
            fx.total_len(),
            shoal.diagnostics()
        );
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
