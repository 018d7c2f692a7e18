//! The `Storage` trait every backend implements, and the types it speaks.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use sha1::{Digest, Sha1};
use shoal_core::{Bitfield, PieceIndex};

use crate::check::{self, CheckProgress};
use crate::error::StorageError;

/// Pieces are read back for hashing in chunks of this size, so hashing a 64 MiB piece needs a
/// 256 KiB buffer, not a 64 MiB one.
pub const HASH_CHUNK: u32 = 256 * 1024;

/// One entry of a torrent's file list, as storage needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageFile {
    /// Path relative to the download directory, built from sanitised components only.
    /// Storage checks again that it is relative and has no `..`, `.` or root component.
    pub path: PathBuf,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 padding file: never created or written; reads as zeros.
    pub pad: bool,
}

impl StorageFile {
    pub fn new(path: impl Into<PathBuf>, length: u64) -> Self {
        Self {
            path: path.into(),
            length,
            pad: false,
        }
    }

    pub fn pad(path: impl Into<PathBuf>, length: u64) -> Self {
        Self {
            path: path.into(),
            length,
            pad: true,
        }
    }
}

/// What is on disk for one file, for comparing against saved resume state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// A padding file: nothing on disk by design.
    Pad,
    /// No file there (yet).
    Missing,
    /// A regular file of this length, last modified then.
    Present { len: u64, modified: SystemTime },
}

/// Piece-addressed storage for one torrent.
///
/// Every method is synchronous and may block on disk: call them from a blocking thread pool,
/// never from an async task. Methods take `&self` and implementations are `Sync`, so the pool
/// can run several operations on the same torrent at once (positioned I/O has no shared file
/// cursor to protect). Writes to overlapping ranges at the same time are the caller's race.
pub trait Storage: Send + Sync {
    /// Number of pieces in the torrent.
    fn piece_count(&self) -> u32;

    /// Length of `piece` (the last piece may be short).
    fn piece_len(&self, piece: PieceIndex) -> Result<u32, StorageError>;

    /// Writes `data` at `offset` within `piece`. The range must lie inside the piece.
    fn write_block(&self, piece: PieceIndex, offset: u32, data: &[u8]) -> Result<(), StorageError>;

    /// Fills `buf` with the bytes at `offset` within `piece`. The range must lie inside the piece.
    fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), StorageError>;

    /// Makes every write so far durable (fsync of written files and of new directory entries).
    fn flush(&self) -> Result<(), StorageError>;

    /// Length and modification time of every file, in file-list order, for resume checks.
    fn file_sizes_and_mtimes(&self) -> Result<Vec<FileState>, StorageError>;

    /// Creates file `file` if needed and sets its length to exactly the torrent's length for it
    /// (extending sparsely; a longer file is cut, since bytes past the end cannot belong to this
    /// torrent). A no-op for padding files.
    fn set_file_len(&self, file: usize) -> Result<(), StorageError>;

    /// Reads `len` bytes into a new buffer. The range is checked against the piece before
    /// anything is allocated, so `len` may come straight from a peer's request.
    fn read_block_vec(
        &self,
        piece: PieceIndex,
        offset: u32,
        len: u32,
    ) -> Result<Vec<u8>, StorageError> {
        let piece_len = self.piece_len(piece)?;
        if u64::from(offset) + u64::from(len) > u64::from(piece_len) {
            return Err(StorageError::OutOfBounds {
                piece: piece.get(),
                offset,
                len: u64::from(len),
                piece_len,
            });
        }
        let mut buf = vec![0u8; len as usize];
        self.read_block(piece, offset, &mut buf)?;
        Ok(buf)
    }

    /// Reads `piece` back from storage and returns its SHA-1 (BEP 3 piece hash).
    /// Goes through `read_block`, so wrappers that alter reads alter the hash too.
    fn hash_piece(&self, piece: PieceIndex) -> Result<[u8; 20], StorageError> {
        let len = self.piece_len(piece)?;
        let mut hasher = Sha1::new();
        let mut buf = vec![0u8; len.min(HASH_CHUNK) as usize];
        let mut offset = 0u32;
        while offset < len {
            let n = (len - offset).min(HASH_CHUNK) as usize;
            let chunk = buf.get_mut(..n).ok_or(StorageError::OutOfBounds {
                piece: piece.get(),
                offset,
                len: n as u64,
                piece_len: len,
            })?;
            self.read_block(piece, offset, chunk)?;
            hasher.update(&*chunk);
            offset += n as u32;
        }
        Ok(hasher.finalize().into())
    }

    /// Hashes every piece on disk, in parallel on all cores, and returns the pieces whose hash
    /// matches `piece_hashes`. Pieces whose bytes are missing count as absent; any other error
    /// stops the check. `progress` is called after each piece (never concurrently, with
    /// non-decreasing counts) and may return `ControlFlow::Break` to cancel.
    fn check_existing(
        &self,
        piece_hashes: &[[u8; 20]],
        progress: &(dyn Fn(CheckProgress) -> ControlFlow<()> + Sync),
    ) -> Result<Bitfield, StorageError> {
        check::check_existing(self, piece_hashes, check::default_threads(), progress)
    }
}

/// Forwards every method, overridden or not, so a shared or boxed storage (say
/// `FaultyStorage<Arc<dyn Storage>>`) behaves exactly like the storage inside.
macro_rules! forward_storage {
    ($ptr:ident) => {
        impl<S: Storage + ?Sized> Storage for $ptr<S> {
            fn piece_count(&self) -> u32 {
                (**self).piece_count()
            }
            fn piece_len(&self, piece: PieceIndex) -> Result<u32, StorageError> {
                (**self).piece_len(piece)
            }
            fn write_block(
                &self,
                piece: PieceIndex,
                offset: u32,
                data: &[u8],
            ) -> Result<(), StorageError> {
                (**self).write_block(piece, offset, data)
            }
            fn read_block(
                &self,
                piece: PieceIndex,
                offset: u32,
                buf: &mut [u8],
            ) -> Result<(), StorageError> {
                (**self).read_block(piece, offset, buf)
            }
            fn flush(&self) -> Result<(), StorageError> {
                (**self).flush()
            }
            fn file_sizes_and_mtimes(&self) -> Result<Vec<FileState>, StorageError> {
                (**self).file_sizes_and_mtimes()
            }
            fn set_file_len(&self, file: usize) -> Result<(), StorageError> {
                (**self).set_file_len(file)
            }
            fn read_block_vec(
                &self,
                piece: PieceIndex,
                offset: u32,
                len: u32,
            ) -> Result<Vec<u8>, StorageError> {
                (**self).read_block_vec(piece, offset, len)
            }
            fn hash_piece(&self, piece: PieceIndex) -> Result<[u8; 20], StorageError> {
                (**self).hash_piece(piece)
            }
            fn check_existing(
                &self,
                piece_hashes: &[[u8; 20]],
                progress: &(dyn Fn(CheckProgress) -> ControlFlow<()> + Sync),
            ) -> Result<Bitfield, StorageError> {
                (**self).check_existing(piece_hashes, progress)
            }
        }
    };
}

forward_storage!(Arc);
forward_storage!(Box);
