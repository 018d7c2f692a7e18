//! `shoal seed` as the only seed of libtorrent, Transmission, qBittorrent and aria2.
//!
//! Each reference client adds the standard content (about 25 MiB in a tree that covers
//! zero-length files, one-byte files and files straddling pieces) into an empty folder, and
//! its only peer is one `shoal seed` serving a copy of the content. The test passes when the
//! client reports the torrent complete and every byte in its folder equals the source; shoal's
//! own counters must show it uploaded at least the whole content.
//!
//! Who dials whom: libtorrent is told to dial shoal (shoal's incoming path); shoal dials the
//! others with `--peer` (its outgoing path), because Transmission never dials loopback peers,
//! aria2 cannot be told to dial, and the kit cannot make qBittorrent dial either.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal_testkit::{
    free_port, next_loopback, retry_on_reference_crash, AddMode, KitError, VerifyOptions,
};
use shoal_tests::interop::{wait_serving, Fixture, Seeder};
use shoal_tests::seeding::{Seed, SeedProcess};

/// shoal checks 25 MiB before it serves; a second is typical.
const SEED_READY: Duration = Duration::from_secs(60);
/// A few seconds is typical for libtorrent, qBittorrent and aria2. Transmission asks for up
/// to `reqq` (500) blocks at once and shoal refuses those past 64 reads in flight per peer,
/// so it gets about 1 MiB/s (40 s here). This is the bound, not the expectation.
const DOWNLOAD_LIMIT: Duration = Duration::from_secs(120);

fn io(context: &str, source: std::io::Error) -> KitError {
    KitError::Io {
        context: context.to_string(),
        source,
    }
}

/// Runs one leecher against `shoal seed`; `Ok` when it got every byte.
fn seed_to(fx: &Fixture, seeder: Seeder, attempt: u32) -> Result<(), KitError> {
    let t0 = Instant::now();
    let label = format!("{seeder:?}-{attempt}");
    let torrent = fx.content.torrent();
    let ih = torrent.info_hash();
    let shoal_data = fx.seed_copy(&format!("shoal-{label}"))?;
    let client = seeder.start()?;
    let save = fx.dir.path().join(format!("leech-{label}"));
    std::fs::create_dir_all(&save).map_err(|e| io("creating the leecher's folder", e))?;
    client.add_torrent(torrent, &save, AddMode::Download)?;

    let ip = next_loopback();
    let port = free_port(ip)?;
    let mut seed = Seed::new(torrent.path(), &shoal_data, ip, port);
    let shoal_dials = seeder != Seeder::Libtorrent;
    if shoal_dials {
        // Dial only once the client answers for the torrent: shoal backs off after a
        // failed dial, which would only make the test slower.
        wait_serving(&*client, ih)?;
        seed = seed.peer(client.peer_addr());
    }
    let mut shoal = SeedProcess::start(&seed).map_err(|e| io("starting shoal seed", e))?;
    shoal
        .wait_seeding(SEED_READY)
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    let shoal_addr: SocketAddr = shoal.listen_addr();
    if !shoal_dials {
        client.connect_peer(ih, shoal_addr)?;
    }

    let status = match client.wait_complete(ih, DOWNLOAD_LIMIT) {
        Ok(s) => s,
        Err(e) if e.is_reference_crash() => return Err(e),
        Err(e) => panic!("{label}: {e}\n{}", shoal.diagnostics()),
    };
    let took = t0.elapsed();

    // The only peer that could have sent anything is shoal.
    if let Some(other) = status.peers.iter().find(|p| p.addr.ip() != shoal_addr.ip()) {
        panic!("{label}: unexpected peer {other:?}");
    }
    let opts = if seeder == Seeder::Transmission {
        VerifyOptions::ALLOW_MISSING_EMPTY
    } else {
        VerifyOptions::EXACT
    };
    if let Err(e) = fx.content.verify(&save, opts) {
        panic!("{label}: {e}\n{}", shoal.diagnostics());
    }
    client.check_alive()?;
    let stats = shoal
        .stop_for_stats()
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert!(stats.have_all, "{label}: {stats:?}");
    assert!(
        stats.uploaded >= fx.total_len(),
        "{label}: shoal uploaded {} of {} bytes",
        stats.uploaded,
        fx.total_len()
    );
    assert_eq!(stats.downloaded, 0, "{label}: a seed downloads nothing");
    // Its own data was untouched by seeding.
    fx.content
        .verify(&shoal_data, VerifyOptions::EXACT)
        .unwrap_or_else(|e| panic!("{label}: shoal's copy changed: {e}"));
    eprintln!(
        "{label}: complete in {took:?}; shoal uploaded {} bytes, client reports {:?} downloaded",
        stats.uploaded, status.downloaded
    );
    Ok(())
}

fn seed_to_one(seeder: Seeder) {
    let fx = Fixture::standard(&[]).unwrap();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        seed_to(&fx, seeder, attempt)
    })
    .unwrap_or_else(|e| panic!("{seeder:?}: {e}"));
}

#[test]
fn libtorrent_downloads_from_shoal_seed() {
    seed_to_one(Seeder::Libtorrent);
}

#[test]
fn transmission_downloads_from_shoal_seed() {
    seed_to_one(Seeder::Transmission);
}

#[test]
fn qbittorrent_downloads_from_shoal_seed() {
    seed_to_one(Seeder::Qbittorrent);
}

#[test]
fn aria2_downloads_from_shoal_seed() {
    seed_to_one(Seeder::Aria2);
}
