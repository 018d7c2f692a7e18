//! Finding the files of a new torrent, in the order mktorrent 1.1 lists them.
//!
//! The order of the `files` list is part of the info dictionary and so of the info-hash. To
//! give the same info-hash as mktorrent for the same content, this walk makes the same choices
//! (each one checked against mktorrent's output):
//!
//! * files are sorted by their full relative path compared byte by byte, with `/` between the
//!   components (C `strcmp`): `a-b` < `a.b` < `a.c/y` < `a/x` < `a0`;
//! * hidden files and folders are included, zero-length files too;
//! * symbolic links are followed, to files and to folders alike; a dangling link is an error;
//! * anything that is not a regular file or a folder (FIFOs, sockets, devices) is left out.
//!
//! Where mktorrent would write something no client should read, this walk refuses instead:
//! names that are not UTF-8 (BEP 3 requires UTF-8) and folder cycles made by symbolic links.

use std::fs;
use std::path::{Path, PathBuf};

use super::CreateError;

/// How many files a torrent may list. Readers bound the number of bencode tokens they accept
/// (libtorrent: 2,000,000 by default; each file entry costs about eight), so a torrent with
/// more files than this would be refused by the clients meant to download it.
pub const MAX_FILES: usize = 250_000;

/// How deep folders may nest below the torrent's root.
const MAX_DEPTH: usize = 255;

/// One file of the torrent to be, with where to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path inside the torrent, one entry per component (UTF-8, never empty). Empty for a
    /// single-file torrent, whose only file is named by [`Content::name`].
    pub components: Vec<String>,
    /// Where the bytes are read from.
    pub fs_path: PathBuf,
    /// Size in bytes when the folder was scanned.
    pub length: u64,
}

/// What a torrent will hold: the result of [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The torrent's `name`: the base name of the scanned path.
    pub name: String,
    /// The files in info-dictionary order.
    pub files: Vec<SourceFile>,
    /// True when the scanned path was a file: the info dictionary then has `length`, not `files`.
    pub single_file: bool,
    /// Entries left out because they are neither regular files nor folders.
    pub skipped: Vec<PathBuf>,
}

impl Content {
    /// Sum of all file lengths.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }
}

/// Lists the files under `path` (or `path` itself when it is a file) in mktorrent's order.
pub fn scan(path: &Path) -> Result<Content, CreateError> {
    let meta = fs::metadata(path).map_err(|e| CreateError::io(path, e))?;
    let name = torrent_name(path)?;
    if meta.is_file() {
        return Ok(Content {
            name,
            files: vec![SourceFile {
                components: Vec::new(),
                fs_path: path.to_path_buf(),
                length: meta.len(),
            }],
            single_file: true,
            skipped: Vec::new(),
        });
    }
    if !meta.is_dir() {
        return Err(CreateError::NotFileOrFolder(path.to_path_buf()));
    }
    let mut walk = Walk {
        files: Vec::new(),
        skipped: Vec::new(),
        ancestors: Vec::new(),
    };
    walk.folder(path, &meta, &mut Vec::new())?;
    let mut files = walk.files;
    // Sorting the joined paths is exactly mktorrent's strcmp order: components hold neither
    // '/' nor NUL, so comparing "a/b" strings compares what strcmp compares.
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.is_empty() {
        return Err(CreateError::NoFiles(path.to_path_buf()));
    }
    Ok(Content {
        name,
        files: files.into_iter().map(|(_, f)| f).collect(),
        single_file: false,
        skipped: walk.skipped,
    })
}

/// The base name of `path`; for `.`, `..` or a path ending in them, the name of the folder they
/// resolve to (mktorrent would write a torrent named "." here).
fn torrent_name(path: &Path) -> Result<String, CreateError> {
    let base = match path.file_name() {
        Some(n) => n.to_os_string(),
        None => {
            let real = fs::canonicalize(path).map_err(|e| CreateError::io(path, e))?;
            match real.file_name() {
                Some(n) => n.to_os_string(),
                None => return Err(CreateError::NoName(path.to_path_buf())),
            }
        }
    };
    base.into_string()
        .map_err(|_| CreateError::NotUtf8(path.to_path_buf()))
}

/// Identity of a folder, to notice when a symbolic link leads back into one of its ancestors.
#[cfg(unix)]
fn folder_id(meta: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// Without device and inode numbers, cycles are stopped by the depth limit alone.
#[cfg(not(unix))]
fn folder_id(_meta: &fs::Metadata) -> Option<(u64, u64)> {
    None
}

struct Walk {
    /// (joined relative path, file) in discovery order; sorted at the end.
    files: Vec<(Vec<u8>, SourceFile)>,
    skipped: Vec<PathBuf>,
    /// Folders on the way from the root to the one being listed.
    ancestors: Vec<(u64, u64)>,
}

impl Walk {
    fn folder(
        &mut self,
        dir: &Path,
        meta: &fs::Metadata,
        rel: &mut Vec<String>,
    ) -> Result<(), CreateError> {
        if rel.len() > MAX_DEPTH {
            return Err(CreateError::TooDeep(dir.to_path_buf()));
        }
        let id = folder_id(meta);
        if let Some(id) = id {
            if self.ancestors.contains(&id) {
                return Err(CreateError::SymlinkLoop(dir.to_path_buf()));
            }
            self.ancestors.push(id);
        }
        let entries = fs::read_dir(dir).map_err(|e| CreateError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| CreateError::io(dir, e))?;
            let path = entry.path();
            let component = entry
                .file_name()
                .into_string()
                .map_err(|_| CreateError::NotUtf8(path.clone()))?;
            // `fs::metadata` follows symbolic links, as mktorrent's stat() does.
            let meta = fs::metadata(&path).map_err(|e| CreateError::io(&path, e))?;
            rel.push(component);
            if meta.is_dir() {
                self.folder(&path, &meta, rel)?;
            } else if meta.is_file() {
                if self.files.len() >= MAX_FILES {
                    return Err(CreateError::TooManyFiles(MAX_FILES));
                }
                self.files.push((
                    rel.join("/").into_bytes(),
                    SourceFile {
                        components: rel.clone(),
                        fs_path: path,
                        length: meta.len(),
                    },
                ));
            } else {
                self.skipped.push(path);
            }
            rel.pop();
        }
        if id.is_some() {
            self.ancestors.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, bytes: &[u8]) {
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(p, bytes).unwrap();
    }

    fn listed(content: &Content) -> Vec<String> {
        content
            .files
            .iter()
            .map(|f| f.components.join("/"))
            .collect()
    }

    #[test]
    fn order_is_strcmp_of_full_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("e");
        for rel in [
            "a/x",
            "a.b",
            "a0",
            "a-b",
            "a.c/y",
            "B/z",
            ".hidden/f",
            "empty",
        ] {
            write(&root, rel, b"1");
        }
        let c = scan(&root).unwrap();
        assert_eq!(c.name, "e");
        assert!(!c.single_file);
        assert_eq!(
            listed(&c),
            [
                ".hidden/f",
                "B/z",
                "a-b",
                "a.b",
                "a.c/y",
                "a/x",
                "a0",
                "empty"
            ]
        );
    }

    #[test]
    fn single_file_and_trailing_slash() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "d/f.bin", b"hello");
        let c = scan(&dir.path().join("d/f.bin")).unwrap();
        assert!(c.single_file);
        assert_eq!(c.name, "f.bin");
        assert_eq!(c.total_length(), 5);
        let with_slash = PathBuf::from(format!("{}/", dir.path().join("d").display()));
        assert_eq!(scan(&with_slash).unwrap().name, "d");
    }

    #[test]
    fn empty_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("x/y")).unwrap();
        assert!(matches!(
            scan(&dir.path().join("x")),
            Err(CreateError::NoFiles(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_and_loops_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        write(&root, "real/f", b"abc");
        std::os::unix::fs::symlink("real", root.join("alias")).unwrap();
        std::os::unix::fs::symlink("real/f", root.join("flink")).unwrap();
        let c = scan(&root).unwrap();
        assert_eq!(listed(&c), ["alias/f", "flink", "real/f"]);

        std::os::unix::fs::symlink("..", root.join("real/up")).unwrap();
        assert!(matches!(scan(&root), Err(CreateError::SymlinkLoop(_))));
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_refused() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        write(&root, "ok", b"1");
        fs::write(root.join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"2").unwrap();
        assert!(matches!(scan(&root), Err(CreateError::NotUtf8(_))));
    }

    #[cfg(unix)]
    #[test]
    fn dangling_link_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        write(&root, "f", b"abc");
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
        let err = scan(&root).unwrap_err();
        assert!(err.to_string().contains("dangling"), "{err}");
    }
}
