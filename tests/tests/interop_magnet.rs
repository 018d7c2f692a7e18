//! Magnet links against real seeders: libtorrent, Transmission and aria2 each serve the info
//! dictionary (BEP 9) to shoal, which then downloads every byte.
//!
//! The link names a loopback opentracker (whitelisted for the torrent) and the seeder itself
//! as `x.pe`: Transmission never dials loopback peers it hears of (INTEROP quirk 1), so
//! shoal must dial it, and after the metadata phase shoal dials it again for the data.

use std::path::Path;

use shoal_core::metainfo::Metainfo;
use shoal_testkit::{next_loopback, retry_on_reference_crash, KitError, Opentracker};
use shoal_tests::dht_net::magnet_link;
use shoal_tests::interop::{Fixture, Seeder, DOWNLOAD_LIMIT};
use shoal_tests::shoal_process::{Download, ShoalProcess};

fn magnet_from(seeder: Seeder) {
    let tracker = Opentracker::start().unwrap();
    let url = tracker.http_announce_url();
    let fx = Fixture::standard(std::slice::from_ref(&url)).unwrap();
    let ih = fx.content.torrent().info_hash();
    tracker.whitelist(&[ih.0]).unwrap();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let client = seeder.start()?;
        fx.seed(&*client)?;
        let magnet = magnet_link(
            ih,
            &fx.content.spec().name,
            std::slice::from_ref(&url),
            &[client.peer_addr()],
        );
        let out = fx.output_dir(&format!("{seeder:?}-{attempt}"));
        let d = Download::new(Path::new(&magnet), &out, next_loopback());
        let started = std::time::Instant::now();
        let mut shoal = ShoalProcess::start(&d).map_err(|e| KitError::Io {
            context: "starting shoal".into(),
            source: e,
        })?;
        let result = shoal.finish(DOWNLOAD_LIMIT);
        client.check_alive()?;
        let stats = result.unwrap_or_else(|e| panic!("{seeder:?}: {e}"));
        eprintln!(
            "{seeder:?}: magnet done in {:?}\n{}",
            started.elapsed(),
            shoal.diagnostics()
        );
        if let Err(e) = fx.verify(&out) {
            panic!("{seeder:?}: {e}\n{}", shoal.diagnostics());
        }
        assert!(stats.have_all);
        assert_eq!(stats.hash_failures, 0);
        assert!(
            shoal
                .stdout_lines()
                .iter()
                .any(|l| l.starts_with("fetching metadata")),
            "the metadata phase shows in the progress lines"
        );
        // The .torrent saved next to the download is the seeder's torrent, with the link's
        // tracker.
        let name = &fx.content.spec().name;
        let saved = std::fs::read(out.join(format!("{name}.torrent"))).expect("saved .torrent");
        let meta = Metainfo::from_bytes(&saved).expect("valid .torrent");
        let original = Metainfo::from_bytes(fx.content.torrent().bytes()).expect("original");
        assert_eq!(meta.info_bytes(), original.info_bytes());
        assert_eq!(meta.trackers(), &[vec![url.clone()]][..]);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{seeder:?}: {e}"));
}

#[test]
fn metadata_from_libtorrent() {
    magnet_from(Seeder::Libtorrent);
}

#[test]
fn metadata_from_transmission() {
    magnet_from(Seeder::Transmission);
}

#[test]
fn metadata_from_aria2() {
    magnet_from(Seeder::Aria2);
}
