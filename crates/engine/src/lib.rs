//! The tokio side of shoal: a [`Session`] with its listener, one actor task per torrent, one
//! task per peer connection, disk jobs on the blocking pool, and an announcer per torrent.
//!
//! # Design: every mutable state has one owner
//!
//! A torrent's whole peer state lives in its sans-IO `shoal_swarm::Swarm`, owned by exactly one
//! task, the torrent actor. Connection tasks only move bytes; dial tasks only connect and
//! handshake; disk jobs only read, hash and write; the announcer only talks to trackers. They
//! all report back over channels, so there is no lock around peers or pieces and no lock
//! order to get wrong. The listener owns the routing table for incoming connections the same
//! way. The outside world sees a torrent through an immutable [`TorrentStats`] snapshot on a
//! `watch` channel and controls it through a [`TorrentHandle`].
//!
//! A magnet link runs the same way with one more phase in front: its task first drives the
//! sans-IO metadata core over the same channels (so trackers, the DHT and the listener feed
//! it unchanged), then builds the torrent and becomes the ordinary actor, keeping its
//! connections. The session's one DHT node ([`dht`]) serves every public torrent through a
//! lookup task per torrent that only sends peer addresses to the actor's inbox.

pub mod announce;
pub mod conn;
pub mod dht;
pub mod disk;
pub mod file_watch;
pub mod handshake;
pub mod limits;
mod magnet;
mod read_cache;
pub mod resume;
mod resume_writer;
pub mod session;
mod start;
pub mod stats;
pub mod tasks;
pub mod torrent;

pub use dht::{DhtConfig, DhtStatus};
pub use session::{AddTorrent, Session, SessionConfig, TorrentHandle, TorrentSource};
pub use stats::{TorrentState, TorrentStats};

/// Why the engine could not do what was asked. Each is reported to the user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("tracker client: {0}")]
    Tracker(String),
    #[error("DHT: {0}")]
    Dht(String),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("internal error: {0}")]
    Internal(String),
}
