//! The session: our identity, the listening socket, the DHT node, and the torrents we run.
//!
//! The listener task owns the table that routes incoming connections to torrents (by the
//! info-hash in their handshake); torrents are registered with it by message, so no lock is
//! shared between tasks.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rand::Rng;
use shoal_core::magnet::Magnet;
use shoal_core::metainfo::Metainfo;
use shoal_core::{InfoHash, PeerId};
use shoal_swarm::{PeerSource, SwarmConfig};
use shoal_tracker::client::TrackerClient;
use shoal_tracker::proto::TrackerList;
use shoal_wire::Handshake;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::announce::{run_announcer, AnnouncerParts, TrackerStatus};
use crate::dht::{run_torrent_dht, DhtConfig, DhtStatus, SessionDht};
use crate::handshake::{answer_incoming, read_handshake, HandshakeLimits};
use crate::limits::{RateLimits, TokenBucket};
use crate::magnet::{run_magnet, MagnetParts};
use crate::start::{prepare, Channels, Ctx, RunOptions};
use crate::stats::{TorrentState, TorrentStats};
use crate::tasks::Tasks;
use crate::torrent::{run_torrent, TorrentMsg};
use crate::EngineError;

/// Settings of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Where to accept peers; `None` for no incoming connections.
    pub listen: Option<SocketAddr>,
    /// Time limits for opening peer connections, and the address outgoing ones come from
    /// (`handshake.local_ip`; `None`: any). Tracker requests are not bound.
    pub handshake: HandshakeLimits,
    pub swarm: SwarmConfig,
    pub tracker: shoal_tracker::client::ClientConfig,
    /// Peers asked of a tracker per announce.
    pub numwant: u32,
    /// Seed for every random choice of the session (peer id, picker ties); random by default.
    pub seed: Option<u64>,
    /// Global upload limit in bytes/s.
    pub upload_limit: Option<u64>,
    /// Global download limit in bytes/s.
    pub download_limit: Option<u64>,
    /// Where resume data (and the DHT routing table) are kept (`None`: nowhere, every start
    /// re-checks the files).
    pub state_dir: Option<PathBuf>,
    /// The DHT (BEP 5), used by public torrents; `None`: off. The node binds the listen IP.
    pub dht: Option<DhtConfig>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            listen: None,
            handshake: HandshakeLimits::default(),
            swarm: SwarmConfig::default(),
            tracker: shoal_tracker::client::ClientConfig::default(),
            numwant: 80,
            seed: None,
            upload_limit: None,
            download_limit: None,
            state_dir: None,
            dht: None,
        }
    }
}

/// Where a torrent's metadata comes from.
#[derive(Clone, Debug)]
pub enum TorrentSource {
    /// A .torrent file: the torrent starts at once.
    Metainfo(Arc<Metainfo>),
    /// A magnet link: the info dictionary is fetched from peers first (BEP 9), then saved as
    /// `<download_dir>/<name>.torrent`, and the torrent goes on as if added from that file.
    Magnet(Box<Magnet>),
}

impl TorrentSource {
    pub fn info_hash(&self) -> InfoHash {
        match self {
            TorrentSource::Metainfo(m) => m.info_hash(),
            TorrentSource::Magnet(m) => m.info_hash,
        }
    }

    /// A name to show: the torrent's, or the link's `dn` (else the info-hash) until the
    /// metadata is known.
    pub fn name(&self) -> String {
        match self {
            TorrentSource::Metainfo(m) => m.name().to_string(),
            TorrentSource::Magnet(m) => m.name.clone().unwrap_or_else(|| m.info_hash.to_string()),
        }
    }

    /// Tracker tiers.
    pub fn trackers(&self) -> &[Vec<String>] {
        match self {
            TorrentSource::Metainfo(m) => m.trackers(),
            TorrentSource::Magnet(m) => &m.trackers,
        }
    }
}

impl From<Arc<Metainfo>> for TorrentSource {
    fn from(m: Arc<Metainfo>) -> Self {
        TorrentSource::Metainfo(m)
    }
}

impl From<Magnet> for TorrentSource {
    fn from(m: Magnet) -> Self {
        TorrentSource::Magnet(Box::new(m))
    }
}

/// One torrent to start.
#[derive(Clone, Debug)]
pub struct AddTorrent {
    pub source: TorrentSource,
    /// The directory the torrent's files go under.
    pub download_dir: PathBuf,
    /// Peers to dial directly.
    pub peers: Vec<SocketAddr>,
    /// Announce to the torrent's trackers.
    pub use_trackers: bool,
    /// Per-file download flags in file order; `None` downloads everything (for a magnet
    /// link: what its `so=` selects).
    pub files: Option<Vec<bool>>,
}

enum ListenerMsg {
    Register {
        wire_id: [u8; 20],
        ours: Handshake,
        torrent: mpsc::Sender<TorrentMsg>,
    },
    Unregister([u8; 20]),
    Handshaken {
        stream: TcpStream,
        addr: SocketAddr,
        theirs: Handshake,
        rest: BytesMut,
    },
}

/// A running session.
pub struct Session {
    ctx: Ctx,
    listener: Option<mpsc::Sender<ListenerMsg>>,
    tracker_client: TrackerClient,
    rng: rand::rngs::StdRng,
    dht: Option<SessionDht>,
}

/// Control of one running torrent.
pub struct TorrentHandle {
    inbox: mpsc::Sender<TorrentMsg>,
    stats: watch::Receiver<TorrentStats>,
    trackers: watch::Receiver<TrackerStatus>,
    stop_announcer: Option<oneshot::Sender<()>>,
    announcer_done: Option<oneshot::Receiver<()>>,
    actor_done: Option<oneshot::Receiver<()>>,
    wire_id: [u8; 20],
    listener: Option<mpsc::Sender<ListenerMsg>>,
    /// The torrent's helper tasks (DHT lookups); cancelled when it stops.
    helpers: Tasks,
}

impl Session {
    pub async fn start(config: SessionConfig) -> Result<Self, EngineError> {
        use rand::SeedableRng;
        let mut rng = match config.seed {
            Some(s) => rand::rngs::StdRng::seed_from_u64(s),
            None => rand::rngs::StdRng::from_os_rng(),
        };
        let peer_id = PeerId::generate(&mut rng);
        let tasks = Tasks::new();
        let tracker_client = TrackerClient::new(config.tracker.clone())
            .map_err(|e| EngineError::Tracker(e.to_string()))?;
        let (listen_addr, listener) = match config.listen {
            Some(addr) => {
                let sock = TcpListener::bind(addr)
                    .await
                    .map_err(|e| EngineError::Listen(addr, e.to_string()))?;
                let bound = sock
                    .local_addr()
                    .map_err(|e| EngineError::Listen(addr, e.to_string()))?;
                let (tx, rx) = mpsc::channel(256);
                let limits = config.handshake;
                let accept_tasks = tasks.clone();
                tasks.spawn(
                    "listener",
                    run_listener(sock, rx, tx.clone(), limits, accept_tasks),
                );
                (Some(bound), Some(tx))
            }
            None => (None, None),
        };
        let dht = match &config.dht {
            Some(dc) => {
                let ip = listen_addr.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
                let port = listen_addr.map(|a| a.port());
                Some(SessionDht::start(dc, ip, port, config.state_dir.as_deref(), &tasks).await?)
            }
            None => None,
        };
        let limits = Arc::new(RateLimits {
            upload: config.upload_limit.map(TokenBucket::new),
            download: config.download_limit.map(TokenBucket::new),
        });
        Ok(Self {
            ctx: Ctx {
                config: Arc::new(config),
                peer_id,
                listen_addr,
                tasks,
                limits,
            },
            listener,
            tracker_client,
            rng,
            dht,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.ctx.peer_id
    }

    /// The bound listen address (with the real port when 0 was asked for).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.ctx.listen_addr
    }

    /// The DHT node's state, when the DHT is on.
    pub fn dht_status(&self) -> Option<watch::Receiver<DhtStatus>> {
        self.dht.as_ref().map(SessionDht::status)
    }

    /// Starts a torrent. From a .torrent file its files are opened and checked first (with
    /// `check_progress(checked, total)`); a magnet link returns at once and fetches its
    /// metadata in the background (its stats say [`TorrentState::FetchingMetadata`]).
    pub async fn add_torrent(
        &mut self,
        add: AddTorrent,
        check_progress: impl Fn(u32, u32) + Send + Sync + 'static,
    ) -> Result<TorrentHandle, EngineError> {
        let info_hash = add.source.info_hash();
        let wire_id = info_hash.wire_id();
        let ours = self.ctx.handshake(wire_id);
        let (inbox_tx, inbox_rx) = mpsc::channel(256);
        let (actor_done_tx, actor_done_rx) = oneshot::channel();
        let mut opts = RunOptions {
            download_dir: add.download_dir.clone(),
            peers: add.peers.iter().map(|a| (*a, PeerSource::Manual)).collect(),
            files: add.files.clone(),
        };
        let seed: u64 = self.rng.random();
        let private = match &add.source {
            TorrentSource::Metainfo(m) => m.is_private(),
            // Unknown until the metadata arrives; the actor stops the DHT then if it is.
            TorrentSource::Magnet(_) => false,
        };
        let helpers = self.ctx.tasks.child();
        let stats_rx = match &add.source {
            TorrentSource::Metainfo(meta) => {
                let mut initial = TorrentStats::new(
                    meta.name().to_string(),
                    info_hash.to_string(),
                    meta.total_length(),
                    meta.piece_count(),
                );
                let (stats_tx, stats_rx) = watch::channel(initial.clone());
                let channels = Channels {
                    inbox: inbox_rx,
                    inbox_tx: inbox_tx.clone(),
                    stats: stats_tx,
                };
                let parts = prepare(
                    &self.ctx,
                    Arc::clone(meta),
                    &opts,
                    channels,
                    seed,
                    Arc::new(check_progress),
                    None,
                )
                .await?;
                initial.state = TorrentState::Downloading;
                parts.stats.send_replace(initial);
                self.ctx.tasks.spawn("torrent", async move {
                    run_torrent(parts).await;
                    let _ = actor_done_tx.send(());
                });
                stats_rx
            }
            TorrentSource::Magnet(magnet) => {
                let mut initial = TorrentStats::new(add.source.name(), info_hash.to_string(), 0, 0);
                initial.state = TorrentState::FetchingMetadata { have: 0, of: 0 };
                let (stats_tx, stats_rx) = watch::channel(initial);
                opts.peers
                    .extend(magnet.peers.iter().map(|a| (*a, PeerSource::Manual)));
                if opts.files.is_none() {
                    opts.files = magnet.select_only.clone();
                }
                let parts = MagnetParts {
                    magnet: (**magnet).clone(),
                    ctx: self.ctx.clone(),
                    opts,
                    channels: Channels {
                        inbox: inbox_rx,
                        inbox_tx: inbox_tx.clone(),
                        stats: stats_tx,
                    },
                    seed,
                    helpers: helpers.clone(),
                };
                self.ctx.tasks.spawn("magnet", async move {
                    run_magnet(parts).await;
                    let _ = actor_done_tx.send(());
                });
                stats_rx
            }
        };
        if let Some(l) = &self.listener {
            let _ = l
                .send(ListenerMsg::Register {
                    wire_id,
                    ours,
                    torrent: inbox_tx.clone(),
                })
                .await;
        }
        if let (Some(dht), false) = (&self.dht, private) {
            helpers.spawn(
                "dht lookups",
                run_torrent_dht(
                    dht.handle(),
                    dht.status(),
                    info_hash,
                    self.ctx.listen_addr.map(|a| a.port()),
                    inbox_tx.clone(),
                ),
            );
        }

        let (tracker_tx, tracker_rx) = watch::channel(TrackerStatus::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ann_done_tx, ann_done_rx) = oneshot::channel();
        let trackers = TrackerList::from_strs(add.source.trackers(), &mut self.rng).0;
        let announcing = add.use_trackers && !trackers.is_empty();
        if announcing {
            let parts = AnnouncerParts {
                client: self.tracker_client.clone(),
                trackers,
                info_hash,
                peer_id: self.ctx.peer_id,
                port: self.ctx.listen_addr.map_or(0, |a| a.port()),
                key: self.rng.random(),
                numwant: self.ctx.config.numwant,
                stats: stats_rx.clone(),
                torrent: inbox_tx.clone(),
                stop: stop_rx,
                status: tracker_tx,
            };
            // Not spawned through `Tasks::spawn`: it must outlive cancellation long enough
            // to send `stopped`, which `TorrentHandle::stop` waits for (bounded).
            tokio::spawn(async move {
                run_announcer(parts).await;
                let _ = ann_done_tx.send(());
            });
        }
        Ok(TorrentHandle {
            inbox: inbox_tx,
            stats: stats_rx,
            trackers: tracker_rx,
            stop_announcer: announcing.then_some(stop_tx),
            announcer_done: announcing.then_some(ann_done_rx),
            actor_done: Some(actor_done_rx),
            wire_id,
            listener: self.listener.clone(),
            helpers,
        })
    }

    /// Stops every task, waiting at most `limit`; the DHT routing table is saved first.
    pub async fn shutdown(self, limit: Duration) -> bool {
        if let Some(dht) = self.dht {
            dht.shutdown().await;
        }
        self.ctx.tasks.shutdown(limit).await
    }
}

impl TorrentHandle {
    pub fn stats(&self) -> watch::Receiver<TorrentStats> {
        self.stats.clone()
    }

    pub fn trackers(&self) -> watch::Receiver<TrackerStatus> {
        self.trackers.clone()
    }

    pub async fn add_peers(&self, peers: Vec<SocketAddr>, source: PeerSource) {
        let _ = self.inbox.send(TorrentMsg::Peers(peers, source)).await;
    }

    pub async fn resume_downloading(&self) {
        let _ = self.inbox.send(TorrentMsg::ResumeDownloading).await;
    }

    /// Pauses (closes every connection, dials nobody) or resumes the torrent.
    pub async fn set_paused(&self, paused: bool) {
        let _ = self.inbox.send(TorrentMsg::SetPaused(paused)).await;
    }

    /// Stops the torrent: trackers hear `stopped` (bounded wait), connections close, written
    /// data is flushed to disk. Waits at most `limit`.
    pub async fn stop(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        self.helpers.cancel();
        if let Some(l) = &self.listener {
            let _ = l.send(ListenerMsg::Unregister(self.wire_id)).await;
        }
        let _ = self.inbox.send(TorrentMsg::Stop).await;
        if let Some(done) = self.actor_done.take() {
            let _ = tokio::time::timeout_at(deadline, done).await;
        }
        if let Some(stop) = self.stop_announcer.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.announcer_done.take() {
            let _ = tokio::time::timeout_at(deadline, done).await;
        }
    }
}

async fn run_listener(
    sock: TcpListener,
    mut rx: mpsc::Receiver<ListenerMsg>,
    tx: mpsc::Sender<ListenerMsg>,
    limits: HandshakeLimits,
    tasks: Tasks,
) {
    let mut torrents: HashMap<[u8; 20], (Handshake, mpsc::Sender<TorrentMsg>)> = HashMap::new();
    loop {
        tokio::select! {
            accepted = sock.accept() => {
                let Ok((mut stream, addr)) = accepted else { continue };
                let tx = tx.clone();
                tasks.spawn("incoming handshake", async move {
                    let read = tokio::time::timeout(limits.handshake, read_handshake(&mut stream)).await;
                    if let Ok(Ok((theirs, rest))) = read {
                        let _ = tx.send(ListenerMsg::Handshaken { stream, addr, theirs, rest }).await;
                    }
                });
            }
            msg = rx.recv() => match msg {
                None => return,
                Some(ListenerMsg::Register { wire_id, ours, torrent }) => {
                    torrents.insert(wire_id, (ours, torrent));
                }
                Some(ListenerMsg::Unregister(id)) => {
                    torrents.remove(&id);
                }
                Some(ListenerMsg::Handshaken { mut stream, addr, theirs, rest }) => {
                    // Unknown torrents are dropped without an answer.
                    let Some((ours, torrent)) = torrents.get(&theirs.info_hash).cloned() else { continue };
                    tasks.spawn("answer handshake", async move {
                        if answer_incoming(&mut stream, ours, &theirs, limits).await.is_ok() {
                            let _ = torrent.send(TorrentMsg::Incoming { stream, addr, theirs, rest }).await;
                        }
                    });
                }
            }
        }
    }
}
