//! The session: our identity, the listening socket, and the torrents we run.
//!
//! The listener task owns the table that routes incoming connections to torrents (by the
//! info-hash in their handshake); torrents are registered with it by message, so no lock is
//! shared between tasks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::Rng;
use shoal_core::metainfo::Metainfo;
use shoal_core::{Bitfield, PeerId};
use shoal_storage::{check_pieces, default_threads, FileStorage, Storage, StorageFile};
use shoal_swarm::{PeerSource, Swarm, SwarmConfig, TorrentParams};
use shoal_tracker::client::TrackerClient;
use shoal_tracker::proto::TrackerList;
use shoal_wire::Handshake;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::announce::{run_announcer, AnnouncerParts, TrackerStatus};
use crate::file_watch::FileWatch;
use crate::handshake::{answer_incoming, read_handshake, HandshakeLimits};
use crate::limits::{RateLimits, TokenBucket};
use crate::resume;
use crate::stats::{TorrentState, TorrentStats};
use crate::tasks::Tasks;
use crate::torrent::{run_torrent, ActorParts, TorrentMsg};
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
    /// Where resume data is kept (`None`: no resume data, every start re-checks the files).
    pub state_dir: Option<PathBuf>,
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
        }
    }
}

/// One torrent to start.
#[derive(Clone, Debug)]
pub struct AddTorrent {
    pub metainfo: Arc<Metainfo>,
    /// The directory the torrent's files go under.
    pub download_dir: PathBuf,
    /// Peers to dial directly.
    pub peers: Vec<SocketAddr>,
    /// Announce to the torrent's trackers.
    pub use_trackers: bool,
    /// Per-file download flags in file order; `None` downloads everything.
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
    config: SessionConfig,
    peer_id: PeerId,
    listen_addr: Option<SocketAddr>,
    listener: Option<mpsc::Sender<ListenerMsg>>,
    tasks: Tasks,
    tracker_client: TrackerClient,
    rng: rand::rngs::StdRng,
    limits: Arc<RateLimits>,
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
        let limits = Arc::new(RateLimits {
            upload: config.upload_limit.map(TokenBucket::new),
            download: config.download_limit.map(TokenBucket::new),
        });
        Ok(Self {
            config,
            peer_id,
            listen_addr,
            listener,
            tasks,
            tracker_client,
            rng,
            limits,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The bound listen address (with the real port when 0 was asked for).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// Opens the torrent's files, checks what is already there, and starts it.
    pub async fn add_torrent(
        &mut self,
        add: AddTorrent,
        check_progress: impl Fn(u32, u32) + Send + Sync + 'static,
    ) -> Result<TorrentHandle, EngineError> {
        let meta = Arc::clone(&add.metainfo);
        if !meta.has_v1() {
            return Err(EngineError::Unsupported(
                "v2-only torrents cannot be downloaded yet".into(),
            ));
        }
        let files: Vec<StorageFile> = meta
            .files()
            .iter()
            .map(|f| {
                let rel: PathBuf = f.path.components().map(|c| c.as_str()).collect();
                if f.pad {
                    StorageFile::pad(rel, f.length)
                } else {
                    StorageFile::new(rel, f.length)
                }
            })
            .collect();
        let dir = add.download_dir.clone();
        let piece_length = meta.piece_length();
        let hashes: Vec<[u8; 20]> = meta.piece_hashes().to_vec();
        let check_hashes = hashes.clone();
        let progress = Arc::new(check_progress);
        let wire_id = meta.info_hash().wire_id();
        let resume_path = self
            .config
            .state_dir
            .as_ref()
            .map(|d| resume::path_for(d, &wire_id));
        let resume_file = resume_path.clone();
        let layout = meta.layout();
        let (storage, have) = tokio::task::spawn_blocking(move || {
            let storage = FileStorage::open(&dir, piece_length, files)?;
            let now = resume::file_records(&storage.file_sizes_and_mtimes()?);
            let count = check_hashes.len() as u32;
            let saved = resume_file
                .as_deref()
                .and_then(resume::load)
                .filter(|r| r.info_hash == wire_id);
            let (mut have, to_check) = match saved {
                Some(r) => resume::trusted_pieces(&r, &now, &layout),
                None => resume::trusted_pieces(
                    &resume::ResumeData {
                        info_hash: wire_id,
                        have: Bitfield::new(count),
                        files: Vec::new(),
                    },
                    &now,
                    &layout,
                ),
            };
            if !to_check.is_empty() {
                let p = Arc::clone(&progress);
                let checked = check_pieces(
                    &storage,
                    &check_hashes,
                    &to_check,
                    default_threads(),
                    &move |c| {
                        p(c.checked, c.total);
                        std::ops::ControlFlow::Continue(())
                    },
                )?;
                for i in checked.iter_ones() {
                    have.set(i, true);
                }
            }
            Ok::<_, shoal_storage::StorageError>((storage, have))
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
        .map_err(|e| EngineError::Storage(e.to_string()))?;
        let storage: Arc<dyn Storage> = Arc::new(storage);

        let mut ours = Handshake::new(wire_id, self.peer_id);
        ours.set_extension_protocol_bit(true);
        ours.set_fast_bit(true);
        let params = TorrentParams {
            total_length: meta.total_length(),
            piece_length,
            piece_hashes: hashes,
            have,
            our_id: self.peer_id,
            listen_port: self.listen_addr.map(|a| a.port()),
        };
        let now = Instant::now();
        let mut swarm = Swarm::new(params, self.config.swarm.clone(), now, self.rng.random())
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        if let Some(wanted) = &add.files {
            swarm.set_wanted_files(
                &meta.files().iter().map(|f| f.length).collect::<Vec<_>>(),
                wanted,
            );
        }
        if let Some(addr) = self.listen_addr {
            swarm.exclude_addr(addr);
        }
        swarm.add_peers(now, add.peers.iter().copied(), PeerSource::Manual);

        let mut initial = TorrentStats::new(
            meta.name().to_string(),
            meta.info_hash().to_string(),
            meta.total_length(),
            meta.piece_count(),
        );
        initial.state = TorrentState::Downloading;
        let (stats_tx, stats_rx) = watch::channel(initial);
        let (inbox_tx, inbox_rx) = mpsc::channel(256);
        let (actor_done_tx, actor_done_rx) = oneshot::channel();
        let parts = ActorParts {
            swarm,
            storage,
            our_handshake: ours,
            handshake_limits: self.config.handshake,
            inbox: inbox_rx,
            inbox_tx: inbox_tx.clone(),
            stats: stats_tx,
            tasks: self.tasks.clone(),
            limits: Arc::clone(&self.limits),
            resume_path,
            info_hash: wire_id,
            file_watch: FileWatch::new(
                Arc::new(meta.layout()),
                meta.files()
                    .iter()
                    .map(|f| (!f.pad).then_some(f.length))
                    .collect(),
            ),
            piece_hashes: Arc::new(meta.piece_hashes().to_vec()),
        };
        self.tasks.spawn("torrent", async move {
            run_torrent(parts).await;
            let _ = actor_done_tx.send(());
        });
        if let Some(l) = &self.listener {
            let _ = l
                .send(ListenerMsg::Register {
                    wire_id,
                    ours,
                    torrent: inbox_tx.clone(),
                })
                .await;
        }

        let (tracker_tx, tracker_rx) = watch::channel(TrackerStatus::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ann_done_tx, ann_done_rx) = oneshot::channel();
        let trackers = TrackerList::from_strs(meta.trackers(), &mut self.rng).0;
        let announcing = add.use_trackers && !trackers.is_empty();
        if announcing {
            let parts = AnnouncerParts {
                client: self.tracker_client.clone(),
                trackers,
                info_hash: meta.info_hash(),
                peer_id: self.peer_id,
                port: self.listen_addr.map_or(0, |a| a.port()),
                key: self.rng.random(),
                numwant: self.config.numwant,
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
        })
    }

    /// Stops every task, waiting at most `limit`.
    pub async fn shutdown(self, limit: Duration) -> bool {
        self.tasks.shutdown(limit).await
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

    /// Stops the torrent: trackers hear `stopped` (bounded wait), connections close, written
    /// data is flushed to disk. Waits at most `limit`.
    pub async fn stop(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
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
