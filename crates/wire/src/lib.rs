//! The BitTorrent peer wire protocol, sans-IO: the handshake (BEP 3), every message of BEP 3,
//! the fast extension (BEP 6) and the extension protocol (BEP 10), and [`PeerSession`], the
//! state machine of one connection.
//!
//! # Why sans-IO
//!
//! Nothing in this crate touches a socket, a clock or a task runtime. Bytes and the current
//! time go in (`handle_bytes(now, ..)`, `handle_timeout(now)`); bytes to send, events and the
//! next deadline come out (`poll_transmit`, `poll_event`, `poll_timeout`). The engine's
//! connection task is then a thin loop that moves bytes, and everything that makes peer
//! connections hard lives here, where it can be tested exactly:
//!
//! - a block that arrives after we cancelled it, a choke while requests are in flight, the
//!   keep-alive that must go out at 60 s and the silent peer that must be dropped at 120 s are
//!   all reproduced in plain unit tests on a virtual clock (an `Instant` plus `Duration`s),
//!   without sleeping and without flakiness;
//! - a hostile peer is a byte slice: every split point of a message, every wrong length and
//!   every oversized prefix is a deterministic test, and the same functions can be fuzzed;
//! - two sessions can be wired back to back in memory to test both directions at once;
//! - the crate has no dependency on tokio, so the swarm core that drives many sessions is
//!   sans-IO too and the engine alone owns I/O.
//!
//! The cost is that the owner must follow the call order documented on [`PeerSession`].
//!
//! # Layers
//!
//! - [`handshake`]: the 68-byte handshake and reserved bits; [`Features`] are those both sides
//!   announced.
//! - [`message`] and [`codec`]: the messages with raw wire fields, and the check-then-parse
//!   frame decoder whose length caps are enforced on a frame's first five bytes.
//! - [`extension`]: the BEP 10 handshake dictionary.
//! - [`session`]: validation against the torrent ([`PieceGeometry`]) and connection state; it
//!   turns raw `u32` indices into `PieceIndex` and [`BlockRange`], so nothing unvalidated leaves
//!   the crate through it.
//! - [`ut_metadata`] (BEP 9) and [`ut_pex`] (BEP 11): the payloads of two BEP 10 extensions,
//!   and their own sans-IO state ([`MetadataFetcher`], [`MetadataServer`], [`PexState`]). They
//!   sit beside the session rather than inside it: the session hands over extended payloads
//!   as [`PeerEvent::Extended`] and sends ours with `send_extended`, and the metadata fetch
//!   spans many connections, so only the owner of all of them (the swarm) can drive it. Their
//!   errors are not [`WireError`]s: a bad extension payload does not desynchronise the stream,
//!   so each says through [`ExtAction`] whether to drop the message or the connection.

pub mod codec;
pub mod error;
pub mod ext_action;
pub mod extension;
pub mod geometry;
pub mod handshake;
pub mod message;
pub mod session;
#[cfg(test)]
mod strategies;
pub mod ut_metadata;
pub mod ut_pex;

pub use codec::{decode, decode_from};
pub use error::{ErrorAction, WireError};
pub use ext_action::ExtAction;
pub use extension::ExtHandshake;
pub use geometry::{BlockRange, PieceGeometry};
pub use handshake::{Features, Handshake};
pub use message::{BlockSpec, Message};
pub use session::{
    CancelOutcome, PeerEvent, PeerSession, RefuseOutcome, RequestOutcome, SendOutcome,
    ServeOutcome, SessionConfig, SessionStats,
};
pub use ut_metadata::{
    FetchEvent, MetadataError, MetadataFetcher, MetadataMessage, MetadataPiece, MetadataServer,
    MetadataSize,
};
pub use ut_pex::{PexError, PexFlags, PexMessage, PexPeer, PexState};
