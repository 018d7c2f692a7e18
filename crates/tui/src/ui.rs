//! Lays the panels out and draws the whole screen from `&App`.
//!
//! Below 120×40 the detail panels share one area behind tabs; from 120×40 up, all are
//! visible at once: pieces and trackers side by side, then peers and rates.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Tabs, Widget};
use ratatui::Frame;

use crate::app::{App, Mode, Panel};
use crate::format;
use crate::health::health;
use crate::widgets::health::HealthLine;
use crate::widgets::overlays::{DetailsPopup, HelpPopup};
use crate::widgets::peers::PeersPanel;
use crate::widgets::pieces::PiecesPanel;
use crate::widgets::rates::RatesPanel;
use crate::widgets::torrents::TorrentList;
use crate::widgets::trackers::TrackersPanel;
use crate::widgets::{buffer_text, ACCENT, UP, WARN};

/// The size from which all detail panels are shown at once.
const WIDE: (u16, u16) = (120, 40);

/// Draws the dashboard into a terminal frame.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    render(app, area, frame.buffer_mut());
}

/// The screen as text, `width`×`height`, one line per row with trailing blanks trimmed.
pub fn render_to_string(app: &App, width: u16, height: u16) -> String {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    render(app, area, &mut buf);
    buffer_text(&buf)
}

/// Draws the dashboard into `buf`.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let torrents = &app.snapshot.torrents;
    let rows = u16::try_from(torrents.len()).unwrap_or(u16::MAX).max(1);
    let list_height = rows.saturating_add(3).min((area.height / 3).max(4));
    let [header, list, health_area, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(list_height),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);

    header_line(app).render(header, buf);
    TorrentList {
        torrents,
        selected: app.selected_index(),
        focused: app.focus == Panel::Torrents,
    }
    .render(list, buf);
    let view = app.selected();
    let health = view.map(|v| health(v, app.now));
    HealthLine {
        health: health.as_ref(),
    }
    .render(health_area, buf);

    if area.width >= WIDE.0 && area.height >= WIDE.1 {
        let [top, bottom] =
            Layout::vertical([Constraint::Length(7), Constraint::Fill(1)]).areas(body);
        let [pieces, trackers] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
        let [peers, rates] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(38)]).areas(bottom);
        for (panel, rect) in [
            (Panel::Pieces, pieces),
            (Panel::Trackers, trackers),
            (Panel::Peers, peers),
            (Panel::Rates, rates),
        ] {
            render_panel(app, panel, rect, buf);
        }
    } else {
        let [tabs, rect] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
        let selected = Panel::DETAILS
            .iter()
            .position(|p| *p == app.detail)
            .unwrap_or(0);
        Tabs::new(Panel::DETAILS.map(Panel::title))
            .select(selected)
            .highlight_style(Style::new().fg(ACCENT).add_modifier(Modifier::REVERSED))
            .render(tabs, buf);
        render_panel(app, app.detail, rect, buf);
    }
    footer_line(app, footer.width).render(footer, buf);

    match (&app.mode, view, &health) {
        (Mode::Help, _, _) => HelpPopup.render(area, buf),
        (Mode::Details, Some(view), Some(health)) => DetailsPopup {
            view,
            health,
            now: app.now,
        }
        .render(area, buf),
        _ => {}
    }
}

fn render_panel(app: &App, panel: Panel, area: Rect, buf: &mut Buffer) {
    let view = app.selected();
    let focused = app.focus == panel;
    match panel {
        Panel::Peers => PeersPanel {
            view,
            row: app.peer_row,
            focused,
        }
        .render(area, buf),
        Panel::Pieces => PiecesPanel { view, focused }.render(area, buf),
        Panel::Trackers => TrackersPanel {
            view,
            now: app.now,
            row: app.tracker_row,
            focused,
        }
        .render(area, buf),
        Panel::Rates => RatesPanel {
            view,
            history: view.and_then(|v| app.history(&v.id())),
            dht: app.snapshot.dht.as_ref(),
            focused,
        }
        .render(area, buf),
        Panel::Torrents => {}
    }
}

fn header_line(app: &App) -> Line<'static> {
    let torrents = &app.snapshot.torrents;
    let down: u64 = torrents.iter().map(|t| t.stats.down_rate).sum();
    let up: u64 = torrents.iter().map(|t| t.stats.up_rate).sum();
    let dht = app
        .snapshot
        .dht
        .map_or("DHT —".to_owned(), |d| format!("DHT {} nodes", d.nodes));
    Line::from(vec![
        Span::styled("shoal", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(" · {} torrents · ", torrents.len())),
        Span::styled(format!("↓ {}", format::rate(down)), Style::new().fg(ACCENT)),
        Span::raw(" "),
        Span::styled(format!("↑ {}", format::rate(up)), Style::new().fg(UP)),
        Span::raw(format!(" · {dht}")),
    ])
}

fn footer_line(app: &App, width: u16) -> Line<'static> {
    match &app.mode {
        Mode::Input(text) => {
            let prompt = "Add (path or magnet): ";
            // Long input scrolls: the end, where typing happens, stays visible.
            let room = usize::from(width).saturating_sub(prompt.len() + 1);
            let len = text.chars().count();
            let shown: String = text.chars().skip(len.saturating_sub(room)).collect();
            Line::from(vec![
                Span::styled(prompt, Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(shown),
                Span::styled("▏", Style::new().fg(ACCENT)),
                Span::raw("  Enter adds · Esc cancels"),
            ])
        }
        Mode::ConfirmRemove(id) => {
            let name = app
                .snapshot
                .torrents
                .iter()
                .find(|t| t.id() == *id)
                .map_or_else(|| id.to_string(), |t| format::clean(&t.stats.name, 60));
            Line::styled(
                format!("Remove \"{name}\"? y removes it, any other key keeps it"),
                Style::new().fg(WARN).add_modifier(Modifier::BOLD),
            )
        }
        _ => match &app.notice {
            Some(n) => Line::styled(n.clone(), Style::new().fg(WARN)),
            None => Line::raw(
                "q quit  ? help  Tab panel  ↑↓ move  Enter details  p pause  d remove  a add",
            ),
        },
    }
}
