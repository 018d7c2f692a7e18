//! Caps on what a .torrent file may ask of us.
//!
//! A .torrent file comes from anyone. Each count it declares (bytes, pieces, files, path
//! elements, nesting) is checked against one of these caps *before* anything is allocated for
//! it, so a hostile file costs at most these amounts. The defaults follow libtorrent where it
//! has a limit, so that shoal refuses what libtorrent refuses.

/// Limits applied by [`super::Metainfo::from_bytes_with_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetainfoLimits {
    /// Largest .torrent file accepted, in bytes.
    pub max_torrent_size: usize,
    /// Deepest nesting of bencoded lists and dictionaries (libtorrent: 100). Also bounds the
    /// depth of a v2 file tree.
    pub max_depth: usize,
    /// Most bencoded values in the file (libtorrent: 3,000,000).
    pub max_tokens: usize,
    /// Most pieces (libtorrent's `max_pieces`: 0x200000).
    pub max_pieces: u32,
    /// Most files, not counting the pad files a v2 torrent implies.
    pub max_files: usize,
    /// Longest single path element in bytes, before sanitising (libtorrent refuses file names
    /// of 4096 bytes or more).
    pub max_path_element_len: usize,
    /// Most elements in one file path or symlink target.
    pub max_path_depth: usize,
    /// Most path elements over all files and symlink targets together. In a v2 file tree
    /// every file repeats its directories' names, so without this bound a small tree of deep
    /// directories would expand into a very large file list.
    pub max_total_path_elements: usize,
}

impl MetainfoLimits {
    /// libtorrent's piece limit.
    pub const DEFAULT_MAX_PIECES: u32 = 0x20_0000;
}

impl Default for MetainfoLimits {
    fn default() -> Self {
        Self {
            max_torrent_size: 64 << 20,
            max_depth: 100,
            max_tokens: 3_000_000,
            max_pieces: Self::DEFAULT_MAX_PIECES,
            max_files: 1_000_000,
            max_path_element_len: 4095,
            max_path_depth: 100,
            max_total_path_elements: 4_000_000,
        }
    }
}
