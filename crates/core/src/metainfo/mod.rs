//! .torrent files (metainfo): BEP 3 v1, BEP 52 v2 and hybrid torrents.
//!
//! # Design
//!
//! [`Metainfo::from_bytes`] is the only way to get a [`Metainfo`], and it validates everything
//! up front: the info-hash, every file path, every length, piece hashes and v2 piece layers.
//! Code that holds a `Metainfo` never checks again. Three decisions follow from the input
//! being hostile and from having to agree with the reference client:
//!
//! * **Hash the bytes, not a re-encoding.** The info-hash is the SHA-1 (v1) and SHA-256 (v2) of
//!   the info dictionary's bytes exactly as they appear in the file; the decoder hands out that
//!   byte span, and the same bytes are kept for `ut_metadata` ([`Metainfo::info_bytes`]). A v2
//!   info dictionary must be canonical bencode (BEP 52), which is checked on those bytes.
//! * **Repair names, refuse structure.** Paths are sanitised element by element (see
//!   [`crate::paths`]) and duplicates renamed, as libtorrent does, so that a torrent lands on
//!   disk under the same names in both clients. What cannot be repaired (a negative length, a
//!   path list holding integers, hashes that do not add up) is an error naming the problem in
//!   libtorrent's words. Where shoal's verdict differs from libtorrent's, fixtures/README.md
//!   lists the file and the reason.
//! * **Cap before allocating.** Input size, nesting, token count, pieces, files and path
//!   lengths are bounded by [`MetainfoLimits`] before anything proportional to them is built.
//!
//! v2 alignment gaps become explicit pad files (see the `v2` module), so the file list of a
//! v2 or hybrid torrent describes the piece space directly and [`Layout`] needs no v2 case.

mod error;
mod extras;
mod from_info;
mod limits;
mod merkle;
mod parse;
mod symlinks;
mod v1;
mod v2;

use std::collections::BTreeMap;

pub use error::MetainfoError;
pub use extras::DhtNode;
pub use from_info::torrent_file;
pub use limits::MetainfoLimits;

use crate::ids::{InfoHash, InfoHashV1, PieceIndex};
use crate::layout::Layout;
use crate::paths::SafePath;

/// One file of a torrent, in torrent order. Pad files are listed too (they occupy piece
/// space but are never written to disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Sanitised path, duplicates renamed (`name.1.ext`). For multi-file torrents the first
    /// component is the torrent's directory ([`Metainfo::name`]), except for a pad file given
    /// without a path, which libtorrent (and so shoal) names `.pad/<length>`.
    pub path: SafePath,
    /// Length in bytes (0 for symlinks).
    pub length: u64,
    /// Where the file starts in the torrent's byte space.
    pub offset: u64,
    /// BEP 47 padding: zeros that only align the next file to a piece boundary.
    pub pad: bool,
    /// BEP 47 `x` attribute.
    pub executable: bool,
    /// BEP 47 `h` attribute.
    pub hidden: bool,
    /// BEP 47 symlink target, from the torrent's root like `path`; always a file or directory
    /// of this torrent (an invalid target is replaced by the link's own path).
    pub symlink: Option<SafePath>,
    /// BEP 52 merkle root of the file's 16 KiB blocks (non-empty files of v2 torrents).
    pub pieces_root: Option<[u8; 32]>,
}

/// A parsed, validated .torrent file. Built only by [`Metainfo::from_bytes`]; immutable.
#[derive(Debug, Clone)]
pub struct Metainfo {
    info_hash: InfoHash,
    /// Sanitised `name`; the v1 (else v2) info-hash in hex when it sanitises to nothing.
    name: String,
    piece_length: u32,
    layout: Layout,
    /// v1 SHA-1 piece hashes, one per piece; empty for v2-only torrents.
    piece_hashes: Vec<[u8; 20]>,
    files: Vec<FileInfo>,
    /// True for the multi-file form (`files` in v1, more than one entry in a v2 tree): the
    /// files live under a directory named [`Metainfo::name`].
    multi_file: bool,
    /// Verified v2 piece layers by pieces root; a file larger than one piece whose layer is
    /// missing here needs it fetched from peers before its pieces can be checked.
    piece_layers: BTreeMap<[u8; 32], Vec<[u8; 32]>>,
    private: bool,
    similar: Vec<InfoHashV1>,
    collections: Vec<String>,
    extras: extras::Extras,
    /// The info dictionary exactly as it appeared in the file.
    info_bytes: Vec<u8>,
}

impl Metainfo {
    /// Parses and validates a .torrent file with the default [`MetainfoLimits`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MetainfoError> {
        Self::from_bytes_with_limits(bytes, &MetainfoLimits::default())
    }

    /// Parses and validates a .torrent file, refusing anything beyond `limits`.
    pub fn from_bytes_with_limits(
        bytes: &[u8],
        limits: &MetainfoLimits,
    ) -> Result<Self, MetainfoError> {
        parse::parse(bytes, limits)
    }

    /// The v1 and/or v2 info-hash.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// True when the torrent has v1 metadata (a v1 or hybrid torrent).
    pub fn has_v1(&self) -> bool {
        self.info_hash.get_v1().is_some()
    }

    /// True when the torrent has v2 metadata (a v2 or hybrid torrent).
    pub fn has_v2(&self) -> bool {
        self.info_hash.get_v2().is_some()
    }

    /// The torrent's sanitised name (the directory of a multi-file torrent).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    pub fn piece_count(&self) -> u32 {
        self.layout.piece_count()
    }

    /// Sum of all file lengths, pad files included.
    pub fn total_length(&self) -> u64 {
        self.layout.total_length()
    }

    /// The v1 SHA-1 piece hashes, one per piece; empty for v2-only torrents.
    pub fn piece_hashes(&self) -> &[[u8; 20]] {
        &self.piece_hashes
    }

    /// The v1 SHA-1 hash of one piece; `None` for v2-only torrents or a foreign index.
    pub fn piece_hash(&self, piece: PieceIndex) -> Option<&[u8; 20]> {
        self.piece_hashes.get(piece.as_usize())
    }

    /// All files in torrent order, pad files included.
    pub fn files(&self) -> &[FileInfo] {
        &self.files
    }

    /// True for the multi-file form: files live under a directory called [`Self::name`], and
    /// BEP 19 web seed URLs name that directory's parent.
    pub fn is_multi_file(&self) -> bool {
        self.multi_file
    }

    /// Piece and file arithmetic for this torrent.
    pub fn layout(&self) -> Layout {
        self.layout.clone()
    }

    /// The verified v2 piece layer of file `file` (one SHA-256 per piece of the file). `None`
    /// for v1 files, files of at most one piece (their root is their only piece hash), and
    /// files whose layer the .torrent file did not carry.
    pub fn piece_layer(&self, file: usize) -> Option<&[[u8; 32]]> {
        let root = self.files.get(file)?.pieces_root?;
        self.piece_layers.get(&root).map(Vec::as_slice)
    }

    /// True when every v2 file larger than a piece has its piece layer (always true for v1).
    pub fn has_all_piece_layers(&self) -> bool {
        self.files.iter().all(|f| match f.pieces_root {
            Some(root) if f.length > u64::from(self.piece_length) => {
                self.piece_layers.contains_key(&root)
            }
            _ => true,
        })
    }

    /// BEP 12 tracker tiers in file order (not shuffled); a single tier holding `announce`
    /// when there is no usable `announce-list`.
    pub fn trackers(&self) -> &[Vec<String>] {
        &self.extras.trackers
    }

    /// BEP 19 web seed URLs. For multi-file torrents each ends in `/`.
    pub fn web_seeds(&self) -> &[String] {
        &self.extras.web_seeds
    }

    /// BEP 17 HTTP seed URLs.
    pub fn http_seeds(&self) -> &[String] {
        &self.extras.http_seeds
    }

    /// BEP 5 DHT nodes listed in the file.
    pub fn dht_nodes(&self) -> &[DhtNode] {
        &self.extras.dht_nodes
    }

    /// BEP 27: only the torrent's trackers may be used to find peers (no DHT, PEX or LSD).
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Seconds since the Unix epoch, when the file says.
    pub fn creation_date(&self) -> Option<i64> {
        self.extras.creation_date
    }

    pub fn comment(&self) -> Option<&str> {
        self.extras.comment.as_deref()
    }

    pub fn created_by(&self) -> Option<&str> {
        self.extras.created_by.as_deref()
    }

    /// BEP 38 info-hashes of torrents likely to share files with this one (inside the info
    /// dictionary first, then outside).
    pub fn similar(&self) -> &[InfoHashV1] {
        &self.similar
    }

    /// BEP 38 collection names (inside the info dictionary first, then outside).
    pub fn collections(&self) -> &[String] {
        &self.collections
    }

    /// The info dictionary exactly as it appears in the file: what `ut_metadata` serves and
    /// what the info-hash is computed over.
    pub fn info_bytes(&self) -> &[u8] {
        &self.info_bytes
    }
}

#[cfg(test)]
mod tests;
