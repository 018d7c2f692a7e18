//! The health line: the one thing that limits the selected torrent most, in plain words.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{BAD, GOOD, WARN};
use crate::health::{Health, Severity};

pub struct HealthLine<'a> {
    /// `None` when no torrent is selected.
    pub health: Option<&'a Health>,
}

impl Widget for HealthLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let mut spans = vec![Span::styled(
            "Health: ",
            Style::new().add_modifier(Modifier::BOLD),
        )];
        match self.health {
            None => spans.push(Span::raw("—")),
            Some(h) => {
                spans.push(Span::styled(h.to_string(), severity_style(h.severity())));
                let more = h.causes().len().saturating_sub(1);
                if let Some(next) = h.causes().get(1) {
                    spans.push(Span::raw(format!("  · also: {next}")));
                    if more > 1 {
                        spans.push(Span::raw(format!(" (+{} more, Enter)", more - 1)));
                    }
                }
            }
        }
        Line::from(spans).render(area, buf);
    }
}

pub fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Healthy => Style::new().fg(GOOD),
        Severity::Info => Style::new(),
        Severity::Limited => Style::new().fg(WARN),
        Severity::Stalled => Style::new().fg(BAD).add_modifier(Modifier::BOLD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::health;
    use crate::testdata::{base, healthy, render, stuck};

    #[test]
    fn healthy_is_green() {
        let now = base();
        let h = health(&healthy(now), now);
        let (buf, text) = render(HealthLine { health: Some(&h) }, 60, 1);
        assert_eq!(text, "Health: healthy\n");
        assert_eq!(buf[(8, 0)].fg, GOOD);
    }

    #[test]
    fn stalled_is_red_and_further_causes_are_counted() {
        let now = base();
        let mut v = stuck(now);
        let h = health(&v, now);
        let (buf, text) = render(HealthLine { health: Some(&h) }, 80, 1);
        assert_eq!(text, "Health: 3 pieces have no peer holding them\n");
        assert_eq!(buf[(8, 0)].fg, BAD);

        v.stats.peers.iter_mut().for_each(|p| p.peer_choking = true);
        v.limits.up = Some(1);
        v.stats.disk_queue_bytes = u64::MAX;
        let h = health(&v, now);
        let (_, text) = render(HealthLine { health: Some(&h) }, 200, 1);
        assert_eq!(
            text,
            "Health: 3 pieces have no peer holding them  · also: all 5 peers are choking us \
             (+2 more, Enter)\n"
        );
    }

    #[test]
    fn nothing_selected() {
        let (_, text) = render(HealthLine { health: None }, 20, 1);
        assert_eq!(text, "Health: —\n");
    }
}
