//! libtorrent's bdecode vectors (fixtures/libtorrent/bencode.tsv): every row is checked.

use shoal_bencode::{check_strict, decode, decode_with, ErrorKind, Limits};

/// Decodes the TSV's C-style escapes (`\xNN`, `\n`, `\\`, `\0`) and `hex:` cells.
fn unescape(cell: &str) -> Vec<u8> {
    if let Some(hex) = cell.strip_prefix("hex:") {
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
    }
    if cell == "(empty buffer)" {
        return Vec::new();
    }
    let b = cell.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'x' => {
                    out.push(u8::from_str_radix(&cell[i + 2..i + 4], 16).unwrap());
                    i += 4;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                }
                b'0' => {
                    out.push(0);
                    i += 2;
                }
                other => {
                    out.push(other);
                    i += 2;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn kind_from_text(expected: &str) -> Option<ErrorKind> {
    let table = [
        ("expected_value", ErrorKind::ExpectedValue),
        ("expected_digit", ErrorKind::ExpectedDigit),
        ("expected_colon", ErrorKind::ExpectedColon),
        ("unexpected_eof", ErrorKind::UnexpectedEof),
        ("overflow", ErrorKind::Overflow),
        ("limit_exceeded", ErrorKind::LimitExceeded),
        ("depth_exceeded", ErrorKind::DepthExceeded),
    ];
    table
        .iter()
        .find(|(name, _)| expected.starts_with(name))
        .map(|(_, k)| *k)
}

fn expected_pos(expected: &str) -> Option<usize> {
    let rest = &expected[expected.find("at pos ")? + 7..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Rows whose input is described rather than given.
fn generated_input(cell: &str) -> Option<(Vec<u8>, Limits)> {
    let limits = Limits::default();
    if cell.starts_with("l*1024") {
        let mut v = vec![b'l'; 1024];
        v.extend(vec![b'e'; 1024]);
        return Some((
            v,
            Limits {
                max_depth: 100,
                ..limits
            },
        ));
    }
    if cell.starts_with("l + '0:'*5119") {
        let mut v = vec![b'l'];
        for _ in 0..5119 {
            v.extend_from_slice(b"0:");
        }
        v.push(b'e');
        return Some((
            v,
            Limits {
                max_tokens: 1000,
                ..limits
            },
        ));
    }
    if let Some(prefix) = cell.strip_suffix(" (buffer claimed 999999999 B)") {
        // libtorrent is told the buffer is larger than its limit; the equivalent here is an
        // input longer than `max_input`, refused at offset 0 before any parsing.
        return Some((
            prefix.as_bytes().to_vec(),
            Limits {
                max_input: 8,
                ..limits
            },
        ));
    }
    None
}

#[test]
fn every_bdecode_vector() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/libtorrent/bencode.tsv"
    );
    let text = std::fs::read_to_string(path).expect("fixture present");
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (input_cell, outcome, expected) = (cols[0], cols[1], cols[2]);
        let (input, limits) = generated_input(input_cell)
            .unwrap_or_else(|| (unescape(input_cell), Limits::default()));
        let lenient = decode_with(&input, &limits, false);
        let strict = decode_with(&input, &limits, true);
        match outcome {
            "ok" => {
                assert!(lenient.is_ok(), "{input_cell}: {lenient:?}");
                assert!(strict.is_ok(), "{input_cell}: strict {strict:?}");
            }
            "soft-error" => {
                assert!(
                    lenient.is_ok(),
                    "{input_cell}: lenient must accept: {lenient:?}"
                );
                let err = strict.expect_err(input_cell);
                assert!(err.kind.is_strictness(), "{input_cell}: {err:?}");
                let want = if expected.contains("unsorted") {
                    ErrorKind::UnsortedKey
                } else if expected.contains("duplicate") {
                    ErrorKind::DuplicateKey
                } else {
                    ErrorKind::LeadingZero
                };
                assert_eq!(err.kind, want, "{input_cell}");
            }
            "lazy" => {
                // Accepted leniently but unreadable as an i64; strict mode refuses it.
                let v = lenient.expect(input_cell);
                assert_eq!(v.as_int(), None);
                assert_eq!(strict.expect_err(input_cell).kind, ErrorKind::Overflow);
            }
            "error" => {
                let err = lenient.expect_err(input_cell);
                if let Some(kind) = kind_from_text(expected) {
                    assert_eq!(err.kind, kind, "{input_cell}: {expected}");
                }
                if let Some(pos) = expected_pos(expected) {
                    assert_eq!(err.offset, pos, "{input_cell}: {expected}");
                }
                assert!(strict.is_err());
            }
            other => panic!("unknown outcome {other}"),
        }
        rows += 1;
    }
    assert_eq!(rows, 40);
}

#[test]
fn spans_give_exact_bytes() {
    let input = b"d4:infod1:bi1e1:ai2ee3:zzz0:e";
    let v = decode(input).unwrap();
    let info = v.get(b"info").unwrap();
    assert_eq!(info.raw(), b"d1:bi1e1:ai2ee");
    assert_eq!(info.offset(), 7);
    assert_eq!(info.get(b"a").and_then(|x| x.as_int()), Some(2));
    // Unsorted keys are fine leniently, refused strictly.
    assert_eq!(
        check_strict(input).unwrap_err().kind,
        ErrorKind::UnsortedKey
    );
}

#[test]
fn strict_rejections_with_offsets() {
    let cases: &[(&[u8], ErrorKind, usize)] = &[
        (b"i-0e", ErrorKind::NegativeZero, 0),
        (b"i01e", ErrorKind::LeadingZero, 1),
        (b"02:ab", ErrorKind::LeadingZero, 0),
        (b"i1ex", ErrorKind::TrailingBytes, 3),
        (b"d1:bi1e1:ai1ee", ErrorKind::UnsortedKey, 7),
        (b"d1:ai1e1:ai1ee", ErrorKind::DuplicateKey, 7),
    ];
    for (input, kind, offset) in cases {
        let err = check_strict(input).unwrap_err();
        assert_eq!(
            (err.kind, err.offset),
            (*kind, *offset),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert!(
            decode(input).is_ok(),
            "lenient accepts {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn error_message_names_offset() {
    let err = decode(b"d3:abc").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid bencoding at byte 6: unexpected end of input"
    );
}

#[test]
fn integer_extremes() {
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap().as_int(),
        Some(i64::MIN)
    );
    assert_eq!(
        decode(b"i9223372036854775807e").unwrap().as_int(),
        Some(i64::MAX)
    );
    assert_eq!(decode(b"i9223372036854775808e").unwrap().as_int(), None);
}

#[test]
fn input_size_limit() {
    let limits = Limits {
        max_input: 4,
        ..Limits::default()
    };
    assert_eq!(
        decode_with(b"5:hello", &limits, false).unwrap_err().kind,
        ErrorKind::LimitExceeded
    );
}
