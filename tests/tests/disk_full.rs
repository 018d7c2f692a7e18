//! A download that fills its disk pauses with a message, keeps what it verified, and
//! finishes once space is freed.
//!
//! shoal downloads 12.6 MiB from a libtorrent seeder into a 20 MiB tmpfs that a 12 MiB
//! filler file already occupies, so writes fail with ENOSPC about two thirds of the way.
//! The progress lines must then say "paused (disk)" with a "disk full" message while the
//! process keeps running. The test deletes the filler; shoal tries downloading again 10 s
//! after the disk error and must complete with every byte right, so nothing verified before
//! the disk filled was damaged by the failed writes. An observer peer checks throughout that
//! every piece shoal announces is on disk with the right bytes.
//!
//! Mounting needs root (CAP_SYS_ADMIN). Without it the test fails and says so: a skipped
//! proof would read as a passed one.

use std::ffi::CString;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_testkit::{
    free_port, next_loopback, retry_on_reference_crash, ContentSpec, KitError, LibtorrentClient,
    RefClient, VerifyOptions,
};
use shoal_tests::interop::Fixture;
use shoal_tests::seeding::{DiskPieces, Observer};
use shoal_tests::shoal_process::{Download, ShoalProcess};

const TMPFS_SIZE: &str = "size=20m";
/// Written before the download so that the content (12.6 MiB) does not fit.
const FILLER_BYTES: usize = 12 << 20;
/// The disk fills a second or two after the start.
const PAUSE_LIMIT: Duration = Duration::from_secs(60);
/// How long shoal stays paused before the test frees space, to see that it stays paused.
const HOLD: Duration = Duration::from_secs(2);
/// shoal retries 10 s after the last disk error; then a second or two of downloading.
const RESUME_LIMIT: Duration = Duration::from_secs(60);

/// A size-limited tmpfs on a temp dir, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("shoal-tmpfs")
            .tempdir()
            .map_err(|e| format!("creating a mount point: {e}"))?;
        let target = CString::new(dir.path().as_os_str().as_bytes())
            .map_err(|e| format!("mount point path: {e}"))?;
        let data = CString::new(options).map_err(|e| format!("mount options: {e}"))?;
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "mounting a tmpfs ({options}) at {} failed: {}. This test needs root \
                 (CAP_SYS_ADMIN) to mount a small file system it can fill.",
                dir.path().display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let Ok(target) = CString::new(self.dir.path().as_os_str().as_bytes()) else {
            return;
        };
        // SAFETY: a NUL-terminated path that outlives the calls. A busy mount (a process of
        // ours still holding a file) is detached instead, so the test never leaves it behind.
        unsafe {
            if libc::umount2(target.as_ptr(), 0) != 0 {
                libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

fn io(context: &str, source: std::io::Error) -> KitError {
    KitError::Io {
        context: context.to_string(),
        source,
    }
}

#[test]
fn disk_full_pauses_then_resumes_when_space_returns() {
    let spec = ContentSpec::tree("shoal-diskfull", 17);
    let fx = Fixture::with_spec(&spec).unwrap();
    let torrent = fx.content.torrent();
    let pieces = Arc::new(DiskPieces::load(torrent.path()).unwrap());
    let total = pieces.piece_count();
    let mut attempt = 0;

    retry_on_reference_crash(|| {
        attempt += 1;
        let t0 = Instant::now();
        // The tmpfs is dropped last, after shoal stopped and released its files.
        let fs = Tmpfs::mount(TMPFS_SIZE).unwrap_or_else(|e| panic!("{e}"));
        let filler = fs.path().join("filler.bin");
        // Real bytes, not a hole: tmpfs charges only for written pages.
        std::fs::write(&filler, vec![0x5au8; FILLER_BYTES]).map_err(|e| io("filler", e))?;
        let out = fs.path().join(format!("out-{attempt}"));

        let lt = LibtorrentClient::start()?;
        fx.seed(&lt)?;
        let ip = next_loopback();
        let port = free_port(ip)?;
        let d = Download::new(torrent.path(), &out, ip)
            .port(port)
            .state_dir(&fx.dir.path().join(format!("state-{attempt}")))
            .no_trackers()
            .peer(lt.peer_addr());
        let mut shoal = ShoalProcess::start(&d).map_err(|e| io("starting shoal", e))?;
        let observer = Observer::start(
            SocketAddr::from((ip, port)),
            Arc::clone(&pieces),
            out.clone(),
            fx.content.data_dir().to_path_buf(),
        );

        let paused = shoal.wait_line(PAUSE_LIMIT, |l| l.starts_with("paused (disk)"));
        let Some(paused) = paused else {
            lt.check_alive()?;
            panic!("no \"paused (disk)\" line\n{}", shoal.diagnostics());
        };
        let t_paused = t0.elapsed();
        assert!(
            paused.contains("disk full"),
            "the pause line does not say why: {paused}"
        );
        std::thread::sleep(HOLD);
        assert!(
            shoal.wait_exit(Duration::ZERO).is_none(),
            "a full disk ended shoal\n{}",
            shoal.diagnostics()
        );
        let good_while_paused = pieces
            .good_pieces(&out)
            .map_err(|e| io("reading shoal's files", e))?;
        assert!(
            good_while_paused.count_ones() > 0 && good_while_paused.count_ones() < total,
            "{} of {total} pieces on disk while paused",
            good_while_paused.count_ones()
        );
        let last = shoal.stdout_lines().last().cloned().unwrap_or_default();
        assert!(
            last.starts_with("paused (disk)"),
            "shoal left the pause with the disk still full: {last}"
        );

        std::fs::remove_file(&filler).map_err(|e| io("removing the filler", e))?;
        let t_freed = t0.elapsed();
        let done = shoal.wait_line(RESUME_LIMIT, |l| l.starts_with("complete:"));
        if done.is_none() {
            lt.check_alive()?;
            panic!(
                "shoal did not complete after space was freed\n{}",
                shoal.diagnostics()
            );
        }
        let stats = shoal
            .finish(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"));
        let report = observer.finish();
        fx.content
            .verify(&out, VerifyOptions::EXACT)
            .unwrap_or_else(|e| panic!("{e}\n{}", shoal.diagnostics()));
        assert!(stats.have_all, "{stats:?}");
        assert_eq!(stats.hash_failures, 0, "{stats:?}");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.connected, "the observer never got in");
        eprintln!(
            "paused at {t_paused:?} with {} of {total} pieces; space freed at {t_freed:?}; \
             complete at {:?}; observer saw {} pieces announced, {} blocks served",
            good_while_paused.count_ones(),
            t0.elapsed(),
            report.announced.len(),
            report.blocks_served
        );
        drop(shoal);
        drop(lt);
        drop(fs);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
