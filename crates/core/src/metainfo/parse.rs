//! The order of checks when reading a .torrent file.
//!
//! The order follows libtorrent's `parse_info_section` so that a file with several problems is
//! refused for the same reason in both clients: meta version and strictness, piece length,
//! name, files, hybrid agreement, piece count, piece hashes, total length, duplicate names,
//! then the piece layers outside the info dictionary.

use std::collections::{BTreeMap, HashMap};

use shoal_bencode::{DecodeError, Limits, Value};

use super::error::MetainfoError;
use super::extras;
use super::limits::MetainfoLimits;
use super::merkle::check_piece_layer;
use super::symlinks;
use super::v1::{self, check_element_len, FileEntry};
use super::v2;
use super::{FileInfo, Metainfo};
use crate::ids::{to_hex, InfoHash, InfoHashV1, InfoHashV2};
use crate::layout::{self, Layout, LayoutError};
use crate::paths::{dedup_paths, sanitize_component, Component, SafePath};

/// libtorrent refuses piece lengths above `INT_MAX / 2` (a bit under 1 GiB).
const MAX_PIECE_LENGTH: i64 = i32::MAX as i64 / 2;

pub(super) fn parse(bytes: &[u8], limits: &MetainfoLimits) -> Result<Metainfo, MetainfoError> {
    if bytes.len() > limits.max_torrent_size {
        return Err(MetainfoError::TooLarge {
            size: bytes.len(),
            max: limits.max_torrent_size,
        });
    }
    let decode_limits = Limits {
        max_depth: limits.max_depth,
        max_tokens: limits.max_tokens,
        max_input: limits.max_torrent_size,
    };
    // Lenient: unsorted keys are common in v1 files and bytes after the dictionary are
    // ignored, as libtorrent ignores them.
    let (top, _) = shoal_bencode::decode_prefix(bytes, &decode_limits)?;
    if top.as_dict().is_none() {
        return Err(MetainfoError::NotADictionary);
    }
    let info = top
        .get(b"info")
        .filter(|i| i.as_dict().is_some())
        .ok_or(MetainfoError::MissingInfo)?;
    let info_bytes = info.raw();

    let version = info
        .get(b"meta version")
        .and_then(Value::as_int)
        .unwrap_or(-1);
    if version > 0 {
        // BEP 52: a v2 info dictionary must be canonical, or its hash is ambiguous.
        shoal_bencode::decode_with(info_bytes, &decode_limits, true).map_err(|e| {
            MetainfoError::Bencode(DecodeError {
                kind: e.kind,
                offset: e.offset.saturating_add(info.offset()),
            })
        })?;
        if version > 2 {
            return Err(MetainfoError::UnknownVersion(version));
        }
    }
    let is_v2 = version == 2;

    let piece_length = piece_length(info, is_v2)?;

    let v1_list = info.get(b"files").and_then(Value::as_list);
    let has_v1 = !is_v2 || v1_list.is_some() || info.get(b"length").is_some();
    let v1_hash = has_v1.then(|| InfoHashV1::of_info_bytes(info_bytes));
    let v2_hash = is_v2.then(|| InfoHashV2::of_info_bytes(info_bytes));
    let info_hash = InfoHash::from_parts(v1_hash, v2_hash).ok_or(MetainfoError::MissingInfo)?;

    let raw_name = info
        .get(b"name.utf-8")
        .and_then(Value::as_bytes)
        .or_else(|| info.get(b"name").and_then(Value::as_bytes))
        .ok_or(MetainfoError::MissingName("no 'name' string"))?;
    check_element_len(raw_name, limits)?;
    let root = match sanitize_component(raw_name) {
        Some(c) => c,
        // libtorrent names such a torrent after its info-hash (the v1 one when there is one).
        None => hex_component(&info_hash)?,
    };

    let (files, multi_file) = file_list(info, v1_list, is_v2, &root, piece_length, limits)?;
    if files.is_empty() {
        return Err(MetainfoError::NoFiles);
    }

    let total = files
        .iter()
        .try_fold(0u64, |t, f| t.checked_add(f.length))
        .ok_or(MetainfoError::InvalidLength("the total size overflows"))?;
    let max_pieces = limits.max_pieces.min(layout::MAX_PIECES);
    let piece_count = total.div_ceil(u64::from(piece_length));
    if piece_count > u64::from(max_pieces) {
        return Err(MetainfoError::TooManyPieces {
            count: piece_count,
            max: max_pieces,
        });
    }
    if total == 0 {
        return Err(MetainfoError::InvalidLength("the torrent has no data"));
    }
    let piece_hashes = if has_v1 {
        let pieces = info
            .get(b"pieces")
            .and_then(Value::as_bytes)
            .ok_or(MetainfoError::MissingPieces)?;
        v1::piece_hashes(pieces, piece_count)?
    } else {
        Vec::new()
    };

    let lengths: Vec<u64> = files.iter().map(|f| f.length).collect();
    let layout = Layout::new(piece_length, &lengths).map_err(layout_error)?;

    let mut files = finish(files)?;
    dedup(&mut files)?;
    let piece_layers = if is_v2 {
        piece_layers(&top, &files, piece_length)?
    } else {
        BTreeMap::new()
    };

    let mut similar = Vec::new();
    let mut collections = Vec::new();
    extras::similar(info.get(b"similar"), &mut similar);
    extras::similar(top.get(b"similar"), &mut similar);
    extras::collections(info.get(b"collections"), &mut collections);
    extras::collections(top.get(b"collections"), &mut collections);

    let extras = extras::read(&top, multi_file && files.len() > 1);
    Ok(Metainfo {
        info_hash,
        name: root.into_string(),
        piece_length,
        layout,
        piece_hashes,
        files,
        multi_file,
        piece_layers,
        private: info
            .get(b"private")
            .and_then(Value::as_int)
            .is_some_and(|p| p != 0),
        similar,
        collections,
        extras,
        info_bytes: info_bytes.to_vec(),
    })
}

fn piece_length(info: &Value<'_>, is_v2: bool) -> Result<u32, MetainfoError> {
    let pl = info.get(b"piece length").and_then(Value::as_int).ok_or(
        MetainfoError::InvalidPieceLength("missing or not an integer"),
    )?;
    if pl <= 0 {
        return Err(MetainfoError::InvalidPieceLength("not positive"));
    }
    let pl = u32::try_from(pl)
        .ok()
        .filter(|&p| i64::from(p) <= MAX_PIECE_LENGTH)
        .ok_or(MetainfoError::InvalidPieceLength("larger than 1 GiB"))?;
    // BEP 52: "It must be a power of two and at least 16KiB."
    if is_v2 && (!pl.is_power_of_two() || pl < 16 * 1024) {
        return Err(MetainfoError::InvalidPieceLength(
            "a v2 piece length must be a power of two of at least 16 KiB",
        ));
    }
    Ok(pl)
}

fn hex_component(hash: &InfoHash) -> Result<Component, MetainfoError> {
    let hex = match (hash.get_v1(), hash.get_v2()) {
        (Some(v1), _) => v1.to_hex(),
        (None, Some(v2)) => v2.to_hex(),
        (None, None) => to_hex(&[]),
    };
    Component::new(&hex).ok_or(MetainfoError::MissingName("the name sanitises to nothing"))
}

/// The torrent's file list, pad files included, and whether it is the multi-file form.
fn file_list(
    info: &Value<'_>,
    v1_list: Option<&[Value<'_>]>,
    is_v2: bool,
    root: &Component,
    piece_length: u32,
    limits: &MetainfoLimits,
) -> Result<(Vec<FileEntry>, bool), MetainfoError> {
    let tree = info.get(b"file tree").filter(|t| t.as_dict().is_some());
    let v2_files = match tree {
        Some(tree) if is_v2 => Some(v2::file_tree(tree, root, v1_list.is_some(), limits)?),
        None if is_v2 => return Err(MetainfoError::MissingFileTree),
        Some(_) => return Err(MetainfoError::MissingMetaVersion),
        None => None,
    };
    let v1_files = match v1_list {
        Some(list) => Some(v1::file_list(list, root, limits)?),
        None if !is_v2 || info.get(b"length").is_some() => {
            Some(vec![v1::single_file(info, limits)?])
        }
        None => None,
    };
    // A v2 tree is multi-file unless it is one file at the top (then its path has no root).
    let v2_multi = v2_files
        .as_ref()
        .is_some_and(|f| f.len() > 1 || f.iter().any(|e| e.path.len() > 1));
    let multi = v1_list.is_some() || (v1_files.is_none() && v2_multi);
    let root_len = usize::from(multi);
    match (v1_files, v2_files) {
        (Some(mut v1), None) => {
            symlinks::sanitize(&mut v1, root_len);
            Ok((v1, multi))
        }
        (None, Some(v2)) => {
            let mut v2 = v2::with_pad_files(v2, root, piece_length, v2_multi)?;
            symlinks::sanitize(&mut v2, root_len);
            Ok((v2, multi))
        }
        (Some(mut v1), Some(v2)) => {
            symlinks::sanitize(&mut v1, root_len);
            let mut v2 = v2::with_pad_files(v2, root, piece_length, false)?;
            symlinks::sanitize(&mut v2, root_len);
            v2::check_hybrid(&v1, &v2, piece_length)?;
            // Keep the v2 entries (they carry the pieces roots) and the v1 tail pad, if any.
            if let Some(tail) = v1.get(v2.len()..).and_then(|t| t.first()) {
                v2.push(tail.clone());
            }
            Ok((v2, multi))
        }
        (None, None) => Err(MetainfoError::NoFiles),
    }
}

/// Renames files whose sanitised paths collide. Pad files are left out: they are never
/// written, and a hybrid torrent has many with the same name.
fn dedup(files: &mut [FileInfo]) -> Result<(), MetainfoError> {
    // The paths are moved out and back rather than cloned: a large torrent has many.
    let mut paths: Vec<SafePath> = files
        .iter_mut()
        .filter(|f| !f.pad)
        .map(|f| std::mem::replace(&mut f.path, SafePath::new(Component::placeholder())))
        .collect();
    let result = dedup_paths(&mut paths);
    for (f, p) in files.iter_mut().filter(|f| !f.pad).zip(paths) {
        f.path = p;
    }
    result.map_err(|_| MetainfoError::TooManyDuplicateFilenames)
}

fn safe_path(components: Vec<Component>) -> Result<SafePath, MetainfoError> {
    SafePath::from_components(components)
        .ok_or(MetainfoError::FileParseFailed("a file has an empty path"))
}

fn finish(files: Vec<FileEntry>) -> Result<Vec<FileInfo>, MetainfoError> {
    let mut offset = 0u64;
    files
        .into_iter()
        .map(|f| {
            let length = f.length;
            let info = FileInfo {
                path: safe_path(f.path)?,
                length,
                offset,
                pad: f.pad,
                executable: f.executable,
                hidden: f.hidden,
                symlink: f.symlink.map(safe_path).transpose()?,
                pieces_root: f.pieces_root,
            };
            // Cannot overflow: the total was summed with checks before.
            offset = offset.saturating_add(length);
            Ok(info)
        })
        .collect()
}

fn layout_error(e: LayoutError) -> MetainfoError {
    match e {
        LayoutError::ZeroPieceLength => MetainfoError::InvalidPieceLength("zero"),
        LayoutError::Empty => MetainfoError::InvalidLength("the torrent has no data"),
        LayoutError::LengthOverflow => MetainfoError::InvalidLength("the total size overflows"),
        LayoutError::TooManyPieces { count } => MetainfoError::TooManyPieces {
            count,
            max: layout::MAX_PIECES,
        },
    }
}

/// BEP 52 `piece layers`: each entry must belong to a file of this torrent and hash up to its
/// root. Missing entries are allowed (the layers can be fetched from peers later); wrong ones
/// are not, since they could never verify.
fn piece_layers(
    top: &Value<'_>,
    files: &[FileInfo],
    piece_length: u32,
) -> Result<BTreeMap<[u8; 32], Vec<[u8; 32]>>, MetainfoError> {
    let mut out = BTreeMap::new();
    let Some(layers) = top.get(b"piece layers") else {
        return Ok(out);
    };
    let dict = layers.as_dict().ok_or(MetainfoError::InvalidPieceLayer(
        "'piece layers' is not a dictionary",
    ))?;
    // Root -> length of a file with that root that needs a layer (more than one piece), if
    // any. Files of at most one piece need no layer: their root is their piece hash.
    let mut roots: HashMap<[u8; 32], Option<u64>> = HashMap::new();
    for f in files {
        if let Some(root) = f.pieces_root {
            let needs_layer = f.length > u64::from(piece_length);
            let slot = roots.entry(root).or_insert(None);
            if needs_layer && slot.is_none() {
                *slot = Some(f.length);
            }
        }
    }
    for (key, value) in dict.iter() {
        let root = <[u8; 32]>::try_from(key)
            .map_err(|_| MetainfoError::InvalidPieceLayer("a key is not a 32-byte root"))?;
        let layer = value
            .as_bytes()
            .ok_or(MetainfoError::InvalidPieceLayer("a layer is not a string"))?;
        let Some(length) = roots.get(&root).ok_or(MetainfoError::InvalidPieceLayer(
            "a layer belongs to no file",
        ))?
        else {
            continue;
        };
        let hashes = check_piece_layer(layer, *length, piece_length, &root)
            .map_err(MetainfoError::InvalidPieceLayer)?;
        out.insert(root, hashes);
    }
    Ok(out)
}
