//! Opening files under the download directory without ever following a symbolic link.
//!
//! Every parent directory between the download directory and the file is checked with
//! `symlink_metadata` (which does not follow links) and created one level at a time; the file
//! itself is opened with `O_NOFOLLOW`. A link planted anywhere below the download directory,
//! by an earlier torrent or another program, is refused with [`StorageError::Symlink`] instead
//! of redirecting our writes. The download directory itself may be reached through links: the
//! user chose it, and it is canonicalised once when storage is opened.
//!
//! What remains is a race: a local program able to write into the download directory could swap
//! a checked directory for a link between the check and the open. Closing that would need
//! `openat` on every component; the threat this guards against is untrusted torrent content
//! and leftovers on disk, which cannot race us.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::StorageError;
use crate::storage::FileState;

/// Flags added to every open: never follow a final symbolic link, and never block opening a
/// FIFO someone left where a file should be (harmless for regular files).
const OPEN_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// The components of a relative path, or why it cannot be used under the download directory.
pub(crate) fn normal_components(path: &Path) -> Result<Vec<&OsStr>, StorageError> {
    let unsafe_path = |why: &str| StorageError::InvalidLayout {
        reason: format!("file path {} {why}", path.display()),
    };
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(name) => out.push(name),
            Component::CurDir => return Err(unsafe_path("has a `.` component")),
            Component::ParentDir => return Err(unsafe_path("has a `..` component")),
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_path("is absolute")),
        }
    }
    if out.is_empty() {
        return Err(unsafe_path("is empty"));
    }
    Ok(out)
}

/// The download directory must still exist and still be a directory: if it was removed or
/// unmounted we stop rather than recreate it on whatever disk is underneath.
pub(crate) fn check_root(root: &Path) -> Result<(), StorageError> {
    match fs::symlink_metadata(root) {
        Ok(m) if m.file_type().is_symlink() => Err(StorageError::Symlink {
            path: root.to_path_buf(),
        }),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(StorageError::Obstructed {
            path: root.to_path_buf(),
            expected: "directory",
        }),
        Err(e) => Err(StorageError::from_io(root, e)),
    }
}

/// `Ok(true)` if `path` is a real directory, `Ok(false)` if nothing is there.
fn is_real_dir(path: &Path) -> Result<bool, StorageError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(StorageError::Symlink {
            path: path.to_path_buf(),
        }),
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(StorageError::Obstructed {
            path: path.to_path_buf(),
            expected: "directory",
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StorageError::from_io(path, e)),
    }
}

/// The metadata of `path` if it is a regular file, `None` if nothing is there.
fn is_regular_file(path: &Path) -> Result<Option<fs::Metadata>, StorageError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(StorageError::Symlink {
            path: path.to_path_buf(),
        }),
        Ok(m) if m.is_file() => Ok(Some(m)),
        Ok(_) => Err(StorageError::Obstructed {
            path: path.to_path_buf(),
            expected: "regular file",
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::from_io(path, e)),
    }
}

/// Walks (and with `create`, makes) the parent directories of `rel` under `root`. Returns the
/// full path of the file, or `None` when a parent is missing and `create` is off. Directories
/// whose entries changed are pushed to `changed_dirs` so they can be fsynced later.
fn walk_parents(
    root: &Path,
    rel: &Path,
    create: bool,
    changed_dirs: &mut Vec<PathBuf>,
) -> Result<Option<PathBuf>, StorageError> {
    check_root(root)?;
    let components = normal_components(rel)?;
    let (file_name, parents) = match components.split_last() {
        Some(split) => split,
        None => return Ok(None), // unreachable: normal_components refuses empty paths
    };
    let mut dir = root.to_path_buf();
    for name in parents {
        let next = dir.join(name);
        if !is_real_dir(&next)? {
            if !create {
                return Ok(None);
            }
            match fs::create_dir(&next) {
                Ok(()) => changed_dirs.push(dir.clone()),
                // Another thread made it first: fine, if it is a real directory.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !is_real_dir(&next)? {
                        return Err(StorageError::from_io(&next, e));
                    }
                }
                Err(e) => return Err(StorageError::from_io(&next, e)),
            }
        }
        dir = next;
    }
    Ok(Some(dir.join(file_name)))
}

/// Opens an existing file for reading; `None` if it (or a parent) does not exist.
pub(crate) fn open_read(root: &Path, rel: &Path) -> Result<Option<File>, StorageError> {
    let Some(path) = walk_parents(root, rel, false, &mut Vec::new())? else {
        return Ok(None);
    };
    if is_regular_file(&path)?.is_none() {
        return Ok(None);
    }
    match OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(&path)
    {
        Ok(f) => check_opened(f, &path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::from_io(&path, e)),
    }
}

/// Opens a file read-write, creating it and its parents as needed. Directories whose entries
/// changed (new subdirectories, new file) are pushed to `changed_dirs`.
pub(crate) fn open_write(
    root: &Path,
    rel: &Path,
    changed_dirs: &mut Vec<PathBuf>,
) -> Result<File, StorageError> {
    let path = walk_parents(root, rel, true, changed_dirs)?.ok_or_else(|| {
        StorageError::InvalidLayout {
            reason: format!("file path {} is empty", rel.display()),
        }
    })?;
    let existed = is_regular_file(&path)?.is_some();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .custom_flags(OPEN_FLAGS)
        .open(&path)
        .map_err(|e| StorageError::from_io(&path, e))?;
    if !existed {
        if let Some(parent) = path.parent() {
            changed_dirs.push(parent.to_path_buf());
        }
    }
    check_opened(file, &path)
}

/// Refuses anything but a regular file (a FIFO or device swapped in after the check).
fn check_opened(file: File, path: &Path) -> Result<File, StorageError> {
    let meta = file
        .metadata()
        .map_err(|e| StorageError::from_io(path, e))?;
    if meta.is_file() {
        Ok(file)
    } else {
        Err(StorageError::Obstructed {
            path: path.to_path_buf(),
            expected: "regular file",
        })
    }
}

/// What is on disk at `rel`, without following links.
pub(crate) fn stat(root: &Path, rel: &Path) -> Result<FileState, StorageError> {
    let Some(path) = walk_parents(root, rel, false, &mut Vec::new())? else {
        return Ok(FileState::Missing);
    };
    let Some(meta) = is_regular_file(&path)? else {
        return Ok(FileState::Missing);
    };
    let modified = meta
        .modified()
        .map_err(|e| StorageError::from_io(&path, e))?;
    Ok(FileState::Present {
        len: meta.len(),
        modified,
    })
}

/// Fsyncs a directory so the entries created in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::from_io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_accepted() {
        assert!(normal_components(Path::new("a/b/c.txt")).is_ok());
        // `Path::components` drops interior `.` and repeated slashes: the same file, harmless.
        assert_eq!(
            normal_components(Path::new("a/./b//c")).unwrap(),
            ["a", "b", "c"]
        );
        for bad in ["", "/etc/passwd", "a/../../b", "./a", ".", ".."] {
            assert!(
                matches!(
                    normal_components(Path::new(bad)),
                    Err(StorageError::InvalidLayout { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn open_read_of_missing_file_is_none_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(open_read(dir.path(), Path::new("x/y/z")).unwrap().is_none());
        assert!(!dir.path().join("x").exists());
        assert_eq!(
            stat(dir.path(), Path::new("x/y/z")).unwrap(),
            FileState::Missing
        );
    }

    #[test]
    fn directory_in_place_of_file_is_obstructed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("f")).unwrap();
        let mut changed = Vec::new();
        let err = open_write(dir.path(), Path::new("f"), &mut changed).unwrap_err();
        assert!(matches!(err, StorageError::Obstructed { .. }), "{err}");
        fs::write(dir.path().join("g"), b"").unwrap();
        let err = open_write(dir.path(), Path::new("g/h"), &mut changed).unwrap_err();
        assert!(matches!(err, StorageError::Obstructed { .. }), "{err}");
    }
}
