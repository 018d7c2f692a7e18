//! BEP 3 file lists: the single-file form (`name` + `length`) and the multi-file form
//! (`files`), with the BEP 47 attributes.
//!
//! Each entry is read into a [`FileEntry`] whose path is already sanitised element by element;
//! what cannot be sanitised into something usable (a path list holding integers, a negative
//! length) is an error, everything else is repaired the way libtorrent repairs it, so that the
//! same .torrent file gives the same file names in both clients.

use shoal_bencode::Value;

use super::error::MetainfoError;
use super::limits::MetainfoLimits;
use super::merkle::{Hash256, BLOCK_SIZE};
use crate::paths::{sanitize_component, sanitize_component_or_placeholder, Component};

/// Files must be smaller than this many bytes: libtorrent's bound (`INT_MAX / 2` blocks of
/// 16 KiB), which keeps merkle tree indices inside 32 bits.
pub(crate) const MAX_FILE_SIZE: u64 = (i32::MAX as u64 / 2) * BLOCK_SIZE;

/// One file as read from the info dictionary, before duplicate names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileEntry {
    /// Sanitised path elements. For multi-file torrents the first element is the torrent's
    /// root directory (its sanitised name).
    pub path: Vec<Component>,
    pub length: u64,
    pub pad: bool,
    pub executable: bool,
    pub hidden: bool,
    /// Sanitised symlink target, from the torrent's root like `path`.
    pub symlink: Option<Vec<Component>>,
    /// BEP 52 merkle root; `None` for v1 entries, empty files, symlinks and pad files.
    pub pieces_root: Option<Hash256>,
}

impl FileEntry {
    /// Path elements held by this entry (path and symlink target).
    pub fn element_count(&self) -> usize {
        self.path.len() + self.symlink.as_ref().map_or(0, Vec::len)
    }
}

/// BEP 47 `attr` flags.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Attr {
    pub symlink: bool,
    pub executable: bool,
    pub hidden: bool,
    pub pad: bool,
}

/// Reads `attr`; unknown characters are ignored (BEP 47).
pub(crate) fn attributes(dict: &Value<'_>) -> Attr {
    let mut a = Attr::default();
    for c in dict.get(b"attr").and_then(Value::as_bytes).unwrap_or(&[]) {
        match c {
            b'l' => a.symlink = true,
            b'x' => a.executable = true,
            b'h' => a.hidden = true,
            b'p' => a.pad = true,
            _ => {}
        }
    }
    a
}

/// A file's `length`. Symlinks occupy no bytes of the torrent whatever they say (BEP 47).
pub(crate) fn file_length(dict: &Value<'_>, symlink: bool) -> Result<u64, MetainfoError> {
    if symlink {
        return Ok(0);
    }
    let len = match dict.get(b"length") {
        None => return Err(MetainfoError::InvalidLength("a file has no 'length'")),
        Some(v) => v.as_int().ok_or(MetainfoError::InvalidLength(
            "a file's 'length' is not an integer that fits in 64 bits",
        ))?,
    };
    let len = u64::try_from(len)
        .map_err(|_| MetainfoError::InvalidLength("a file's 'length' is negative"))?;
    if len >= MAX_FILE_SIZE {
        return Err(MetainfoError::InvalidLength(
            "a file is too large (2^44 bytes or more)",
        ));
    }
    Ok(len)
}

/// The single-file form: the info dictionary itself describes the one file.
pub(crate) fn single_file(
    info: &Value<'_>,
    limits: &MetainfoLimits,
) -> Result<FileEntry, MetainfoError> {
    let attr = attributes(info);
    // A lone symlink would make the torrent empty; it is read as a plain file so that the
    // length check below decides.
    let length = file_length(info, false)?;
    let raw = info
        .get(b"name.utf-8")
        .and_then(Value::as_bytes)
        .or_else(|| info.get(b"name").and_then(Value::as_bytes))
        .filter(|n| !n.is_empty())
        .ok_or(MetainfoError::MissingName("no 'name' string"))?;
    check_element_len(raw, limits)?;
    let name = sanitize_component(raw).ok_or(MetainfoError::MissingName(
        "the file name sanitises to nothing",
    ))?;
    Ok(FileEntry {
        // Name-based padding detection is not applied here: a torrent that is one pad file
        // would be all padding.
        pad: attr.pad,
        path: vec![name],
        length,
        executable: attr.executable,
        hidden: attr.hidden,
        symlink: None,
        pieces_root: None,
    })
}

/// The multi-file form: `files` is a list of dictionaries under the directory `root`.
pub(crate) fn file_list(
    files: &[Value<'_>],
    root: &Component,
    limits: &MetainfoLimits,
) -> Result<Vec<FileEntry>, MetainfoError> {
    if files.len() > limits.max_files {
        return Err(MetainfoError::TooManyFiles {
            max: limits.max_files,
        });
    }
    let mut out = Vec::with_capacity(files.len());
    let mut elements = 0usize;
    for f in files {
        let entry = list_entry(f, root, limits)?;
        elements = elements.saturating_add(entry.element_count());
        if elements > limits.max_total_path_elements {
            return Err(MetainfoError::TooManyPathElements {
                max: limits.max_total_path_elements,
            });
        }
        out.push(entry);
    }
    Ok(out)
}

fn list_entry(
    f: &Value<'_>,
    root: &Component,
    limits: &MetainfoLimits,
) -> Result<FileEntry, MetainfoError> {
    if f.as_dict().is_none() {
        return Err(MetainfoError::FileParseFailed(
            "an entry of 'files' is not a dictionary",
        ));
    }
    let attr = attributes(f);
    let length = file_length(f, attr.symlink)?;
    let raw_path = f
        .get(b"path.utf-8")
        .and_then(Value::as_list)
        .or_else(|| f.get(b"path").and_then(Value::as_list))
        .filter(|p| !p.is_empty());
    let mut path = vec![root.clone()];
    let mut pad = attr.pad;
    match raw_path {
        Some(elements) => {
            // BEP 47 recommends `.pad/N`; libtorrent treats anything there as padding.
            pad |= elements.first().and_then(Value::as_bytes) == Some(b".pad");
            path.extend(clean_list(elements, limits)?);
        }
        // BEP 47: pad files need no path. libtorrent names them `.pad/<length>` outside the
        // torrent's directory; they are never written, so the name only has to be stable.
        None if attr.pad => path = pad_path(length).to_vec(),
        None => {
            return Err(MetainfoError::MissingName(
                "a file in 'files' has no 'path'",
            ))
        }
    }
    // Only the file's own elements count: a torrent *named* like a pad file is not padding.
    pad |= is_bitcomet_pad(path.get(1..).unwrap_or(&[]));
    let symlink = match f.get(b"symlink path").and_then(Value::as_list) {
        Some(target) if attr.symlink => {
            let mut t = vec![root.clone()];
            t.extend(clean_list(target, limits)?);
            Some(t)
        }
        // A symlink without a target is read as an ordinary (empty) file, as libtorrent does.
        _ => None,
    };
    Ok(FileEntry {
        path,
        length,
        pad,
        executable: attr.executable,
        hidden: attr.hidden,
        symlink,
        pieces_root: None,
    })
}

/// BitComet marks padding by name rather than by attribute.
fn is_bitcomet_pad(path: &[Component]) -> bool {
    path.iter()
        .any(|e| e.as_str().contains("_____padding_file_"))
}

/// The BEP 47 name of a pad file of `length` bytes: `.pad/<length>`.
pub(crate) fn pad_path(length: u64) -> [Component; 2] {
    [
        sanitize_component_or_placeholder(b".pad"),
        sanitize_component_or_placeholder(length.to_string().as_bytes()),
    ]
}

/// Sanitises a path list (or symlink target) element by element. Every element must be a
/// string: anything else is refused as libtorrent refuses it. Elements that sanitise to
/// nothing become `_`, so each element keeps its place.
pub(crate) fn clean_list(
    list: &[Value<'_>],
    limits: &MetainfoLimits,
) -> Result<Vec<Component>, MetainfoError> {
    if list.len() > limits.max_path_depth {
        return Err(MetainfoError::PathTooDeep {
            depth: list.len(),
            max: limits.max_path_depth,
        });
    }
    list.iter()
        .map(|e| {
            let raw = e
                .as_bytes()
                .ok_or(MetainfoError::InvalidName("a path element is not a string"))?;
            check_element_len(raw, limits)?;
            Ok(sanitize_component_or_placeholder(raw))
        })
        .collect()
}

pub(crate) fn check_element_len(raw: &[u8], limits: &MetainfoLimits) -> Result<(), MetainfoError> {
    if raw.len() > limits.max_path_element_len {
        return Err(MetainfoError::PathElementTooLong {
            len: raw.len(),
            max: limits.max_path_element_len,
        });
    }
    Ok(())
}

/// The v1 piece hashes: `pieces` split into 20-byte SHA-1 digests, one per piece.
pub(crate) fn piece_hashes(
    pieces: &[u8],
    piece_count: u64,
) -> Result<Vec<[u8; 20]>, MetainfoError> {
    let expected = piece_count.saturating_mul(20);
    if pieces.len() as u64 != expected {
        return Err(MetainfoError::InvalidHashes {
            got: pieces.len(),
            expected,
        });
    }
    Ok(pieces
        .chunks_exact(20)
        .map(|c| {
            let mut h = [0u8; 20];
            h.copy_from_slice(c);
            h
        })
        .collect())
}
