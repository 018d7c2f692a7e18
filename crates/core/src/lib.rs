//! Core BitTorrent types shared by every other shoal crate.
//!
//! This crate is pure: no network, no clock, no global state. Everything that comes from outside
//! (a .torrent file, a magnet link, a path from a peer's metadata) is validated once by a
//! constructor here and then carried as a type whose existence proves it is valid
//! (`InfoHash`, `PieceIndex`, `Metainfo`, sanitised paths). Other crates never re-check.

pub mod bitfield;
pub mod create;
pub mod ids;
pub mod layout;
pub mod magnet;
pub mod metainfo;
pub mod paths;

pub use bitfield::Bitfield;
pub use ids::{InfoHash, InfoHashV1, InfoHashV2, PeerId, PieceIndex};
