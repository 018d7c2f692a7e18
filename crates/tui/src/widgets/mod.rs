//! One widget per panel. Each takes plain references to the data it shows (never the
//! [`App`](crate::App)), so it can be rendered and tested on its own.
//!
//! Colours: the terminal's default foreground and background everywhere, plus a few named
//! colours that terminal themes keep readable on both dark and light backgrounds (green,
//! yellow, red, cyan, magenta). Selection is shown reversed, which works on any theme.

pub mod health;
pub mod overlays;
pub mod peers;
pub mod pieces;
pub mod rates;
pub mod torrents;
pub mod trackers;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Widget};

pub const GOOD: Color = Color::Green;
pub const WARN: Color = Color::Yellow;
pub const BAD: Color = Color::Red;
pub const ACCENT: Color = Color::Cyan;
pub const UP: Color = Color::Magenta;

pub fn header_style() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// A bordered panel; the focused one has an accent border and a bold title.
pub fn panel<'a>(title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    let block = Block::bordered().title(title);
    if focused {
        block
            .border_style(Style::new().fg(ACCENT))
            .title_style(Style::new().fg(ACCENT).add_modifier(Modifier::BOLD))
    } else {
        block
    }
}

/// Renders `text` inside `block` (for panels with nothing to show).
pub fn placeholder(block: Block<'_>, text: &str, area: Rect, buf: &mut Buffer) {
    Paragraph::new(text.to_owned())
        .block(block)
        .render(area, buf);
}

/// The cells of a buffer as text, one line per row. Wide characters take one entry.
pub fn buffer_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::with_capacity(usize::from(area.width + 1) * usize::from(area.height));
    for y in area.top()..area.bottom() {
        let mut skip = 0usize;
        let mut line = String::new();
        for x in area.left()..area.right() {
            let Some(cell) = buf.cell((x, y)) else {
                continue;
            };
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = cell.symbol();
            line.push_str(sym);
            // A wide character covers the cells after it.
            skip = unicode_width(sym).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    Line::raw(s).width().max(1)
}
