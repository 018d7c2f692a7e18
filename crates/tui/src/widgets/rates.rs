//! Rates over time and the totals behind them: transfer, waste, hash failures, the disk
//! queue and the DHT.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Sparkline, Widget};

use super::torrents::ratio;
use super::{panel, placeholder, ACCENT, BAD, UP, WARN};
use crate::app::{RateHistory, Sample};
use crate::format;
use crate::health::DISK_QUEUE_HIGH_PERCENT;
use crate::view::{DhtView, TorrentView};

/// Width of the totals column.
const TOTALS: u16 = 34;

pub struct RatesPanel<'a> {
    pub view: Option<&'a TorrentView>,
    pub history: Option<&'a RateHistory>,
    pub dht: Option<&'a DhtView>,
    pub focused: bool,
}

impl Widget for RatesPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = panel("Rates", self.focused);
        let Some(view) = self.view else {
            placeholder(block, "—", area, buf);
            return;
        };
        let inner = block.inner(area);
        block.render(area, buf);
        let [charts, totals] = if inner.width >= TOTALS * 2 {
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(TOTALS)]).areas(inner)
        } else {
            // Narrow: totals below the charts.
            Layout::vertical([Constraint::Fill(1), Constraint::Length(7)]).areas(inner)
        };
        self.render_charts(view, charts, buf);
        Paragraph::new(totals_lines(view, self.dht)).render(totals, buf);
    }
}

impl RatesPanel<'_> {
    fn render_charts(&self, view: &TorrentView, area: Rect, buf: &mut Buffer) {
        let [down_label, down, up_label, up] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(area);
        let peak = self.history.map_or(Sample::default(), RateHistory::peak);
        let width = usize::from(area.width);
        let series = |pick: fn(Sample) -> u64| -> Vec<u64> {
            self.history
                .map(|h| h.last(width).map(pick).collect())
                .unwrap_or_default()
        };
        let s = &view.stats;
        Line::styled(
            format!(
                "↓ {}  peak {}",
                format::rate(s.down_rate),
                format::rate(peak.down)
            ),
            Style::new().fg(ACCENT),
        )
        .render(down_label, buf);
        Sparkline::default()
            .data(series(|s| s.down))
            .style(Style::new().fg(ACCENT))
            .render(down, buf);
        Line::styled(
            format!(
                "↑ {}  peak {}",
                format::rate(s.up_rate),
                format::rate(peak.up)
            ),
            Style::new().fg(UP),
        )
        .render(up_label, buf);
        Sparkline::default()
            .data(series(|s| s.up))
            .style(Style::new().fg(UP))
            .render(up, buf);
    }
}

fn totals_lines(view: &TorrentView, dht: Option<&DhtView>) -> Vec<Line<'static>> {
    let s = &view.stats;
    let limit = view.disk_queue_limit();
    let queue = format!(
        "disk queue  {} of {}",
        format::bytes(s.disk_queue_bytes),
        format::bytes(limit)
    );
    let queue_high = u128::from(s.disk_queue_bytes) * 100
        >= u128::from(limit) * u128::from(DISK_QUEUE_HIGH_PERCENT);
    let hash = format!("hash fails  {}", s.hash_failures);
    let dht = dht.map_or("DHT         —".to_owned(), |d| {
        format!("DHT         {} nodes, {} lookups", d.nodes, d.lookups)
    });
    vec![
        Line::raw(format!("downloaded  {}", format::bytes(s.downloaded))),
        Line::raw(format!("uploaded    {}", format::bytes(s.uploaded))),
        Line::raw(format!(
            "wasted      {} · ratio {}",
            format::bytes(s.wasted),
            ratio(s)
        )),
        if s.hash_failures > 0 {
            Line::styled(hash, Style::new().fg(BAD))
        } else {
            Line::raw(hash)
        },
        if queue_high && limit > 0 {
            Line::styled(queue, Style::new().fg(WARN))
        } else {
            Line::raw(queue)
        },
        Line::raw(dht),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{base, healthy, render};

    fn history(downs: &[u64]) -> RateHistory {
        let mut h = RateHistory::default();
        for &d in downs {
            h.push(Sample { down: d, up: d / 2 });
        }
        h
    }

    #[test]
    fn charts_show_the_newest_samples_and_totals_sit_beside() {
        let v = healthy(base());
        // 101 samples, only the newest 44 fit: the oldest (huge) one counts for the peak
        // but must not set the chart scale.
        let mut downs = vec![u64::MAX / 4];
        downs.extend((0..100).map(|i| if i % 2 == 0 { 0 } else { 1000 }));
        let h = history(&downs);
        let dht = DhtView {
            nodes: 312,
            lookups: 2,
        };
        let (buf, text) = render(
            RatesPanel {
                view: Some(&v),
                history: Some(&h),
                dht: Some(&dht),
                focused: false,
            },
            80,
            12,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("│↓ 4.2 MiB/s  peak 4096.0 PiB/s"),
            "{}",
            lines[1]
        );
        assert_eq!(buf[(1, 1)].fg, ACCENT);
        // Alternating 0 and 1000: full bars at every other column, newest (1000) last.
        let bottom = lines[5];
        let bars: String = bottom.chars().skip(1).take(44).collect();
        assert_eq!(bars, " █".repeat(22));
        assert!(lines[1].contains("downloaded  429.8 MiB"));
        assert!(lines[2].contains("uploaded    260.0 MiB"));
        assert!(lines[3].contains("wasted      768.0 KiB · ratio 0.61"));
        assert!(lines[4].contains("hash fails  0"));
        assert!(lines[5].contains("disk queue  2.0 MiB of 64.0 MiB"));
        assert!(lines[6].contains("DHT         312 nodes, 2 lookups"));
        assert!(lines[6].starts_with("│↑ 595.7 KiB/s"), "{text}");
    }

    #[test]
    fn warnings_colour_the_totals_and_missing_parts_show_dashes() {
        let mut v = healthy(base());
        v.stats.hash_failures = 3;
        v.stats.disk_queue_bytes = 60 << 20;
        let (buf, text) = render(
            RatesPanel {
                view: Some(&v),
                history: None,
                dht: None,
                focused: false,
            },
            80,
            10,
        );
        let lines: Vec<&str> = text.lines().collect();
        let x = |row: usize, s: &str| {
            lines[row]
                .find(s)
                .map_or(0, |b| lines[row][..b].chars().count()) as u16
        };
        assert_eq!(buf[(x(4, "hash fails"), 4)].fg, BAD);
        assert_eq!(buf[(x(5, "disk queue"), 5)].fg, WARN);
        assert!(text.contains("DHT         —"));
        assert!(text.contains("peak 0 B/s"));
    }

    #[test]
    fn narrow_panel_stacks_totals_below() {
        let v = healthy(base());
        let (_, text) = render(
            RatesPanel {
                view: Some(&v),
                history: None,
                dht: None,
                focused: false,
            },
            40,
            20,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[12].starts_with("│downloaded"), "{text}");
        assert!(lines[17].starts_with("│DHT"));
    }
}
