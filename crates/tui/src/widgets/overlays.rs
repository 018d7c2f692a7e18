//! Popups over the dashboard: key help and the details of one torrent.

use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::health::severity_style;
use super::torrents::{eta, ratio, state_label};
use super::ACCENT;
use crate::format;
use crate::health::Health;
use crate::view::TorrentView;

/// A `width`×`height` rectangle centred in `area`, shrunk to fit.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    rect
}

fn popup(title: &'static str) -> Block<'static> {
    Block::bordered()
        .title(title)
        .border_style(Style::new().fg(ACCENT))
        .title_style(Style::new().fg(ACCENT).add_modifier(Modifier::BOLD))
}

const HELP: &[(&str, &str)] = &[
    ("↑ ↓ / j k", "move (torrents, or rows of the focused panel)"),
    ("g G", "first / last"),
    ("Tab / S-Tab", "focus the next / previous panel"),
    ("← → / h l", "show the previous / next detail panel"),
    ("Enter", "details of the selected torrent"),
    ("p", "pause or resume the selected torrent"),
    ("d", "remove the selected torrent (asks first)"),
    ("a", "add a .torrent file or a magnet link"),
    ("?", "this help; Esc closes popups"),
    ("q / Ctrl-C", "quit"),
    ("", ""),
    ("Peer flags", "C peer chokes us · c we choke it · I we want"),
    ("", "its data · i it wants ours · S snubs us"),
    ("", "E encrypted · P uTP (. = no / unknown)"),
    ("Src", "trk tracker · dht · pex · in incoming · man manual"),
    ("Peers", "connected/seeds in the torrent list"),
];

pub struct HelpPopup;

impl Widget for HelpPopup {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let lines: Vec<Line> = HELP
            .iter()
            .map(|(k, what)| {
                Line::from(vec![
                    Span::styled(
                        format!("{k:<12}"),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(*what),
                ])
            })
            .collect();
        let rect = centered(area, 66, HELP.len() as u16 + 2);
        Clear.render(rect, buf);
        Paragraph::new(lines).block(popup("Keys")).render(rect, buf);
    }
}

pub struct DetailsPopup<'a> {
    pub view: &'a TorrentView,
    pub health: &'a Health,
    pub now: Instant,
}

impl Widget for DetailsPopup<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = &self.view.stats;
        let (state, state_style) = state_label(&s.state);
        let kv = |k: &str, v: String| Line::raw(format!("{k:<14}{v}"));
        let mut lines = vec![
            Line::styled(
                format::clean(&s.name, 300),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            kv("info-hash", format::clean(&s.info_hash_hex, 128)),
            Line::from(vec![
                Span::raw(format!("{:<14}", "state")),
                Span::styled(state, state_style),
            ]),
            kv(
                "size",
                format!(
                    "{} · {} of {} pieces ({})",
                    format::bytes(s.total_length),
                    s.pieces_have,
                    s.pieces_total,
                    format::percent(s.have_bytes, s.total_length)
                ),
            ),
            kv(
                "transfer",
                format!(
                    "↓ {} ↑ {} · ETA {}",
                    format::rate(s.down_rate),
                    format::rate(s.up_rate),
                    eta(s)
                ),
            ),
            kv(
                "totals",
                format!(
                    "↓ {} ↑ {} · wasted {} · ratio {}",
                    format::bytes(s.downloaded),
                    format::bytes(s.uploaded),
                    format::bytes(s.wasted),
                    ratio(s)
                ),
            ),
            kv(
                "peers",
                format!(
                    "{} connected · {} known · {} banned",
                    s.peers.len(),
                    s.known_addrs,
                    s.banned
                ),
            ),
            kv(
                "disk",
                format!(
                    "{} queued · {} hash failures",
                    format::bytes(s.disk_queue_bytes),
                    s.hash_failures
                ),
            ),
            kv(
                "updated",
                format!(
                    "{} ago",
                    format::duration(self.now.saturating_duration_since(s.at))
                ),
            ),
        ];
        if let Some(msg) = &s.message {
            lines.push(kv("message", format::clean(msg, 300)));
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "health",
            Style::new().add_modifier(Modifier::BOLD),
        ));
        if self.health.is_healthy() {
            lines.push(Line::styled(
                "  healthy",
                severity_style(self.health.severity()),
            ));
        }
        for cause in self.health.causes() {
            lines.push(Line::styled(
                format!("  {cause}"),
                severity_style(cause.severity()),
            ));
        }
        let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
        let rect = centered(area, area.width.saturating_sub(4).max(20), height);
        Clear.render(rect, buf);
        Paragraph::new(lines)
            .block(popup("Details (Esc closes)"))
            .render(rect, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::health;
    use crate::testdata::{base, render, secs, stuck};

    #[test]
    fn centred_and_shrunk_to_fit() {
        let area = Rect::new(0, 0, 80, 24);
        assert_eq!(centered(area, 40, 10), Rect::new(20, 7, 40, 10));
        assert_eq!(centered(area, 200, 50), area);
    }

    #[test]
    fn details_list_facts_and_every_cause() {
        let now = base();
        let mut v = stuck(now);
        v.stats.message = Some("peer 127.0.0.9 sent a bad piece".into());
        v.stats.peers.iter_mut().for_each(|p| p.peer_choking = true);
        let h = health(&v, now + secs(3));
        let (_, text) = render(
            DetailsPopup {
                view: &v,
                health: &h,
                now: now + secs(3),
            },
            80,
            24,
        );
        for want in [
            "Big.Open.Dataset.2019",
            "info-hash     b2b2b2b2b2b2",
            "state         download",
            "size          750.0 MiB · 2997 of 3000 pieces (99.9%)",
            "peers         5 connected · 6 known · 0 banned",
            "updated       3s ago",
            "message       peer 127.0.0.9 sent a bad piece",
            "  3 pieces have no peer holding them",
            "  all 5 peers are choking us",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn help_lists_keys() {
        let (_, text) = render(HelpPopup, 80, 24);
        for want in [
            "Tab / S-Tab",
            "pause or resume",
            "q / Ctrl-C",
            "C peer chokes us",
        ] {
            assert!(text.contains(want), "{want}");
        }
    }
}
