//! Runs the swarm's disk operations on tokio's blocking pool and sends the results back to
//! the torrent actor. The actor never waits on the disk; how much is queued is bounded by the
//! swarm (`SwarmConfig::max_disk_queue` for writes, `max_reads_per_peer` for reads), which is
//! what bounds the unbounded result channel.

use std::sync::Arc;

use bytes::Bytes;
use sha1::{Digest, Sha1};
use shoal_core::PieceIndex;
use shoal_storage::{ErrorAction, Storage, StorageError};
use shoal_swarm::{DiskDone, DiskOp};
use tokio::sync::mpsc;

/// What comes back from the disk pool.
#[derive(Debug)]
pub enum DiskResult {
    /// The result of a swarm operation.
    Done(DiskDone),
    /// A whole piece read for the upload cache.
    PieceRead {
        piece: PieceIndex,
        data: Result<Bytes, String>,
    },
    /// The files' states, for the file watch.
    FileStates(Result<Vec<shoal_storage::FileState>, String>),
    /// Pieces that failed a re-check.
    Rechecked(Vec<PieceIndex>),
}

/// Where disk results go.
pub type DiskResults = mpsc::UnboundedSender<DiskResult>;

/// Starts `op` on the blocking pool.
pub fn submit(storage: &Arc<dyn Storage>, op: DiskOp, results: &DiskResults) {
    let storage = Arc::clone(storage);
    let results = results.clone();
    tokio::task::spawn_blocking(move || {
        let done = run(storage.as_ref(), op);
        // The actor may have stopped meanwhile; then nobody needs the result.
        let _ = results.send(DiskResult::Done(done));
    });
}

/// Reads a whole piece on the blocking pool (for the upload cache).
pub fn read_piece(storage: &Arc<dyn Storage>, piece: PieceIndex, results: &DiskResults) {
    let storage = Arc::clone(storage);
    let results = results.clone();
    tokio::task::spawn_blocking(move || {
        let data = storage
            .piece_len(piece)
            .and_then(|len| storage.read_block_vec(piece, 0, len))
            .map(Bytes::from)
            .map_err(|e| e.to_string());
        let _ = results.send(DiskResult::PieceRead { piece, data });
    });
}

/// Performs one operation synchronously.
pub fn run(storage: &dyn Storage, op: DiskOp) -> DiskDone {
    match op {
        DiskOp::WritePiece {
            piece,
            blocks,
            expected,
            block_hashes,
        } => {
            let mut hasher = Sha1::new();
            for b in &blocks {
                hasher.update(b);
            }
            let got: [u8; 20] = hasher.finalize().into();
            if got != expected {
                return DiskDone::PieceFailed { piece, blocks };
            }
            let mut offset = 0u32;
            for b in &blocks {
                if let Err(e) = storage.write_block(piece, offset, b) {
                    return write_error(piece, &e);
                }
                offset += b.len() as u32;
            }
            let block_hashes = if block_hashes {
                blocks.iter().map(|b| Sha1::digest(b).into()).collect()
            } else {
                Vec::new()
            };
            DiskDone::PieceWritten {
                piece,
                block_hashes,
            }
        }
        DiskOp::Read { peer, block } => {
            let data = storage
                .read_block_vec(block.piece, block.offset, block.len)
                .map(Bytes::from)
                .map_err(|e| e.to_string());
            DiskDone::Read { peer, block, data }
        }
    }
}

fn write_error(piece: PieceIndex, e: &StorageError) -> DiskDone {
    DiskDone::WriteError {
        piece,
        disk_full: e.action() == ErrorAction::PauseDownloading,
        message: e.to_string(),
    }
}
