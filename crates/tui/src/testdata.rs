//! Fixed snapshots for widget, screen and rule tests. Addresses are loopback; names and
//! URLs are inert text.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use shoal_core::{Bitfield, PeerId};
use shoal_engine::announce::TrackerStatus;
use shoal_engine::{TorrentState, TorrentStats};
use shoal_swarm::{PeerInfo, PeerKey, PeerSource};

use crate::app::App;
use crate::update::Event;
use crate::view::{DhtView, PieceMap, Snapshot, TorrentView};
use crate::widgets::buffer_text;

pub const PIECE: u64 = 256 * 1024;
/// Seconds of rate history the screen fixtures build up before the final snapshot.
pub const WARMUP: u64 = 90;

/// A base time an hour ahead of now, so fixtures can place events before it without an
/// `Instant` underflow.
pub fn base() -> Instant {
    Instant::now() + secs(3600)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Event {
    key(KeyCode::Char(c))
}

/// Renders a widget into a fresh `width`×`height` buffer and returns it as text.
pub fn render(widget: impl Widget, width: u16, height: u16) -> (Buffer, String) {
    let mut buf = Buffer::empty(Rect::new(0, 0, width, height));
    widget.render(buf.area, &mut buf);
    let text = buffer_text(&buf);
    (buf, text)
}

pub fn stats(name: &str, hash_byte: u8, pieces: u32, at: Instant) -> TorrentStats {
    let hex = format!("{hash_byte:02x}").repeat(20);
    let mut s = TorrentStats::new(name.into(), hex, u64::from(pieces) * PIECE, pieces);
    s.at = at;
    s.state = TorrentState::Downloading;
    s
}

pub fn set_have(s: &mut TorrentStats, have: u32) {
    s.pieces_have = have;
    s.have_bytes = u64::from(have) * PIECE;
}

/// A connected peer at 127.0.0.`n` running the client whose peer id starts with `prefix`.
pub fn peer(n: u8, prefix: &[u8; 8]) -> PeerInfo {
    let mut id = [b'0'; 20];
    id[..8].copy_from_slice(prefix);
    id[19] = n;
    PeerInfo {
        key: PeerKey::new(u64::from(n)),
        addr: SocketAddr::from(([127, 0, 0, n], 6881 + u16::from(n))),
        source: PeerSource::Tracker,
        peer_id: PeerId(id),
        client: None,
        outgoing: true,
        am_choking: true,
        am_interested: true,
        peer_choking: false,
        peer_interested: false,
        snubbed: false,
        pieces: 0,
        down_rate: 0,
        up_rate: 0,
        downloaded: 0,
        uploaded: 0,
        requests_in_flight: 0,
        hash_strikes: 0,
    }
}

pub fn tracker_ok(url: &str, at: Instant) -> TrackerStatus {
    TrackerStatus {
        current_url: Some(url.into()),
        last_announce: Some(at),
        next_announce: Some(at + secs(1800)),
        last_error: None,
        failing_since: None,
        seeders: Some(143),
        leechers: Some(27),
        peers_received: 50,
    }
}

pub fn bitfield(len: u32, f: impl Fn(u32) -> bool) -> Bitfield {
    let mut b = Bitfield::new(len);
    for i in 0..len {
        b.set(i, f(i));
    }
    b
}

pub fn piece_map(
    len: u32,
    have: impl Fn(u32) -> bool,
    downloading: impl Fn(u32) -> bool,
    avail: impl Fn(u32) -> u16,
) -> PieceMap {
    let map = PieceMap::new(
        bitfield(len, have),
        bitfield(len, downloading),
        (0..len).map(avail).collect(),
    );
    match map {
        Ok(m) => m,
        Err(e) => panic!("fixture piece map: {e}"),
    }
}

/// A download going well: 8 peers, most unchoking us, 4 MiB/s.
pub fn healthy(at: Instant) -> TorrentView {
    let total = 2640;
    let mut s = stats("debian-12.5.0-amd64-netinst.iso", 0xa1, total, at);
    set_have(&mut s, 1716);
    s.down_rate = 4_400_000;
    s.up_rate = 610_000;
    s.downloaded = 1716 * PIECE + 3 * PIECE;
    s.uploaded = 260 << 20;
    s.wasted = 3 * PIECE;
    s.disk_queue_bytes = 2 << 20;
    s.known_addrs = 41;
    let clients: [&[u8; 8]; 8] = [
        b"-qB4520-",
        b"-TR3000-",
        b"-lt0D80-",
        b"-UT355S-",
        b"-TR4060-",
        b"-LT20A0-",
        b"M7-4-3--",
        b"-SH0100-",
    ];
    s.peers = clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = i as u8 + 2;
            let mut p = peer(n, c);
            p.pieces = if i < 5 { total } else { 900 + 100 * i as u32 };
            p.peer_choking = i == 6;
            p.am_choking = i > 3;
            p.peer_interested = i >= 4;
            p.down_rate = if i == 6 {
                0
            } else {
                1_100_000 - 120_000 * i as u64
            };
            p.up_rate = if i >= 4 && i != 6 { 150_000 } else { 0 };
            p.requests_in_flight = if i == 6 { 0 } else { 24 - i };
            p
        })
        .collect();
    if let Some(p) = s.peers.get_mut(0) {
        p.client = Some("qBittorrent/4.5.2".into());
    }
    if let Some(p) = s.peers.get_mut(5) {
        p.source = PeerSource::Dht;
    }
    if let Some(p) = s.peers.get_mut(7) {
        p.source = PeerSource::Incoming;
        p.outgoing = false;
    }
    let mut v = TorrentView::new(
        s,
        vec![tracker_ok(
            "http://tracker.example.org:6969/announce",
            at - secs(200),
        )],
    );
    v.pieces = Some(piece_map(
        total,
        |i| i < 1600 || (i % 7 != 0 && i < 1800),
        |i| (1600..1800).contains(&i) && i % 7 == 0 && i % 2 == 0,
        |i| 5 + (i % 4) as u16,
    ));
    v
}

/// Stuck at 99.9%: three pieces no connected peer has, nothing arriving.
pub fn stuck(at: Instant) -> TorrentView {
    let total = 3000;
    let missing = [17, 1500, 2999];
    let mut s = stats("Big.Open.Dataset.2019", 0xb2, total, at);
    set_have(&mut s, total - 3);
    s.downloaded = u64::from(total - 3) * PIECE;
    s.uploaded = 90 << 20;
    s.up_rate = 35_000;
    s.known_addrs = 6;
    s.peers = (0..5u8)
        .map(|i| {
            let mut p = peer(20 + i, b"-TR3000-");
            p.pieces = total - 3 - u32::from(i);
            p.am_interested = false;
            p.peer_interested = true;
            p.am_choking = i > 1;
            p.up_rate = if i < 2 { 17_500 } else { 0 };
            p
        })
        .collect();
    let mut v = TorrentView::new(
        s,
        vec![tracker_ok(
            "udp://tracker.example.net:1337/announce",
            at - secs(700),
        )],
    );
    v.pieces = Some(piece_map(
        total,
        |i| !missing.contains(&i),
        |_| false,
        |i| {
            if missing.contains(&i) {
                0
            } else {
                3 + (i % 3) as u16
            }
        },
    ));
    v
}

/// Seeding to three leechers.
pub fn seeding(at: Instant) -> TorrentView {
    let total = 1200;
    let mut s = stats("field-recordings-flac", 0xc3, total, at);
    set_have(&mut s, total);
    s.state = TorrentState::Seeding;
    s.up_rate = 1_150_000;
    s.uploaded = 3 << 30;
    s.known_addrs = 12;
    s.peers = (0..3u8)
        .map(|i| {
            let mut p = peer(40 + i, b"-DE13F0-");
            p.pieces = 200 * u32::from(i + 1);
            p.am_interested = false;
            p.peer_interested = true;
            p.am_choking = false;
            p.peer_choking = true;
            p.up_rate = 383_000;
            p.source = PeerSource::Pex;
            p
        })
        .collect();
    let mut v = TorrentView::new(
        s,
        vec![tracker_ok(
            "https://tracker.example.com/announce",
            at - secs(60),
        )],
    );
    v.pieces = Some(piece_map(total, |_| true, |_| false, |i| (i % 3) as u16));
    v
}

pub fn snapshot(at: Instant) -> Snapshot {
    Snapshot {
        torrents: vec![healthy(at), stuck(at), seeding(at)],
        dht: Some(DhtView {
            nodes: 312,
            lookups: 2,
        }),
    }
}

/// An app that has watched the fixture snapshot for [`WARMUP`] seconds (rates wobbling, so
/// the charts have a shape) with torrent `select` selected. Returns the app and its `now`.
pub fn app(select: usize) -> (App, Instant) {
    let t0 = base();
    let mut app = App::new(t0);
    for s in 0..WARMUP {
        let now = t0 + secs(s);
        let mut snap = snapshot(now);
        // A deterministic wobble: a triangle wave on the rates.
        let phase = (s % 20).min(20 - s % 20);
        for t in &mut snap.torrents {
            t.stats.down_rate = t.stats.down_rate / 20 * (10 + phase);
            t.stats.up_rate = t.stats.up_rate / 20 * (10 + phase);
        }
        app.update(Event::Snapshot(snap, now));
        app.update(Event::Tick(now));
    }
    let now = t0 + secs(WARMUP);
    app.update(Event::Snapshot(snapshot(now), now));
    for _ in 0..select {
        app.update(ch('j'));
    }
    (app, now)
}
