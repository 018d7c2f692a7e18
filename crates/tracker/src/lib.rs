//! Announce and scrape: telling trackers we are in a swarm and learning who else is.
//!
//! # Two halves: `proto` and `client`
//!
//! [`proto`] is the whole tracker protocol as plain functions and state machines: HTTP
//! announce and scrape URLs (BEP 3, 23, 48), bencoded replies (BEP 3, 7, 23, 48), BEP 15 UDP
//! datagrams and the [`proto::UdpTrackerMachine`] that owns connection ids, transaction ids
//! and retransmission, the BEP 12 [`proto::TrackerList`], and the [`proto::AnnounceSchedule`].
//! It has no sockets, no clock and no global RNG: time comes in as `Instant`, randomness as an
//! injected `rand::Rng`. [`client`] is a thin tokio layer that moves those bytes over reqwest
//! and a `UdpSocket`.
//!
//! The split exists because the hard parts of talking to trackers are timing and hostile
//! input, and both are only testable without I/O. BEP 15's back-off runs for two hours and
//! its connection id expires after one minute; on a virtual clock the machine's tests walk
//! through the BEP's own timelines in microseconds, exactly, with no sleeps. Every parser takes
//! a byte slice, so caps and malformed replies are unit tests, and the engine can drive the
//! same machine with its own timers. The tokio half then needs only a few end-to-end tests
//! against a real tracker (`tests/opentracker.rs`).
//!
//! Errors are one enum, [`TrackerError`], whose [`TrackerError::action`] says what to do
//! next: try the next tracker, retry later, or tell the user.

pub mod client;
mod error;
pub mod proto;

pub use error::{ErrorAction, ReplyError, TrackerError};
