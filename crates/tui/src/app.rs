//! The dashboard's state: the latest snapshot, what the user has selected, and a short
//! history of rates. Changed only by [`App::update`](crate::App::update); read by the
//! renderer.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use crate::view::{Snapshot, TorrentId, TorrentView};

/// Rate samples kept per torrent: one per tick, so 5 minutes at the 1 s tick.
pub const HISTORY_LEN: usize = 300;

/// Characters the add line accepts at most (a long magnet link fits).
pub const MAX_INPUT: usize = 4096;

/// A panel the keyboard can focus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Torrents,
    Peers,
    Pieces,
    Trackers,
    Rates,
}

impl Panel {
    /// The order Tab walks through.
    pub const CYCLE: [Panel; 5] = [
        Panel::Torrents,
        Panel::Peers,
        Panel::Pieces,
        Panel::Trackers,
        Panel::Rates,
    ];
    /// The panels shown below the torrent list, in tab order.
    pub const DETAILS: [Panel; 4] = [Panel::Peers, Panel::Pieces, Panel::Trackers, Panel::Rates];

    pub fn title(self) -> &'static str {
        match self {
            Panel::Torrents => "Torrents",
            Panel::Peers => "Peers",
            Panel::Pieces => "Pieces",
            Panel::Trackers => "Trackers",
            Panel::Rates => "Rates",
        }
    }
}

/// What the keyboard is talking to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// The details popup of the selected torrent.
    Details,
    /// Typing a path or magnet link to add.
    Input(String),
    /// Asking whether to remove this torrent.
    ConfirmRemove(TorrentId),
}

/// What the dashboard asks the engine to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Pause(TorrentId),
    Resume(TorrentId),
    Remove(TorrentId),
    Add(AddSource),
    /// The user wants to leave; the dashboard has stopped.
    Quit,
}

/// What the user typed on the add line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddSource {
    Path(PathBuf),
    Magnet(String),
}

/// One rate sample, bytes per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub down: u64,
    pub up: u64,
}

/// The last [`HISTORY_LEN`] samples of one torrent, oldest first.
#[derive(Clone, Debug, Default)]
pub struct RateHistory {
    samples: VecDeque<Sample>,
}

impl RateHistory {
    pub fn push(&mut self, s: Sample) {
        if self.samples.len() == HISTORY_LEN {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The newest `n` samples, oldest first.
    pub fn last(&self, n: usize) -> impl Iterator<Item = Sample> + '_ {
        self.samples
            .iter()
            .skip(self.samples.len().saturating_sub(n))
            .copied()
    }

    pub fn peak(&self) -> Sample {
        self.samples.iter().fold(Sample::default(), |m, s| Sample {
            down: m.down.max(s.down),
            up: m.up.max(s.up),
        })
    }
}

/// The dashboard's whole state.
#[derive(Debug)]
pub struct App {
    pub(crate) snapshot: Snapshot,
    /// The time of the latest event; everything time-relative is drawn against it.
    pub(crate) now: Instant,
    /// Followed by id, so the selection stays on its torrent when the list changes.
    pub(crate) selected: Option<TorrentId>,
    pub(crate) focus: Panel,
    /// The detail panel shown when only one fits.
    pub(crate) detail: Panel,
    pub(crate) peer_row: usize,
    pub(crate) tracker_row: usize,
    pub(crate) mode: Mode,
    pub(crate) history: HashMap<TorrentId, RateHistory>,
    /// A one-line message for the user, cleared by the next key.
    pub(crate) notice: Option<String>,
    pub(crate) quit: bool,
}

impl App {
    pub fn new(now: Instant) -> Self {
        Self {
            snapshot: Snapshot::default(),
            now,
            selected: None,
            focus: Panel::Torrents,
            detail: Panel::Peers,
            peer_row: 0,
            tracker_row: 0,
            mode: Mode::Normal,
            history: HashMap::new(),
            notice: None,
            quit: false,
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    pub fn focus(&self) -> Panel {
        self.focus
    }

    pub fn detail_panel(&self) -> Panel {
        self.detail
    }

    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Position of the selected torrent in the list.
    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_ref()?;
        self.snapshot.torrents.iter().position(|t| t.id() == *id)
    }

    pub fn selected(&self) -> Option<&TorrentView> {
        self.snapshot.torrents.get(self.selected_index()?)
    }

    pub fn history(&self, id: &TorrentId) -> Option<&RateHistory> {
        self.history.get(id)
    }

    /// Selects the torrent at `index`, clamped to the list.
    pub(crate) fn select_index(&mut self, index: usize) {
        let torrents = &self.snapshot.torrents;
        let last = torrents.len().saturating_sub(1);
        let changed = self.selected_index() != Some(index.min(last));
        self.selected = torrents.get(index.min(last)).map(TorrentView::id);
        if changed {
            self.peer_row = 0;
            self.tracker_row = 0;
        }
    }

    /// Takes a new snapshot, keeping the selection on its torrent (or its old position
    /// when it is gone).
    pub(crate) fn set_snapshot(&mut self, snapshot: Snapshot) {
        let old_index = self.selected_index().unwrap_or(0);
        self.snapshot = snapshot;
        if self.selected_index().is_none() {
            self.select_index(old_index);
        }
        let live: Vec<TorrentId> = self.snapshot.torrents.iter().map(|t| t.id()).collect();
        self.history.retain(|id, _| live.contains(id));
        self.clamp_rows();
    }

    /// Adds one rate sample per torrent.
    pub(crate) fn sample_rates(&mut self) {
        for t in &self.snapshot.torrents {
            self.history.entry(t.id()).or_default().push(Sample {
                down: t.stats.down_rate,
                up: t.stats.up_rate,
            });
        }
    }

    pub(crate) fn clamp_rows(&mut self) {
        let (peers, trackers) = self
            .selected()
            .map_or((0, 0), |t| (t.stats.peers.len(), t.trackers.len()));
        self.peer_row = self.peer_row.min(peers.saturating_sub(1));
        self.tracker_row = self.tracker_row.min(trackers.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_a_ring() {
        let mut h = RateHistory::default();
        for i in 0..(HISTORY_LEN as u64 + 10) {
            h.push(Sample { down: i, up: 1 });
        }
        assert_eq!(h.len(), HISTORY_LEN);
        let last: Vec<u64> = h.last(3).map(|s| s.down).collect();
        assert_eq!(last, vec![307, 308, 309]);
        assert_eq!(h.peak().down, 309);
        assert_eq!(h.last(10_000).count(), HISTORY_LEN);
    }
}
