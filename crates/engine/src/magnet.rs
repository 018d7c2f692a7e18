//! A magnet link's task: the metadata phase, then the torrent.
//!
//! While the info dictionary is unknown the task drives a [`MetadataSwarm`] exactly as the
//! torrent actor drives a `Swarm` (connection tasks, dial tasks, the same inbox, so trackers,
//! the DHT and the listener already feed it). Once the dictionary is verified it builds the
//! torrent from it, saves it as `<download_dir>/<name>.torrent`, and becomes the ordinary
//! torrent actor on the same inbox and stats channel; its swarm adopts the live connections
//! (same keys, same connection tasks, same input channel) and every address learnt.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_core::magnet::Magnet;
use shoal_core::metainfo::{torrent_file, Metainfo};
use shoal_swarm::{Handoff, MetadataEvent, MetadataSwarm, PeerKey};
use shoal_wire::{Features, Handshake};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::conn::{run_connection, PeerInput};
use crate::handshake::{connect_outgoing, HandshakeError};
use crate::start::{prepare, Channels, Ctx, RunOptions};
use crate::stats::{TorrentState, TorrentStats};
use crate::tasks::Tasks;
use crate::torrent::{run_torrent, Adopted, TorrentMsg, PEER_INPUT_CAPACITY};

/// How often the stats are published during the metadata phase.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// What the magnet task needs.
pub(crate) struct MagnetParts {
    pub magnet: Magnet,
    pub ctx: Ctx,
    pub opts: RunOptions,
    pub channels: Channels,
    pub seed: u64,
    /// The torrent's helper tasks (DHT lookups), cancelled if the torrent turns out private.
    pub helpers: Tasks,
}

/// The metadata phase's connections.
struct Phase {
    core: MetadataSwarm,
    ours: Handshake,
    ctx: Ctx,
    writers: HashMap<PeerKey, mpsc::UnboundedSender<Bytes>>,
    peer_tx: mpsc::Sender<PeerInput>,
    inbox_tx: mpsc::Sender<TorrentMsg>,
    metadata: Option<Bytes>,
}

/// Runs the magnet link until it is stopped: metadata first, then the torrent.
pub(crate) async fn run_magnet(parts: MagnetParts) {
    let MagnetParts {
        magnet,
        ctx,
        mut opts,
        channels,
        seed,
        helpers,
    } = parts;
    let Channels {
        mut inbox,
        inbox_tx,
        stats,
    } = channels;
    let cache = ctx
        .config
        .state_dir
        .as_ref()
        .map(|d| cache_path(d, &magnet));
    let (meta, handoff) = match load_cached(cache.as_deref(), &magnet).await {
        Some(meta) => {
            tracing::info!("metadata known from an earlier run");
            (meta, None)
        }
        None => {
            let Some((info, handoff, adopted)) =
                fetch(&magnet, &ctx, &opts, &mut inbox, &inbox_tx, &stats).await
            else {
                stats.send_modify(|s| s.state = TorrentState::Stopped);
                return;
            };
            let meta = match Metainfo::from_info_bytes(&info, magnet.trackers.clone()) {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    let why = format!("the metadata is not a usable torrent: {e}");
                    tracing::warn!("{why}");
                    stats.send_modify(|s| s.state = TorrentState::Failed(why));
                    return;
                }
            };
            if let Some(path) = &cache {
                if let Err(e) = write_atomic(path, &torrent_file(&info, &magnet.trackers)).await {
                    tracing::warn!(error = %e, "could not keep the metadata in the state folder");
                }
            }
            (meta, Some((handoff, adopted)))
        }
    };
    if let Err(e) = save_torrent(&opts.download_dir, &meta, &magnet.trackers).await {
        tracing::warn!(error = %e, "could not save the .torrent file");
    }
    if meta.is_private() {
        // BEP 27: only the trackers from now on (the swarm drops DHT and PEX peers).
        helpers.cancel();
    }
    stats.send_modify(|s| {
        s.name = meta.name().to_string();
        s.total_length = meta.total_length();
        s.pieces_total = meta.piece_count();
        s.peers.clear();
        s.state = TorrentState::Checking {
            done: 0,
            of: meta.piece_count(),
        };
    });
    let progress_stats = stats.clone();
    let progress = Arc::new(move |done, of| {
        progress_stats.send_modify(|s| s.state = TorrentState::Checking { done, of });
    });
    let channels = Channels {
        inbox,
        inbox_tx,
        stats,
    };
    let stats_after = channels.stats.clone();
    // BEP 53 `so` names files by index, possibly past the last: fit it to the torrent, and
    // download everything rather than nothing when it selects no file that exists.
    let count = meta.files().len();
    opts.files = opts
        .files
        .take()
        .map(|w| {
            (0..count)
                .map(|i| w.get(i).copied().unwrap_or(false))
                .collect::<Vec<_>>()
        })
        .filter(|w| w.contains(&true));
    match prepare(&ctx, meta, &opts, channels, seed, progress, handoff).await {
        Ok(parts) => {
            parts
                .stats
                .send_modify(|s| s.state = TorrentState::Downloading);
            run_torrent(parts).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the torrent");
            stats_after.send_modify(|s| s.state = TorrentState::Failed(e.to_string()));
        }
    }
}

/// The metadata phase: drives a [`MetadataSwarm`] until the info dictionary is verified.
/// `None` when the torrent was stopped first.
async fn fetch(
    magnet: &Magnet,
    ctx: &Ctx,
    opts: &RunOptions,
    inbox: &mut mpsc::Receiver<TorrentMsg>,
    inbox_tx: &mpsc::Sender<TorrentMsg>,
    stats: &watch::Sender<TorrentStats>,
) -> Option<(Bytes, Handoff, Adopted)> {
    let now = Instant::now();
    let (peer_tx, mut peer_rx) = mpsc::channel(PEER_INPUT_CAPACITY);
    let mut core = MetadataSwarm::new(
        magnet.info_hash,
        ctx.peer_id,
        ctx.listen_addr.map(|a| a.port()),
        ctx.config.swarm.clone(),
        now,
    );
    if let Some(addr) = ctx.listen_addr {
        core.exclude_addr(addr);
    }
    for (addr, source) in &opts.peers {
        core.add_peers(now, [*addr], *source);
    }
    let mut phase = Phase {
        core,
        ours: ctx.handshake(magnet.info_hash.wire_id()),
        ctx: ctx.clone(),
        writers: HashMap::new(),
        peer_tx,
        inbox_tx: inbox_tx.clone(),
        metadata: None,
    };
    let started = Instant::now();
    let mut last_publish = started - PUBLISH_EVERY;
    let mut published = (false, false, (0, 0));
    phase.after_input();
    let info = loop {
        if let Some(info) = phase.metadata.take() {
            break info;
        }
        // Besides the periodic refresh, milestones (the first address, the first connection,
        // a metadata piece) are published at once: they are what a user waits for.
        let milestone = phase.milestone();
        if last_publish.elapsed() >= PUBLISH_EVERY || milestone != published {
            last_publish = Instant::now();
            published = milestone;
            phase.publish(stats);
        }
        let wake = phase
            .core
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
            .min(last_publish + PUBLISH_EVERY);
        tokio::select! {
            msg = inbox.recv() => match msg {
                Some(TorrentMsg::Stop) | None => return None,
                Some(msg) => phase.on_msg(msg),
            },
            input = peer_rx.recv() => {
                if let Some(input) = input {
                    phase.on_peer_input(input);
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                phase.core.handle_timeout(Instant::now());
            }
        }
        phase.after_input();
    };
    tracing::info!(
        bytes = info.len(),
        secs = started.elapsed().as_secs_f64(),
        "metadata received"
    );
    let Phase {
        core,
        writers,
        peer_tx,
        ..
    } = phase;
    let adopted = Adopted {
        writers,
        peer_tx,
        peer_rx,
    };
    Some((info, core.into_handoff(), adopted))
}

/// Where the metadata of a magnet link is kept between runs, so that adding the link again
/// needs no peer before the data can be checked and seeded.
fn cache_path(state_dir: &Path, magnet: &Magnet) -> PathBuf {
    state_dir.join("metadata").join(format!(
        "{}.torrent",
        shoal_core::ids::to_hex(&magnet.info_hash.wire_id())
    ))
}

/// The metadata kept by an earlier run, if it is there and names this torrent.
async fn load_cached(path: Option<&Path>, magnet: &Magnet) -> Option<Arc<Metainfo>> {
    let bytes = tokio::fs::read(path?).await.ok()?;
    let meta = Metainfo::from_bytes(&bytes).ok()?;
    (meta.info_hash() == magnet.info_hash).then(|| Arc::new(meta))
}

async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Writes `<dir>/<name>.torrent` (through a temporary file and a rename).
async fn save_torrent(
    dir: &Path,
    meta: &Metainfo,
    trackers: &[Vec<String>],
) -> std::io::Result<()> {
    let path = dir.join(format!("{}.torrent", meta.name()));
    write_atomic(&path, &torrent_file(meta.info_bytes(), trackers)).await
}

impl Phase {
    fn on_msg(&mut self, msg: TorrentMsg) {
        let now = Instant::now();
        match msg {
            TorrentMsg::Incoming {
                stream,
                addr,
                theirs,
                rest,
            } => self.connected(stream, addr, theirs, rest, false),
            TorrentMsg::Dialed { addr, result } => match result {
                Ok((stream, theirs, rest)) => self.connected(stream, addr, theirs, rest, true),
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "dial failed");
                    if matches!(e, HandshakeError::SelfConnection) {
                        self.core.exclude_addr(addr);
                    }
                    self.core.dial_failed(now, addr);
                }
            },
            TorrentMsg::Peers(addrs, source) => {
                self.core.add_peers(now, addrs, source);
            }
            TorrentMsg::Exclude(addr) => self.core.exclude_addr(addr),
            // Pausing a magnet link before its metadata arrives is not supported yet.
            TorrentMsg::ResumeDownloading | TorrentMsg::SetPaused(_) | TorrentMsg::Stop => {}
        }
    }

    fn connected(
        &mut self,
        stream: TcpStream,
        addr: SocketAddr,
        theirs: Handshake,
        rest: bytes::BytesMut,
        outgoing: bool,
    ) {
        let features = Features::negotiate(&self.ours, &theirs);
        let now = Instant::now();
        match self
            .core
            .peer_connected(now, addr, theirs.peer_id, features, outgoing)
        {
            Ok(key) => {
                let (tx, rx) = mpsc::unbounded_channel();
                self.writers.insert(key, tx);
                let _ = stream.set_nodelay(true);
                self.ctx.tasks.spawn(
                    "peer connection",
                    run_connection(
                        stream,
                        key.get(),
                        rest,
                        self.peer_tx.clone(),
                        rx,
                        Arc::clone(&self.ctx.limits),
                    ),
                );
            }
            Err(reason) => tracing::debug!(%addr, ?reason, "connection refused"),
        }
    }

    fn on_peer_input(&mut self, input: PeerInput) {
        let now = Instant::now();
        match input {
            PeerInput::Data(key, bytes) => {
                self.core.handle_peer_bytes(now, PeerKey::new(key), &bytes)
            }
            PeerInput::Closed(key, reason) => {
                let key = PeerKey::new(key);
                if self.writers.remove(&key).is_some() {
                    tracing::debug!(key = key.get(), %reason, "peer disconnected");
                    self.core.peer_disconnected(now, key);
                }
            }
        }
    }

    fn after_input(&mut self) {
        while let Some((key, bytes)) = self.core.poll_transmit() {
            if let Some(w) = self.writers.get(&key) {
                let _ = w.send(bytes);
            }
        }
        while let Some(event) = self.core.poll_event() {
            match event {
                MetadataEvent::Dial(addr) => {
                    let ours = self.ours;
                    let limits = self.ctx.config.handshake;
                    let inbox = self.inbox_tx.clone();
                    self.ctx.tasks.spawn("dial", async move {
                        let result = connect_outgoing(addr, ours, limits).await;
                        let _ = inbox.send(TorrentMsg::Dialed { addr, result }).await;
                    });
                }
                MetadataEvent::Close(key, reason) => {
                    tracing::debug!(key = key.get(), ?reason, "closing peer");
                    self.writers.remove(&key);
                }
                MetadataEvent::Complete(info) => self.metadata = Some(info),
            }
        }
    }

    /// Whether an address is known, whether a peer is connected, metadata progress.
    fn milestone(&self) -> (bool, bool, (u32, u32)) {
        let (known, _) = self.core.addr_counts();
        let peers = self.core.peer_count();
        (known + peers > 0, peers > 0, self.core.progress())
    }

    fn publish(&self, stats: &watch::Sender<TorrentStats>) {
        let (have, of) = self.core.progress();
        let peers = self.core.peer_infos();
        let (known, banned) = self.core.addr_counts();
        stats.send_modify(|s| {
            s.state = TorrentState::FetchingMetadata { have, of };
            s.peers = peers;
            s.known_addrs = known;
            s.banned = banned;
            s.at = Instant::now();
        });
    }
}
