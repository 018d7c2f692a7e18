//! Every row of fixtures/libtorrent/magnets.tsv (libtorrent's test_magnet.cpp vectors): the
//! outcome, and each property the `expected` column states. A row whose expectation this file
//! does not understand fails the test, so no row is skipped silently.

use std::net::SocketAddr;
use std::path::Path;

use shoal_core::magnet::{Magnet, MagnetError};

/// Decodes the TSV's C-style escapes (`\n`, `\t`, `\\`, `\xNN`).
fn unescape(cell: &str) -> Vec<u8> {
    let b = cell.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                b'x' if i + 3 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    if let Ok(v) = u8::from_str_radix(hex, 16) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex20(s: &str) -> [u8; 20] {
    shoal_core::ids::from_hex::<20>(s).unwrap_or_else(|| panic!("bad hex {s}"))
}

/// Text between `open` (after `start`) and the matching close bracket, nesting-aware.
fn bracketed<'a>(text: &'a str, start: &str) -> Option<&'a str> {
    let at = text.find(start)? + start.len();
    let rest = &text[at..];
    let mut depth = 1;
    for (i, c) in rest.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Items of a list like `'a','b'` or `a, b` at nesting depth 0.
fn split_top(list: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in list.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            items.push(cur.trim().trim_matches('\'').to_owned());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().trim_matches('\'').to_owned());
    }
    items
}

/// Checks every property named in an `ok` row; returns how many were checked.
fn check_ok(m: &Magnet, expected: &str) -> usize {
    let mut checked = 0;
    for marker in ["v1 = ", "v1="] {
        if let Some(at) = expected.find(marker) {
            let hex = &expected[at + marker.len()..at + marker.len() + 40];
            assert_eq!(m.info_hash.get_v1().map(|h| h.0), Some(hex20(hex)));
            checked += 1;
        }
    }
    if let Some(at) = expected.find("v1 == '") {
        let rest = &expected[at + 7..];
        let bytes = &rest[..rest.find('\'').unwrap()];
        assert_eq!(
            m.info_hash.get_v1().map(|h| h.0.to_vec()),
            Some(bytes.as_bytes().to_vec())
        );
        checked += 1;
    }
    if expected.contains("v2 = cd*32 bytes; v1 all zero") {
        assert_eq!(m.info_hash.get_v2().map(|h| h.0), Some([0xcd; 32]));
        assert_eq!(m.info_hash.get_v1(), None);
        checked += 1;
    }
    if expected.contains("hybrid: v1 and v2 both set") {
        assert_eq!(m.info_hash.get_v1().map(|h| h.0), Some([0xcd; 20]));
        assert_eq!(m.info_hash.get_v2().map(|h| h.0), Some([0xcd; 32]));
        checked += 1;
    }
    if let Some(at) = expected.find("name '") {
        let rest = &expected[at + 6..];
        assert_eq!(m.name.as_deref(), Some(&rest[..rest.find('\'').unwrap()]));
        checked += 1;
    }
    if let Some(list) =
        bracketed(expected, "url_seeds [").or_else(|| bracketed(expected, "url_seeds == ["))
    {
        assert_eq!(m.web_seeds, split_top(list));
        checked += 1;
    }
    if let Some(list) = bracketed(expected, "peers == [") {
        let want: Vec<SocketAddr> = split_top(list).iter().map(|p| p.parse().unwrap()).collect();
        assert_eq!(m.peers, want);
        checked += 1;
    }
    if let Some(list) = bracketed(expected, "dht_nodes == [") {
        let want: Vec<(String, u16)> = split_top(list)
            .iter()
            .map(|t| {
                let (host, port) = t
                    .trim_matches(|c| c == '(' || c == ')')
                    .split_once(',')
                    .unwrap();
                (host.to_owned(), port.parse().unwrap())
            })
            .collect();
        assert_eq!(m.dht_nodes, want);
        checked += 1;
    }
    if let Some(at) = expected.find("file_priorities (1=download,0=skip) == ") {
        let rest = &expected[at + 39..];
        let rest = rest.split(" (").next().unwrap().trim();
        let mut want: Vec<bool> = Vec::new();
        if rest != "(empty)" && !rest.is_empty() {
            for item in rest.split(',') {
                let (value, times) = match item.split_once(" x") {
                    Some((v, n)) => (v, n.parse::<usize>().unwrap()),
                    None => (item, 1),
                };
                want.extend(std::iter::repeat_n(value.trim() == "1", times));
            }
        }
        // An empty selection (nothing selected) is reported as "no selection".
        let got = m.select_only.clone().unwrap_or_default();
        assert_eq!(got, want, "select_only");
        if want.is_empty() {
            assert_eq!(m.select_only, None);
        }
        checked += 1;
    }
    if let (Some(trackers), Some(tiers)) = (
        bracketed(expected, "trackers ["),
        bracketed(expected, "tiers ["),
    ) {
        let want_urls = split_top(trackers);
        let want_tiers: Vec<usize> = split_top(tiers)
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        let mut got_urls = Vec::new();
        let mut got_tiers = Vec::new();
        for (tier, urls) in m.trackers.iter().enumerate() {
            for u in urls {
                got_urls.push(u.clone());
                got_tiers.push(tier);
            }
        }
        assert_eq!(got_urls, want_urls);
        assert_eq!(got_tiers, want_tiers);
        checked += 1;
    }
    checked
}

fn check_error(err: &MagnetError, expected: &str) {
    let kind_ok = if expected.contains("invalid_escaped_string") || expected.contains("escape") {
        matches!(err, MagnetError::InvalidEscape { .. })
    } else if expected.contains("missing_info_hash") {
        *err == MagnetError::MissingInfoHash
    } else if expected.contains("invalid_info_hash") || expected.contains("invalid hash") {
        matches!(err, MagnetError::InvalidInfoHash(_))
    } else {
        panic!("no error kind understood in {expected:?}");
    };
    assert!(kind_ok, "got {err:?}, expected {expected}");
}

#[test]
fn libtorrent_magnet_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/libtorrent/magnets.tsv");
    let tsv = std::fs::read_to_string(&path).expect("magnets.tsv");
    let mut rows = 0;
    for (line_no, line) in tsv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 3, "line {}: {line}", line_no + 1);
        let (uri, outcome, expected) = (cols[0], cols[1], cols[2]);
        // A raw byte that is not UTF-8 (`\xf7`) becomes U+FFFD: a link reaches the parser as
        // text, and the row only asks that it fail.
        let uri = String::from_utf8_lossy(&unescape(uri)).into_owned();
        let result = Magnet::parse(&uri);
        let ctx = format!("line {}: {uri:?} -> {result:?}", line_no + 1);
        match outcome {
            "ok" => {
                let m = result.as_ref().unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert!(
                    check_ok(m, expected) > 0,
                    "{ctx}: nothing checked in {expected:?}"
                );
                // And what we parsed survives a round trip.
                assert_eq!(Magnet::parse(&m.to_uri()).as_ref(), Ok(m), "{ctx}");
            }
            "error" => {
                let e = result
                    .as_ref()
                    .err()
                    .unwrap_or_else(|| panic!("{ctx}: parsed"));
                check_error(e, expected);
            }
            "error-or-empty" => {
                if let Ok(m) = &result {
                    assert!(m.trackers.is_empty(), "{ctx}");
                }
            }
            other => panic!("{ctx}: unknown outcome {other}"),
        }
        rows += 1;
    }
    assert_eq!(rows, 38, "magnets.tsv rows");
}
