//! What limits a torrent now, in plain words.
//!
//! Each rule is a pure function of one [`TorrentView`] and the current time, so every cause
//! is tested from a hand-built view. [`health`] runs the rules that apply to the torrent's
//! state and orders the causes by [`Severity`], most severe first; the dashboard shows the
//! first one on the health line and all of them in the details.

use std::fmt;
use std::time::{Duration, Instant};

use shoal_engine::TorrentState;

use crate::format;
use crate::view::TorrentView;

/// Trackers failing for at least this long are reported.
pub const TRACKER_GRACE: Duration = Duration::from_secs(5 * 60);

/// A disk queue at or above this share of its limit (in percent) is a bottleneck.
pub const DISK_QUEUE_HIGH_PERCENT: u64 = 75;

/// A rate at or above this share of its limit (in percent) has reached it.
pub const LIMIT_REACHED_PERCENT: u64 = 95;

/// How badly a cause holds the torrent back. Ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Nothing is wrong.
    Healthy,
    /// A state the user chose or a passing phase (stopped, checking files).
    Info,
    /// The torrent progresses, but slower than it could.
    Limited,
    /// The torrent cannot progress until this changes.
    Stalled,
}

/// One reason the torrent is held back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    Failed(String),
    /// Downloading stopped after a disk error; seeding goes on.
    DiskPaused {
        full: bool,
    },
    Stopped,
    Checking {
        done: u32,
        of: u32,
    },
    NoPeersKnown,
    NoPeersConnected {
        known: usize,
    },
    /// Pieces we need that no connected peer has.
    PiecesUnavailable {
        count: u32,
    },
    AllChoking {
        peers: usize,
    },
    TrackersUnreachable {
        trackers: usize,
        for_: Duration,
    },
    DiskBottleneck {
        queued: u64,
        limit: u64,
    },
    DownloadLimit {
        limit: u64,
    },
    UploadLimit {
        limit: u64,
    },
}

impl Cause {
    pub fn severity(&self) -> Severity {
        match self {
            Cause::Failed(_)
            | Cause::DiskPaused { .. }
            | Cause::NoPeersKnown
            | Cause::NoPeersConnected { .. }
            | Cause::PiecesUnavailable { .. }
            | Cause::AllChoking { .. } => Severity::Stalled,
            Cause::TrackersUnreachable { .. }
            | Cause::DiskBottleneck { .. }
            | Cause::DownloadLimit { .. }
            | Cause::UploadLimit { .. } => Severity::Limited,
            Cause::Stopped | Cause::Checking { .. } => Severity::Info,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Failed(why) => write!(f, "failed: {}", format::clean(why, 200)),
            Cause::DiskPaused { full: true } => f.write_str("disk full: downloading paused"),
            Cause::DiskPaused { full: false } => f.write_str("disk error: downloading paused"),
            Cause::Stopped => f.write_str("paused"),
            Cause::Checking { done, of } => {
                write!(f, "checking files: {done} of {of} pieces")
            }
            Cause::NoPeersKnown => f.write_str("no peers known"),
            Cause::NoPeersConnected { known } => {
                write!(f, "no peers connected ({known} known)")
            }
            Cause::PiecesUnavailable { count: 1 } => f.write_str("1 piece has no peer holding it"),
            Cause::PiecesUnavailable { count } => {
                write!(f, "{count} pieces have no peer holding them")
            }
            Cause::AllChoking { peers: 1 } => f.write_str("the only peer is choking us"),
            Cause::AllChoking { peers } => write!(f, "all {peers} peers are choking us"),
            Cause::TrackersUnreachable { trackers, for_ } => {
                let what = if *trackers == 1 {
                    "tracker".to_owned()
                } else {
                    format!("all {trackers} trackers")
                };
                write!(f, "{what} unreachable for {} min", for_.as_secs() / 60)
            }
            Cause::DiskBottleneck { queued, limit } => write!(
                f,
                "disk writes are the bottleneck ({} of {} queued)",
                format::bytes(*queued),
                format::bytes(*limit)
            ),
            Cause::DownloadLimit { limit } => {
                write!(f, "download limit reached ({})", format::rate(*limit))
            }
            Cause::UploadLimit { limit } => {
                write!(f, "upload limit reached ({})", format::rate(*limit))
            }
        }
    }
}

/// The causes holding a torrent back, most severe first; none means healthy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    causes: Vec<Cause>,
}

impl Health {
    pub fn causes(&self) -> &[Cause] {
        &self.causes
    }

    /// The most severe cause, if any.
    pub fn headline(&self) -> Option<&Cause> {
        self.causes.first()
    }

    pub fn severity(&self) -> Severity {
        self.headline().map_or(Severity::Healthy, Cause::severity)
    }

    pub fn is_healthy(&self) -> bool {
        self.causes.is_empty()
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.headline() {
            Some(c) => c.fmt(f),
            None => f.write_str("healthy"),
        }
    }
}

/// Runs the rules that apply to the torrent's state. Within a severity, causes keep the
/// order the rules run in (the more fundamental first).
pub fn health(view: &TorrentView, now: Instant) -> Health {
    let mut causes = Vec::new();
    match &view.stats.state {
        TorrentState::Failed(why) => causes.push(Cause::Failed(why.clone())),
        TorrentState::Stopped => causes.push(Cause::Stopped),
        TorrentState::Checking { done, of } => causes.push(Cause::Checking {
            done: *done,
            of: *of,
        }),
        TorrentState::FetchingMetadata { .. } => {
            causes.extend(peers_rule(view));
            causes.extend(trackers_rule(view, now));
        }
        TorrentState::Downloading => {
            causes.extend(peers_rule(view));
            causes.extend(pieces_rule(view));
            causes.extend(choking_rule(view));
            causes.extend(trackers_rule(view, now));
            causes.extend(disk_rule(view));
            causes.extend(download_limit_rule(view));
            causes.extend(upload_limit_rule(view));
        }
        TorrentState::DiskPaused => {
            causes.push(Cause::DiskPaused {
                full: view.disk.full,
            });
            causes.extend(trackers_rule(view, now));
            causes.extend(upload_limit_rule(view));
        }
        TorrentState::Seeding => {
            causes.extend(trackers_rule(view, now));
            causes.extend(upload_limit_rule(view));
        }
    }
    // Stable: equal severities keep rule order.
    causes.sort_by_key(|c| std::cmp::Reverse(c.severity()));
    Health { causes }
}

/// No connected peers: nothing can arrive.
pub fn peers_rule(view: &TorrentView) -> Option<Cause> {
    if !view.stats.peers.is_empty() {
        return None;
    }
    Some(match view.stats.known_addrs {
        0 => Cause::NoPeersKnown,
        known => Cause::NoPeersConnected { known },
    })
}

/// Pieces we lack that no connected peer has. Needs the piece map and at least one peer
/// (with none, [`peers_rule`] already says it all).
pub fn pieces_rule(view: &TorrentView) -> Option<Cause> {
    if view.stats.peers.is_empty() {
        return None;
    }
    let count = view.pieces.as_ref()?.unavailable_missing();
    (count > 0).then_some(Cause::PiecesUnavailable { count })
}

/// Every connected peer chokes us: no requests can go out.
pub fn choking_rule(view: &TorrentView) -> Option<Cause> {
    let peers = &view.stats.peers;
    (!peers.is_empty() && peers.iter().all(|p| p.peer_choking))
        .then_some(Cause::AllChoking { peers: peers.len() })
}

/// Every tracker has been failing for at least [`TRACKER_GRACE`].
pub fn trackers_rule(view: &TorrentView, now: Instant) -> Option<Cause> {
    let mut shortest: Option<Duration> = None;
    for t in &view.trackers {
        let failing = now.saturating_duration_since(t.failing_since?);
        shortest = Some(shortest.map_or(failing, |s| s.min(failing)));
    }
    let for_ = shortest?;
    (for_ >= TRACKER_GRACE).then_some(Cause::TrackersUnreachable {
        trackers: view.trackers.len(),
        for_,
    })
}

/// Pieces wait for the disk: the queue is near the cap at which downloading stops asking.
pub fn disk_rule(view: &TorrentView) -> Option<Cause> {
    let queued = view.stats.disk_queue_bytes;
    let limit = view.disk_queue_limit();
    let high = u128::from(queued) * 100 >= u128::from(limit) * u128::from(DISK_QUEUE_HIGH_PERCENT);
    (limit > 0 && high).then_some(Cause::DiskBottleneck { queued, limit })
}

pub fn download_limit_rule(view: &TorrentView) -> Option<Cause> {
    let limit = view.limits.down?;
    reached(view.stats.down_rate, limit).then_some(Cause::DownloadLimit { limit })
}

pub fn upload_limit_rule(view: &TorrentView) -> Option<Cause> {
    let limit = view.limits.up?;
    reached(view.stats.up_rate, limit).then_some(Cause::UploadLimit { limit })
}

fn reached(rate: u64, limit: u64) -> bool {
    u128::from(rate) * 100 >= u128::from(limit) * u128::from(LIMIT_REACHED_PERCENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{base, healthy, peer, piece_map, secs, seeding, stats, stuck};
    use crate::view::{RateLimits, TorrentView};

    fn texts(h: &Health) -> Vec<String> {
        h.causes().iter().map(ToString::to_string).collect()
    }

    /// A download with two unchoking peers, a working tracker and every piece available:
    /// the base each test breaks in one way.
    fn fine(now: Instant) -> TorrentView {
        let mut v = healthy(now);
        v.stats.peers.truncate(2);
        v
    }

    #[test]
    fn healthy_download_and_seed() {
        let now = base();
        for v in [healthy(now), fine(now), seeding(now)] {
            let h = health(&v, now);
            assert!(h.is_healthy(), "{:?}", h.causes());
            assert_eq!(h.to_string(), "healthy");
            assert_eq!(h.severity(), Severity::Healthy);
        }
    }

    #[test]
    fn pieces_nobody_has() {
        let now = base();
        let h = health(&stuck(now), now);
        assert_eq!(texts(&h), vec!["3 pieces have no peer holding them"]);
        assert_eq!(h.severity(), Severity::Stalled);

        let mut one = fine(now);
        one.pieces = Some(piece_map(10, |i| i != 4, |_| false, |i| u16::from(i != 4)));
        assert_eq!(
            health(&one, now).to_string(),
            "1 piece has no peer holding it"
        );

        // Pieces we already have may be rare; that limits nobody.
        let mut had = fine(now);
        had.pieces = Some(piece_map(10, |i| i < 5, |_| false, |i| u16::from(i >= 5)));
        assert!(health(&had, now).is_healthy());
    }

    #[test]
    fn all_peers_choking() {
        let now = base();
        let mut v = fine(now);
        v.stats.peers.iter_mut().for_each(|p| p.peer_choking = true);
        assert_eq!(texts(&health(&v, now)), vec!["all 2 peers are choking us"]);
        v.stats.peers.truncate(1);
        assert_eq!(health(&v, now).to_string(), "the only peer is choking us");
    }

    #[test]
    fn no_peers_known_or_connected() {
        let now = base();
        let mut v = fine(now);
        v.stats.peers.clear();
        v.stats.known_addrs = 0;
        assert_eq!(texts(&health(&v, now)), vec!["no peers known"]);
        v.stats.known_addrs = 7;
        // With no peer at all, "pieces nobody has" would only repeat the same thing.
        v.pieces = Some(piece_map(4, |_| false, |_| false, |_| 0));
        assert_eq!(
            texts(&health(&v, now)),
            vec!["no peers connected (7 known)"]
        );
    }

    #[test]
    fn tracker_unreachable_after_grace() {
        let now = base();
        let mut v = fine(now);
        if let Some(t) = v.trackers.first_mut() {
            t.failing_since = Some(now - secs(299));
        }
        assert!(health(&v, now).is_healthy(), "within the grace period");
        let later = now + secs(2);
        let h = health(&v, later);
        assert_eq!(texts(&h), vec!["tracker unreachable for 5 min"]);
        assert_eq!(h.severity(), Severity::Limited);

        // One working tracker out of two is enough.
        let mut ok = crate::testdata::tracker_ok("udp://b.example/announce", now);
        v.trackers.push(ok.clone());
        assert!(health(&v, later).is_healthy());
        ok.failing_since = Some(now - secs(600));
        v.trackers = vec![ok.clone(), ok];
        assert_eq!(
            health(&v, now).to_string(),
            "all 2 trackers unreachable for 10 min"
        );
    }

    #[test]
    fn disk_bottleneck() {
        let now = base();
        let mut v = fine(now);
        v.disk.queue_limit = Some(64 << 20);
        v.stats.disk_queue_bytes = 47 << 20;
        assert!(health(&v, now).is_healthy());
        v.stats.disk_queue_bytes = 48 << 20;
        assert_eq!(
            texts(&health(&v, now)),
            vec!["disk writes are the bottleneck (48.0 MiB of 64.0 MiB queued)"]
        );
    }

    #[test]
    fn rate_limits_reached() {
        let now = base();
        let mut v = seeding(now);
        v.limits = RateLimits {
            down: None,
            up: Some(1_200_000),
        };
        assert_eq!(
            texts(&health(&v, now)),
            vec!["upload limit reached (1.1 MiB/s)"]
        );
        v.limits.up = Some(2_000_000);
        assert!(health(&v, now).is_healthy());

        let mut d = fine(now);
        d.limits.down = Some(d.stats.down_rate);
        assert_eq!(health(&d, now).severity(), Severity::Limited);
        assert!(health(&d, now)
            .to_string()
            .starts_with("download limit reached"));
    }

    #[test]
    fn disk_full_pauses_downloading() {
        let now = base();
        let mut v = fine(now);
        v.stats.state = TorrentState::DiskPaused;
        v.disk.full = true;
        assert_eq!(
            texts(&health(&v, now)),
            vec!["disk full: downloading paused"]
        );
        v.disk.full = false;
        assert_eq!(
            health(&v, now).to_string(),
            "disk error: downloading paused"
        );
    }

    #[test]
    fn states_that_explain_themselves() {
        let now = base();
        let mut v = TorrentView::new(stats("x", 1, 10, now), Vec::new());
        v.stats.state = TorrentState::Stopped;
        assert_eq!(texts(&health(&v, now)), vec!["paused"]);
        v.stats.state = TorrentState::Checking { done: 3, of: 10 };
        assert_eq!(health(&v, now).severity(), Severity::Info);
        v.stats.state = TorrentState::Failed("bad \x1b[31mthing".into());
        assert_eq!(health(&v, now).to_string(), "failed: bad [31mthing");
    }

    #[test]
    fn causes_are_ordered_by_severity() {
        let now = base();
        let mut v = fine(now);
        v.stats.peers = vec![peer(9, b"-TR3000-")];
        v.stats.peers.iter_mut().for_each(|p| p.peer_choking = true);
        v.stats.disk_queue_bytes = 64 << 20;
        v.limits.up = Some(1);
        if let Some(t) = v.trackers.first_mut() {
            t.failing_since = Some(now - secs(900));
        }
        v.pieces = Some(piece_map(8, |i| i < 4, |_| false, |i| u16::from(i != 6)));
        let h = health(&v, now);
        assert_eq!(
            texts(&h),
            vec![
                "1 piece has no peer holding it",
                "the only peer is choking us",
                "tracker unreachable for 15 min",
                "disk writes are the bottleneck (64.0 MiB of 64.0 MiB queued)",
                "upload limit reached (1 B/s)",
            ]
        );
        let sev: Vec<Severity> = h.causes().iter().map(Cause::severity).collect();
        assert!(sev.windows(2).all(|w| w[0] >= w[1]));
    }
}
