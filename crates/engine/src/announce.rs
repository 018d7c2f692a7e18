//! The announcer: one task per torrent that tells its trackers about us (BEP 3, 12, 15) and
//! hands the peers they return to the torrent actor.

use std::time::{Duration, Instant};

use shoal_core::{InfoHash, PeerId};
use shoal_swarm::PeerSource;
use shoal_tracker::client::TrackerClient;
use shoal_tracker::proto::{AnnounceRequest, AnnounceSchedule, Event, ScheduleConfig, TrackerList};
use tokio::sync::{mpsc, oneshot, watch};

use crate::stats::{TorrentState, TorrentStats};
use crate::torrent::TorrentMsg;

/// What one announcer needs.
pub struct AnnouncerParts {
    pub client: TrackerClient,
    pub trackers: TrackerList,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub port: u16,
    /// BEP 7 key, random per session.
    pub key: u32,
    pub numwant: u32,
    pub stats: watch::Receiver<TorrentStats>,
    pub torrent: mpsc::Sender<TorrentMsg>,
    /// Fires when the torrent stops; the announcer then sends `stopped` and ends.
    pub stop: oneshot::Receiver<()>,
    /// Status for the dashboard.
    pub status: watch::Sender<TrackerStatus>,
}

/// What the dashboard shows about a torrent's trackers.
#[derive(Clone, Debug, Default)]
pub struct TrackerStatus {
    pub current_url: Option<String>,
    pub last_announce: Option<Instant>,
    pub next_announce: Option<Instant>,
    pub last_error: Option<String>,
    /// Since when every tracker has been failing, if they are.
    pub failing_since: Option<Instant>,
    pub seeders: Option<u32>,
    pub leechers: Option<u32>,
    pub peers_received: u64,
}

/// `left` while a magnet link's size is unknown.
const UNKNOWN_LEFT: u64 = 16 * 1024;

/// How long a `stopped` announce may take before we leave anyway.
const STOPPED_LIMIT: Duration = Duration::from_secs(5);

pub async fn run_announcer(mut parts: AnnouncerParts) {
    let mut schedule = AnnounceSchedule::new(ScheduleConfig::default(), Instant::now());
    let mut event = Event::Started;
    let mut was_complete = parts.stats.borrow().is_complete();
    let (tx, mut stop) = oneshot::channel();
    drop(tx);
    std::mem::swap(&mut stop, &mut parts.stop);
    loop {
        let due = schedule.poll_timeout();
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep_until(due.into()) => {}
            changed = parts.stats.changed() => {
                if changed.is_err() {
                    break;
                }
                let complete = parts.stats.borrow().is_complete();
                let finished_now = complete && !was_complete;
                was_complete = complete;
                if !finished_now {
                    continue;
                }
                // BEP 3: `completed` goes out when the download finishes (not when the data was
                // complete at start).
                if event != Event::Started {
                    event = Event::Completed;
                }
            }
        }
        let req = request(&parts, event);
        let ok = round(
            &mut parts.trackers,
            &parts.client,
            &req,
            &parts.torrent,
            &parts.status,
        )
        .await;
        let now = Instant::now();
        match ok {
            Some(resp) => {
                schedule.on_success(now, &resp);
                event = Event::None;
            }
            None => {
                schedule.on_failure(now);
            }
        }
        parts
            .status
            .send_modify(|s| s.next_announce = Some(schedule.poll_timeout()));
    }
    let req = request(&parts, Event::Stopped);
    let _ = tokio::time::timeout(
        STOPPED_LIMIT,
        round(
            &mut parts.trackers,
            &parts.client,
            &req,
            &parts.torrent,
            &parts.status,
        ),
    )
    .await;
}

fn request(parts: &AnnouncerParts, event: Event) -> AnnounceRequest {
    let s = parts.stats.borrow();
    AnnounceRequest {
        info_hash: parts.info_hash,
        peer_id: parts.peer_id,
        port: parts.port,
        uploaded: s.uploaded,
        downloaded: s.downloaded,
        left: match s.state {
            // The size is unknown until the metadata arrives, but a tracker must not take us
            // for a seed (left=0): say one block is left, as libtorrent does.
            TorrentState::FetchingMetadata { .. } => UNKNOWN_LEFT,
            _ => s.total_length.saturating_sub(s.have_bytes),
        },
        event,
        numwant: (event != Event::Stopped).then_some(parts.numwant),
        key: parts.key,
        tracker_id: None,
        no_peer_id: true,
    }
}

/// One BEP 12 round: trackers in order until one answers.
async fn round(
    trackers: &mut TrackerList,
    client: &TrackerClient,
    req: &AnnounceRequest,
    torrent: &mpsc::Sender<TorrentMsg>,
    status: &watch::Sender<TrackerStatus>,
) -> Option<shoal_tracker::proto::AnnounceResponse> {
    let mut url = trackers.start_round().cloned();
    while let Some(u) = url {
        let mut req = req.clone();
        req.tracker_id = trackers.current_tracker_id().map(<[u8]>::to_vec);
        let result = client.announce(&u, &req).await;
        let now = Instant::now();
        match result {
            Ok(resp) => {
                trackers.report_success(&resp);
                let peers = resp.peers.clone();
                status.send_modify(|s| {
                    s.current_url = Some(u.to_string());
                    s.last_announce = Some(now);
                    s.last_error = resp.warning.clone();
                    s.failing_since = None;
                    s.seeders = resp.complete;
                    s.leechers = resp.incomplete;
                    s.peers_received += peers.len() as u64;
                });
                if !peers.is_empty() && req.event != Event::Stopped {
                    let _ = torrent
                        .send(TorrentMsg::Peers(peers, PeerSource::Tracker))
                        .await;
                }
                return Some(resp);
            }
            Err(e) => {
                tracing::debug!(url = %u, error = %e, "announce failed");
                status.send_modify(|s| {
                    s.current_url = Some(u.to_string());
                    s.last_error = Some(e.to_string());
                    s.failing_since.get_or_insert(now);
                });
                url = trackers.report_failure().cloned();
            }
        }
    }
    None
}
