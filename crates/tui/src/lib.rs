//! shoal's terminal dashboard: the torrents, their peers, pieces, trackers and rates, and a
//! health line that says in plain words what limits the selected torrent now.
//!
//! # Design: render only from snapshots, never touch engine state
//!
//! The engine publishes an immutable [`Snapshot`] on a `tokio::sync::watch` channel; the
//! dashboard takes a copy, folds it into its [`App`] state and draws from `&App` alone. It
//! holds no handle into a torrent actor, no lock and no reference to live engine data, so:
//!
//! - it cannot slow the engine down: publishing to a `watch` never waits for the reader, and
//!   commands go back with `try_send` on a bounded channel (a full channel is reported to the
//!   user, not waited on);
//! - it cannot see a half-updated torrent: each snapshot is whole and consistent;
//! - everything it shows is a pure function of (snapshot, time, key presses), so screens
//!   are tested from fixed snapshots with no engine running, and the health rules
//!   ([`health::health`]) are tested one cause at a time.
//!
//! The structure follows ratatui's application examples: [`App`] holds the state,
//! [`App::update`] turns an [`Event`] (key, paste, snapshot, tick) into an optional
//! [`Command`] for the engine, [`draw`] renders a frame from `&App`, and each panel is its
//! own widget in [`widgets`]. [`run_dashboard`] owns the terminal and the event loop.
//!
//! The engine's [`TorrentStats`](shoal_engine::TorrentStats) does not carry per-piece data,
//! rate limits or peer transports yet; [`TorrentView`] holds optional fields for them and the
//! dashboard shows "—" until they are filled.

pub mod app;
pub mod client_id;
pub mod format;
pub mod health;
pub mod terminal;
pub mod ui;
pub mod update;
pub mod view;
pub mod widgets;

pub use app::{AddSource, App, Command, Panel};
pub use health::{health, Cause, Health, Severity};
pub use terminal::run_dashboard;
pub use ui::{draw, render_to_string};
pub use update::Event;
pub use view::{
    DhtView, DiskView, PeerTransport, PieceMap, PieceMapError, RateLimits, Snapshot, TorrentId,
    TorrentView,
};

#[cfg(test)]
mod screen_tests;
#[cfg(test)]
mod testdata;
