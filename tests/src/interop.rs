//! Shared set-up for the interop tests: content, seeders started on copies of it, and the
//! checks every download ends with.
//!
//! Each seeder serves its own copy of the content. The original stays untouched, because
//! [`TestContent::verify`] compares shoal's download against it: a reference client that
//! wrote into its save path (a control file, a truncation) must not be able to change the
//! yardstick.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use shoal_core::ids::InfoHashV1;
use shoal_core::PeerId;
use shoal_wire::Handshake;

use shoal_testkit::{
    poll_until, AddMode, Aria2Client, ContentSpec, KitError, LibtorrentClient, QbittorrentClient,
    RefClient, TestContent, TransmissionClient, VerifyOptions,
};

/// Seeders check the data before they serve it; 25 MiB takes well under this.
pub const SEED_READY: Duration = Duration::from_secs(60);
/// The bound on one download, not the expectation: from seeders that unchoke at once it
/// takes a second or two; from Transmission 25-50 s (its first unchoke comes at the 10 s
/// rechoke, and it answers requests in 500 ms batches, so shoal's pipeline needs a while to
/// grow deep enough).
pub const DOWNLOAD_LIMIT: Duration = Duration::from_secs(90);

/// The reference programs a test can seed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seeder {
    Libtorrent,
    Transmission,
    Qbittorrent,
    Aria2,
}

impl Seeder {
    pub const ALL: [Seeder; 4] = [
        Seeder::Libtorrent,
        Seeder::Transmission,
        Seeder::Qbittorrent,
        Seeder::Aria2,
    ];

    /// Starts the program on a fresh loopback address.
    pub fn start(self) -> Result<Box<dyn RefClient>, KitError> {
        Ok(match self {
            Seeder::Libtorrent => Box::new(LibtorrentClient::start()?),
            Seeder::Transmission => Box::new(TransmissionClient::start()?),
            Seeder::Qbittorrent => Box::new(QbittorrentClient::start()?),
            Seeder::Aria2 => Box::new(Aria2Client::start()?),
        })
    }
}

/// Generated content under a temp dir, with room for seeders' copies and shoal's output.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub content: TestContent,
}

impl Fixture {
    /// The standard content tree (about 25 MiB in 256 KiB pieces), optionally with trackers.
    pub fn standard(trackers: &[String]) -> Result<Self, KitError> {
        let mut spec = ContentSpec::standard();
        for t in trackers {
            spec = spec.with_tracker(t.clone());
        }
        Self::with_spec(&spec)
    }

    pub fn with_spec(spec: &ContentSpec) -> Result<Self, KitError> {
        let dir = tempfile::Builder::new()
            .prefix("shoal-interop")
            .tempdir()
            .map_err(|e| io("creating a temp dir", e))?;
        let content = TestContent::generate(&dir.path().join("source"), spec)?;
        Ok(Self { dir, content })
    }

    /// A fresh directory for shoal (or anyone) to download into.
    pub fn output_dir(&self, label: &str) -> PathBuf {
        self.dir.path().join(format!("out-{label}"))
    }

    /// Copies the content for one seeder and returns the copy's save path.
    pub fn seed_copy(&self, label: &str) -> Result<PathBuf, KitError> {
        let save = self.dir.path().join(format!("seed-{label}"));
        copy_tree(&self.content.root(), &save.join(&self.content.spec().name))?;
        Ok(save)
    }

    /// Adds the torrent to `client` on its own copy of the data and waits until it seeds.
    pub fn seed(&self, client: &dyn RefClient) -> Result<(), KitError> {
        let label = format!("{}-{}", client.name(), client.peer_addr().port());
        let save = self.seed_copy(&label)?;
        let torrent = self.content.torrent();
        client.add_torrent(torrent, &save, AddMode::Seed)?;
        client.wait_complete(torrent.info_hash(), SEED_READY)?;
        wait_serving(client, torrent.info_hash())
    }

    /// Checks every byte of shoal's download in `output`.
    pub fn verify(&self, output: &Path) -> Result<(), KitError> {
        self.content.verify(output, VerifyOptions::EXACT)
    }

    pub fn total_len(&self) -> u64 {
        self.content.spec().total_len()
    }
}

/// Peer id of the readiness probe; no real client uses the `-ZZ` prefix.
const PROBE_ID: PeerId = PeerId(*b"-ZZ0000-readyprobe00");
/// How long one probe waits for the handshake reply.
const PROBE_READ: Duration = Duration::from_secs(2);

/// Waits until `client` answers a BitTorrent handshake for `info_hash`.
///
/// A client reporting the torrent as complete is not always serving it yet: qBittorrent
/// lists it as seeding about a second before its libtorrent stops resetting incoming
/// connections for it, and shoal, like any client, backs off for a while after a failed dial.
/// The probe sends only a handshake (no bitfield), so no client takes it for a seed.
pub fn wait_serving(client: &dyn RefClient, info_hash: InfoHashV1) -> Result<(), KitError> {
    let addr = client.peer_addr();
    let what = format!("{} ({addr}) to answer a handshake", client.name());
    poll_until(&what, SEED_READY, Duration::from_millis(100), || {
        client.check_alive()?;
        Ok(answers_handshake(addr, info_hash).then_some(()))
    })
}

fn answers_handshake(addr: SocketAddr, info_hash: InfoHashV1) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, PROBE_READ) else {
        return false;
    };
    if s.set_read_timeout(Some(PROBE_READ)).is_err()
        || s.write_all(&Handshake::new(info_hash.0, PROBE_ID).encode())
            .is_err()
    {
        return false;
    }
    let mut buf = [0u8; Handshake::LEN];
    if s.read_exact(&mut buf).is_err() {
        return false;
    }
    matches!(Handshake::decode(&buf), Ok(Some((hs, _))) if hs.info_hash == info_hash.0)
}

fn io(context: &str, source: std::io::Error) -> KitError {
    KitError::Io {
        context: context.to_string(),
        source,
    }
}

/// Copies a folder tree (regular files and folders only; the content has nothing else).
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), KitError> {
    let meta =
        std::fs::metadata(from).map_err(|e| io(&format!("reading {}", from.display()), e))?;
    if meta.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| io(&format!("creating {}", parent.display()), e))?;
        }
        std::fs::copy(from, to).map_err(|e| io(&format!("copying {}", from.display()), e))?;
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(|e| io(&format!("creating {}", to.display()), e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| io(&format!("listing {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(&format!("listing {}", from.display()), e))?;
        copy_tree(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}
