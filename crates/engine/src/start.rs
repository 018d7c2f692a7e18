//! Starting a torrent whose metadata is known: open its files, check what is already there,
//! build its swarm and the actor's parts. Shared by torrents added from a .torrent file and by
//! magnet links once their metadata arrived.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use shoal_core::metainfo::Metainfo;
use shoal_core::{Bitfield, PeerId};
use shoal_storage::{check_pieces, default_threads, FileStorage, Storage, StorageFile};
use shoal_swarm::{Handoff, PeerSource, Swarm, TorrentParams};
use shoal_wire::Handshake;
use tokio::sync::{mpsc, watch};

use crate::file_watch::FileWatch;
use crate::limits::RateLimits;
use crate::resume;
use crate::session::SessionConfig;
use crate::stats::TorrentStats;
use crate::tasks::Tasks;
use crate::torrent::{ActorParts, Adopted, TorrentMsg};
use crate::EngineError;

/// What a torrent's tasks need from the session; cheap to clone into a task.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub config: Arc<SessionConfig>,
    pub peer_id: PeerId,
    pub listen_addr: Option<SocketAddr>,
    pub tasks: Tasks,
    pub limits: Arc<RateLimits>,
}

impl Ctx {
    /// Our handshake for a torrent: BEP 10 and BEP 6 on.
    pub fn handshake(&self, wire_id: [u8; 20]) -> Handshake {
        let mut ours = Handshake::new(wire_id, self.peer_id);
        ours.set_extension_protocol_bit(true);
        ours.set_fast_bit(true);
        ours
    }
}

/// How a torrent is to be run, whatever its source.
#[derive(Clone, Debug)]
pub(crate) struct RunOptions {
    pub download_dir: PathBuf,
    /// Addresses to dial at start, with where they came from.
    pub peers: Vec<(SocketAddr, PeerSource)>,
    pub files: Option<Vec<bool>>,
}

/// The channels a torrent actor is reached through, made before it starts.
pub(crate) struct Channels {
    pub inbox: mpsc::Receiver<TorrentMsg>,
    pub inbox_tx: mpsc::Sender<TorrentMsg>,
    pub stats: watch::Sender<TorrentStats>,
}

/// Opens the torrent's files, checks what is already there (reporting `(checked, total)` to
/// `progress`), and returns the actor's parts, ready for [`crate::torrent::run_torrent`].
/// `handoff` carries a magnet link's live connections into the torrent.
pub(crate) async fn prepare(
    ctx: &Ctx,
    meta: Arc<Metainfo>,
    opts: &RunOptions,
    channels: Channels,
    seed: u64,
    progress: Arc<dyn Fn(u32, u32) + Send + Sync>,
    handoff: Option<(Handoff, Adopted)>,
) -> Result<ActorParts, EngineError> {
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
    let dir = opts.download_dir.clone();
    let piece_length = meta.piece_length();
    let hashes: Vec<[u8; 20]> = meta.piece_hashes().to_vec();
    let check_hashes = hashes.clone();
    let wire_id = meta.info_hash().wire_id();
    let resume_path = ctx
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
        let fresh = resume::ResumeData {
            info_hash: wire_id,
            have: Bitfield::new(count),
            files: Vec::new(),
        };
        let (mut have, to_check) =
            resume::trusted_pieces(saved.as_ref().unwrap_or(&fresh), &now, &layout);
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

    let params = TorrentParams {
        total_length: meta.total_length(),
        piece_length,
        piece_hashes: hashes,
        have,
        our_id: ctx.peer_id,
        listen_port: ctx.listen_addr.map(|a| a.port()),
        info_bytes: Some(bytes::Bytes::copy_from_slice(meta.info_bytes())),
        private: meta.is_private(),
    };
    let now = Instant::now();
    let mut swarm = Swarm::new(params, ctx.config.swarm.clone(), now, seed)
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    if let Some(wanted) = &opts.files {
        swarm.set_wanted_files(
            &meta.files().iter().map(|f| f.length).collect::<Vec<_>>(),
            wanted,
        );
    }
    if let Some(addr) = ctx.listen_addr {
        swarm.exclude_addr(addr);
    }
    let adopted = handoff.map(|(handoff, adopted)| {
        swarm.adopt(now, handoff);
        adopted
    });
    for (addr, source) in &opts.peers {
        swarm.add_peers(now, [*addr], *source);
    }
    Ok(ActorParts {
        swarm,
        storage,
        our_handshake: ctx.handshake(wire_id),
        handshake_limits: ctx.config.handshake,
        inbox: channels.inbox,
        inbox_tx: channels.inbox_tx,
        stats: channels.stats,
        tasks: ctx.tasks.clone(),
        limits: Arc::clone(&ctx.limits),
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
        adopted,
    })
}
