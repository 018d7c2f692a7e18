//! Runs the torrents of one session until they are done: progress lines or the dashboard,
//! completion and seeding limits, Ctrl-C / SIGTERM, and commands from the dashboard.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use shoal_engine::announce::TrackerStatus;
use shoal_engine::{AddTorrent, Session, TorrentHandle, TorrentState, TorrentStats};
use shoal_tui::{AddSource, Command, PieceMap, Snapshot, TorrentView};
use tokio::sync::{mpsc, watch, Notify};

use crate::progress_line::print_progress;

/// Exit code when stopped by Ctrl-C or SIGTERM before every torrent completed.
pub const EXIT_INTERRUPTED: i32 = 130;

/// How a run ends and what it shows.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Show the dashboard (stdout is a terminal and the user did not ask for lines).
    pub tui: bool,
    /// Progress lines redraw in place (stdout is a terminal).
    pub terminal: bool,
    pub progress_every: Duration,
    /// Keep seeding after completion.
    pub keep_seeding: bool,
    pub seed_ratio: Option<f64>,
    pub seed_time: Option<Duration>,
    /// Where torrents added from the dashboard are downloaded.
    pub download_dir: PathBuf,
    pub use_trackers: bool,
}

struct Entry {
    name: String,
    handle: TorrentHandle,
    stats: watch::Receiver<TorrentStats>,
    trackers: watch::Receiver<TrackerStatus>,
    completed_at: Option<Instant>,
    removed: bool,
    /// The torrent lists trackers (else the tracker panel stays empty).
    has_trackers: bool,
}

/// A session and its torrents.
pub struct Runner {
    session: Session,
    entries: Vec<Entry>,
    changed: Arc<Notify>,
    started: Instant,
    /// Configured global limits, shown by the dashboard.
    limits: shoal_tui::RateLimits,
}

impl Runner {
    pub fn new(session: Session) -> Self {
        Self {
            session,
            entries: Vec::new(),
            changed: Arc::new(Notify::new()),
            started: Instant::now(),
            limits: shoal_tui::RateLimits::default(),
        }
    }

    /// The global limits to show on the dashboard.
    pub fn set_limits(&mut self, up: Option<u64>, down: Option<u64>) {
        self.limits = shoal_tui::RateLimits { up, down };
    }

    /// Starts a torrent (checking what is on disk first).
    pub async fn add(&mut self, add: AddTorrent) -> anyhow::Result<()> {
        let name = add.source.name();
        let has_trackers = !add.source.trackers().is_empty() && add.use_trackers;
        let handle = self
            .session
            .add_torrent(add, |_, _| {})
            .await
            .with_context(|| format!("cannot start {name}"))?;
        let stats = handle.stats();
        let trackers = handle.trackers();
        // Wake the run loop on every published change of this torrent.
        let (mut rx, notify) = (handle.stats(), Arc::clone(&self.changed));
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                notify.notify_one();
            }
        });
        self.entries.push(Entry {
            name,
            handle,
            stats,
            trackers,
            completed_at: None,
            removed: false,
            has_trackers,
        });
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        let torrents = self
            .entries
            .iter()
            .filter(|e| !e.removed)
            .map(|e| {
                let trackers = if e.has_trackers {
                    vec![e.trackers.borrow().clone()]
                } else {
                    Vec::new()
                };
                let mut view = TorrentView::new(e.stats.borrow().clone(), trackers);
                if let Some(map) = &view.stats.pieces {
                    view.pieces = PieceMap::new(
                        map.have.clone(),
                        map.downloading.clone(),
                        map.availability.clone(),
                    )
                    .ok();
                }
                view.disk.full = view.stats.disk_full;
                view.limits = self.limits;
                view
            })
            .collect();
        Snapshot {
            torrents,
            dht: self.session.dht_status().map(|rx| {
                let s = rx.borrow();
                shoal_tui::DhtView {
                    nodes: s.nodes,
                    lookups: s.lookups,
                }
            }),
        }
    }

    /// Runs until every torrent is done (or seeding limits are met), the user quits, or a
    /// signal arrives. Returns the exit code and the last stats of the first torrent.
    pub async fn run(
        mut self,
        cfg: &RunConfig,
        out: &mut dyn Write,
    ) -> anyhow::Result<(i32, Option<TorrentStats>)> {
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch for SIGTERM")?;
        let mut ticker = tokio::time::interval(if cfg.tui {
            Duration::from_millis(250)
        } else if cfg.terminal {
            Duration::from_millis(500)
        } else {
            cfg.progress_every.max(Duration::from_millis(100))
        });
        let (snap_tx, snap_rx) = watch::channel(self.snapshot());
        let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(32);
        let dashboard = if cfg.tui {
            Some(tokio::spawn(shoal_tui::run_dashboard(snap_rx, cmd_tx)))
        } else {
            drop(cmd_tx);
            None
        };
        let changed = Arc::clone(&self.changed);
        let code = loop {
            let mut print = false;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break EXIT_INTERRUPTED,
                _ = sigterm.recv() => break EXIT_INTERRUPTED,
                _ = ticker.tick() => print = true,
                _ = changed.notified() => {}
                cmd = cmd_rx.recv(), if dashboard.is_some() => match cmd {
                    Some(Command::Quit) | None => break if self.all_complete() { 0 } else { EXIT_INTERRUPTED },
                    Some(cmd) => self.on_command(cmd, cfg).await,
                },
            }
            if cfg.tui {
                snap_tx.send_replace(self.snapshot());
            }
            if let Some(code) = self.check_progress(cfg, out, print)? {
                break code;
            }
        };
        if let Some(d) = dashboard {
            // Closing the snapshot channel ends the dashboard, which restores the terminal.
            drop(snap_tx);
            let _ = tokio::time::timeout(Duration::from_secs(2), d).await;
        }
        let last = self.entries.first().map(|e| e.stats.borrow().clone());
        for e in &mut self.entries {
            if !e.removed {
                e.handle.stop(Duration::from_secs(8)).await;
            }
        }
        let last = self
            .entries
            .first()
            .map(|e| e.stats.borrow().clone())
            .or(last);
        self.session.shutdown(Duration::from_secs(2)).await;
        let _ = out.flush();
        Ok((code, last))
    }

    fn all_complete(&self) -> bool {
        self.entries
            .iter()
            .filter(|e| !e.removed)
            .all(|e| e.completed_at.is_some())
    }

    /// Prints progress and completions; returns an exit code when the run is over.
    fn check_progress(
        &mut self,
        cfg: &RunConfig,
        out: &mut dyn Write,
        print: bool,
    ) -> anyhow::Result<Option<i32>> {
        let now = Instant::now();
        let several = self.entries.len() > 1;
        for e in self.entries.iter_mut().filter(|e| !e.removed) {
            let s = e.stats.borrow().clone();
            if let TorrentState::Failed(why) = &s.state {
                anyhow::bail!("{}: {why}", e.name);
            }
            let finished = s.is_complete() && e.completed_at.is_none();
            if !cfg.tui && (print || finished) {
                print_progress(out, &s, self.started, cfg.terminal, several);
            }
            if finished {
                e.completed_at = Some(now);
                if !cfg.tui {
                    let nl = if cfg.terminal { "\n" } else { "" };
                    let secs = self.started.elapsed().as_secs_f64();
                    let _ = writeln!(out, "{nl}complete: {} in {secs:.1} s", e.name);
                    if cfg.keep_seeding {
                        let _ = writeln!(out, "seeding; Ctrl-C to stop");
                    }
                }
            }
        }
        if self.entries.iter().all(|e| e.removed) && !cfg.tui {
            return Ok(Some(0));
        }
        if !self.all_complete() {
            return Ok(None);
        }
        if !cfg.keep_seeding {
            return Ok(Some(0));
        }
        // Seeding: done when every torrent met a given limit.
        let mut met_all = cfg.seed_ratio.is_some() || cfg.seed_time.is_some();
        for e in self.entries.iter().filter(|e| !e.removed) {
            let s = e.stats.borrow();
            let since = e
                .completed_at
                .map_or(Duration::ZERO, |t| now.duration_since(t));
            let time_ok = cfg.seed_time.is_some_and(|limit| since >= limit);
            let ratio_ok = cfg
                .seed_ratio
                .is_some_and(|r| s.uploaded as f64 >= r * s.total_length as f64);
            met_all &= time_ok || ratio_ok;
        }
        if met_all {
            if !cfg.tui {
                let _ = writeln!(out, "seeding limit reached");
            }
            return Ok(Some(0));
        }
        Ok(None)
    }

    async fn set_paused(&self, info_hash_hex: &str, paused: bool) {
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| !e.removed && e.stats.borrow().info_hash_hex == info_hash_hex)
        {
            e.handle.set_paused(paused).await;
        }
    }

    async fn on_command(&mut self, cmd: Command, cfg: &RunConfig) {
        match cmd {
            Command::Remove(id) => {
                if let Some(e) = self
                    .entries
                    .iter_mut()
                    .find(|e| !e.removed && e.stats.borrow().info_hash_hex == id.as_str())
                {
                    e.handle.stop(Duration::from_secs(8)).await;
                    e.removed = true;
                }
            }
            Command::Add(source) => {
                let source = match source {
                    AddSource::Path(path) => crate::discovery::load_source(&path),
                    AddSource::Magnet(link) => {
                        crate::discovery::load_source(std::path::Path::new(&link))
                    }
                };
                let source = match source {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "adding a torrent from the dashboard failed");
                        return;
                    }
                };
                let add = AddTorrent {
                    source,
                    download_dir: cfg.download_dir.clone(),
                    peers: Vec::new(),
                    use_trackers: cfg.use_trackers,
                    files: None,
                };
                if let Err(e) = self.add(add).await {
                    tracing::warn!(error = %e, "adding a torrent from the dashboard failed");
                }
            }
            Command::Pause(id) => self.set_paused(id.as_str(), true).await,
            Command::Resume(id) => self.set_paused(id.as_str(), false).await,
            Command::Quit => {}
        }
    }
}
