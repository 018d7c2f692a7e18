//! One-line picker states for table tests.
//!
//! `state("have: 1100, avail: 0231, partial: 2:a-A- 3:bb--")` builds a picker through its
//! public API only. Fields, separated by commas, all optional:
//!
//! | field            | meaning                                                          |
//! |------------------|------------------------------------------------------------------|
//! | `pieces: N`      | piece count (default: length of `avail`, `have` or `prio`)      |
//! | `blocks: K`      | blocks per piece, 16 KiB each (default 4)                         |
//! | `total: BYTES`   | torrent length (default: every piece full), for short last pieces |
//! | `have: 1100`     | pieces we have                                                    |
//! | `avail: 0231`    | per-piece count of connected peers holding it, one digit a piece |
//! | `seeds: N`       | connected seeds                                                   |
//! | `prio: 4404`     | per-piece priority, one digit a piece (default 4)                 |
//! | `partial: P:xyz` | pieces in progress, one char a block (below), space separated   |
//! | `random: N`      | `initial_random_pieces` (default 0, so tests see rarest first)   |
//! | `dups: N`        | endgame `max_duplicates` (default 2)                              |
//! | `seq`            | sequential mode                                                   |
//!
//! Block chars: `-` free, `a`..`z` requested by that peer, `A`..`Z` received from it. When
//! rendered, a digit is a block requested by that many peers and `~` a block whose only
//! request timed out. Spaces inside bit and digit strings are ignored. Requests in the
//! string are made at `base`; peer `a` is `PeerKey(0)`.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_core::{Bitfield, PieceIndex};

use crate::{
    BlockOutcome, BlockRef, BlockStatus, Geometry, PeerKey, PeerView, Picker, PickerConfig,
    Priority, BLOCK_LEN,
};

pub(crate) struct T {
    pub p: Picker,
    pub rng: StdRng,
    pub base: Instant,
    pub now: Instant,
}

pub(crate) fn state(spec: &str) -> T {
    state_seeded(spec, 0)
}

pub(crate) fn state_seeded(spec: &str, seed: u64) -> T {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part.split_once(':') {
            Some((k, v)) => fields.push((k.trim(), v.trim())),
            None => fields.push((part, "")),
        }
    }
    let get = |key: &str| fields.iter().find(|f| f.0 == key).map(|f| f.1);
    let digits = |key: &str| -> Option<Vec<u32>> {
        get(key).map(|v| {
            v.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_digit(10).expect("digit"))
                .collect()
        })
    };
    let num = |key: &str| get(key).map(|v| v.parse::<u64>().expect("number"));

    let avail = digits("avail");
    let have = digits("have");
    let prio = digits("prio");
    let pieces = num("pieces")
        .map(|n| n as u32)
        .or_else(|| {
            [&avail, &have, &prio]
                .iter()
                .find_map(|d| d.as_ref().map(|d| d.len() as u32))
        })
        .expect("piece count");
    let blocks = num("blocks").unwrap_or(4) as u32;
    let piece_len = blocks * BLOCK_LEN;
    let total = num("total").unwrap_or(u64::from(pieces) * u64::from(piece_len));
    let geometry = Geometry::new(piece_len, total).expect("geometry");
    assert_eq!(
        geometry.piece_count(),
        pieces,
        "total does not match the piece count"
    );

    let mut have_bf = Bitfield::new(pieces);
    for (i, &b) in (0u32..).zip(have.iter().flatten()) {
        have_bf.set(i, b == 1);
    }
    let config = PickerConfig {
        initial_random_pieces: num("random").unwrap_or(0) as u32,
        max_duplicates: num("dups").unwrap_or(2) as u32,
        sequential: get("seq").is_some(),
        ..PickerConfig::default()
    };
    let mut p = Picker::new(geometry, &have_bf, config).expect("picker");
    for (i, &level) in (0u32..).zip(prio.iter().flatten()) {
        let prio = Priority::new(level as u8).expect("priority");
        p.set_piece_priority(pi(i), prio).expect("in range");
    }
    for (i, &count) in (0u32..).zip(avail.iter().flatten()) {
        for _ in 0..count {
            p.peer_has(pi(i));
        }
    }
    for _ in 0..num("seeds").unwrap_or(0) {
        p.peer_has_all();
    }
    let base = Instant::now();
    for piece_spec in get("partial").unwrap_or("").split_whitespace() {
        let (idx, chars) = piece_spec.split_once(':').expect("P:blocks");
        let piece = pi(idx.parse().expect("piece index"));
        assert_eq!(
            chars.len() as u32,
            p.geometry().blocks_in_piece(piece),
            "block count of {piece_spec}"
        );
        for (i, c) in (0u32..).zip(chars.chars()) {
            let block = p.geometry().block(piece, i).expect("block");
            if c == '-' {
                continue;
            }
            let who = peer(c.to_ascii_lowercase());
            p.request_block(who, block, base).expect("request");
            if c.is_ascii_uppercase() {
                let outcome = p.on_block_received(who, block, base);
                assert!(
                    matches!(outcome, BlockOutcome::Accepted { .. }),
                    "{outcome:?}"
                );
            }
        }
    }
    p.check_invariants().expect("invariants");
    T {
        p,
        rng: StdRng::seed_from_u64(seed),
        base,
        now: base,
    }
}

pub(crate) fn pi(i: u32) -> PieceIndex {
    PieceIndex::new_unchecked_in_range(i)
}

/// Peer `a` is key 0, `b` key 1, ...
pub(crate) fn peer(c: char) -> PeerKey {
    PeerKey::new(u64::from(c) - u64::from('a'))
}

/// Renders peer keys as letters: `[0, 2]` -> "ac".
pub(crate) fn letters(keys: &[PeerKey]) -> String {
    keys.iter()
        .map(|k| char::from(b'a' + k.get() as u8))
        .collect()
}

pub(crate) fn render(blocks: &[BlockRef]) -> String {
    blocks
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl T {
    /// A bitfield from a mask like "0110"; "*" is every piece.
    pub fn bf(&self, mask: &str) -> Bitfield {
        let n = self.p.geometry().piece_count();
        if mask == "*" {
            return Bitfield::full(n);
        }
        let mut bf = Bitfield::new(n);
        for (i, c) in (0u32..).zip(mask.chars().filter(|c| !c.is_whitespace())) {
            bf.set(i, c == '1');
        }
        bf
    }

    /// "2.1" -> block 1 of piece 2.
    pub fn block(&self, s: &str) -> BlockRef {
        let (p, b) = s.split_once('.').expect("P.B");
        self.p
            .geometry()
            .block(pi(p.parse().expect("piece")), b.parse().expect("block"))
            .expect("block in range")
    }

    fn pick_as(&mut self, who: char, has: &str, want: usize, snubbed: bool) -> String {
        let has = self.bf(has);
        let view = PeerView {
            key: peer(who),
            has: &has,
            snubbed,
        };
        render(&self.p.pick(&view, want, &mut self.rng, self.now))
    }

    /// Blocks picked for peer `who` holding `has`, rendered "P.B P.B".
    pub fn pick(&mut self, who: char, has: &str, want: usize) -> String {
        self.pick_as(who, has, want, false)
    }

    pub fn pick_snubbed(&mut self, who: char, has: &str, want: usize) -> String {
        self.pick_as(who, has, want, true)
    }

    pub fn recv(&mut self, who: char, block: &str) -> BlockOutcome {
        let b = self.block(block);
        self.p.on_block_received(peer(who), b, self.now)
    }

    pub fn choke(&mut self, who: char) -> String {
        render(&self.p.on_peer_choked_us(peer(who)))
    }

    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
    }

    /// Requests that time out at `now`, rendered "a:P.B".
    pub fn timeout(&mut self) -> String {
        let out = self.p.handle_timeout(self.now);
        out.iter()
            .map(|pb| format!("{}:{}", letters(&[pb.peer]), pb.block))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Pieces in progress in the `partial:` notation.
    pub fn partials(&self) -> String {
        let pieces: Vec<PieceIndex> = self.p.partial_pieces().collect();
        let mut out = Vec::new();
        for piece in pieces {
            let chars: String = self
                .p
                .geometry()
                .blocks(piece)
                .map(|b| match self.p.block_status(b) {
                    BlockStatus::Have => '#',
                    BlockStatus::Free => '-',
                    BlockStatus::Received { from } => letters(&[from])
                        .to_ascii_uppercase()
                        .chars()
                        .next()
                        .unwrap_or('?'),
                    BlockStatus::Requested { peers, .. } if peers.len() > 1 => {
                        char::from_digit(peers.len() as u32, 10).unwrap_or('+')
                    }
                    BlockStatus::Requested {
                        timed_out: true, ..
                    } => '~',
                    BlockStatus::Requested { peers, .. } => {
                        letters(&peers).chars().next().unwrap_or('?')
                    }
                })
                .collect();
            out.push(format!("{piece}:{chars}"));
        }
        out.join(" ")
    }
}

#[test]
fn notation_round_trips() {
    let t = state("avail: 2222, have: 1000, partial: 2:aB-c 3:--A-");
    assert_eq!(t.partials(), "2:aB-c 3:--A-");
    assert!(t.p.have().get(0));
    assert_eq!(t.p.availability(pi(1)), 2);
    assert_eq!(t.p.outstanding(peer('a')), 1);
}
