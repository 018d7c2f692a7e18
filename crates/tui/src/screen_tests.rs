//! Whole screens from fixed snapshots, compared with the stored `.snap` files, plus the
//! terminal-frame path and every size from tiny up.

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::app::App;
use crate::testdata::{app, ch, key};
use crate::ui::{draw, render_to_string};
use crate::widgets::buffer_text;

const HEALTHY: usize = 0;
const STUCK: usize = 1;
const SEEDING: usize = 2;

fn screen(select: usize, keys: &str, width: u16, height: u16) -> String {
    let (mut app, _) = app(select);
    for c in keys.chars() {
        app.update(ch(c));
    }
    render_to_string(&app, width, height)
}

#[test]
fn healthy_download_80x24() {
    let s = screen(HEALTHY, "", 80, 24);
    assert!(s.contains("Health: healthy"));
    assert_snapshot!(s);
}

#[test]
fn healthy_download_120x40() {
    assert_snapshot!(screen(HEALTHY, "", 120, 40));
}

#[test]
fn stuck_at_99_9_80x24() {
    // `l` shows the pieces tab, where the three red zeros are.
    let s = screen(STUCK, "l", 80, 24);
    assert!(s.contains("99.9%"));
    assert!(s.contains("Health: 3 pieces have no peer holding them"));
    assert!(s.contains("rarest needed: #17 (0) #1500 (0) #2999 (0)"));
    assert_snapshot!(s);
}

#[test]
fn stuck_at_99_9_120x40() {
    let s = screen(STUCK, "", 120, 40);
    assert!(s.contains("Health: 3 pieces have no peer holding them"));
    assert_snapshot!(s);
}

#[test]
fn seeding_80x24() {
    // `h` goes from the Peers tab back to Rates, where the upload chart is.
    let s = screen(SEEDING, "h", 80, 24);
    assert!(s.contains("seeding"));
    assert!(s.contains("↑ 1.1 MiB/s"));
    assert_snapshot!(s);
}

#[test]
fn seeding_120x40() {
    assert_snapshot!(screen(SEEDING, "", 120, 40));
}

#[test]
fn details_popup_lists_every_cause() {
    let s = screen(STUCK, "", 80, 24);
    assert!(!s.contains("info-hash"));
    let (mut app, _) = app(STUCK);
    app.update(key(KeyCode::Enter));
    let s = render_to_string(&app, 80, 24);
    assert!(s.contains("info-hash     b2b2b2b2"));
    assert!(s.contains("  3 pieces have no peer holding them"));
    assert_snapshot!(s);
}

#[test]
fn help_popup() {
    assert_snapshot!(screen(HEALTHY, "?", 80, 24));
}

#[test]
fn add_line_and_remove_prompt() {
    let s = screen(HEALTHY, "a/srv/x.torrent", 80, 24);
    let footer = s.lines().last().unwrap_or_default();
    assert!(
        footer.starts_with("Add (path or magnet): /srv/x.torrent▏"),
        "{footer}"
    );

    // A long magnet scrolls so its end stays in view.
    let long = format!("amagnet:?xt=urn:btih:{}END", "a".repeat(200));
    let s = screen(HEALTHY, &long, 80, 24);
    let footer = s.lines().last().unwrap_or_default();
    assert!(footer.contains("aaaEND▏"), "{footer}");

    let s = screen(SEEDING, "d", 80, 24);
    let footer = s.lines().last().unwrap_or_default();
    assert_eq!(
        footer,
        "Remove \"field-recordings-flac\"? y removes it, any other key keeps it"
    );
}

#[test]
fn empty_session() {
    let app = App::new(crate::testdata::base());
    let s = render_to_string(&app, 80, 24);
    assert!(s.contains("no torrents: press a to add one"));
    assert!(s.contains("Health: —"));
    assert_snapshot!(s);
}

#[test]
fn frame_path_matches_render_to_string() {
    let (app, _) = app(STUCK);
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| draw(f, &app)).unwrap();
    assert_eq!(
        buffer_text(terminal.backend().buffer()),
        render_to_string(&app, 100, 30)
    );
    // A resize is just a draw at the new size.
    terminal.backend_mut().resize(80, 24);
    terminal.draw(|f| draw(f, &app)).unwrap();
    assert_eq!(
        buffer_text(terminal.backend().buffer()),
        render_to_string(&app, 80, 24)
    );
}

#[test]
fn any_size_and_mode_renders_without_panic() {
    let modes = ["", "?", "\n", "a", "d", "\t", "\t\t", "\t\t\t", "\t\t\t\t"];
    for keys in modes {
        for select in [HEALTHY, STUCK, SEEDING] {
            let (mut app, _) = app(select);
            for c in keys.chars() {
                app.update(match c {
                    '\n' => key(KeyCode::Enter),
                    '\t' => key(KeyCode::Tab),
                    c => ch(c),
                });
            }
            for (w, h) in [
                (0, 0),
                (1, 1),
                (10, 3),
                (40, 10),
                (79, 23),
                (80, 24),
                (119, 40),
                (120, 39),
                (120, 40),
                (200, 60),
            ] {
                let s = render_to_string(&app, w, h);
                assert_eq!(s.lines().count(), usize::from(h));
            }
        }
    }
}
