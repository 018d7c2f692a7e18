//! The torrent list: one row per torrent with its progress, rates and swarm size.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, HighlightSpacing, Row, StatefulWidget, Table, TableState, Widget};
use shoal_engine::{TorrentState, TorrentStats};

use super::{header_style, panel, placeholder, selected_style, BAD, GOOD, WARN};
use crate::format;
use crate::view::TorrentView;

pub struct TorrentList<'a> {
    pub torrents: &'a [TorrentView],
    pub selected: Option<usize>,
    pub focused: bool,
}

impl Widget for TorrentList<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let title = format!("Torrents ({})", self.torrents.len());
        let block = panel(title, self.focused);
        if self.torrents.is_empty() {
            placeholder(block, "no torrents: press a to add one", area, buf);
            return;
        }
        let header = Row::new(
            [
                "Name", "State", "Done", "Down", "Up", "ETA", "Ratio", "Peers",
            ]
            .map(Cell::from),
        )
        .style(header_style());
        let rows = self.torrents.iter().map(|t| row(&t.stats));
        let widths = [
            Constraint::Min(8),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(6),
        ];
        let table = Table::new(rows, widths)
            .header(header)
            .block(block)
            .row_highlight_style(selected_style())
            // A marker as well as the colour: the selection stays visible without colour.
            .highlight_symbol("▶")
            .highlight_spacing(HighlightSpacing::Always);
        let mut state = TableState::new().with_selected(self.selected);
        StatefulWidget::render(table, area, buf, &mut state);
    }
}

fn row(s: &TorrentStats) -> Row<'static> {
    let (state, style) = state_label(&s.state);
    Row::new(vec![
        Cell::from(format::clean(&s.name, 300)),
        Cell::from(Span::styled(state, style)),
        Cell::from(format::percent(s.have_bytes, s.total_length)),
        Cell::from(format::rate(s.down_rate)),
        Cell::from(format::rate(s.up_rate)),
        Cell::from(eta(s)),
        Cell::from(ratio(s)),
        Cell::from(peers_seeds(s)),
    ])
}

/// A short state word and its colour.
pub fn state_label(state: &TorrentState) -> (String, Style) {
    match state {
        TorrentState::Checking { done, of } => {
            let pct = if *of == 0 {
                0
            } else {
                u64::from(*done) * 100 / u64::from(*of)
            };
            (format!("check {pct}%"), Style::new().fg(WARN))
        }
        TorrentState::FetchingMetadata { have, of } => {
            (format!("meta {have}/{of}"), Style::new().fg(WARN))
        }
        TorrentState::Downloading => ("download".into(), Style::new()),
        TorrentState::Seeding => ("seeding".into(), Style::new().fg(GOOD)),
        TorrentState::DiskPaused => ("disk err".into(), Style::new().fg(BAD)),
        TorrentState::Stopped => ("paused".into(), Style::new()),
        TorrentState::Failed(_) => ("failed".into(), Style::new().fg(BAD)),
    }
}

/// Time left at the current rate: `∞` when nothing arrives, `—` when not downloading.
pub fn eta(s: &TorrentStats) -> String {
    if s.state != TorrentState::Downloading {
        return "—".into();
    }
    if s.down_rate == 0 {
        return "∞".into();
    }
    let left = s.total_length.saturating_sub(s.have_bytes);
    format::duration(std::time::Duration::from_secs(left / s.down_rate))
}

/// Uploaded over downloaded this session; a torrent that downloaded nothing (a seed started
/// complete) is measured against the data it holds.
pub fn ratio(s: &TorrentStats) -> String {
    let base = if s.downloaded > 0 {
        s.downloaded
    } else {
        s.have_bytes
    };
    if base == 0 {
        return "—".into();
    }
    let r = s.uploaded as f64 / base as f64;
    if r >= 100.0 {
        "99+".into()
    } else {
        format!("{r:.2}")
    }
}

/// `connected/seeds`, where seeds are connected peers holding every piece.
pub fn peers_seeds(s: &TorrentStats) -> String {
    let seeds = s
        .peers
        .iter()
        .filter(|p| s.pieces_total > 0 && p.pieces >= s.pieces_total)
        .count();
    format!("{}/{}", s.peers.len(), seeds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{base, healthy, render, seeding, stuck};
    use ratatui::style::Modifier;

    #[test]
    fn rows_show_progress_rates_eta_ratio_and_peers() {
        let now = base();
        let torrents = [healthy(now), stuck(now), seeding(now)];
        let (buf, text) = render(
            TorrentList {
                torrents: &torrents,
                selected: Some(1),
                focused: true,
            },
            100,
            7,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("┌Torrents (3)"));
        for col in [
            "Name", "State", "Done", "Down", "Up", "ETA", "Ratio", "Peers",
        ] {
            assert!(lines[1].contains(col), "{col}");
        }
        let row = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            row(2),
            "│ debian-12.5.0-amd64-netinst.iso download 65.0% 4.2 MiB/s 595.7 KiB/s 55s 0.61 8/5 │"
        );
        assert_eq!(
            row(3),
            "│▶Big.Open.Dataset.2019 download 99.9% 0 B/s 34.2 KiB/s ∞ 0.12 5/0 │"
        );
        assert_eq!(
            row(4),
            "│ field-recordings-flac seeding 100.0% 0 B/s 1.1 MiB/s — 10.24 3/0 │"
        );
        // The selected row is reversed, the others are not; the focused border is cyan.
        assert!(buf[(5, 3)].modifier.contains(Modifier::REVERSED));
        assert!(!buf[(5, 2)].modifier.contains(Modifier::REVERSED));
        assert_eq!(buf[(0, 0)].fg, super::super::ACCENT);
        // Seeding is green.
        let x = lines[4]
            .find("seeding")
            .map_or(0, |b| lines[4][..b].chars().count());
        assert_eq!(buf[(x as u16, 4)].fg, GOOD);
    }

    #[test]
    fn empty_list_says_how_to_add() {
        let (_, text) = render(
            TorrentList {
                torrents: &[],
                selected: None,
                focused: false,
            },
            60,
            4,
        );
        assert!(text.contains("no torrents: press a to add one"));
    }

    #[test]
    fn names_cannot_inject_escapes() {
        let now = base();
        let mut t = healthy(now);
        t.stats.name = "evil\x1b]0;title\x07name".into();
        let (_, text) = render(
            TorrentList {
                torrents: &[t],
                selected: None,
                focused: false,
            },
            100,
            4,
        );
        assert!(text.contains("evil]0;titlename"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn eta_and_ratio_edges() {
        let now = base();
        let mut s = healthy(now).stats;
        s.down_rate = 0;
        assert_eq!(eta(&s), "∞");
        s.state = TorrentState::Stopped;
        assert_eq!(eta(&s), "—");
        s.downloaded = 0;
        s.have_bytes = 0;
        assert_eq!(ratio(&s), "—");
        s.have_bytes = 1;
        s.uploaded = 1000;
        assert_eq!(ratio(&s), "99+");
        assert_eq!(
            state_label(&TorrentState::Checking { done: 1, of: 0 }).0,
            "check 0%"
        );
    }
}
