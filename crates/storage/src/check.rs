//! Start-up check: hash what is already on disk to find the pieces we have.
//!
//! Hashing is CPU-bound and reading is disk-bound, so a handful of scoped threads pull piece
//! indices from a shared counter until none are left. Scoped threads borrow the storage and
//! the hash list directly: nothing is cloned, nothing outlives the call.

use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use shoal_core::{Bitfield, PieceIndex};

use crate::error::{ErrorAction, StorageError};
use crate::storage::Storage;

/// How far a check has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckProgress {
    /// Pieces hashed so far.
    pub checked: u32,
    /// Of those, pieces whose hash matched.
    pub found: u32,
    /// Pieces in the torrent.
    pub total: u32,
}

/// One thread per core.
pub fn default_threads() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Shared state of one check run.
struct Run<'a, S: ?Sized> {
    storage: &'a S,
    hashes: &'a [[u8; 20]],
    /// The pieces to hash, in order of hand-out.
    pieces: &'a [u32],
    progress: &'a (dyn Fn(CheckProgress) -> ControlFlow<()> + Sync),
    /// Next position in `pieces` to hand out. 64 bits so that threads overshooting the end cannot wrap.
    next: AtomicU64,
    /// Set when any thread hits an error or the caller cancels.
    stop: AtomicBool,
    /// Result bits and counters; the lock also serialises progress calls so the caller sees
    /// counts in order.
    state: Mutex<(Bitfield, CheckProgress)>,
    /// The first error that stopped the run.
    error: Mutex<Option<StorageError>>,
}

/// [`Storage::check_existing`] with an explicit thread count.
pub fn check_existing<S: Storage + ?Sized>(
    storage: &S,
    piece_hashes: &[[u8; 20]],
    threads: NonZeroUsize,
    progress: &(dyn Fn(CheckProgress) -> ControlFlow<()> + Sync),
) -> Result<Bitfield, StorageError> {
    let all: Vec<u32> = (0..storage.piece_count()).collect();
    check_pieces(storage, piece_hashes, &all, threads, progress)
}

/// Like [`check_existing`], but hashes only the pieces in `pieces` (the others are reported
/// absent): a restart that trusts part of its resume data re-checks only the rest.
pub fn check_pieces<S: Storage + ?Sized>(
    storage: &S,
    piece_hashes: &[[u8; 20]],
    pieces: &[u32],
    threads: NonZeroUsize,
    progress: &(dyn Fn(CheckProgress) -> ControlFlow<()> + Sync),
) -> Result<Bitfield, StorageError> {
    let count = storage.piece_count();
    if piece_hashes.len() != count as usize {
        return Err(StorageError::HashCount {
            expected: count,
            got: piece_hashes.len(),
        });
    }
    let total = pieces.len() as u32;
    let run = Run {
        storage,
        hashes: piece_hashes,
        pieces,
        progress,
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        state: Mutex::new((
            Bitfield::new(count),
            CheckProgress {
                checked: 0,
                found: 0,
                total,
            },
        )),
        error: Mutex::new(None),
    };
    let threads = threads.get().min(pieces.len()).max(1);
    // The scope joins every thread before returning (and re-raises a worker's panic).
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| run.work());
        }
    });
    if let Some(err) = run
        .error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        return Err(err);
    }
    let (bitfield, _) = run
        .state
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(bitfield)
}

impl<S: Storage + ?Sized> Run<'_, S> {
    fn work(&self) {
        let count = self.storage.piece_count();
        while !self.stop.load(Ordering::Relaxed) {
            let next = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&index) = usize::try_from(next).ok().and_then(|i| self.pieces.get(i)) else {
                return;
            };
            if index >= count {
                continue;
            }
            let matched = match self
                .storage
                .hash_piece(PieceIndex::new_unchecked_in_range(index))
            {
                Ok(hash) => self.hashes.get(index as usize) == Some(&hash),
                Err(e) if e.action() == ErrorAction::PieceNotOnDisk => false,
                Err(e) => return self.fail(e),
            };
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (bits, progress) = &mut *state;
            if matched {
                bits.set(index, true);
                progress.found += 1;
            }
            progress.checked += 1;
            if (self.progress)(*progress).is_break() {
                drop(state);
                return self.fail(StorageError::Cancelled);
            }
        }
    }

    /// Records the first error and tells every thread to stop.
    fn fail(&self, err: StorageError) {
        self.stop.store(true, Ordering::Relaxed);
        let mut slot = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_piece_v1;
    use crate::memory::MemoryStorage;
    use std::sync::atomic::AtomicU32;

    fn filled(piece_len: u32, total: u64) -> (MemoryStorage, Vec<[u8; 20]>) {
        let s = MemoryStorage::new(piece_len, total).unwrap();
        let mut hashes = Vec::new();
        for i in 0..s.piece_count() {
            let p = PieceIndex::new_unchecked_in_range(i);
            let len = s.piece_len(p).unwrap();
            let data: Vec<u8> = (0..len).map(|b| (b as u8) ^ (i as u8)).collect();
            s.write_block(p, 0, &data).unwrap();
            hashes.push(hash_piece_v1(&data));
        }
        (s, hashes)
    }

    #[test]
    fn finds_exactly_the_good_pieces_with_ordered_progress() {
        let (s, mut hashes) = filled(8, 61);
        hashes[2] = [0; 20];
        hashes[7] = [1; 20];
        let last = AtomicU32::new(0);
        let progress = |p: CheckProgress| {
            assert!(p.checked > last.swap(p.checked, Ordering::Relaxed));
            assert_eq!(p.total, 8);
            ControlFlow::Continue(())
        };
        let threads = NonZeroUsize::new(3).unwrap();
        let have = check_existing(&s, &hashes, threads, &progress).unwrap();
        assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![0, 1, 3, 4, 5, 6]);
        assert_eq!(last.load(Ordering::Relaxed), 8);
    }

    #[test]
    fn checks_only_the_listed_pieces() {
        let (s, hashes) = filled(8, 61);
        let go = |_: CheckProgress| ControlFlow::Continue(());
        let threads = NonZeroUsize::new(2).unwrap();
        let have = check_pieces(&s, &hashes, &[1, 5, 6, 99], threads, &go).unwrap();
        assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![1, 5, 6]);
    }

    #[test]
    fn cancel_and_wrong_hash_count() {
        let (s, hashes) = filled(8, 64);
        let stop = |_: CheckProgress| ControlFlow::Break(());
        let r = s.check_existing(&hashes, &stop);
        assert!(matches!(r, Err(StorageError::Cancelled)));
        let go = |_: CheckProgress| ControlFlow::Continue(());
        let r = s.check_existing(&hashes[1..], &go);
        assert!(matches!(
            r,
            Err(StorageError::HashCount {
                expected: 8,
                got: 7
            })
        ));
    }
}
