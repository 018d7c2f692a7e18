//! shoal and libtorrent each start with half of the pieces and finish with all of them.
//!
//! Both get a copy of the standard content (about 25 MiB in a tree whose files straddle
//! pieces) in which the other side's pieces are overwritten with zeros: shoal keeps the even
//! pieces, libtorrent the odd ones. Each finds its half by hashing what is on disk, shoal dials
//! libtorrent, and the two trade pieces at once. Neither can finish without the other, so
//! completion alone shows both directions work; the byte counters of both sides are checked
//! as well, and both copies must end byte-for-byte equal to the source.

use std::time::{Duration, Instant};

use shoal_testkit::{
    next_loopback, retry_on_reference_crash, AddMode, KitError, LibtorrentClient, RefClient,
    VerifyOptions,
};
use shoal_tests::interop::Fixture;
use shoal_tests::seeding::DiskPieces;
use shoal_tests::shoal_process::{Download, ShoalProcess};

/// Hashing 25 MiB takes well under a second; the bound allows for a loaded machine.
const CHECK_LIMIT: Duration = Duration::from_secs(60);
/// The exchange takes a second or two on loopback.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(90);
/// libtorrent updates its torrent counters about once a second.
const COUNTERS_SETTLE: Duration = Duration::from_secs(15);

fn io(context: &str, source: std::io::Error) -> KitError {
    KitError::Io {
        context: context.to_string(),
        source,
    }
}

/// A copy of the content holding only the pieces `keep` says yes to (the others zeroed);
/// returns the save path and the bytes kept.
fn partial_copy(
    fx: &Fixture,
    pieces: &DiskPieces,
    label: &str,
    keep: impl Fn(u32) -> bool,
) -> Result<(std::path::PathBuf, u64), KitError> {
    let save = fx.seed_copy(label)?;
    let mut kept = 0;
    for i in 0..pieces.piece_count() {
        if keep(i) {
            kept += u64::from(pieces.piece_len(i));
        } else {
            pieces
                .zero_piece(&save, i)
                .map_err(|e| io("zeroing a piece", e))?;
        }
    }
    Ok((save, kept))
}

#[test]
fn shoal_and_libtorrent_complete_each_other() {
    let fx = Fixture::standard(&[]).unwrap();
    let torrent = fx.content.torrent();
    let ih = torrent.info_hash();
    let pieces = DiskPieces::load(torrent.path()).unwrap();
    let mut attempt = 0;
    retry_on_reference_crash(|| {
        attempt += 1;
        let t0 = Instant::now();
        let (shoal_save, even) =
            partial_copy(&fx, &pieces, &format!("shoal-{attempt}"), |i| i % 2 == 0)?;
        let (lt_save, odd) = partial_copy(&fx, &pieces, &format!("lt-{attempt}"), |i| i % 2 == 1)?;
        assert_eq!(even + odd, fx.total_len());

        let lt = LibtorrentClient::start()?;
        lt.add_torrent(torrent, &lt_save, AddMode::Seed)?;
        lt.wait_for(ih, CHECK_LIMIT, "its half to be checked", &|s| {
            s.done == odd
        })?;

        let d = Download::new(torrent.path(), &shoal_save, next_loopback())
            .no_trackers()
            .peer(lt.peer_addr())
            .arg("--seed");
        let mut shoal = ShoalProcess::start(&d).map_err(|e| io("starting shoal", e))?;
        let done = shoal.wait_line(EXCHANGE_LIMIT, |l| l.starts_with("complete:"));
        assert!(
            done.is_some(),
            "shoal did not complete\n{}",
            shoal.diagnostics()
        );
        // shoal keeps seeding (`--seed`) until libtorrent has its half too.
        if let Err(e) = lt.wait_complete(ih, EXCHANGE_LIMIT) {
            if !e.is_reference_crash() {
                eprintln!("{}", shoal.diagnostics());
            }
            return Err(e);
        }
        let status = lt.wait_for(ih, COUNTERS_SETTLE, "its byte counters", &|s| {
            s.uploaded.unwrap_or(0) >= odd && s.downloaded.unwrap_or(0) >= even
        })?;
        let took = t0.elapsed();
        shoal.stop();
        let stats = shoal.final_stats().unwrap_or_else(|e| panic!("{e}"));

        fx.content
            .verify(&shoal_save, VerifyOptions::EXACT)
            .unwrap_or_else(|e| panic!("shoal's copy: {e}\n{}", shoal.diagnostics()));
        fx.content
            .verify(&lt_save, VerifyOptions::EXACT)
            .unwrap_or_else(|e| panic!("libtorrent's copy: {e}"));
        assert!(stats.have_all, "{stats:?}");
        assert_eq!(stats.hash_failures, 0, "{stats:?}");
        // Every odd piece could only come from libtorrent, every even one only from shoal.
        assert!(
            stats.downloaded >= odd,
            "shoal downloaded {} bytes; libtorrent alone had {odd}",
            stats.downloaded
        );
        assert!(
            stats.uploaded >= even,
            "shoal uploaded {} bytes; libtorrent lacked {even}",
            stats.uploaded
        );
        eprintln!(
            "mixed swarm in {took:?}: shoal down {} up {}; libtorrent down {:?} up {:?}",
            stats.downloaded, stats.uploaded, status.downloaded, status.uploaded
        );
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
