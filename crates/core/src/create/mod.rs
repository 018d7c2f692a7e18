//! Creating v1 torrents whose info dictionary is byte-identical to mktorrent 1.1's.
//!
//! # Why copy mktorrent exactly
//!
//! The info-hash is the SHA-1 of the info dictionary's bytes, so two tools that make different
//! choices for the same content (file order, which keys, how a single file is written) create
//! two different swarms for one set of files. mktorrent is what trackers and seedboxes have used
//! for years; matching it means a torrent made with `shoal create` joins the swarm of one made
//! with mktorrent from the same files and piece length, and a test can check every byte against
//! it. What mktorrent does is written down in [`walk`] (which files, in what order) and
//! [`build_info`] (which keys).
//!
//! # Why this module touches the filesystem
//!
//! The rest of shoal-core is pure. Creation is a batch job, not a protocol state machine: it
//! has no peer, clock or randomness to abstract, and its only input is files read once, front
//! to back. Keeping it here, next to the [`crate::metainfo`] types it produces, costs nothing
//! in testability (the tests run it on temporary folders); the creation date, the one clock
//! reading, is still passed in by the caller.
//!
//! Call order: [`scan`] the path, pick the piece length (explicit, checked by
//! [`check_piece_length`], or [`auto_piece_length`]), then [`create_from_content`] hashes and
//! encodes; [`create`] does all three.

mod hash;
mod sha1x2;
mod walk;

use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use shoal_bencode::OwnedValue;

use crate::ids::InfoHashV1;

pub use hash::{hash_pieces, BATCH_BYTES, READ_CHUNK};
pub use walk::{scan, Content, SourceFile, MAX_FILES};

/// The `created by` value shoal writes.
pub const CREATED_BY: &str = concat!("shoal/", env!("CARGO_PKG_VERSION"));

/// Smallest piece length: the size of one request block, and BEP 52's minimum.
pub const MIN_PIECE_LENGTH: u64 = 16 * 1024;
/// Largest piece length accepted when given explicitly (mktorrent's `-l 28`).
pub const MAX_PIECE_LENGTH: u64 = 256 * 1024 * 1024;
/// Largest piece length [`auto_piece_length`] picks; larger pieces make every hash failure
/// cost too much to download again.
pub const MAX_AUTO_PIECE_LENGTH: u64 = 16 * 1024 * 1024;
/// [`auto_piece_length`] picks the smallest piece length that needs at most this many pieces.
pub const AUTO_MAX_PIECES: u64 = 2048;
/// Most pieces a torrent may have: libtorrent refuses more (its `max_pieces`).
pub const MAX_PIECES: u64 = 1 << 21;

/// Why a torrent could not be created. Every variant is reported to the user as is: the fix
/// (a different path, piece length or option) is theirs to make.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is neither a file nor a folder", .0.display())]
    NotFileOrFolder(PathBuf),
    #[error("{} holds no files to share", .0.display())]
    NoFiles(PathBuf),
    #[error("cannot name a torrent after {}", .0.display())]
    NoName(PathBuf),
    #[error("{}: name is not valid UTF-8, which torrent file names must be", .0.display())]
    NotUtf8(PathBuf),
    #[error("{}: a symbolic link leads back into a folder that contains it", .0.display())]
    SymlinkLoop(PathBuf),
    #[error("{}: folders nest too deeply", .0.display())]
    TooDeep(PathBuf),
    #[error("more than {0} files; clients refuse torrents that list that many")]
    TooManyFiles(usize),
    #[error("every file is empty; a torrent needs at least one byte of content")]
    EmptyContent,
    #[error("piece length {0} is not a power of two between 16 KiB and 256 MiB")]
    BadPieceLength(u64),
    #[error("{pieces} pieces is more than the {max} clients accept; choose a larger piece length")]
    TooManyPieces { pieces: u64, max: u64 },
    #[error("empty tracker or web seed URL")]
    EmptyUrl,
    #[error("{} became shorter while it was being hashed", .0.display())]
    FileShrank(PathBuf),
    #[error("internal error while hashing: {0}")]
    Internal(&'static str),
}

impl CreateError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        CreateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// How to choose the piece length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PieceLength {
    /// [`auto_piece_length`] of the total size.
    #[default]
    Auto,
    /// Exactly this many bytes; must pass [`check_piece_length`].
    Bytes(u64),
}

/// The piece length shoal picks for `total` bytes: the smallest power of two from 16 KiB to
/// 16 MiB that cuts the content into at most 2048 pieces.
///
/// From 32 MiB to 32 GiB of content this gives 1025 to 2048 pieces (20 to 40 KiB of hashes,
/// the "40 KiB piece list" target of libtorrent's creator); smaller content gets fewer 16 KiB
/// pieces and larger content more 16 MiB ones.
pub fn auto_piece_length(total: u64) -> u64 {
    let mut len = MIN_PIECE_LENGTH;
    while len < MAX_AUTO_PIECE_LENGTH && total.div_ceil(len) > AUTO_MAX_PIECES {
        len *= 2;
    }
    len
}

/// `bytes` when it is a power of two from [`MIN_PIECE_LENGTH`] to [`MAX_PIECE_LENGTH`].
pub fn check_piece_length(bytes: u64) -> Result<u64, CreateError> {
    if bytes.is_power_of_two() && (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(CreateError::BadPieceLength(bytes))
    }
}

/// What to put in the torrent besides the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// Tracker tiers: `announce` is the first URL; `announce-list` is written when there is
    /// more than one URL in all. Empty tiers are dropped.
    pub trackers: Vec<Vec<String>>,
    /// BEP 19 web seeds (`url-list`).
    pub web_seeds: Vec<String>,
    pub piece_length: PieceLength,
    /// BEP 27: sets `private` in the info dictionary (so it changes the info-hash).
    pub private: bool,
    /// `source` in the info dictionary (mktorrent `-s`), used by private trackers to give
    /// cross-posted torrents distinct info-hashes.
    pub source: Option<String>,
    pub comment: Option<String>,
    /// `creation date` in seconds since the Unix epoch; `None` leaves it out.
    pub creation_date: Option<i64>,
    /// `created by`; `None` leaves it out.
    pub created_by: Option<String>,
    /// Hashing threads; `None` uses every core.
    pub threads: Option<NonZeroUsize>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            piece_length: PieceLength::Auto,
            private: false,
            source: None,
            comment: None,
            creation_date: None,
            created_by: Some(CREATED_BY.to_string()),
            threads: None,
        }
    }
}

/// Hashing progress, passed to the callback of [`create`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes hashed so far.
    pub hashed: u64,
    /// Bytes to hash in all.
    pub total: u64,
}

/// A finished torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTorrent {
    /// The whole .torrent file.
    pub torrent: Vec<u8>,
    /// The info dictionary's bytes as they appear in `torrent`.
    pub info: Vec<u8>,
    pub info_hash: InfoHashV1,
    pub name: String,
    pub piece_length: u64,
    pub piece_count: u64,
    pub total_length: u64,
    pub file_count: usize,
    /// Entries left out of the torrent (neither files nor folders), for a warning.
    pub skipped: Vec<PathBuf>,
}

/// Scans `path`, hashes its content and builds the torrent.
pub fn create(
    path: &Path,
    opts: &CreateOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<CreatedTorrent, CreateError> {
    let content = scan(path)?;
    create_from_content(&content, opts, progress)
}

/// Hashes already-scanned content and builds the torrent.
pub fn create_from_content(
    content: &Content,
    opts: &CreateOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<CreatedTorrent, CreateError> {
    let total = content.total_length();
    if total == 0 {
        // mktorrent writes such torrents, but libtorrent and others refuse to load them.
        return Err(CreateError::EmptyContent);
    }
    let piece_length = match opts.piece_length {
        PieceLength::Auto => auto_piece_length(total),
        PieceLength::Bytes(b) => check_piece_length(b)?,
    };
    let pieces = total.div_ceil(piece_length);
    if pieces > MAX_PIECES {
        return Err(CreateError::TooManyPieces {
            pieces,
            max: MAX_PIECES,
        });
    }
    let tiers = clean_tiers(&opts.trackers)?;
    if opts.web_seeds.iter().any(|u| u.trim().is_empty()) {
        return Err(CreateError::EmptyUrl);
    }
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN));

    let hashes = hash_pieces(&content.files, piece_length, threads, &|hashed| {
        progress(Progress { hashed, total })
    })?;
    let info = build_info(
        content,
        piece_length,
        &hashes,
        opts.private,
        opts.source.as_deref(),
    )
    .encode();
    let info_hash = InfoHashV1::of_info_bytes(&info);
    let torrent = build_torrent(&info, &tiers, opts);
    Ok(CreatedTorrent {
        torrent,
        info,
        info_hash,
        name: content.name.clone(),
        piece_length,
        piece_count: pieces,
        total_length: total,
        file_count: content.files.len(),
        skipped: content.skipped.clone(),
    })
}

/// The info dictionary mktorrent 1.1 writes: `length` (one file) or `files` (each with
/// `length` and `path`), `name`, `piece length`, `pieces`, then `private` (only when set, as
/// `1`) and `source` (only when given). Zero-length files are listed like any other.
pub fn build_info(
    content: &Content,
    piece_length: u64,
    hashes: &[[u8; 20]],
    private: bool,
    source: Option<&str>,
) -> OwnedValue {
    let mut info = OwnedValue::dict();
    if content.single_file {
        info.insert(
            b"length",
            OwnedValue::int(clamp_i64(content.total_length())),
        );
    } else {
        let files = content
            .files
            .iter()
            .map(|f| {
                let path = f
                    .components
                    .iter()
                    .map(|c| OwnedValue::bytes(c.as_bytes()))
                    .collect();
                OwnedValue::dict()
                    .with(b"length", OwnedValue::int(clamp_i64(f.length)))
                    .with(b"path", OwnedValue::List(path))
            })
            .collect();
        info.insert(b"files", OwnedValue::List(files));
    }
    info.insert(b"name", OwnedValue::bytes(content.name.as_bytes()));
    info.insert(b"piece length", OwnedValue::int(clamp_i64(piece_length)));
    info.insert(b"pieces", OwnedValue::Bytes(hashes.concat()));
    if private {
        info.insert(b"private", OwnedValue::int(1));
    }
    if let Some(source) = source {
        info.insert(b"source", OwnedValue::bytes(source.as_bytes()));
    }
    info
}

/// File sizes come from the filesystem, which cannot report more than `i64::MAX` bytes.
fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Trims URLs, drops empty tiers, refuses empty URLs.
fn clean_tiers(tiers: &[Vec<String>]) -> Result<Vec<Vec<String>>, CreateError> {
    let mut out = Vec::new();
    for tier in tiers {
        let mut t = Vec::new();
        for url in tier {
            let url = url.trim();
            if url.is_empty() {
                return Err(CreateError::EmptyUrl);
            }
            t.push(url.to_string());
        }
        if !t.is_empty() {
            out.push(t);
        }
    }
    Ok(out)
}

/// The whole .torrent: the info dictionary spliced in verbatim, and the keys outside it.
fn build_torrent(info: &[u8], tiers: &[Vec<String>], opts: &CreateOptions) -> Vec<u8> {
    let mut top = OwnedValue::dict();
    let all: Vec<&String> = tiers.iter().flatten().collect();
    if let Some(first) = all.first() {
        top.insert(b"announce", OwnedValue::bytes(first.as_bytes()));
    }
    if all.len() > 1 {
        let list = tiers
            .iter()
            .map(|t| OwnedValue::List(t.iter().map(|u| OwnedValue::bytes(u.as_bytes())).collect()))
            .collect();
        top.insert(b"announce-list", OwnedValue::List(list));
    }
    if let Some(c) = &opts.comment {
        top.insert(b"comment", OwnedValue::bytes(c.as_bytes()));
    }
    if let Some(by) = &opts.created_by {
        top.insert(b"created by", OwnedValue::bytes(by.as_bytes()));
    }
    if let Some(date) = opts.creation_date {
        top.insert(b"creation date", OwnedValue::int(date));
    }
    top.insert(b"info", OwnedValue::Raw(info.to_vec()));
    if !opts.web_seeds.is_empty() {
        let seeds = opts
            .web_seeds
            .iter()
            .map(|u| OwnedValue::bytes(u.trim().as_bytes()))
            .collect();
        top.insert(b"url-list", OwnedValue::List(seeds));
    }
    top.encode()
}

#[cfg(test)]
mod tests;
