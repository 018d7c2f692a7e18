//! What a torrent actor publishes about itself (on a `watch` channel) for progress lines,
//! trackers and the dashboard.

use std::time::Instant;

use std::sync::Arc;

use shoal_swarm::{PeerInfo, PieceMapSnapshot};

/// One immutable view of a torrent, replaced as a whole on every publish.
#[derive(Clone, Debug)]
pub struct TorrentStats {
    pub name: String,
    pub info_hash_hex: String,
    pub total_length: u64,
    /// Bytes of verified pieces we have.
    pub have_bytes: u64,
    pub pieces_have: u32,
    pub pieces_total: u32,
    pub down_rate: u64,
    pub up_rate: u64,
    /// Payload bytes received / sent since start.
    pub downloaded: u64,
    pub uploaded: u64,
    pub wasted: u64,
    pub hash_failures: u64,
    pub peers: Vec<PeerInfo>,
    /// Known addresses not connected, and banned IPs.
    pub known_addrs: usize,
    pub banned: usize,
    pub disk_queue_bytes: u64,
    pub state: TorrentState,
    /// The last problem worth telling the user, if any.
    pub message: Option<String>,
    /// The last disk error was "no space left".
    pub disk_full: bool,
    /// Per-piece state, refreshed about once a second (it costs O(pieces)).
    pub pieces: Option<Arc<PieceMapSnapshot>>,
    pub at: Instant,
}

/// Where a torrent is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TorrentState {
    /// A magnet link: fetching the info dictionary from peers. `have` of `of` metadata pieces
    /// (16 KiB each) arrived; `of` is 0 until a peer told the size.
    FetchingMetadata {
        have: u32,
        of: u32,
    },
    /// Hashing what is already on disk.
    Checking {
        done: u32,
        of: u32,
    },
    Downloading,
    /// Every wanted piece is verified and on disk.
    Seeding,
    /// Downloading stopped after a disk error (seeding goes on).
    DiskPaused,
    Stopped,
    Failed(String),
}

impl TorrentStats {
    pub fn new(name: String, info_hash_hex: String, total_length: u64, pieces_total: u32) -> Self {
        Self {
            name,
            info_hash_hex,
            total_length,
            have_bytes: 0,
            pieces_have: 0,
            pieces_total,
            down_rate: 0,
            up_rate: 0,
            downloaded: 0,
            uploaded: 0,
            wasted: 0,
            hash_failures: 0,
            peers: Vec::new(),
            known_addrs: 0,
            banned: 0,
            disk_queue_bytes: 0,
            state: TorrentState::Checking {
                done: 0,
                of: pieces_total,
            },
            message: None,
            disk_full: false,
            pieces: None,
            at: Instant::now(),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.state == TorrentState::Seeding
    }
}
