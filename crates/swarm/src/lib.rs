//! The sans-IO brain of one torrent.
//!
//! [`Swarm`] joins the per-connection wire sessions (`shoal-wire`) with the piece picker and
//! choker (`shoal-picker`), the address book and hash-failure accounting. It takes bytes,
//! disk completions and the time; it gives back bytes to send, disk operations and events.
//!
//! # Why a separate sans-IO layer
//!
//! The hard bugs of a BitTorrent client live here: a block arriving after its cancel, a choke
//! while requests are in flight, a peer vanishing mid-piece, endgame duplicates, a hash failure
//! followed by a ban. Because nothing here touches a socket, a file or a clock, tests drive a
//! whole swarm of these cores on a virtual clock with a seeded RNG and replay any failure
//! exactly (`tests/sim`: in-memory pipes with bandwidth and latency, an in-memory disk,
//! scripted and corrupting peers); the tokio engine around it only moves bytes and runs disk
//! operations.
//!
//! Requests are driven by events, not by polling: every input ends by topping up the
//! pipelines it concerned, and anything that puts blocks back in the pool (a choke, a
//! disconnect, a request timeout, a hash failure, the disk catching up) wakes every pipeline
//! in the same call. The periodic tick is only a safety net, so nothing waits for it.
//!
//! Pieces are assembled in memory and handed to the disk whole ([`DiskOp::WritePiece`]): the
//! disk hashes them before writing, so a bad piece never reaches the file and a good one is
//! written with one positioned write per file it touches.
//!
//! Every connection also speaks two BEP 10 extensions: ut_metadata (BEP 9; the swarm serves
//! the info dictionary it was given) and ut_pex (BEP 11; peers we are connected to go out at
//! most once a minute per peer, contacts come in capped). Both are off where BEP 27 says so:
//! a private torrent exchanges no peers. A magnet link starts as a [`MetadataSwarm`], a
//! separate small core that only fetches the info dictionary; the torrent's `Swarm` then
//! [adopts](Swarm::adopt) its connections as they are.

mod addrs;
mod adopt;
mod ban;
mod download;
mod extensions;
mod metadata_swarm;
mod peer;
mod priorities;
mod rate;
mod requests;
mod swarm;
mod swarm_ext;
mod types;
mod upload;

pub use addrs::PeerSource;
pub use metadata_swarm::{Handoff, HandoffPeer, MetadataEvent, MetadataSwarm};
pub use priorities::PieceMapSnapshot;
pub use rate::Rate;
pub use shoal_picker::PeerKey;
pub use swarm::{PeerInfo, Swarm, SwarmTotals, TorrentParams};
pub use types::{CloseReason, DiskDone, DiskOp, SwarmConfig, SwarmEvent};

/// Why a swarm could not be built. The torrent cannot be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwarmError {
    #[error("piece hashes, piece length, total length and have-bitfield disagree")]
    BadGeometry,
    #[error("piece picker refused the torrent: {0}")]
    Picker(String),
}
