//! BEP 52 `file tree` parsing, the pad files it implies, and the hybrid check.
//!
//! In a v2 torrent every non-empty file starts on a piece boundary. Rather than teach every
//! consumer of [`super::FileInfo`] about that rule, the gaps are made explicit: a pad file is
//! inserted before each non-empty file that would otherwise start mid-piece, exactly where
//! BEP 47 puts them in a hybrid torrent's v1 list. The v2 view and the v1 view of a hybrid
//! torrent then describe the same byte space, which is what [`check_hybrid`] verifies, and
//! `Layout` needs no v2 special case.

use shoal_bencode::Value;

use super::error::MetainfoError;
use super::limits::MetainfoLimits;
use super::v1::{attributes, check_element_len, clean_list, file_length, pad_path, FileEntry};
use crate::paths::{sanitize_component_or_placeholder, Component};

/// Reads the file tree. `root` is the torrent's sanitised name; `has_v1_files` says whether
/// the info dictionary also has a v1 `files` list (then even a lone file lives under `root`,
/// as in the v1 list).
pub(crate) fn file_tree(
    tree: &Value<'_>,
    root: &Component,
    has_v1_files: bool,
    limits: &MetainfoLimits,
) -> Result<Vec<FileEntry>, MetainfoError> {
    let mut walk = Walk {
        limits,
        out: Vec::new(),
        elements: 0,
    };
    walk.dir(tree, std::slice::from_ref(root), !has_v1_files, 0)?;
    Ok(walk.out)
}

struct Walk<'l> {
    limits: &'l MetainfoLimits,
    out: Vec<FileEntry>,
    /// Path elements allocated so far (see [`MetainfoLimits::max_total_path_elements`]).
    elements: usize,
}

impl Walk<'_> {
    /// One directory level. Recursion depth is bounded by the decoder's nesting limit (the
    /// tree cannot be deeper than the bencode it came from) and checked again here.
    fn dir(
        &mut self,
        tree: &Value<'_>,
        prefix: &[Component],
        top: bool,
        depth: usize,
    ) -> Result<(), MetainfoError> {
        let dict = tree.as_dict().ok_or(MetainfoError::FileParseFailed(
            "a directory in 'file tree' is not a dictionary",
        ))?;
        if depth > self.limits.max_depth {
            return Err(MetainfoError::FileParseFailed(
                "'file tree' is nested too deeply",
            ));
        }
        for (key, child) in dict.iter() {
            let child_dict = child.as_dict().ok_or(MetainfoError::FileParseFailed(
                "an entry in 'file tree' is not a dictionary",
            ))?;
            if key.is_empty() {
                return Err(MetainfoError::FileParseFailed(
                    "'file tree' has an empty file name",
                ));
            }
            check_element_len(key, self.limits)?;
            // A file is a dictionary whose only key is "" (BEP 52).
            let leaf = match child_dict.iter().next() {
                Some((k, props)) if k.is_empty() && child_dict.len() == 1 => Some(props),
                _ => None,
            };
            // A lone file at the top is a single-file torrent: no root directory.
            let single = top && leaf.is_some() && dict.len() == 1;
            let base = if single { &[][..] } else { prefix };
            self.elements = self.elements.saturating_add(base.len() + 1);
            if self.elements > self.limits.max_total_path_elements {
                return Err(MetainfoError::TooManyPathElements {
                    max: self.limits.max_total_path_elements,
                });
            }
            let mut path = base.to_vec();
            if path.len() >= self.limits.max_path_depth {
                return Err(MetainfoError::PathTooDeep {
                    depth: path.len() + 1,
                    max: self.limits.max_path_depth,
                });
            }
            path.push(sanitize_component_or_placeholder(key));
            match leaf {
                Some(props) => {
                    if self.out.len() >= self.limits.max_files {
                        return Err(MetainfoError::TooManyFiles {
                            max: self.limits.max_files,
                        });
                    }
                    let entry = self.file(props, path, prefix)?;
                    self.elements = self
                        .elements
                        .saturating_add(entry.symlink.as_ref().map_or(0, Vec::len));
                    self.out.push(entry);
                }
                None => self.dir(child, &path, false, depth + 1)?,
            }
        }
        Ok(())
    }

    /// The properties of one file (the value under its "" key).
    fn file(
        &self,
        props: &Value<'_>,
        path: Vec<Component>,
        root: &[Component],
    ) -> Result<FileEntry, MetainfoError> {
        if props.as_dict().is_none() {
            return Err(MetainfoError::FileParseFailed(
                "a file's properties are not a dictionary",
            ));
        }
        let attr = attributes(props);
        if attr.pad {
            return Err(MetainfoError::InvalidPadFile);
        }
        let length = file_length(props, attr.symlink)?;
        let symlink = match props.get(b"symlink path").and_then(Value::as_list) {
            Some(target) if attr.symlink => {
                // Targets are relative to the torrent's root directory.
                let mut t: Vec<Component> = root.first().cloned().into_iter().collect();
                t.extend(clean_list(target, self.limits)?);
                Some(t)
            }
            _ => None,
        };
        let pieces_root = if symlink.is_none() && length > 0 {
            let root = props
                .get(b"pieces root")
                .and_then(Value::as_bytes)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or(MetainfoError::MissingPiecesRoot)?;
            if root == [0u8; 32] {
                return Err(MetainfoError::MissingPiecesRoot);
            }
            Some(root)
        } else {
            None
        };
        Ok(FileEntry {
            path,
            length,
            pad: false,
            executable: attr.executable,
            hidden: attr.hidden,
            symlink,
            pieces_root,
        })
    }
}

/// Inserts the pad files that align each non-empty file to a piece boundary. With
/// `tail`, the end of the last file is padded too (libtorrent does this for v2-only
/// multi-file torrents, which gives them the same byte space as their hybrid twin).
pub(crate) fn with_pad_files(
    files: Vec<FileEntry>,
    root: &Component,
    piece_length: u32,
    tail: bool,
) -> Result<Vec<FileEntry>, MetainfoError> {
    let pl = u64::from(piece_length);
    let mut out = Vec::with_capacity(files.len().saturating_mul(2));
    let mut offset: u64 = 0;
    let pad = |gap: u64| FileEntry {
        path: std::iter::once(root.clone()).chain(pad_path(gap)).collect(),
        length: gap,
        pad: true,
        executable: false,
        hidden: false,
        symlink: None,
        pieces_root: None,
    };
    for f in files {
        if f.length > 0 && offset % pl != 0 {
            let gap = pl - offset % pl;
            out.push(pad(gap));
            offset = offset.checked_add(gap).ok_or(TOTAL_OVERFLOW)?;
        }
        offset = offset.checked_add(f.length).ok_or(TOTAL_OVERFLOW)?;
        out.push(f);
    }
    if tail && offset % pl != 0 {
        out.push(pad(pl - offset % pl));
    }
    Ok(out)
}

const TOTAL_OVERFLOW: MetainfoError = MetainfoError::InvalidLength("the total size overflows");

/// A hybrid torrent's two file lists must describe the same files in the same places
/// (libtorrent's `files_equal`). `v2` already carries its implied pad files; the v1 list may
/// also pad the end of the last file, by exactly the gap to the next piece boundary. Pad files
/// are compared by size and place only: their names carry no meaning.
pub(crate) fn check_hybrid(
    v1: &[FileEntry],
    v2: &[FileEntry],
    piece_length: u32,
) -> Result<(), MetainfoError> {
    let (body, tail) = match v1.split_at_checked(v2.len()) {
        Some((body, tail)) if tail.len() <= 1 => (body, tail.first()),
        _ => {
            return Err(MetainfoError::InconsistentFiles(
                "they list a different number of files",
            ))
        }
    };
    if body.len() != v2.len() {
        return Err(MetainfoError::InconsistentFiles(
            "they list a different number of files",
        ));
    }
    for (a, b) in body.iter().zip(v2) {
        if a.pad != b.pad || a.length != b.length {
            return Err(MetainfoError::InconsistentFiles(
                "a file differs in size or padding (v1 files not aligned to pieces?)",
            ));
        }
        if a.pad {
            continue;
        }
        if a.path != b.path {
            return Err(MetainfoError::InconsistentFiles(
                "a file has a different path",
            ));
        }
        if a.executable != b.executable || a.hidden != b.hidden || a.symlink != b.symlink {
            return Err(MetainfoError::InconsistentFiles(
                "a file has different attributes",
            ));
        }
    }
    if let Some(tail) = tail {
        let pl = u64::from(piece_length);
        let end = v2.iter().fold(0u64, |t, f| t.saturating_add(f.length));
        if !tail.pad || end % pl == 0 || tail.length != pl - end % pl {
            return Err(MetainfoError::InconsistentFiles(
                "the v1 list ends with something other than the pad to the last piece boundary",
            ));
        }
    }
    Ok(())
}
