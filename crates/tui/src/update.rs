//! Events in, commands out: the only place [`App`] changes.

use std::path::PathBuf;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use shoal_engine::TorrentState;

use crate::app::{AddSource, App, Command, Mode, Panel, MAX_INPUT};
use crate::format::clean;
use crate::view::Snapshot;

/// Something the dashboard reacts to.
#[derive(Clone, Debug)]
pub enum Event {
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
    /// The engine published a new snapshot.
    Snapshot(Snapshot, Instant),
    /// The slow clock: moves time-relative text on and records a rate sample.
    Tick(Instant),
    /// A message for the user from the loop around the app (a command that could not be
    /// delivered, say).
    Notice(String),
}

impl App {
    /// Applies one event; returns what the engine should do, if anything.
    pub fn update(&mut self, event: Event) -> Option<Command> {
        match event {
            Event::Key(key) => self.on_key(key),
            Event::Paste(text) => {
                if let Mode::Input(line) = &mut self.mode {
                    push_capped(line, &text);
                }
                None
            }
            Event::Snapshot(snapshot, now) => {
                self.now = now;
                self.set_snapshot(snapshot);
                None
            }
            Event::Tick(now) => {
                self.now = now;
                self.sample_rates();
                None
            }
            Event::Notice(text) => {
                self.notice = Some(clean(&text, 200));
                None
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        // Terminals that report releases would otherwise act twice per key.
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(self.quit());
        }
        self.notice = None;
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(key),
            mode @ (Mode::Help | Mode::Details) => {
                let close = matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?')
                );
                if !close {
                    self.mode = mode;
                }
                None
            }
            Mode::Input(line) => self.input_key(key, line),
            Mode::ConfirmRemove(id) => match key.code {
                KeyCode::Char('y' | 'Y') => Some(Command::Remove(id)),
                _ => None,
            },
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Option<Command> {
        match key.code {
            KeyCode::Char('q') => return Some(self.quit()),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Tab => self.cycle_focus(1),
            KeyCode::BackTab => self.cycle_focus(Panel::CYCLE.len() - 1),
            KeyCode::Right | KeyCode::Char('l') => self.cycle_detail(1),
            KeyCode::Left | KeyCode::Char('h') => self.cycle_detail(Panel::DETAILS.len() - 1),
            KeyCode::Down | KeyCode::Char('j') => self.move_row(|i| i.saturating_add(1)),
            KeyCode::Up | KeyCode::Char('k') => self.move_row(|i| i.saturating_sub(1)),
            KeyCode::Home | KeyCode::Char('g') => self.move_row(|_| 0),
            KeyCode::End | KeyCode::Char('G') => self.move_row(|_| usize::MAX),
            KeyCode::Enter if self.selected().is_some() => self.mode = Mode::Details,
            KeyCode::Char('p') => return self.pause_or_resume(),
            KeyCode::Char('d') => {
                if let Some(t) = self.selected() {
                    self.mode = Mode::ConfirmRemove(t.id());
                }
            }
            KeyCode::Char('a') => self.mode = Mode::Input(String::new()),
            _ => {}
        }
        None
    }

    fn input_key(&mut self, key: KeyEvent, mut line: String) -> Option<Command> {
        match key.code {
            KeyCode::Esc => None,
            KeyCode::Enter => parse_add(&line).map(Command::Add),
            KeyCode::Backspace => {
                line.pop();
                self.mode = Mode::Input(line);
                None
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.mode = Mode::Input(String::new());
                None
            }
            KeyCode::Char(c) => {
                let mut buf = [0u8; 4];
                push_capped(&mut line, c.encode_utf8(&mut buf));
                self.mode = Mode::Input(line);
                None
            }
            _ => {
                self.mode = Mode::Input(line);
                None
            }
        }
    }

    fn quit(&mut self) -> Command {
        self.quit = true;
        Command::Quit
    }

    fn cycle_focus(&mut self, step: usize) {
        let at = Panel::CYCLE
            .iter()
            .position(|p| *p == self.focus)
            .unwrap_or(0);
        self.focus = Panel::CYCLE[(at + step) % Panel::CYCLE.len()];
        if self.focus != Panel::Torrents {
            self.detail = self.focus;
        }
    }

    fn cycle_detail(&mut self, step: usize) {
        let at = Panel::DETAILS
            .iter()
            .position(|p| *p == self.detail)
            .unwrap_or(0);
        self.detail = Panel::DETAILS[(at + step) % Panel::DETAILS.len()];
        if self.focus != Panel::Torrents {
            self.focus = self.detail;
        }
    }

    /// Moves the row of the focused panel; panels without rows move the torrent list.
    fn move_row(&mut self, to: impl Fn(usize) -> usize) {
        match self.focus {
            Panel::Peers => self.peer_row = to(self.peer_row),
            Panel::Trackers => self.tracker_row = to(self.tracker_row),
            Panel::Torrents | Panel::Pieces | Panel::Rates => {
                let at = self.selected_index().unwrap_or(0);
                self.select_index(to(at));
            }
        }
        self.clamp_rows();
    }

    fn pause_or_resume(&mut self) -> Option<Command> {
        let t = self.selected()?;
        let id = t.id();
        Some(match t.stats.state {
            TorrentState::Stopped | TorrentState::DiskPaused | TorrentState::Failed(_) => {
                Command::Resume(id)
            }
            TorrentState::FetchingMetadata { .. }
            | TorrentState::Checking { .. }
            | TorrentState::Downloading
            | TorrentState::Seeding => Command::Pause(id),
        })
    }
}

/// Appends `text` without control characters, up to [`MAX_INPUT`] characters in all.
fn push_capped(line: &mut String, text: &str) {
    let room = MAX_INPUT.saturating_sub(line.chars().count());
    line.push_str(&clean(text, room));
}

/// A magnet link or a path to a .torrent file; `None` for an empty line.
fn parse_add(line: &str) -> Option<AddSource> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let magnet = line
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"));
    Some(if magnet {
        AddSource::Magnet(line.to_owned())
    } else {
        AddSource::Path(PathBuf::from(line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{app, base, ch, key, snapshot};
    use crate::view::TorrentId;

    fn id(byte: u8) -> TorrentId {
        TorrentId::new(format!("{byte:02x}").repeat(20))
    }

    #[test]
    fn moves_with_arrows_and_jk_and_stops_at_the_ends() {
        let (mut app, _) = app(0);
        assert_eq!(app.selected_index(), Some(0));
        assert_eq!(app.update(key(KeyCode::Down)), None);
        assert_eq!(app.selected_index(), Some(1));
        app.update(ch('j'));
        app.update(ch('j'));
        assert_eq!(app.selected_index(), Some(2), "clamped at the last");
        app.update(ch('k'));
        app.update(key(KeyCode::Up));
        app.update(key(KeyCode::Up));
        assert_eq!(app.selected_index(), Some(0));
        app.update(ch('G'));
        assert_eq!(app.selected_index(), Some(2));
        app.update(ch('g'));
        assert_eq!(app.selected_index(), Some(0));
    }

    #[test]
    fn selection_follows_its_torrent_across_snapshots() {
        let (mut app, now) = app(1);
        let mut snap = snapshot(now);
        snap.torrents.reverse();
        app.update(Event::Snapshot(snap.clone(), now));
        assert_eq!(app.selected().map(|t| t.id()), Some(id(0xb2)));
        // Its torrent gone, the selection stays at the same position.
        snap.torrents.retain(|t| t.id() != id(0xb2));
        app.update(Event::Snapshot(snap, now));
        assert_eq!(app.selected_index(), Some(1));
        app.update(Event::Snapshot(Default::default(), now));
        assert!(app.selected().is_none());
        assert_eq!(app.update(ch('p')), None, "nothing to pause");
        assert_eq!(app.update(ch('d')), None);
        assert_eq!(app.mode(), &Mode::Normal);
    }

    #[test]
    fn tab_cycles_focus_and_rows_move_in_the_focused_panel() {
        let (mut app, _) = app(0);
        assert_eq!(app.focus(), Panel::Torrents);
        app.update(key(KeyCode::Tab));
        assert_eq!(
            (app.focus(), app.detail_panel()),
            (Panel::Peers, Panel::Peers)
        );
        app.update(ch('j'));
        app.update(ch('j'));
        assert_eq!(app.peer_row, 2);
        assert_eq!(app.selected_index(), Some(0), "the torrent stays");
        for _ in 0..100 {
            app.update(ch('j'));
        }
        assert_eq!(app.peer_row, 7, "clamped to the 8 peers");
        for p in [
            Panel::Pieces,
            Panel::Trackers,
            Panel::Rates,
            Panel::Torrents,
        ] {
            app.update(key(KeyCode::Tab));
            assert_eq!(app.focus(), p);
        }
        assert_eq!(
            app.detail_panel(),
            Panel::Rates,
            "kept while the list has focus"
        );
        app.update(key(KeyCode::BackTab));
        assert_eq!(app.focus(), Panel::Rates);
        app.update(key(KeyCode::Right));
        assert_eq!(
            (app.focus(), app.detail_panel()),
            (Panel::Peers, Panel::Peers)
        );
        app.update(ch('h'));
        assert_eq!(app.detail_panel(), Panel::Rates);
        // Changing torrent starts its peer list at the top.
        app.update(key(KeyCode::Tab));
        assert_eq!(app.focus(), Panel::Torrents);
        assert_eq!(app.peer_row, 7);
        app.update(ch('j'));
        assert_eq!(app.peer_row, 0);
    }

    #[test]
    fn pause_resume_and_remove() {
        let (mut app, now) = app(0);
        assert_eq!(app.update(ch('p')), Some(Command::Pause(id(0xa1))));
        let mut snap = snapshot(now);
        if let Some(t) = snap.torrents.first_mut() {
            t.stats.state = TorrentState::Stopped;
        }
        app.update(Event::Snapshot(snap, now));
        assert_eq!(app.update(ch('p')), Some(Command::Resume(id(0xa1))));

        assert_eq!(app.update(ch('d')), None);
        assert_eq!(app.mode(), &Mode::ConfirmRemove(id(0xa1)));
        assert_eq!(app.update(ch('n')), None, "any other key keeps it");
        assert_eq!(app.mode(), &Mode::Normal);
        app.update(ch('d'));
        assert_eq!(app.update(ch('y')), Some(Command::Remove(id(0xa1))));
        assert_eq!(app.mode(), &Mode::Normal);
    }

    #[test]
    fn add_line_takes_a_path_or_a_magnet() {
        let (mut app, _) = app(0);
        app.update(ch('a'));
        for c in "/tmp/x.torrentq".chars() {
            assert_eq!(app.update(ch(c)), None, "q types, it does not quit");
        }
        app.update(key(KeyCode::Backspace));
        assert!(!app.should_quit());
        assert_eq!(
            app.update(key(KeyCode::Enter)),
            Some(Command::Add(AddSource::Path("/tmp/x.torrent".into())))
        );
        assert_eq!(app.mode(), &Mode::Normal);

        app.update(ch('a'));
        app.update(Event::Paste("  MAGNET:?xt=urn:btih:abc\n".into()));
        assert_eq!(
            app.update(key(KeyCode::Enter)),
            Some(Command::Add(AddSource::Magnet(
                "MAGNET:?xt=urn:btih:abc".into()
            )))
        );

        app.update(ch('a'));
        assert_eq!(
            app.update(key(KeyCode::Enter)),
            None,
            "empty line adds nothing"
        );
        app.update(ch('a'));
        app.update(ch('x'));
        assert_eq!(app.update(key(KeyCode::Esc)), None);
        assert_eq!(app.mode(), &Mode::Normal);
        // Paste outside the add line is ignored.
        app.update(Event::Paste("q".into()));
        assert!(!app.should_quit());
    }

    #[test]
    fn add_line_is_capped() {
        let (mut app, _) = app(0);
        app.update(ch('a'));
        app.update(Event::Paste("x".repeat(MAX_INPUT * 2)));
        app.update(ch('y'));
        match app.mode() {
            Mode::Input(line) => assert_eq!(line.chars().count(), MAX_INPUT),
            other => panic!("not in input mode: {other:?}"),
        }
    }

    #[test]
    fn help_and_details_open_and_close() {
        let (mut app, _) = app(0);
        app.update(ch('?'));
        assert_eq!(app.mode(), &Mode::Help);
        app.update(ch('j'));
        assert_eq!(app.mode(), &Mode::Help, "other keys leave help open");
        app.update(key(KeyCode::Esc));
        assert_eq!(app.mode(), &Mode::Normal);
        app.update(key(KeyCode::Enter));
        assert_eq!(app.mode(), &Mode::Details);
        assert_eq!(app.update(ch('q')), None, "q closes the popup first");
        assert_eq!(app.mode(), &Mode::Normal);
        assert!(!app.should_quit());
    }

    #[test]
    fn q_and_ctrl_c_quit_in_any_mode() {
        let (mut app, _) = app(0);
        assert_eq!(app.update(ch('q')), Some(Command::Quit));
        assert!(app.should_quit());
        let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        for setup in [ch('a'), ch('?'), ch('d')] {
            let (mut app, _) = crate::testdata::app(0);
            app.update(setup);
            assert_eq!(app.update(ctrl_c.clone()), Some(Command::Quit));
            assert!(app.should_quit());
        }
    }

    #[test]
    fn releases_are_ignored_and_notices_clear_on_a_key() {
        let (mut app, _) = app(0);
        let mut release = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        app.update(Event::Key(release));
        assert_eq!(app.selected_index(), Some(0));
        app.update(Event::Notice("engine busy\x1b[2J".into()));
        assert_eq!(app.notice(), Some("engine busy[2J"));
        app.update(ch('j'));
        assert_eq!(app.notice(), None);
    }

    #[test]
    fn ticks_sample_rates_and_move_time() {
        let t0 = base();
        let mut app = App::new(t0);
        let snap = snapshot(t0);
        app.update(Event::Snapshot(snap, t0));
        for s in 1..=5 {
            app.update(Event::Tick(t0 + crate::testdata::secs(s)));
        }
        assert_eq!(app.now(), t0 + crate::testdata::secs(5));
        let h = app.history(&id(0xa1)).map(|h| h.len());
        assert_eq!(h, Some(5));
        // A torrent that leaves takes its history with it.
        app.update(Event::Snapshot(Default::default(), t0));
        assert!(app.history(&id(0xa1)).is_none());
    }
}
