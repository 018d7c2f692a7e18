//! A storage wrapper that injects faults, so engine and swarm tests can exercise their error
//! paths (disk full, read errors, silent corruption) against any real backend. Faults live in
//! this wrapper, never in test-only branches of the backends themselves.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use shoal_core::PieceIndex;

use crate::error::StorageError;
use crate::storage::{FileState, Storage};

/// Path reported in injected errors: the wrapper does not know which file was involved.
const INJECTED: &str = "(injected fault)";

/// Wraps a storage and makes it fail on command. Faults can be changed at any time through
/// `&self`, including while other threads use the storage.
#[derive(Debug)]
pub struct FaultyStorage<S> {
    /// The real storage underneath.
    inner: S,
    /// Bytes that may still be written before the disk is "full"; `u64::MAX` means no limit.
    write_budget: AtomicU64,
    /// Bytes accepted by `write_block` so far.
    written: AtomicU64,
    /// Pieces whose reads come back with the first byte flipped.
    corrupt: Mutex<BTreeSet<u32>>,
    /// How many of the next reads fail with an I/O error.
    failing_reads: AtomicU32,
}

impl<S: Storage> FaultyStorage<S> {
    /// No faults until some are configured.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            write_budget: AtomicU64::new(u64::MAX),
            written: AtomicU64::new(0),
            corrupt: Mutex::new(BTreeSet::new()),
            failing_reads: AtomicU32::new(0),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// After `bytes` more bytes, writes fail with [`StorageError::DiskFull`]. The write that
    /// crosses the limit stores the bytes that fit and then fails, as a real full disk does.
    pub fn fail_writes_after(&self, bytes: u64) {
        self.write_budget.store(bytes, Ordering::SeqCst);
    }

    /// Reads touching `piece` return its bytes with the first byte of the buffer flipped, so
    /// its hash no longer matches.
    pub fn corrupt_reads_of(&self, piece: PieceIndex) {
        self.corrupt_set().insert(piece.get());
    }

    /// The next `count` reads fail with an I/O error (`ErrorAction::RetryThenPause`).
    pub fn fail_next_reads(&self, count: u32) {
        self.failing_reads.store(count, Ordering::SeqCst);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.write_budget.store(u64::MAX, Ordering::SeqCst);
        self.failing_reads.store(0, Ordering::SeqCst);
        self.corrupt_set().clear();
    }

    /// Bytes written through this wrapper so far.
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    fn corrupt_set(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        self.corrupt.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes up to `len` bytes from the budget; returns how many were granted.
    fn reserve(&self, len: u64) -> u64 {
        let mut granted = len;
        let _ = self
            .write_budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                if left == u64::MAX {
                    granted = len;
                    return None;
                }
                granted = len.min(left);
                Some(left - granted)
            });
        granted
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn piece_count(&self) -> u32 {
        self.inner.piece_count()
    }

    fn piece_len(&self, piece: PieceIndex) -> Result<u32, StorageError> {
        self.inner.piece_len(piece)
    }

    fn write_block(&self, piece: PieceIndex, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        // Bounds first, so a bad request is reported as such rather than as a full disk.
        let piece_len = self.inner.piece_len(piece)?;
        if u64::from(offset) + data.len() as u64 > u64::from(piece_len) {
            return Err(StorageError::OutOfBounds {
                piece: piece.get(),
                offset,
                len: data.len() as u64,
                piece_len,
            });
        }
        let granted = self.reserve(data.len() as u64) as usize;
        let fits = data.get(..granted).unwrap_or(data);
        if !fits.is_empty() {
            self.inner.write_block(piece, offset, fits)?;
            self.written.fetch_add(fits.len() as u64, Ordering::SeqCst);
        }
        if fits.len() < data.len() {
            return Err(StorageError::DiskFull {
                path: PathBuf::from(INJECTED),
            });
        }
        Ok(())
    }

    fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), StorageError> {
        let fail = self
            .failing_reads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(StorageError::Io {
                path: PathBuf::from(INJECTED),
                source: io::Error::from_raw_os_error(libc::EIO),
            });
        }
        self.inner.read_block(piece, offset, buf)?;
        if self.corrupt_set().contains(&piece.get()) {
            if let Some(first) = buf.first_mut() {
                *first ^= 0xff;
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.inner.flush()
    }

    fn file_sizes_and_mtimes(&self) -> Result<Vec<FileState>, StorageError> {
        self.inner.file_sizes_and_mtimes()
    }

    fn set_file_len(&self, file: usize) -> Result<(), StorageError> {
        self.inner.set_file_len(file)
    }

    // `hash_piece` is deliberately not forwarded: the default reads through `read_block`,
    // so injected corruption and read errors reach piece hashing too.
}
