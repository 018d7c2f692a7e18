//! ut_metadata (BEP 9): fetching a torrent's info dictionary from peers, for magnet links,
//! and serving ours.
//!
//! - [`MetadataMessage`]: the request / data / reject codec. A decoded data message is already
//!   consistent: its piece exists in metadata of its `total_size` (at most
//!   [`MAX_METADATA_SIZE`]) and its bytes are exactly that piece's length.
//! - [`MetadataFetcher`]: sans-IO download from many peers with verification against the
//!   info-hash, re-fetching and blame.
//! - [`MetadataServer`]: answers requests for metadata we have.
//!
//! # Why the fetcher keeps every distinct copy
//!
//! The info-hash covers the whole dictionary, so a mismatch proves that *some* piece is wrong
//! but not which, nor who lied. The simple answers both fail against one hostile peer:
//! fetching everything from a single peer lets that peer stall us indefinitely, and
//! discarding everything after a mismatch and fetching again from the same crowd can fail
//! forever without ever learning who to ban. So after a failed check every piece is fetched
//! again from a peer that has not sent it, all distinct copies are kept, and each new copy is
//! tried in the assemblies it completes. The first assembly that matches the info-hash is the
//! truth; whoever sent a different copy of any piece is then reported with certainty, and
//! honest peers never are. Copies, variants per piece and hashing per copy are bounded so
//! that a crowd of liars costs memory and CPU in proportion to the metadata, not to their
//! number.

mod copies;
mod fetcher;
mod message;
mod server;
#[cfg(test)]
mod tests;

pub use fetcher::{
    BadPeerReason, DataOutcome, FetchEvent, FetcherConfig, MessageOutcome, MetadataFetcher,
    RejectOutcome,
};
pub use message::{
    MetadataError, MetadataMessage, MetadataPiece, MetadataSize, MAX_MESSAGE_LEN,
    MAX_METADATA_PIECES, MAX_METADATA_SIZE, METADATA_PIECE_LEN, UT_METADATA,
};
pub use server::MetadataServer;
