//! Connected peers: who they are, where we learnt of them, who chokes whom, and how much
//! flows each way.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, HighlightSpacing, Row, StatefulWidget, Table, TableState};
use shoal_swarm::{PeerInfo, PeerSource};

use super::{header_style, panel, placeholder, selected_style, BAD, WARN};
use crate::client_id::client_label;
use crate::format;
use crate::view::{PeerTransport, TorrentView};

pub struct PeersPanel<'a> {
    pub view: Option<&'a TorrentView>,
    /// Selected row in the sorted order.
    pub row: usize,
    pub focused: bool,
}

impl ratatui::widgets::Widget for PeersPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some(view) = self.view else {
            placeholder(panel("Peers", self.focused), "—", area, buf);
            return;
        };
        let s = &view.stats;
        let title = format!(
            "Peers ({} connected, {} known, {} banned)",
            s.peers.len(),
            s.known_addrs,
            s.banned
        );
        let block = panel(title, self.focused);
        if s.peers.is_empty() {
            let text = format!("no peers connected ({} known)", s.known_addrs);
            placeholder(block, &text, area, buf);
            return;
        }
        let header = Row::new(
            [
                "Address", "Client", "Src", "Flags", "Done", "↓/s", "↑/s", "Req", "Bad",
            ]
            .map(Cell::from),
        )
        .style(header_style());
        let rows = sorted(&s.peers)
            .into_iter()
            .map(|p| row(p, s.pieces_total, view.transport(p.key)));
        let widths = [
            // Room for an IPv4 address and port; IPv6 addresses are cut.
            Constraint::Min(21),
            Constraint::Fill(1),
            Constraint::Length(3),
            Constraint::Length(7),
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(3),
            Constraint::Length(3),
        ];
        let table = Table::new(rows, widths)
            .header(header)
            .block(block)
            .row_highlight_style(selected_style())
            .highlight_symbol("▶")
            .highlight_spacing(HighlightSpacing::Always);
        // Unfocused, the list shows its top and no selection.
        let selected = self.focused.then_some(self.row);
        let mut state = TableState::new().with_selected(selected);
        StatefulWidget::render(table, area, buf, &mut state);
    }
}

/// Fastest downloads first, then fastest uploads, then by address so equal rows keep still.
pub fn sorted(peers: &[PeerInfo]) -> Vec<&PeerInfo> {
    let mut v: Vec<&PeerInfo> = peers.iter().collect();
    v.sort_by(|a, b| {
        b.down_rate
            .cmp(&a.down_rate)
            .then(b.up_rate.cmp(&a.up_rate))
            .then(a.addr.cmp(&b.addr))
    });
    v
}

fn row(p: &PeerInfo, pieces_total: u32, transport: Option<PeerTransport>) -> Row<'static> {
    let done = if pieces_total == 0 {
        "—".to_owned()
    } else {
        format!(
            "{}%",
            u64::from(p.pieces.min(pieces_total)) * 100 / u64::from(pieces_total)
        )
    };
    let bad = if p.hash_strikes > 0 {
        Span::styled(p.hash_strikes.to_string(), Style::new().fg(BAD))
    } else {
        Span::raw("0")
    };
    Row::new(vec![
        Cell::from(p.addr.to_string()),
        Cell::from(client_label(&p.peer_id, p.client.as_deref())),
        Cell::from(source_label(p.source)),
        Cell::from(flags(p, transport)),
        Cell::from(done),
        Cell::from(format::rate_short(p.down_rate)),
        Cell::from(format::rate_short(p.up_rate)),
        Cell::from(p.requests_in_flight.to_string()),
        Cell::from(bad),
    ])
}

/// Three letters for where the address came from.
pub fn source_label(s: PeerSource) -> &'static str {
    match s {
        PeerSource::Tracker => "trk",
        PeerSource::Dht => "dht",
        PeerSource::Pex => "pex",
        PeerSource::Incoming => "in",
        PeerSource::Manual => "man",
    }
}

/// Seven fixed positions, `.` when unset: `C` the peer chokes us, `c` we choke it, `I` we
/// are interested, `i` it is interested, `S` it snubs us, `E` encrypted, `P` uTP.
pub fn flags(p: &PeerInfo, transport: Option<PeerTransport>) -> Span<'static> {
    let t = transport.unwrap_or_default();
    let s: String = [
        (p.peer_choking, 'C'),
        (p.am_choking, 'c'),
        (p.am_interested, 'I'),
        (p.peer_interested, 'i'),
        (p.snubbed, 'S'),
        (t.encrypted, 'E'),
        (t.utp, 'P'),
    ]
    .iter()
    .map(|&(on, c)| if on { c } else { '.' })
    .collect();
    // Interested in a peer that chokes us: we want data it will not send.
    let stuck = p.am_interested && p.peer_choking;
    if p.snubbed || stuck {
        Span::styled(s, Style::new().fg(WARN))
    } else {
        Span::raw(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{base, healthy, peer, render};
    use crate::view::PeerTransport;
    use ratatui::style::Modifier;
    use shoal_swarm::PeerKey;

    #[test]
    fn columns_for_each_peer_sorted_by_download_rate() {
        let now = base();
        let mut v = healthy(now);
        v.stats.peers.truncate(3);
        if let Some(p) = v.stats.peers.get_mut(2) {
            p.down_rate = 5_000_000;
            p.hash_strikes = 2;
            p.snubbed = true;
            p.source = PeerSource::Manual;
        }
        v.transports = vec![(
            PeerKey::new(4),
            PeerTransport {
                encrypted: true,
                utp: true,
            },
        )];
        let (buf, text) = render(
            PeersPanel {
                view: Some(&v),
                row: 0,
                focused: true,
            },
            80,
            7,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("┌Peers (3 connected, 41 known, 0 banned)"));
        let row = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(row(1), "│ Address Client Src Flags Done ↓/s ↑/s Req Bad│");
        // 127.0.0.4 (key 4) is fastest now, snubbed, encrypted over uTP, with 2 strikes.
        assert_eq!(
            row(2),
            "│▶127.0.0.4:6885 libTorrent 0.13.8 man ..I.SEP 100% 4.8M 0 22 2 │"
        );
        assert_eq!(
            row(3),
            "│ 127.0.0.2:6883 qBittorrent/4.5.2 trk ..I.... 100% 1.0M 0 24 0 │"
        );
        assert_eq!(
            row(4),
            "│ 127.0.0.3:6884 Transmission 3.00 trk ..I.... 100% 957K 0 23 0 │"
        );
        assert!(buf[(3, 2)].modifier.contains(Modifier::REVERSED));
        // Snubbed flags are yellow, strikes red.
        let flags_x = lines[2]
            .find("..I.SEP")
            .map_or(0, |b| lines[2][..b].chars().count());
        assert_eq!(buf[(flags_x as u16, 2)].fg, WARN);
        let bad_x = lines[2]
            .rfind('2')
            .map_or(0, |b| lines[2][..b].chars().count());
        assert_eq!(buf[(bad_x as u16, 2)].fg, BAD);
    }

    #[test]
    fn flags_follow_choke_and_interest() {
        let mut p = peer(2, b"-TR3000-");
        (
            p.peer_choking,
            p.am_choking,
            p.am_interested,
            p.peer_interested,
        ) = (true, true, true, true);
        assert_eq!(flags(&p, None).content, "CcIi...");
        assert_eq!(
            flags(&p, None).style.fg,
            Some(WARN),
            "wanting a choking peer"
        );
        (
            p.peer_choking,
            p.am_choking,
            p.am_interested,
            p.peer_interested,
        ) = (false, false, false, false);
        assert_eq!(flags(&p, None).content, ".......");
        assert_eq!(flags(&p, None).style.fg, None);
        for (s, l) in [
            (PeerSource::Tracker, "trk"),
            (PeerSource::Dht, "dht"),
            (PeerSource::Pex, "pex"),
            (PeerSource::Incoming, "in"),
            (PeerSource::Manual, "man"),
        ] {
            assert_eq!(source_label(s), l);
        }
    }

    #[test]
    fn no_torrent_or_no_peers() {
        let (_, text) = render(
            PeersPanel {
                view: None,
                row: 0,
                focused: false,
            },
            40,
            3,
        );
        assert!(text.contains("│—"));
        let mut v = healthy(base());
        v.stats.peers.clear();
        let (_, text) = render(
            PeersPanel {
                view: Some(&v),
                row: 3,
                focused: true,
            },
            60,
            3,
        );
        assert!(text.contains("no peers connected (41 known)"));
    }

    #[test]
    fn selection_scrolls_into_view() {
        let v = healthy(base());
        let (_, text) = render(
            PeersPanel {
                view: Some(&v),
                row: 7,
                focused: true,
            },
            80,
            5,
        );
        // Two rows fit; the last (slowest) peer is shown and selected.
        assert!(text.contains("▶127.0.0.8:6889"), "{text}");
    }
}
