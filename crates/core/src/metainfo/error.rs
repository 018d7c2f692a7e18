//! Why a .torrent file was refused.
//!
//! Every variant means the same next step for the caller: the file cannot be added; show the
//! message to the user. The variants exist so that callers (and the corpus tests) can tell
//! *what* was wrong without parsing text. Messages start with libtorrent's wording for the same
//! condition, so a user comparing clients sees the same words, then add the detail.

use shoal_bencode::DecodeError;

/// A .torrent file that cannot be used. See the module doc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetainfoError {
    /// The file is larger than [`super::MetainfoLimits::max_torrent_size`]; nothing was parsed.
    #[error("torrent file is {size} bytes, more than the limit of {max}")]
    TooLarge { size: usize, max: usize },

    /// The bytes are not bencode (or, for a v2 info dictionary, not canonical bencode). The
    /// offset inside is a byte offset in the whole .torrent file.
    #[error("{0}")]
    Bencode(DecodeError),

    #[error("torrent file is not a dictionary")]
    NotADictionary,

    #[error("missing or invalid 'info' section in torrent file")]
    MissingInfo,

    #[error("torrent uses 'meta version' {0}, newer than this client understands")]
    UnknownVersion(i64),

    #[error("v2 torrent has no 'file tree'")]
    MissingFileTree,

    #[error("torrent has a 'file tree' but no 'meta version'")]
    MissingMetaVersion,

    #[error("invalid or missing 'piece length' entry in torrent file: {0}")]
    InvalidPieceLength(&'static str),

    #[error("missing name in torrent file: {0}")]
    MissingName(&'static str),

    /// A path or symlink target list holds something other than strings.
    #[error("invalid 'name' of torrent (possible exploit attempt): {0}")]
    InvalidName(&'static str),

    #[error("a path element is {len} bytes long, more than the limit of {max}")]
    PathElementTooLong { len: usize, max: usize },

    #[error("a path has {depth} elements, more than the limit of {max}")]
    PathTooDeep { depth: usize, max: usize },

    #[error("the file paths have more than {max} elements in total")]
    TooManyPathElements { max: usize },

    /// A file length is missing, negative, too large, or the total is zero or overflows.
    #[error("invalid length of torrent: {0}")]
    InvalidLength(&'static str),

    #[error("invalid or missing 'pieces' entry in torrent file")]
    MissingPieces,

    #[error("incorrect number of piece hashes in torrent file: 'pieces' has {got} bytes, expected {expected}")]
    InvalidHashes { got: usize, expected: u64 },

    #[error("too many pieces in torrent: {count}, the limit is {max}")]
    TooManyPieces { count: u64, max: u32 },

    #[error("no files in torrent")]
    NoFiles,

    #[error("too many files in torrent: the limit is {max}")]
    TooManyFiles { max: usize },

    /// The v2 file tree is malformed.
    #[error("failed to parse files from torrent file: {0}")]
    FileParseFailed(&'static str),

    #[error("the v1 and v2 file metadata does not match: {0}")]
    InconsistentFiles(&'static str),

    #[error("a v2 file entry has no root hash")]
    MissingPiecesRoot,

    #[error("a file in the v2 metadata has the pad attribute set")]
    InvalidPadFile,

    #[error("a piece layer is invalid: {0}")]
    InvalidPieceLayer(&'static str),

    #[error("too many duplicate filenames")]
    TooManyDuplicateFilenames,
}

impl MetainfoError {
    /// The byte offset in the .torrent file where decoding failed, for bencode errors.
    pub fn bencode_offset(&self) -> Option<usize> {
        match self {
            MetainfoError::Bencode(e) => Some(e.offset),
            _ => None,
        }
    }
}

impl From<DecodeError> for MetainfoError {
    fn from(e: DecodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}
