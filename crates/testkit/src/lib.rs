//! Launchers for reference BitTorrent programs, so that interop tests can run shoal against
//! them over loopback.
//!
//! # What is here
//!
//! * [`Opentracker`]: an HTTP + UDP (BEP 15) tracker with a whitelist.
//! * [`TestContent`]: deterministic pseudo-random content ([`ContentSpec::standard`] tree,
//!   [`ContentSpec::single_file`] for benchmarks), its .torrent made by mktorrent, and a
//!   byte-for-byte [`TestContent::verify`] of a download.
//! * Reference clients behind one trait, [`RefClient`]: [`LibtorrentClient`] (python
//!   bindings driven over a pipe), [`TransmissionClient`], [`QbittorrentClient`] and
//!   [`Aria2Client`] (each through its own RPC), and [`RtorrentClient`] (XML-RPC over SCGI).
//!
//! # Why real processes, and the rules that keep them contained
//!
//! Interop bugs live in the other implementation's habits (when it unchokes, what it sends
//! first, which peers it refuses to dial), so the kit runs the real programs rather than
//! models of them. That is only acceptable in a test suite if each one is as contained as an
//! in-process fake. The launchers therefore follow four rules:
//!
//! 1. **Loopback only.** Every program binds to its own 127.0.0.x address
//!    ([`next_loopback`]; RPC and Web UIs on 127.0.0.1) and a port that was free a moment
//!    before ([`free_port`]). DHT, local peer discovery, UPnP, NAT-PMP, PEX, blocklist and
//!    GeoIP lookups are switched off in the configuration written *before the first start*,
//!    because several programs reach out during start-up with their defaults. (Transmission
//!    still `connect()`s an unused UDP socket towards a public IPv6 address to learn its
//!    own; run the test binary under `unshare -n` where even that matters.)
//! 2. **Own PIDs, nothing else.** Each launcher starts its program itself, keeps the child
//!    unreaped (so its PID cannot be recycled) and stops exactly that PID on drop: SIGTERM,
//!    a bounded wait, then SIGKILL. Nothing is ever found or killed by name. Children also
//!    carry `PR_SET_PDEATHSIG`, so they die with the test binary even if it aborts (except
//!    opentracker, whose switch to `nobody` clears that flag).
//! 3. **Bounded waits.** Every wait — start-up, RPC call, completion — has a timeout and
//!    returns [`KitError::Timeout`] naming what never happened.
//! 4. **Fresh state.** Each launcher gets a new temp dir for configuration, state and logs,
//!    removed after the program stopped.
//!
//! Errors say whom to blame ([`KitError::blame`]): a reference client that dies from a
//! signal is [`KitError::Crashed`], and [`retry_on_reference_crash`] gives it one more try
//! (python-libtorrent 2.0.8 segfaults in a few percent of runs).
//!
//! # A typical interop test
//!
//! ```no_run
//! use std::time::Duration;
//! use shoal_testkit::*;
//!
//! let tracker = Opentracker::start().unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let spec = ContentSpec::small().with_tracker(tracker.http_announce_url());
//! let content = TestContent::generate(dir.path(), &spec).unwrap();
//! let ih = content.torrent().info_hash();
//! tracker.whitelist(&[ih.0]).unwrap();
//!
//! retry_on_reference_crash(|| {
//!     let seeder = LibtorrentClient::start()?;
//!     seeder.add_torrent(content.torrent(), content.data_dir(), AddMode::Seed)?;
//!     seeder.wait_complete(ih, Duration::from_secs(30))?;
//!     // ... start shoal on its own next_loopback() address and download, then:
//!     content.verify(&dir.path().join("shoal"), VerifyOptions::EXACT)
//! })
//! .unwrap();
//! ```
//!
//! # Who dials whom
//!
//! Transmission 3.00 never dials 127.x peers it learns from a tracker, and aria2 cannot be
//! told to dial anyone ([`RefClient::connect_peer`] returns [`KitError::Unsupported`]): in
//! tests with them, the other side (shoal, or a libtorrent seeder via
//! [`RefClient::connect_peer`]) must open the connection.

mod aria2;
mod client;
mod content;
mod error;
mod http;
mod libtorrent;
mod net;
mod process;
mod qbittorrent;
mod rtorrent;
mod torrent;
mod tracker;
mod transmission;
mod xmlrpc;

pub use aria2::{Aria2Client, Aria2Options};
pub use client::{AddMode, PeerStatus, RefClient, TorrentStatus};
pub use content::{ContentSpec, FileSpec, Shape, TestContent, VerifyOptions};
pub use error::{retry_on_reference_crash, Blame, KitError};
pub use libtorrent::{LibtorrentClient, LibtorrentOptions};
pub use net::{free_port, next_loopback, poll_until};
pub use qbittorrent::{QbittorrentClient, QbittorrentOptions};
pub use rtorrent::{RtorrentClient, RtorrentOptions};
pub use torrent::{mktorrent, TorrentFile, TorrentOptions};
pub use tracker::Opentracker;
pub use transmission::{TransmissionClient, TransmissionOptions};
pub use xmlrpc::XmlValue;
