//! The mainline DHT (BEP 5), with IPv6 (BEP 32) and node-id security (BEP 42).
//!
//! # Why a sans-IO core
//!
//! [`proto`] is the whole DHT as a state machine, [`proto::Dht`]: datagrams and the current
//! time go in ([`proto::Dht::handle_datagram`], [`proto::Dht::handle_timeout`]), datagrams to
//! send, events and the next deadline come out ([`proto::Dht::poll_transmit`],
//! [`proto::Dht::poll_event`], [`proto::Dht::poll_timeout`]). It owns no socket, reads no
//! clock and draws randomness only from a generator it is handed. [`node`] is a small tokio
//! task that moves those datagrams over a `UdpSocket`.
//!
//! The DHT's hard properties are all about time and about many nodes at once: a node turns
//! questionable after 15 minutes and bad after two unanswered queries, tokens must live 5 to
//! 10 minutes, buckets are refreshed after 15 idle minutes, stored peers expire after 30, a
//! lookup must converge on the 8 closest nodes of a network of thousands while some nodes
//! never answer. With I/O and a real clock inside, each of these takes minutes per test and
//! a real network per run. Without them, the tests drive cores on a virtual clock: the token
//! rules are checked to the second, and `tests/simnet.rs` routes datagrams between 2000 cores
//! in one process and checks that a lookup ends at exactly the 8 nodes a brute-force sort
//! names — deterministic, replayable from a seed, in seconds. The same core is what the
//! tokio node runs, so what the simulation proves is what ships; only the thin socket loop
//! needs the loopback interop tests against libtorrent (`tests/libtorrent_dht.rs`).
//!
//! Hostile input is the other concern: every datagram is size-capped before parsing, decoded
//! under tight bencode limits, and answered at most once, within 1024 bytes, under a per-IP
//! rate limit, so the node cannot be used to amplify traffic towards a victim.

mod error;
#[cfg(feature = "node")]
pub mod node;
pub mod persist;
pub mod proto;

pub use error::KrpcError;
#[cfg(feature = "node")]
pub use error::NodeError;
