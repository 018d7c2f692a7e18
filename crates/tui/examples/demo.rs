//! The dashboard on made-up data: `cargo run -p shoal-tui --example demo`.
//!
//! Two torrents whose rates wander; `p` pauses and resumes them, `d` removes one, `a` adds
//! nothing but is printed on exit. With `DEMO_PANIC=1` a background thread panics after two
//! seconds, to show that the terminal is restored.

use std::time::{Duration, Instant};

use shoal_core::PeerId;
use shoal_engine::announce::TrackerStatus;
use shoal_engine::{TorrentState, TorrentStats};
use shoal_swarm::{PeerInfo, PeerKey, PeerSource};
use shoal_tui::{run_dashboard, Command, Snapshot, TorrentView};
use tokio::sync::{mpsc, watch};

fn peer(n: u8, prefix: &[u8; 8], pieces: u32) -> PeerInfo {
    let mut id = [b'7'; 20];
    id[..8].copy_from_slice(prefix);
    PeerInfo {
        key: PeerKey::new(u64::from(n)),
        addr: ([127, 0, 0, n], 51000 + u16::from(n)).into(),
        source: PeerSource::Tracker,
        peer_id: PeerId(id),
        client: None,
        outgoing: true,
        am_choking: n % 2 == 0,
        am_interested: true,
        peer_choking: n % 3 == 0,
        peer_interested: n % 2 == 0,
        snubbed: false,
        pieces,
        down_rate: 0,
        up_rate: 0,
        downloaded: 0,
        uploaded: 0,
        requests_in_flight: 8,
        hash_strikes: 0,
    }
}

fn torrent(name: &str, byte: u8, pieces: u32, have: u32, at: Instant) -> TorrentView {
    let hex = format!("{byte:02x}").repeat(20);
    let mut s = TorrentStats::new(name.into(), hex, u64::from(pieces) << 18, pieces);
    s.state = TorrentState::Downloading;
    s.pieces_have = have;
    s.have_bytes = u64::from(have) << 18;
    s.known_addrs = 23;
    s.at = at;
    s.peers = vec![
        peer(2, b"-qB4520-", pieces),
        peer(3, b"-TR3000-", pieces / 2),
        peer(4, b"-lt0D80-", pieces),
        peer(5, b"-UT355S-", pieces / 3),
    ];
    let tracker = TrackerStatus {
        current_url: Some("http://tracker.example.org/announce".into()),
        last_announce: Some(at),
        next_announce: Some(at + Duration::from_secs(1800)),
        seeders: Some(40),
        leechers: Some(12),
        ..TrackerStatus::default()
    };
    TorrentView::new(s, vec![tracker])
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let start = Instant::now();
    let mut snap = Snapshot {
        torrents: vec![
            torrent("demo-one.iso", 0x11, 2000, 700, start),
            torrent("demo-two", 0x22, 800, 800, start),
        ],
        dht: None,
    };
    if let Some(t) = snap.torrents.get_mut(1) {
        t.stats.state = TorrentState::Seeding;
    }
    let (snap_tx, snap_rx) = watch::channel(snap.clone());
    let (cmd_tx, mut cmd_rx) = mpsc::channel(16);

    if std::env::var_os("DEMO_PANIC").is_some() {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(2));
            panic!("demo panic in a background thread");
        });
    }

    let engine = tokio::spawn(async move {
        let mut log = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut step = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    step += 1;
                    let now = Instant::now();
                    for (i, t) in snap.torrents.iter_mut().enumerate() {
                        let wobble = (step + i as u64 * 7) % 10;
                        let running = !matches!(t.stats.state, TorrentState::Stopped);
                        let seeding = t.stats.state == TorrentState::Seeding;
                        t.stats.down_rate = if running && !seeding { 300_000 * wobble } else { 0 };
                        t.stats.up_rate = if running { 40_000 * (10 - wobble) } else { 0 };
                        t.stats.downloaded += t.stats.down_rate / 2;
                        t.stats.uploaded += t.stats.up_rate / 2;
                        t.stats.at = now;
                    }
                    if snap_tx.send(snap.clone()).is_err() {
                        break;
                    }
                }
                cmd = cmd_rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    log.push(format!("{cmd:?}"));
                    match cmd {
                        Command::Pause(id) | Command::Resume(id) => {
                            if let Some(t) = snap.torrents.iter_mut().find(|t| t.id() == id) {
                                let complete = t.stats.pieces_have == t.stats.pieces_total;
                                t.stats.state = match (&t.stats.state, complete) {
                                    (TorrentState::Stopped, true) => TorrentState::Seeding,
                                    (TorrentState::Stopped, false) => TorrentState::Downloading,
                                    _ => TorrentState::Stopped,
                                };
                            }
                        }
                        Command::Remove(id) => snap.torrents.retain(|t| t.id() != id),
                        Command::Add(_) => {}
                        Command::Quit => break,
                    }
                }
            }
        }
        log
    });

    let result = run_dashboard(snap_rx, cmd_tx).await;
    let log = engine.await.unwrap_or_default();
    println!("dashboard ended: {result:?}");
    for line in log {
        println!("command: {line}");
    }
    result
}
