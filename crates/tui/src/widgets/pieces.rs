//! The torrent's pieces: which we have, which are on their way, and how many connected
//! peers hold each, so a missing piece nobody has is visible at a glance.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{panel, placeholder, BAD, GOOD, WARN};
use crate::view::{PieceMap, TorrentView};

/// Rarest pieces listed at most.
const RAREST_SHOWN: usize = 6;
/// Columns taken by the row labels.
const LABEL: u16 = 7;

pub struct PiecesPanel<'a> {
    pub view: Option<&'a TorrentView>,
    pub focused: bool,
}

impl Widget for PiecesPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = panel("Pieces", self.focused);
        let Some(view) = self.view else {
            placeholder(block, "—", area, buf);
            return;
        };
        let s = &view.stats;
        let inner = block.inner(area);
        let bar_width = usize::from(inner.width.saturating_sub(LABEL));
        let mut lines = Vec::new();
        match &view.pieces {
            Some(map) if !map.is_empty() => {
                lines.push(labelled("have", have_bar(map, bar_width)));
                lines.push(labelled("peers", availability_bar(map, bar_width)));
                // Rounded down: 0.999 copies must not read as a whole copy.
                let copies = map.distributed_copies().map_or("—".to_owned(), |c| {
                    format!("{:.2}", (c * 100.0).floor() / 100.0)
                });
                lines.push(Line::raw(format!(
                    "{}/{} pieces · {} fetching · distributed copies {copies}",
                    map.have_count(),
                    map.len(),
                    map.downloading_count()
                )));
                lines.push(rarest_line(map));
            }
            _ => {
                lines.push(labelled("have", vec![Span::raw("—")]));
                lines.push(labelled("peers", vec![Span::raw("—")]));
                lines.push(Line::raw(format!(
                    "{}/{} pieces · distributed copies —",
                    s.pieces_have, s.pieces_total
                )));
                lines.push(Line::raw("rarest: —"));
            }
        }
        lines.push(Line::raw(
            "█ have ▓ part ▒ fetching ░ missing · peers: fewest holders",
        ));
        Paragraph::new(lines).block(block).render(area, buf);
    }
}

fn labelled(label: &'static str, spans: Vec<Span<'static>>) -> Line<'static> {
    let mut all = vec![Span::raw(format!(
        "{label:<width$}",
        width = usize::from(LABEL)
    ))];
    all.extend(spans);
    Line::from(all)
}

/// The pieces of cell `c` when `len` pieces are spread over `cells` cells.
fn cell_range(c: usize, cells: usize, len: u32) -> std::ops::Range<u32> {
    let n = u64::from(len);
    let (c, cells) = (c as u64, cells.max(1) as u64);
    let start = c * n / cells;
    let end = (c + 1) * n / cells;
    // Both are at most `len`, which is a u32.
    (start as u32)..(end as u32)
}

/// Cells to draw: one per piece when they fit, else `width`.
fn cell_count(map: &PieceMap, width: usize) -> usize {
    usize::try_from(map.len()).map_or(width, |n| n.min(width))
}

/// One symbol per cell: all had, some had, some downloading, none.
pub fn have_bar(map: &PieceMap, width: usize) -> Vec<Span<'static>> {
    let cells = cell_count(map, width);
    (0..cells)
        .map(|c| {
            let range = cell_range(c, cells, map.len());
            let total = range.len();
            let had = range.clone().filter(|&i| map.have(i)).count();
            let downloading = range.clone().any(|i| map.downloading(i));
            if had == total {
                Span::styled("█", Style::new().fg(GOOD))
            } else if downloading {
                Span::styled("▒", Style::new().fg(WARN))
            } else if had > 0 {
                Span::styled("▓", Style::new().fg(GOOD))
            } else {
                Span::raw("░")
            }
        })
        .collect()
}

/// One digit per cell: the fewest peers holding any piece in it that we still need (any
/// piece at all once we have the cell). `+` is 10 or more; a needed piece nobody holds is a
/// red `0`.
pub fn availability_bar(map: &PieceMap, width: usize) -> Vec<Span<'static>> {
    let cells = cell_count(map, width);
    (0..cells)
        .map(|c| {
            let range = cell_range(c, cells, map.len());
            let needed = range
                .clone()
                .filter(|&i| !map.have(i))
                .map(|i| map.availability(i))
                .min();
            let any = range.map(|i| map.availability(i)).min().unwrap_or(0);
            let fewest = needed.unwrap_or(any);
            let digit = if fewest >= 10 {
                "+".to_owned()
            } else {
                fewest.to_string()
            };
            match needed {
                Some(0) => Span::styled(digit, Style::new().fg(BAD)),
                Some(1) => Span::styled(digit, Style::new().fg(WARN)),
                _ => Span::raw(digit),
            }
        })
        .collect()
}

fn rarest_line(map: &PieceMap) -> Line<'static> {
    let what = if map.have_count() == map.len() {
        "rarest"
    } else {
        "rarest needed"
    };
    let mut spans = vec![Span::raw(format!("{what}:"))];
    for (piece, avail) in map.rarest(RAREST_SHOWN) {
        let text = format!(" #{piece} ({avail})");
        spans.push(if avail == 0 {
            Span::styled(text, Style::new().fg(BAD))
        } else {
            Span::raw(text)
        });
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{base, healthy, piece_map, render, stuck};

    fn text(spans: &[Span<'_>]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn one_cell_per_piece_when_they_fit() {
        // have: 1 1 0 0 0 0; downloading: piece 2; availability 3 0 0 12 1 2
        let map = piece_map(
            6,
            |i| i < 2,
            |i| i == 2,
            |i| [3, 0, 0, 12, 1, 2][i as usize],
        );
        assert_eq!(text(&have_bar(&map, 40)), "██▒░░░");
        let avail = availability_bar(&map, 40);
        // Piece 1 is rare but ours: plain. Piece 2 is needed and nobody has it: red.
        assert_eq!(text(&avail), "300+12");
        assert_eq!(avail[1].style.fg, None);
        assert_eq!(avail[2].style.fg, Some(BAD));
        assert_eq!(avail[4].style.fg, Some(WARN));
    }

    #[test]
    fn cells_summarise_ranges_of_pieces() {
        // 10 pieces in 4 cells: [0,2) [2,5) [5,7) [7,10).
        let map = piece_map(10, |i| i < 3 || i == 9, |i| i == 6, |i| 4 + (i % 2) as u16);
        assert_eq!(text(&have_bar(&map, 4)), "█▓▒▓");
        assert_eq!(text(&availability_bar(&map, 4)), "4444");
        assert!(have_bar(&map, 0).is_empty());
    }

    #[test]
    fn panel_shows_bars_counts_copies_and_rarest() {
        let v = stuck(base());
        let (buf, text) = render(
            PiecesPanel {
                view: Some(&v),
                focused: false,
            },
            60,
            7,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("│have   ▓███"));
        assert!(lines[2].starts_with("│peers  0333"));
        assert!(lines[2].ends_with("30│"));
        assert_eq!(buf[(8, 2)].fg, BAD, "the first cell holds piece 17");
        assert!(lines[3].contains("2997/3000 pieces · 0 fetching · distributed copies 0.99"));
        assert!(lines[4].contains("rarest needed: #17 (0) #1500 (0) #2999 (0)"));
    }

    #[test]
    fn without_piece_data_shows_dashes() {
        let mut v = healthy(base());
        v.pieces = None;
        let (_, text) = render(
            PiecesPanel {
                view: Some(&v),
                focused: true,
            },
            60,
            7,
        );
        assert!(text.contains("│have   —"));
        assert!(text.contains("│peers  —"));
        assert!(text.contains("1716/2640 pieces · distributed copies —"));
        assert!(text.contains("rarest: —"));
        let (_, text) = render(
            PiecesPanel {
                view: None,
                focused: true,
            },
            60,
            4,
        );
        assert!(text.contains("│—"));
    }
}
