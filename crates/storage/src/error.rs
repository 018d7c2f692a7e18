//! Storage errors, each of which says what the caller should do next.

use std::io;
use std::path::{Path, PathBuf};

/// What the engine should do about a [`StorageError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorAction {
    /// Stop downloading this torrent (the disk is full); seeding what we have may go on.
    PauseDownloading,
    /// Stop the torrent and tell the user: only they can fix permissions, paths or links.
    ReportToUser,
    /// A transient or unknown I/O failure: retry the operation a few times, then pause.
    RetryThenPause,
    /// The bytes are simply not on disk: treat the piece as missing (clear it from the have set
    /// and download it again). This is the normal answer for a fresh download.
    PieceNotOnDisk,
    /// The request itself was wrong: a bad request from a peer (reject it) or a bug in our own code.
    RejectRequest,
    /// The operation was cancelled by its caller; nothing to do.
    Cancelled,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system (or the user's quota) is full.
    #[error("disk full while writing {}", path.display())]
    DiskFull { path: PathBuf },
    /// The file system refused access (permissions, read-only mount).
    #[error("permission denied on {}", path.display())]
    PermissionDenied { path: PathBuf },
    /// Something that must exist does not, e.g. the download directory was removed or unmounted.
    /// We never recreate the download directory behind the user's back: writing into an empty
    /// mount point would fill the wrong disk.
    #[error("{} does not exist", path.display())]
    NotFound { path: PathBuf },
    /// A component of a file's path is a symbolic link. Links are never followed, so a torrent
    /// cannot be used to write outside the download directory.
    #[error("refusing to follow the symbolic link at {}", path.display())]
    Symlink { path: PathBuf },
    /// Something other than a directory (or a regular file) is in the way of a torrent's path.
    #[error("{} is in the way: expected a {expected}", path.display())]
    Obstructed {
        path: PathBuf,
        expected: &'static str,
    },
    /// The file is missing or shorter than the torrent says: these bytes were never written.
    #[error("no data on disk in {} at byte {offset}", path.display())]
    MissingData { path: PathBuf, offset: u64 },
    /// Any other I/O failure.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The piece index is past the end of the torrent.
    #[error("piece {piece} does not exist (the torrent has {piece_count} pieces)")]
    NoSuchPiece { piece: u32, piece_count: u32 },
    /// The byte range is not inside the piece.
    #[error("range {offset}+{len} is outside piece {piece} of length {piece_len}")]
    OutOfBounds {
        piece: u32,
        offset: u32,
        len: u64,
        piece_len: u32,
    },
    /// The file index is past the end of the torrent's file list.
    #[error("file {index} does not exist (the torrent has {file_count} files)")]
    NoSuchFile { index: usize, file_count: usize },
    /// The piece length or file list cannot be stored safely; the torrent is refused.
    #[error("invalid storage layout: {reason}")]
    InvalidLayout { reason: String },
    /// `check_existing` was given a hash list of the wrong length.
    #[error("{got} piece hashes given for {expected} pieces")]
    HashCount { expected: u32, got: usize },
    /// The caller asked an operation (a check of existing data) to stop.
    #[error("cancelled")]
    Cancelled,
}

impl StorageError {
    /// What to do next.
    pub fn action(&self) -> ErrorAction {
        match self {
            Self::DiskFull { .. } => ErrorAction::PauseDownloading,
            Self::PermissionDenied { .. }
            | Self::NotFound { .. }
            | Self::Symlink { .. }
            | Self::Obstructed { .. }
            | Self::InvalidLayout { .. } => ErrorAction::ReportToUser,
            Self::Io { .. } => ErrorAction::RetryThenPause,
            Self::MissingData { .. } => ErrorAction::PieceNotOnDisk,
            Self::NoSuchPiece { .. }
            | Self::OutOfBounds { .. }
            | Self::NoSuchFile { .. }
            | Self::HashCount { .. } => ErrorAction::RejectRequest,
            Self::Cancelled => ErrorAction::Cancelled,
        }
    }

    /// Classifies an OS error by errno, which is stable, rather than by `io::ErrorKind`, whose
    /// finer kinds (storage full, quota, read-only) are newer than our minimum Rust version.
    pub(crate) fn from_io(path: &Path, err: io::Error) -> Self {
        let path = path.to_path_buf();
        match err.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Self::DiskFull { path },
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                Self::PermissionDenied { path }
            }
            Some(libc::ENOENT) => Self::NotFound { path },
            // O_NOFOLLOW on a symbolic link fails with ELOOP.
            Some(libc::ELOOP) => Self::Symlink { path },
            Some(libc::ENOTDIR) => Self::Obstructed {
                path,
                expected: "directory",
            },
            Some(libc::EISDIR) => Self::Obstructed {
                path,
                expected: "regular file",
            },
            _ => Self::Io { path, source: err },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_maps_to_action() {
        let p = Path::new("x");
        let action = |errno| StorageError::from_io(p, io::Error::from_raw_os_error(errno)).action();
        assert_eq!(action(libc::ENOSPC), ErrorAction::PauseDownloading);
        assert_eq!(action(libc::EDQUOT), ErrorAction::PauseDownloading);
        assert_eq!(action(libc::EACCES), ErrorAction::ReportToUser);
        assert_eq!(action(libc::EROFS), ErrorAction::ReportToUser);
        assert_eq!(action(libc::ELOOP), ErrorAction::ReportToUser);
        assert_eq!(action(libc::EIO), ErrorAction::RetryThenPause);
        let other = StorageError::from_io(p, io::Error::other("boom"));
        assert_eq!(other.action(), ErrorAction::RetryThenPause);
    }
}
