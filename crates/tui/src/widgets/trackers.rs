//! Trackers: whether they answer, when we last and next announce, what their scrape says
//! about the swarm, and the last error.

use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{HighlightSpacing, List, ListItem, ListState, StatefulWidget, Widget};
use shoal_engine::announce::TrackerStatus;

use super::{panel, placeholder, selected_style, BAD, GOOD, WARN};
use crate::format;
use crate::view::TorrentView;

pub struct TrackersPanel<'a> {
    pub view: Option<&'a TorrentView>,
    pub now: Instant,
    pub row: usize,
    pub focused: bool,
}

impl Widget for TrackersPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some(view) = self.view else {
            placeholder(panel("Trackers", self.focused), "—", area, buf);
            return;
        };
        let block = panel(format!("Trackers ({})", view.trackers.len()), self.focused);
        if view.trackers.is_empty() {
            let text = "no trackers: peers come from DHT, PEX and incoming connections";
            placeholder(block, text, area, buf);
            return;
        }
        let items = view
            .trackers
            .iter()
            .map(|t| ListItem::new(tracker_text(t, self.now)));
        let list = List::new(items)
            .block(block)
            .highlight_style(selected_style())
            .highlight_symbol("▶")
            .highlight_spacing(HighlightSpacing::Always);
        let selected = self.focused.then_some(self.row);
        let mut state = ListState::default().with_selected(selected);
        StatefulWidget::render(list, area, buf, &mut state);
    }
}

/// The lines for one tracker: its URL, its status and counts, and its last message.
pub fn tracker_text(t: &TrackerStatus, now: Instant) -> Text<'static> {
    let url = t
        .current_url
        .as_deref()
        .map_or("(no tracker contacted yet)".to_owned(), |u| {
            format::clean(u, 300)
        });
    let status = match (t.failing_since, t.last_announce) {
        (Some(since), _) => Span::styled(
            format!(
                "failing for {}",
                format::duration(now.saturating_duration_since(since))
            ),
            Style::new().fg(BAD),
        ),
        (None, Some(_)) => Span::styled("ok", Style::new().fg(GOOD)),
        (None, None) => Span::raw("not announced yet"),
    };
    let last = t.last_announce.map_or("—".to_owned(), |at| {
        format!(
            "{} ago",
            format::duration(now.saturating_duration_since(at))
        )
    });
    let next = t.next_announce.map_or("—".to_owned(), |at| {
        if at <= now {
            "due".to_owned()
        } else {
            format!("in {}", format::duration(at.saturating_duration_since(now)))
        }
    });
    let count = |n: Option<u32>| n.map_or("—".to_owned(), |n| n.to_string());
    let mut lines = vec![
        Line::raw(url),
        Line::from(vec![
            Span::raw("  "),
            status,
            Span::raw(format!(" · last {last} · next {next}")),
        ]),
        Line::raw(format!(
            "  seeds {} · leechers {} · peers got {}",
            count(t.seeders),
            count(t.leechers),
            t.peers_received
        )),
    ];
    if let Some(msg) = &t.last_error {
        let (what, colour) = if t.failing_since.is_some() {
            ("error", BAD)
        } else {
            ("warning", WARN)
        };
        lines.push(Line::styled(
            format!("  {what}: {}", format::clean(msg, 300)),
            Style::new().fg(colour),
        ));
    }
    Text::from(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{base, healthy, render, secs, tracker_ok};

    #[test]
    fn working_tracker_shows_times_and_scrape() {
        let now = base();
        let v = healthy(now);
        let (buf, text) = render(
            TrackersPanel {
                view: Some(&v),
                now,
                row: 0,
                focused: true,
            },
            70,
            6,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("┌Trackers (1){}┐", "─".repeat(56)));
        assert!(lines[1].starts_with("│▶http://tracker.example.org:6969/announce"));
        assert!(lines[2].starts_with("│   ok · last 3m20s ago · next in 26m40s"));
        assert!(lines[3].starts_with("│   seeds 143 · leechers 27 · peers got 50"));
        assert_eq!(buf[(4, 2)].fg, GOOD);
    }

    #[test]
    fn failing_tracker_shows_error_in_red() {
        let now = base();
        let mut t = tracker_ok("udp://tracker.example.net:1337/announce", now - secs(900));
        t.failing_since = Some(now - secs(420));
        t.last_error = Some("connection refused\x1b[5m".into());
        t.next_announce = Some(now - secs(1));
        t.seeders = None;
        let text = tracker_text(&t, now);
        let lines: Vec<String> = text.lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(lines[1], "  failing for 7m00s · last 15m00s ago · next due");
        assert_eq!(lines[2], "  seeds — · leechers 27 · peers got 50");
        assert_eq!(lines[3], "  error: connection refused[5m");
        assert_eq!(text.lines[3].style.fg, Some(BAD));

        // A message on a working tracker is a warning.
        t.failing_since = None;
        t.last_error = Some("slow down".into());
        let text = tracker_text(&t, now);
        assert_eq!(text.lines[3].to_string(), "  warning: slow down");
        assert_eq!(text.lines[3].style.fg, Some(WARN));
    }

    #[test]
    fn before_first_announce_and_without_trackers() {
        let now = base();
        let text = tracker_text(&TrackerStatus::default(), now);
        assert_eq!(text.lines[0].to_string(), "(no tracker contacted yet)");
        assert_eq!(
            text.lines[1].to_string(),
            "  not announced yet · last — · next —"
        );
        let mut v = healthy(now);
        v.trackers.clear();
        let (_, text) = render(
            TrackersPanel {
                view: Some(&v),
                now,
                row: 0,
                focused: false,
            },
            80,
            3,
        );
        assert!(text.contains("no trackers: peers come from DHT, PEX and incoming"));
    }
}
