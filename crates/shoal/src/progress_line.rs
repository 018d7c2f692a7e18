//! The plain progress line of `download` and `seed` (when the dashboard is off).

use std::io::Write;
use std::time::Instant;

use shoal_engine::{TorrentState, TorrentStats};

use crate::human;

/// One line: state, percent, bytes, rates, peers, ETA. Redrawn in place on a terminal
/// (unless several torrents share the output), else printed as a new line.
pub fn print_progress(
    out: &mut dyn Write,
    s: &TorrentStats,
    started: Instant,
    terminal: bool,
    with_name: bool,
) {
    let pct = if matches!(s.state, TorrentState::FetchingMetadata { .. }) {
        // The size is not known yet.
        0.0
    } else if s.total_length == 0 {
        100.0
    } else {
        s.have_bytes as f64 * 100.0 / s.total_length as f64
    };
    let left = s.total_length.saturating_sub(s.have_bytes);
    let eta = if s.down_rate > 0 && left > 0 {
        format!("{}s", left / s.down_rate)
    } else {
        "-".to_string()
    };
    let state = match &s.state {
        TorrentState::Checking { done, of } => format!("checking {done}/{of}"),
        TorrentState::FetchingMetadata { have, of } => format!("fetching metadata {have}/{of}"),
        TorrentState::Downloading => "downloading".to_string(),
        TorrentState::Seeding => "seeding".to_string(),
        TorrentState::DiskPaused => "paused (disk)".to_string(),
        TorrentState::Stopped => "stopped".to_string(),
        TorrentState::Failed(_) => "failed".to_string(),
    };
    let name = if with_name {
        format!("{}: ", s.name)
    } else {
        String::new()
    };
    let line = format!(
        "{name}{state} {pct:5.1}% {}/{} down {}/s up {}/s peers {} eta {eta} elapsed {:.0}s{}",
        human::size(s.have_bytes),
        human::size(s.total_length),
        human::size(s.down_rate),
        human::size(s.up_rate),
        s.peers.len(),
        started.elapsed().as_secs_f64(),
        s.message
            .as_ref()
            .map(|m| format!(" | {m}"))
            .unwrap_or_default(),
    );
    if terminal && !with_name {
        let _ = write!(out, "\r\x1b[2K{line}");
    } else {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}
