//! Storage in the torrent's own files under a download directory.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use shoal_core::PieceIndex;

use crate::error::StorageError;
use crate::geometry::{Geometry, Slice};
use crate::handles::HandleCache;
use crate::paths;
use crate::storage::{FileState, Storage, StorageFile};

/// Work owed to the next `flush`.
#[derive(Debug, Default)]
struct Pending {
    /// Files written (or resized) since the last successful flush.
    files: BTreeSet<usize>,
    /// Directories that gained entries (new files, new subdirectories) since then.
    dirs: BTreeSet<PathBuf>,
}

/// A torrent stored as its files under a download directory, read and written with positioned
/// I/O (`pread`/`pwrite`), so concurrent operations never share a file cursor.
///
/// Files are created lazily by the first write that touches them: files the user skipped stay
/// off the disk unless a piece that straddles into them is written. Zero-length files have no
/// piece to bring them into being, so they are created when the storage is opened. Padding
/// files are never created; their bytes read as zeros and writes to them are dropped.
#[derive(Debug)]
pub struct FileStorage {
    /// Canonical download directory; every file lives strictly below it.
    root: PathBuf,
    /// The torrent's files in order, paths relative to `root` and already validated.
    files: Vec<StorageFile>,
    /// Piece-to-file arithmetic.
    geometry: Geometry,
    /// Bounded cache of open handles, by file index.
    handles: HandleCache,
    /// What the next flush must make durable.
    pending: Mutex<Pending>,
}

impl FileStorage {
    /// How many files are kept open by [`FileStorage::open`].
    pub const DEFAULT_MAX_OPEN_FILES: usize = 128;

    /// Opens storage for a torrent under `root` (created if missing), keeping at most
    /// [`Self::DEFAULT_MAX_OPEN_FILES`] files open.
    pub fn open(
        root: &Path,
        piece_length: u32,
        files: Vec<StorageFile>,
    ) -> Result<Self, StorageError> {
        Self::open_with_limit(root, piece_length, files, Self::DEFAULT_MAX_OPEN_FILES)
    }

    /// As [`FileStorage::open`], keeping at most `max_open_files` (at least 1) files open.
    pub fn open_with_limit(
        root: &Path,
        piece_length: u32,
        files: Vec<StorageFile>,
        max_open_files: usize,
    ) -> Result<Self, StorageError> {
        validate_paths(&files)?;
        let lengths: Vec<u64> = files.iter().map(|f| f.length).collect();
        let geometry = Geometry::new(piece_length, &lengths)?;
        std::fs::create_dir_all(root).map_err(|e| StorageError::from_io(root, e))?;
        let root = root
            .canonicalize()
            .map_err(|e| StorageError::from_io(root, e))?;
        let storage = Self {
            root,
            files,
            geometry,
            handles: HandleCache::new(max_open_files),
            pending: Mutex::new(Pending::default()),
        };
        storage.create_empty_files()?;
        Ok(storage)
    }

    /// The canonical download directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The torrent's files, in order.
    pub fn files(&self) -> &[StorageFile] {
        &self.files
    }

    /// Where file `file` lives on disk.
    pub fn file_path(&self, file: usize) -> Option<PathBuf> {
        self.files.get(file).map(|f| self.root.join(&f.path))
    }

    fn create_empty_files(&self) -> Result<(), StorageError> {
        let mut changed = Vec::new();
        for f in self.files.iter().filter(|f| f.length == 0 && !f.pad) {
            paths::open_write(&self.root, &f.path, &mut changed)?;
        }
        self.pending().dirs.extend(changed);
        Ok(())
    }

    /// The pending set holds plain indices and paths; a panic elsewhere cannot leave it torn.
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry(&self, file: usize) -> Result<&StorageFile, StorageError> {
        self.files.get(file).ok_or(StorageError::NoSuchFile {
            index: file,
            file_count: self.files.len(),
        })
    }

    /// A read-write handle, opening (and creating) the file if needed.
    fn writable(&self, file: usize) -> Result<Arc<File>, StorageError> {
        if let Some(h) = self.handles.get(file, true) {
            return Ok(h);
        }
        let mut changed = Vec::new();
        let opened = paths::open_write(&self.root, &self.entry(file)?.path, &mut changed)?;
        if !changed.is_empty() {
            self.pending().dirs.extend(changed);
        }
        Ok(self.handles.insert(file, opened, true))
    }

    /// A handle for reading; `None` when the file does not exist.
    fn readable(&self, file: usize) -> Result<Option<Arc<File>>, StorageError> {
        if let Some(h) = self.handles.get(file, false) {
            return Ok(Some(h));
        }
        let opened = paths::open_read(&self.root, &self.entry(file)?.path)?;
        Ok(opened.map(|f| self.handles.insert(file, f, false)))
    }

    /// Error for a slice that does not fit the caller's buffer (cannot happen after the
    /// geometry check, but a wrong answer must not become a panic).
    fn slice_error(&self, piece: PieceIndex, offset: u32, len: usize) -> StorageError {
        StorageError::OutOfBounds {
            piece: piece.get(),
            offset,
            len: len as u64,
            piece_len: self.geometry.piece_len(piece).unwrap_or(0),
        }
    }

    fn read_slice(&self, s: &Slice, out: &mut [u8]) -> Result<(), StorageError> {
        let entry = self.entry(s.file)?;
        if entry.pad {
            out.fill(0);
            return Ok(());
        }
        let path = || self.root.join(&entry.path);
        let missing = || StorageError::MissingData {
            path: path(),
            offset: s.file_offset,
        };
        let handle = self.readable(s.file)?.ok_or_else(missing)?;
        handle.read_exact_at(out, s.file_offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                missing()
            } else {
                StorageError::from_io(&path(), e)
            }
        })
    }

    fn sync_file(&self, file: usize) -> Result<(), StorageError> {
        let entry = self.entry(file)?;
        let path = self.root.join(&entry.path);
        // An evicted handle is gone, but fsync on a fresh descriptor flushes the file's dirty
        // pages all the same: the page cache belongs to the file, not the descriptor.
        let handle = match self.handles.any(file) {
            Some(h) => h,
            None => match paths::open_read(&self.root, &entry.path)? {
                Some(f) => Arc::new(f),
                None => return Err(StorageError::NotFound { path }),
            },
        };
        handle
            .sync_data()
            .map_err(|e| StorageError::from_io(&path, e))
    }
}

impl Storage for FileStorage {
    fn piece_count(&self) -> u32 {
        self.geometry.piece_count()
    }

    fn piece_len(&self, piece: PieceIndex) -> Result<u32, StorageError> {
        self.geometry.piece_len(piece)
    }

    fn write_block(&self, piece: PieceIndex, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        for s in self.geometry.slices(piece, offset, data.len())? {
            let entry = self.entry(s.file)?;
            if entry.pad {
                continue;
            }
            let src = data
                .get(s.buf_offset..s.buf_offset + s.len)
                .ok_or_else(|| self.slice_error(piece, offset, data.len()))?;
            let handle = self.writable(s.file)?;
            // Mark before writing: a write that fails halfway still dirtied pages.
            self.pending().files.insert(s.file);
            handle
                .write_all_at(src, s.file_offset)
                .map_err(|e| StorageError::from_io(&self.root.join(&entry.path), e))?;
        }
        Ok(())
    }

    fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), StorageError> {
        let len = buf.len();
        for s in self.geometry.slices(piece, offset, len)? {
            let out = buf
                .get_mut(s.buf_offset..s.buf_offset + s.len)
                .ok_or_else(|| self.slice_error(piece, offset, len))?;
            self.read_slice(&s, out)?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        let Pending { files, dirs } = std::mem::take(&mut *self.pending());
        let mut files = files.into_iter();
        while let Some(file) = files.next() {
            if let Err(e) = self.sync_file(file) {
                // Keep the rest owed so a later flush retries it.
                let mut p = self.pending();
                p.files.insert(file);
                p.files.extend(files);
                p.dirs.extend(dirs);
                return Err(e);
            }
        }
        let mut dirs = dirs.into_iter();
        while let Some(dir) = dirs.next() {
            if let Err(e) = paths::sync_dir(&dir) {
                let mut p = self.pending();
                p.dirs.insert(dir);
                p.dirs.extend(dirs);
                return Err(e);
            }
        }
        Ok(())
    }

    fn file_sizes_and_mtimes(&self) -> Result<Vec<FileState>, StorageError> {
        self.files
            .iter()
            .map(|f| {
                if f.pad {
                    Ok(FileState::Pad)
                } else {
                    paths::stat(&self.root, &f.path)
                }
            })
            .collect()
    }

    fn set_file_len(&self, file: usize) -> Result<(), StorageError> {
        let entry = self.entry(file)?;
        if entry.pad {
            return Ok(());
        }
        let handle = self.writable(file)?;
        self.pending().files.insert(file);
        handle
            .set_len(entry.length)
            .map_err(|e| StorageError::from_io(&self.root.join(&entry.path), e))
    }
}

/// Refuses file lists that could escape the download directory or collide with themselves:
/// unsafe components, two files at one path, or a file where another needs a directory.
/// Padding files are exempt: they are never touched, and their names often repeat.
fn validate_paths(files: &[StorageFile]) -> Result<(), StorageError> {
    let mut seen: HashSet<&Path> = HashSet::new();
    let mut dirs: HashSet<&Path> = HashSet::new();
    for f in files.iter().filter(|f| !f.pad) {
        paths::normal_components(&f.path)?;
        if !seen.insert(&f.path) {
            return Err(StorageError::InvalidLayout {
                reason: format!("two files share the path {}", f.path.display()),
            });
        }
        dirs.extend(f.path.ancestors().skip(1));
    }
    if let Some(clash) = seen.iter().find(|p| dirs.contains(*p)) {
        return Err(StorageError::InvalidLayout {
            reason: format!("{} is both a file and a directory", clash.display()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashing_paths_are_refused() {
        let dup = vec![StorageFile::new("a/b", 1), StorageFile::new("a/b", 1)];
        assert!(validate_paths(&dup).is_err());
        let file_and_dir = vec![StorageFile::new("a", 1), StorageFile::new("a/b", 1)];
        assert!(validate_paths(&file_and_dir).is_err());
        let pads = vec![
            StorageFile::pad(".pad/3", 3),
            StorageFile::new("x", 1),
            StorageFile::pad(".pad/3", 3),
        ];
        assert!(validate_paths(&pads).is_ok());
        assert!(validate_paths(&[StorageFile::new("../x", 1)]).is_err());
    }

    #[test]
    fn handle_cache_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let files = (0..5)
            .map(|i| StorageFile::new(format!("f{i}"), 3))
            .collect();
        let s = FileStorage::open_with_limit(dir.path(), 4, files, 2).unwrap();
        for i in 0..4 {
            let p = PieceIndex::new_unchecked_in_range(i);
            let len = s.piece_len(p).unwrap() as usize;
            s.write_block(p, 0, &vec![i as u8 + 1; len]).unwrap();
        }
        assert!(s.handles.len() <= 2);
        s.flush().unwrap();
        assert_eq!(std::fs::read(dir.path().join("f0")).unwrap(), [1, 1, 1]);
        assert_eq!(std::fs::read(dir.path().join("f2")).unwrap(), [2, 2, 3]);
        assert_eq!(std::fs::read(dir.path().join("f4")).unwrap(), [4, 4, 4]);
    }
}
