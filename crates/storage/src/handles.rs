//! A bounded cache of open file handles, evicting the least recently used.
//!
//! A torrent may have tens of thousands of files and the process a limit of 1024 descriptors,
//! so handles are opened on demand and a bounded number kept. Handles are `Arc`s: an I/O call
//! clones one out and runs without the cache lock, and an evicted handle closes only when the
//! last in-flight call on it finishes.
//!
//! Written here rather than taken from an LRU crate: with at most a few hundred entries a
//! linear scan for the oldest entry on eviction is as fast as a linked list and needs no
//! dependency or unsafe code.

use std::collections::HashMap;
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One cached handle.
#[derive(Debug)]
struct Slot {
    file: Arc<File>,
    /// Opened read-write (a write needs this; a read can use either).
    writable: bool,
    /// Value of the use counter at the last hit; the smallest is evicted first.
    last_used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Keyed by the file's index in the torrent's file list.
    slots: HashMap<usize, Slot>,
    /// Monotonic use counter.
    tick: u64,
}

/// Bounded map from file index to open handle.
#[derive(Debug)]
pub(crate) struct HandleCache {
    inner: Mutex<Inner>,
    /// Maximum number of handles kept open; at least 1.
    capacity: usize,
}

impl HandleCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// The map holds no invariant a panicking thread could break halfway, so a poisoned lock
    /// is still safe to use.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A cached handle for `file` good enough for the access wanted.
    pub fn get(&self, file: usize, need_write: bool) -> Option<Arc<File>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let slot = inner.slots.get_mut(&file)?;
        if need_write && !slot.writable {
            return None;
        }
        slot.last_used = tick;
        Some(Arc::clone(&slot.file))
    }

    /// Caches a freshly opened handle and returns the one to use. If another thread cached an
    /// adequate handle for the same file meanwhile, that one wins and `file` is dropped.
    pub fn insert(&self, index: usize, file: File, writable: bool) -> Arc<File> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(slot) = inner.slots.get_mut(&index) {
            if slot.writable || !writable {
                slot.last_used = tick;
                return Arc::clone(&slot.file);
            }
        }
        if !inner.slots.contains_key(&index) && inner.slots.len() >= self.capacity {
            let oldest = inner
                .slots
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(&k, _)| k);
            if let Some(k) = oldest {
                inner.slots.remove(&k);
            }
        }
        let file = Arc::new(file);
        inner.slots.insert(
            index,
            Slot {
                file: Arc::clone(&file),
                writable,
                last_used: tick,
            },
        );
        file
    }

    /// The cached handle for `file` whatever its mode (fsync works on either).
    pub fn any(&self, file: usize) -> Option<Arc<File>> {
        self.lock().slots.get(&file).map(|s| Arc::clone(&s.file))
    }

    /// Number of handles currently open through the cache.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpfile(dir: &tempfile::TempDir, name: &str) -> File {
        File::create(dir.path().join(name)).unwrap()
    }

    #[test]
    fn evicts_least_recently_used_and_upgrades_to_writable() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HandleCache::new(2);
        cache.insert(0, tmpfile(&dir, "a"), false);
        cache.insert(1, tmpfile(&dir, "b"), true);
        assert!(cache.get(0, false).is_some()); // 0 is now more recent than 1
        assert!(cache.get(0, true).is_none()); // read-only handle does not serve writes
        cache.insert(2, tmpfile(&dir, "c"), true);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(1, false).is_none(), "1 was least recently used");
        assert!(cache.get(0, false).is_some());
        // Upgrading 0 to writable replaces its slot instead of evicting another.
        cache.insert(0, tmpfile(&dir, "a"), true);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(0, true).is_some());
        assert!(cache.get(2, true).is_some());
    }
}
