//! Requests and replies shared by the HTTP and UDP tracker protocols.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_core::{InfoHash, PeerId};

/// The `event` of an announce (BEP 3, BEP 15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Event {
    /// A regular re-announce.
    #[default]
    None,
    /// The first announce of a download.
    Started,
    /// The download just finished (not sent when it was complete at start).
    Completed,
    /// We are leaving the swarm.
    Stopped,
}

impl Event {
    /// The HTTP `event=` value; `None` for a regular announce, which omits the key.
    pub fn http_name(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Started => Some("started"),
            Event::Completed => Some("completed"),
            Event::Stopped => Some("stopped"),
        }
    }

    /// The BEP 15 event code.
    pub fn udp_code(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }
}

/// Everything one announce says about us. The same value serves HTTP and UDP; fields a
/// protocol cannot carry (`tracker_id`, `no_peer_id` over UDP) are left out by that protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent; its 20-byte wire id is sent (BEP 52 truncation for v2-only torrents).
    pub info_hash: InfoHash,
    /// Our peer id for this torrent.
    pub peer_id: PeerId,
    /// Our listening port.
    pub port: u16,
    /// Payload bytes sent since the `started` announce.
    pub uploaded: u64,
    /// Payload bytes received since the `started` announce.
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
    /// Why we announce.
    pub event: Event,
    /// How many peers we want; `None` leaves it to the tracker.
    pub numwant: Option<u32>,
    /// A per-session random key (BEP 7) so the tracker can recognise us across addresses.
    pub key: u32,
    /// The `tracker id` the tracker gave us in an earlier reply, echoed back (HTTP only).
    pub tracker_id: Option<Vec<u8>>,
    /// Ask for peer lists without peer ids (HTTP only; moot with compact lists).
    pub no_peer_id: bool,
}

/// A successful announce reply.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// How long to wait before the next regular announce.
    pub interval: Duration,
    /// The tracker's floor for any announce, when it gives one.
    pub min_interval: Option<Duration>,
    /// A token to echo back in later announces to this tracker.
    pub tracker_id: Option<Vec<u8>>,
    /// Seeders in the swarm ("complete"), when reported.
    pub complete: Option<u32>,
    /// Leechers in the swarm ("incomplete"), when reported.
    pub incomplete: Option<u32>,
    /// A non-fatal message the tracker wants shown to the user.
    pub warning: Option<String>,
    /// Peer addresses, IPv4 and IPv6, capped at [`ReplyLimits::max_peers`].
    pub peers: Vec<SocketAddr>,
}

/// Swarm counters for one torrent from a scrape (BEP 48, BEP 15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeders now.
    pub complete: u32,
    /// Completed downloads ever.
    pub downloaded: u32,
    /// Leechers now.
    pub incomplete: u32,
}

/// The counters of one scraped torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScrapeEntry {
    pub info_hash: InfoHash,
    pub stats: ScrapeStats,
}

/// A scrape reply, in the order the torrents were asked for; torrents the tracker does not
/// know are absent.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    pub files: Vec<ScrapeEntry>,
}

impl ScrapeResponse {
    /// The counters for `info_hash`, when the tracker reported them.
    pub fn get(&self, info_hash: &InfoHash) -> Option<ScrapeStats> {
        self.files
            .iter()
            .find(|e| e.info_hash == *info_hash)
            .map(|e| e.stats)
    }
}

/// Caps on what a tracker reply may make us hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Largest reply body accepted; larger replies are refused before they are read whole.
    pub max_bytes: usize,
    /// Peers kept from one reply (all lists together); the rest are dropped unread.
    pub max_peers: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024,
            max_peers: 2000,
        }
    }
}

/// Most torrents one UDP scrape may carry (BEP 15: "up to about 74"); also applied to HTTP
/// scrape so both transports behave the same.
pub const MAX_SCRAPE_HASHES: usize = 74;

/// Characters kept of a failure reason, warning or UDP error message; they end up on a screen.
const MAX_MESSAGE_CHARS: usize = 512;

/// Tracker text for display: lossy UTF-8, control characters blanked (no terminal escapes),
/// length capped.
pub(crate) fn display_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `now + wait`, saturating: a configured or tracker-given duration too large for the
/// platform's clock becomes "a year from now" instead of a panic.
pub(crate) fn later(now: std::time::Instant, wait: Duration) -> std::time::Instant {
    const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
    now.checked_add(wait)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}
