//! What every reference client launcher offers.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use shoal_core::ids::InfoHashV1;

use crate::net::poll_until;
use crate::torrent::TorrentFile;
use crate::KitError;

/// How often `wait_*` polls a client.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// What a client does with an added torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddMode {
    /// The data is already under the save path: hash-check it, then seed.
    Seed,
    /// The data is under the save path and trusted without a check (large benchmark files).
    /// Transmission has no such switch and checks anyway.
    SeedUnchecked,
    /// Download into the save path.
    Download,
}

/// One connected peer as a client reports it. Fields a client does not report are `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerStatus {
    pub addr: SocketAddr,
    /// The client name the peer announced (from its peer id or extension handshake).
    pub client: String,
    /// Payload bytes received from this peer (libtorrent, qBittorrent).
    pub downloaded: Option<u64>,
    /// Payload bytes sent to this peer (libtorrent, qBittorrent).
    pub uploaded: Option<u64>,
    /// Whether the peer has every piece.
    pub is_seed: Option<bool>,
}

/// One torrent's state in a reference client.
#[derive(Clone, Debug, PartialEq)]
pub struct TorrentStatus {
    /// Verified bytes of the wanted data.
    pub done: u64,
    /// Bytes the client wants in total (0 while a magnet link has no metadata yet).
    pub wanted: u64,
    /// Every wanted byte is there and verified, and checking is over.
    pub complete: bool,
    /// Payload bytes uploaded in this run, when the client reports it.
    pub uploaded: Option<u64>,
    /// Payload bytes downloaded in this run, when the client reports it.
    pub downloaded: Option<u64>,
    pub peers: Vec<PeerStatus>,
    /// A local error that stops the torrent (missing files, disk full), not a tracker warning.
    pub error: Option<String>,
}

/// A reference BitTorrent program run by the kit.
///
/// All methods take `&self` (launchers lock internally) so a test can keep several references
/// to one client. Every method is bounded in time. Dropping the launcher stops the program
/// (SIGTERM to its PID, SIGKILL after a grace period) and removes its temp dir.
pub trait RefClient {
    /// Short name for messages: "libtorrent", "transmission", ...
    fn name(&self) -> &'static str;
    /// Where this client accepts peer connections (its own 127.0.0.x address).
    fn peer_addr(&self) -> SocketAddr;
    /// PID of the program, for logs.
    fn pid(&self) -> u32;

    /// Adds `torrent` with `save_path` as the folder that holds (or will hold) its `name`.
    fn add_torrent(
        &self,
        torrent: &TorrentFile,
        save_path: &Path,
        mode: AddMode,
    ) -> Result<(), KitError>;

    /// Adds a magnet link to download into `save_path`; `info_hash` must be the link's.
    fn add_magnet(
        &self,
        magnet: &str,
        info_hash: InfoHashV1,
        save_path: &Path,
    ) -> Result<(), KitError>;

    /// The torrent's current state.
    fn status(&self, info_hash: InfoHashV1) -> Result<TorrentStatus, KitError>;

    /// Makes the client dial `addr` for this torrent. Transmission and aria2 cannot be told to
    /// dial ([`KitError::Unsupported`]): let shoal dial them instead.
    fn connect_peer(&self, info_hash: InfoHashV1, addr: SocketAddr) -> Result<(), KitError> {
        let _ = (info_hash, addr);
        Err(KitError::Unsupported {
            client: self.name(),
            what: "dialling a given peer",
        })
    }

    /// `Ok` while the program runs; [`KitError::Crashed`] or [`KitError::Exited`] otherwise.
    fn check_alive(&self) -> Result<(), KitError>;

    fn is_alive(&self) -> bool {
        self.check_alive().is_ok()
    }

    /// Waits until the torrent is complete (downloaded, or checked for a seeder), at most
    /// `timeout`. Fails early if the program dies or the torrent reports a local error.
    fn wait_complete(
        &self,
        info_hash: InfoHashV1,
        timeout: Duration,
    ) -> Result<TorrentStatus, KitError> {
        self.wait_for(info_hash, timeout, "the torrent to complete", &|s| {
            s.complete
        })
    }

    /// Waits until `done(status)` holds, at most `timeout`; `what` names it in the timeout error.
    fn wait_for(
        &self,
        info_hash: InfoHashV1,
        timeout: Duration,
        what: &str,
        done: &dyn Fn(&TorrentStatus) -> bool,
    ) -> Result<TorrentStatus, KitError> {
        let what = format!("{} ({}) for {what}", self.name(), self.peer_addr());
        poll_until(&what, timeout, POLL_EVERY, || {
            self.check_alive()?;
            let s = self.status(info_hash)?;
            if let Some(error) = &s.error {
                return Err(KitError::Rejected {
                    client: self.name(),
                    detail: format!("torrent error: {error}"),
                });
            }
            Ok(done(&s).then_some(s))
        })
    }
}
