//! One actor task per torrent. It owns the torrent's [`Swarm`] outright; connection tasks,
//! dial tasks, disk jobs and the announcer talk to it only through its channels.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use shoal_storage::Storage;
use shoal_swarm::{DiskDone, DiskOp, PeerKey, PeerSource, Swarm, SwarmEvent};
use shoal_wire::{Features, Handshake};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::conn::{run_connection, PeerInput};
use crate::disk::{self, DiskResult};
use crate::file_watch::FileWatch;
use crate::handshake::{connect_outgoing, HandshakeError, HandshakeLimits};
use crate::limits::RateLimits;
use crate::read_cache::ReadCache;
use crate::resume_writer::ResumeWriter;
use crate::stats::{TorrentState, TorrentStats};
use crate::tasks::Tasks;

/// Messages to a torrent actor (other than peer bytes, which have their own channel).
#[derive(Debug)]
pub enum TorrentMsg {
    /// An incoming connection whose handshake named this torrent; ours was already sent.
    Incoming {
        stream: TcpStream,
        addr: SocketAddr,
        theirs: Handshake,
        rest: BytesMut,
    },
    /// A dial finished.
    Dialed {
        addr: SocketAddr,
        result: Result<(TcpStream, Handshake, BytesMut), HandshakeError>,
    },
    /// Peer addresses from a tracker, the DHT, PEX or the user.
    Peers(Vec<SocketAddr>, PeerSource),
    /// Never dial this address (our own, as trackers report it).
    Exclude(SocketAddr),
    /// Disk space may be back: try downloading again.
    ResumeDownloading,
    /// The user paused (true) or resumed (false) the torrent.
    SetPaused(bool),
    /// Stop: close every connection and end the task.
    Stop,
}

/// How the actor is wired up.
pub struct ActorParts {
    pub swarm: Swarm,
    pub storage: Arc<dyn Storage>,
    pub our_handshake: Handshake,
    pub handshake_limits: HandshakeLimits,
    pub inbox: mpsc::Receiver<TorrentMsg>,
    /// A sender to the same inbox, for the dial tasks this actor starts.
    pub inbox_tx: mpsc::Sender<TorrentMsg>,
    pub stats: watch::Sender<TorrentStats>,
    pub tasks: Tasks,
    pub limits: Arc<RateLimits>,
    /// Where to keep resume data, if anywhere.
    pub resume_path: Option<PathBuf>,
    pub info_hash: [u8; 20],
    pub file_watch: FileWatch,
    pub piece_hashes: Arc<Vec<[u8; 20]>>,
    /// Connections a magnet link's metadata phase hands over (already adopted by `swarm`).
    pub adopted: Option<Adopted>,
}

/// The live connections of a metadata phase: their writers and the channel their tasks
/// report on, which the torrent actor takes over as its own.
pub struct Adopted {
    pub writers: HashMap<PeerKey, mpsc::UnboundedSender<Bytes>>,
    pub peer_tx: mpsc::Sender<PeerInput>,
    pub peer_rx: mpsc::Receiver<PeerInput>,
}

/// Memory for pieces read to serve uploads.
const READ_CACHE_BYTES: usize = 32 << 20;
/// How long after a disk error downloading is tried again.
const DISK_RETRY: Duration = Duration::from_secs(10);
/// How often the per-piece map is refreshed in the stats.
const PIECE_MAP_EVERY: Duration = Duration::from_secs(1);
/// How often stats are published at most.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// Peer inputs handled per wake-up before outputs are flushed; amortises the flush.
const BATCH: usize = 64;
/// Capacity of the shared peer-input channel: bounds bytes read ahead of the actor to about
/// this many 64 KiB reads; a full channel makes readers wait, which is TCP backpressure.
pub(crate) const PEER_INPUT_CAPACITY: usize = 256;

pub(crate) struct Actor {
    swarm: Swarm,
    storage: Arc<dyn Storage>,
    ours: Handshake,
    handshake_limits: HandshakeLimits,
    writers: HashMap<PeerKey, mpsc::UnboundedSender<Bytes>>,
    peer_tx: mpsc::Sender<PeerInput>,
    inbox_tx: mpsc::Sender<TorrentMsg>,
    disk_tx: disk::DiskResults,
    stats: watch::Sender<TorrentStats>,
    tasks: Tasks,
    limits: Arc<RateLimits>,
    resume: ResumeWriter,
    read_cache: ReadCache,
    last_publish: Instant,
    last_piece_map: Instant,
    file_watch: FileWatch,
    last_file_check: Instant,
    piece_hashes: Arc<Vec<[u8; 20]>>,
    disk_full: bool,
    stopping: bool,
    message: Option<String>,
}

/// Runs a torrent until it is stopped or its inbox closes.
pub async fn run_torrent(parts: ActorParts) {
    let ActorParts {
        swarm,
        storage,
        our_handshake,
        handshake_limits,
        mut inbox,
        inbox_tx,
        stats,
        tasks,
        limits,
        resume_path,
        info_hash,
        file_watch,
        piece_hashes,
        adopted,
    } = parts;
    let (writers, peer_tx, mut peer_rx) = match adopted {
        Some(a) => (a.writers, a.peer_tx, a.peer_rx),
        None => {
            let (tx, rx) = mpsc::channel(PEER_INPUT_CAPACITY);
            (HashMap::new(), tx, rx)
        }
    };
    let (disk_tx, mut disk_rx) = mpsc::unbounded_channel();
    let mut actor = Actor {
        swarm,
        storage,
        ours: our_handshake,
        handshake_limits,
        writers,
        peer_tx,
        inbox_tx,
        disk_tx,
        stats,
        tasks,
        limits,
        resume: ResumeWriter::new(resume_path, info_hash),
        read_cache: ReadCache::new(READ_CACHE_BYTES),
        last_publish: Instant::now() - PUBLISH_EVERY,
        last_piece_map: Instant::now() - PIECE_MAP_EVERY,
        file_watch,
        last_file_check: Instant::now(),
        piece_hashes,
        disk_full: false,
        stopping: false,
        message: None,
    };
    actor.after_input();
    loop {
        let deadline = actor
            .swarm
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        let publish_at = actor.last_publish + PUBLISH_EVERY;
        let wake = deadline.min(publish_at);
        tokio::select! {
            msg = inbox.recv() => match msg {
                Some(TorrentMsg::Stop) | None => break,
                Some(msg) => actor.on_msg(msg),
            },
            input = peer_rx.recv() => {
                // `peer_tx` lives in the actor, so this channel never closes while we run.
                if let Some(input) = input {
                    actor.on_peer_input(input);
                    for _ in 0..BATCH {
                        match peer_rx.try_recv() {
                            Ok(input) => actor.on_peer_input(input),
                            Err(_) => break,
                        }
                    }
                }
            }
            done = disk_rx.recv() => {
                if let Some(done) = done {
                    actor.on_disk_result(done);
                    while let Ok(done) = disk_rx.try_recv() {
                        actor.on_disk_result(done);
                    }
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                if now >= deadline {
                    actor.swarm.handle_timeout(now);
                }
            }
        }
        actor.after_input();
    }
    actor.stop().await;
}

impl Actor {
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
                        self.swarm.exclude_addr(addr);
                    }
                    self.swarm.dial_failed(now, addr);
                }
            },
            TorrentMsg::Peers(addrs, source) => {
                self.swarm.add_peers(now, addrs, source);
            }
            TorrentMsg::Exclude(addr) => self.swarm.exclude_addr(addr),
            TorrentMsg::ResumeDownloading => {
                self.message = None;
                self.disk_full = false;
                self.swarm.resume_downloading(now);
            }
            TorrentMsg::SetPaused(paused) => {
                self.swarm.set_paused(now, paused);
                self.last_publish = now - PUBLISH_EVERY;
            }
            TorrentMsg::Stop => {}
        }
    }

    fn connected(
        &mut self,
        stream: TcpStream,
        addr: SocketAddr,
        theirs: Handshake,
        rest: BytesMut,
        outgoing: bool,
    ) {
        let features = Features::negotiate(&self.ours, &theirs);
        match self
            .swarm
            .peer_connected(Instant::now(), addr, theirs.peer_id, features, outgoing)
        {
            Ok(key) => {
                let (tx, rx) = mpsc::unbounded_channel();
                self.writers.insert(key, tx);
                let _ = stream.set_nodelay(true);
                self.tasks.spawn(
                    "peer connection",
                    run_connection(
                        stream,
                        key.get(),
                        rest,
                        self.peer_tx.clone(),
                        rx,
                        Arc::clone(&self.limits),
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
                self.swarm.handle_peer_bytes(now, PeerKey::new(key), &bytes)
            }
            PeerInput::Closed(key, reason) => {
                let key = PeerKey::new(key);
                if self.writers.remove(&key).is_some() {
                    tracing::debug!(key = key.get(), %reason, "peer disconnected");
                    self.swarm.peer_disconnected(now, key);
                }
            }
        }
    }

    fn on_disk_result(&mut self, result: DiskResult) {
        let now = Instant::now();
        match result {
            DiskResult::Done(done) => self.swarm.handle_disk_done(now, done),
            DiskResult::PieceRead { piece, data } => {
                for (peer, block, data) in self.read_cache.fill(piece, data) {
                    self.swarm
                        .handle_disk_done(now, DiskDone::Read { peer, block, data });
                }
            }
            DiskResult::FileStates(Ok(states)) => {
                let findings = self.file_watch.finish(states, self.swarm.have());
                if !findings.lost.is_empty() {
                    self.lose(&findings.lost, "missing or truncated on disk");
                }
                if !findings.recheck.is_empty() {
                    let storage = Arc::clone(&self.storage);
                    let hashes = Arc::clone(&self.piece_hashes);
                    let tx = self.disk_tx.clone();
                    let pieces = findings.recheck;
                    tokio::task::spawn_blocking(move || {
                        let bad = crate::file_watch::recheck(&storage, &hashes, &pieces);
                        let _ = tx.send(DiskResult::Rechecked(bad));
                    });
                }
            }
            DiskResult::FileStates(Err(e)) => {
                self.file_watch.finish_failed();
                tracing::debug!(error = %e, "reading file states failed");
            }
            DiskResult::Rechecked(bad) => {
                if !bad.is_empty() {
                    self.lose(&bad, "changed on disk");
                }
            }
        }
    }

    /// Pieces that are no longer good on disk: forget them, download them again.
    fn lose(&mut self, pieces: &[shoal_core::PieceIndex], why: &str) {
        tracing::warn!(
            count = pieces.len(),
            "{why}: pieces will be downloaded again"
        );
        for p in pieces {
            self.read_cache.invalidate(*p);
        }
        self.swarm.lose_pieces(Instant::now(), pieces);
        self.message = Some(format!(
            "{} pieces {why}; fetching them again",
            pieces.len()
        ));
    }

    /// Starts a look at the files when it is time.
    fn maybe_check_files(&mut self) {
        if self.stopping || self.last_file_check.elapsed() < crate::file_watch::CHECK_EVERY {
            return;
        }
        self.last_file_check = Instant::now();
        if !self.file_watch.start() {
            return;
        }
        let (storage, tx) = (Arc::clone(&self.storage), self.disk_tx.clone());
        tokio::task::spawn_blocking(move || {
            let states = storage.file_sizes_and_mtimes().map_err(|e| e.to_string());
            let _ = tx.send(DiskResult::FileStates(states));
        });
    }

    /// Drains the swarm's outputs: bytes to peers, disk work, events; publishes stats.
    fn after_input(&mut self) {
        self.maybe_check_files();
        loop {
            while let Some((key, bytes)) = self.swarm.poll_transmit() {
                if let Some(w) = self.writers.get(&key) {
                    let _ = w.send(bytes);
                }
            }
            // Reads answered from the cache feed the swarm at once, which may queue more
            // output; go round until nothing new appears.
            let mut answered = false;
            while let Some(op) = self.swarm.poll_disk_op() {
                match op {
                    DiskOp::Read { peer, block } => {
                        if let Some(data) = self.read_cache.lookup(&block) {
                            let done = DiskDone::Read {
                                peer,
                                block,
                                data: Ok(data),
                            };
                            self.swarm.handle_disk_done(Instant::now(), done);
                            answered = true;
                        } else if self.read_cache.wait(peer, block) {
                            disk::read_piece(&self.storage, block.piece, &self.disk_tx);
                        }
                    }
                    op => disk::submit(&self.storage, op, &self.disk_tx),
                }
            }
            while let Some(event) = self.swarm.poll_event() {
                self.on_event(event);
            }
            if !answered {
                break;
            }
        }
        if self.last_publish.elapsed() >= PUBLISH_EVERY {
            self.publish();
            self.resume.maybe_save(&self.storage, self.swarm.have());
        }
    }

    fn on_event(&mut self, event: SwarmEvent) {
        match event {
            SwarmEvent::Dial(addr) => {
                if self.stopping {
                    return;
                }
                let ours = self.ours;
                let limits = self.handshake_limits;
                let inbox = self.inbox_tx.clone();
                self.tasks.spawn("dial", async move {
                    let result = connect_outgoing(addr, ours, limits).await;
                    let _ = inbox.send(TorrentMsg::Dialed { addr, result }).await;
                });
            }
            SwarmEvent::Close(key, reason) => {
                tracing::debug!(key = key.get(), ?reason, "closing peer");
                // Dropping the writer ends the connection task.
                self.writers.remove(&key);
            }
            SwarmEvent::PieceVerified(piece) => self.file_watch.wrote(piece),
            SwarmEvent::HashFailed(_) => {}
            SwarmEvent::Completed => {
                tracing::info!("download complete");
                // Refresh the piece map now, so the final state shows complete at once.
                self.last_piece_map = Instant::now() - PIECE_MAP_EVERY;
                self.publish();
            }
            SwarmEvent::DiskError { message, disk_full } => {
                let text = if disk_full {
                    format!("disk full, downloading paused (seeding goes on): {message}")
                } else {
                    format!("disk error, downloading paused: {message}")
                };
                tracing::warn!("{text}");
                self.message = Some(text);
                self.disk_full = disk_full;
                self.publish();
                // Try again later: if space came back the writes succeed and downloading
                // goes on; if not, the next failed write pauses it again.
                let inbox = self.inbox_tx.clone();
                self.tasks.spawn("disk retry", async move {
                    tokio::time::sleep(DISK_RETRY).await;
                    let _ = inbox.send(TorrentMsg::ResumeDownloading).await;
                });
            }
        }
    }

    fn publish(&mut self) {
        let now = Instant::now();
        self.last_publish = now;
        let (down_rate, up_rate) = self.swarm.rates(now);
        let peers = self.swarm.peer_infos(now);
        let (known, banned) = self.swarm.addr_counts();
        let have = self.swarm.have().count_ones();
        let have_bytes = self.swarm.bytes_have();
        let totals = self.swarm.totals().clone();
        let complete = self.swarm.is_complete();
        let paused = self.swarm.is_download_paused();
        let disk_queue = self.swarm.disk_queue_bytes();
        let message = self.message.clone();
        let stopping = self.stopping;
        let user_paused = self.swarm.is_paused();
        let disk_full = self.disk_full;
        let piece_map = if now.duration_since(self.last_piece_map) >= PIECE_MAP_EVERY {
            self.last_piece_map = now;
            Some(Arc::new(self.swarm.piece_map()))
        } else {
            None
        };
        self.stats.send_modify(|s| {
            s.pieces_have = have;
            s.have_bytes = have_bytes;
            s.down_rate = down_rate;
            s.up_rate = up_rate;
            s.downloaded = totals.downloaded;
            s.uploaded = totals.uploaded;
            s.wasted = totals.wasted;
            s.hash_failures = totals.hash_failures;
            s.peers = peers;
            s.known_addrs = known;
            s.banned = banned;
            s.disk_queue_bytes = disk_queue;
            s.message = message;
            s.disk_full = disk_full;
            if let Some(map) = piece_map {
                s.pieces = Some(map);
            }
            s.at = now;
            s.state = if stopping || user_paused {
                TorrentState::Stopped
            } else if complete {
                TorrentState::Seeding
            } else if paused {
                TorrentState::DiskPaused
            } else {
                TorrentState::Downloading
            };
        });
    }

    /// Closes every connection, makes written data durable, publishes the final state.
    async fn stop(&mut self) {
        self.stopping = true;
        self.writers.clear();
        let storage = Arc::clone(&self.storage);
        let flushed = tokio::task::spawn_blocking(move || storage.flush()).await;
        if let Ok(Err(e)) = flushed {
            self.message = Some(format!("could not flush data to disk: {e}"));
        }
        self.resume.save_now(&self.storage, self.swarm.have()).await;
        self.publish();
    }
}
