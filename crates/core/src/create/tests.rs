use super::*;
use std::fs;

fn opts() -> CreateOptions {
    CreateOptions {
        trackers: vec![vec!["http://127.0.0.1/announce".into()]],
        creation_date: Some(1_700_000_000),
        ..CreateOptions::default()
    }
}

#[test]
fn auto_piece_length_rule() {
    assert_eq!(auto_piece_length(1), MIN_PIECE_LENGTH);
    assert_eq!(auto_piece_length(32 << 20), 16 << 10);
    assert_eq!(auto_piece_length((32 << 20) + 1), 32 << 10);
    assert_eq!(auto_piece_length(1 << 30), 512 << 10);
    assert_eq!(auto_piece_length(32 << 30), 16 << 20);
    assert_eq!(auto_piece_length(1 << 50), MAX_AUTO_PIECE_LENGTH);
    for total in [(40u64 << 20), 700 << 20, 5 << 30, 20 << 30] {
        let n = total.div_ceil(auto_piece_length(total));
        assert!((1025..=2048).contains(&n), "{total}: {n} pieces");
    }
}

#[test]
fn piece_length_must_be_power_of_two_in_range() {
    assert!(check_piece_length(16384).is_ok());
    assert!(check_piece_length(256 << 20).is_ok());
    for bad in [0, 8192, 16383, 3 << 14, 512 << 20] {
        assert!(matches!(
            check_piece_length(bad),
            Err(CreateError::BadPieceLength(_))
        ));
    }
}

#[test]
fn single_file_info_dict_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hello.txt");
    fs::write(&p, b"hello").unwrap();
    let t = create(
        &p,
        &CreateOptions {
            piece_length: PieceLength::Bytes(32768),
            ..opts()
        },
        &|_| {},
    )
    .unwrap();
    let mut want = b"d6:lengthi5e4:name9:hello.txt12:piece lengthi32768e6:pieces20:".to_vec();
    want.extend_from_slice(&sha1::Sha1::digest(b"hello"));
    want.push(b'e');
    assert_eq!(t.info, want);
    assert_eq!(t.info_hash, InfoHashV1::of_info_bytes(&want));
    assert_eq!((t.piece_count, t.total_length, t.file_count), (1, 5, 1));
    let top = shoal_bencode::decode(&t.torrent).unwrap();
    assert_eq!(top.get(b"info").map(|v| v.raw()), Some(&want[..]));
    assert_eq!(
        top.get(b"created by").and_then(|v| v.as_str()),
        Some("shoal/0.1.0")
    );
    assert_eq!(
        top.get(b"creation date").and_then(|v| v.as_int()),
        Some(1_700_000_000)
    );
    assert!(top.get(b"announce-list").is_none());
    shoal_bencode::check_strict(&t.torrent).unwrap();
}

use sha1::Digest;

#[test]
fn folder_info_dict_lists_files_private_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("sub/b"), b"bb").unwrap();
    fs::write(root.join("a"), b"a").unwrap();
    fs::write(root.join("z"), b"").unwrap();
    let t = create(
        &root,
        &CreateOptions {
            private: true,
            source: Some("SRC".into()),
            piece_length: PieceLength::Bytes(16384),
            ..opts()
        },
        &|_| {},
    )
    .unwrap();
    let mut want = b"d5:filesld6:lengthi1e4:pathl1:aeed6:lengthi2e4:pathl3:sub1:beed6:lengthi0e4:pathl1:zeee4:name1:d12:piece lengthi16384e6:pieces20:".to_vec();
    want.extend_from_slice(&sha1::Sha1::digest(b"abb"));
    want.extend_from_slice(b"7:privatei1e6:source3:SRCe");
    assert_eq!(t.info, want);
}

#[test]
fn trackers_tiers_and_web_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    fs::write(&p, b"x").unwrap();
    let t = create(
        &p,
        &CreateOptions {
            trackers: vec![vec!["A".into(), " B ".into()], vec![], vec!["C".into()]],
            web_seeds: vec!["http://127.0.0.1/f".into()],
            comment: Some("hi".into()),
            creation_date: None,
            created_by: None,
            ..CreateOptions::default()
        },
        &|_| {},
    )
    .unwrap();
    let top = shoal_bencode::decode(&t.torrent).unwrap();
    assert_eq!(top.get(b"announce").and_then(|v| v.as_str()), Some("A"));
    let tiers: Vec<Vec<&str>> = top
        .get(b"announce-list")
        .and_then(|v| v.as_list())
        .unwrap()
        .iter()
        .map(|t| {
            t.as_list()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(tiers, [vec!["A", "B"], vec!["C"]]);
    assert_eq!(
        top.get(b"url-list")
            .and_then(|v| v.as_list())
            .map(|l| l.len()),
        Some(1)
    );
    assert_eq!(top.get(b"comment").and_then(|v| v.as_str()), Some("hi"));
    assert!(top.get(b"creation date").is_none());
    assert!(top.get(b"created by").is_none());

    let err = create(
        &p,
        &CreateOptions {
            trackers: vec![vec!["".into()]],
            ..CreateOptions::default()
        },
        &|_| {},
    )
    .unwrap_err();
    assert!(matches!(err, CreateError::EmptyUrl));
}

#[test]
fn empty_content_and_too_many_pieces_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    assert!(matches!(
        create(&root, &opts(), &|_| {}),
        Err(CreateError::EmptyContent)
    ));

    // A sparse file one byte over 2^21 pieces of 16 KiB: refused before any hashing.
    let big = dir.path().join("big");
    fs::File::create(&big)
        .unwrap()
        .set_len(MAX_PIECES * MIN_PIECE_LENGTH + 1)
        .unwrap();
    let err = create(
        &big,
        &CreateOptions {
            piece_length: PieceLength::Bytes(MIN_PIECE_LENGTH),
            ..opts()
        },
        &|_| panic!("must not hash"),
    )
    .unwrap_err();
    assert!(matches!(err, CreateError::TooManyPieces { .. }), "{err}");
}

#[test]
fn progress_reaches_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    fs::write(&p, vec![7u8; 100_000]).unwrap();
    let last = std::sync::Mutex::new(Progress {
        hashed: 0,
        total: 0,
    });
    create(&p, &opts(), &|pr| {
        if let Ok(mut l) = last.lock() {
            if pr.hashed > l.hashed {
                *l = pr;
            }
        }
    })
    .unwrap();
    let l = *last.lock().unwrap();
    assert_eq!((l.hashed, l.total), (100_000, 100_000));
}
