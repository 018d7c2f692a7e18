//! Unit tests on hand-built torrents; the corpora are checked in crates/core/tests.

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use shoal_bencode::{ErrorKind, OwnedValue as V};

use super::merkle::{root_with_padding, Hash256};
use super::*;
use crate::ids::InfoHashV2;

fn s(b: &str) -> V {
    V::bytes(b.as_bytes())
}

fn list(items: Vec<V>) -> V {
    V::List(items)
}

fn path(elements: &[&str]) -> V {
    list(elements.iter().map(|e| s(e)).collect())
}

fn v1_file(len: i64, elements: &[&str]) -> V {
    V::dict()
        .with(b"length", V::int(len))
        .with(b"path", path(elements))
}

fn pieces(n: usize) -> V {
    V::bytes(vec![7u8; 20 * n])
}

fn torrent(info: V) -> V {
    V::dict()
        .with(b"announce", s("http://t/announce"))
        .with(b"info", info)
}

fn parse(t: &V) -> Result<Metainfo, MetainfoError> {
    Metainfo::from_bytes(&t.encode())
}

fn multi_v1(files: Vec<V>, piece_length: i64, n_pieces: usize) -> V {
    V::dict()
        .with(b"files", list(files))
        .with(b"name", s("dir"))
        .with(b"piece length", V::int(piece_length))
        .with(b"pieces", pieces(n_pieces))
}

#[test]
fn single_file_v1() {
    let info = V::dict()
        .with(b"length", V::int(40_000))
        .with(b"name", s("a.bin"))
        .with(b"piece length", V::int(16384))
        .with(b"pieces", pieces(3))
        .with(b"private", V::int(1));
    let bytes = torrent(info.clone()).encode();
    let m = Metainfo::from_bytes(&bytes).expect("valid");
    assert_eq!(m.info_bytes(), info.encode());
    assert_eq!(
        m.info_hash().get_v1(),
        Some(InfoHashV1::of_info_bytes(&info.encode()))
    );
    assert!(!m.has_v2());
    assert_eq!(
        (m.name(), m.piece_count(), m.total_length()),
        ("a.bin", 3, 40_000)
    );
    assert_eq!(m.piece_hashes(), &[[7u8; 20]; 3]);
    assert_eq!(m.files().len(), 1);
    assert_eq!(m.files()[0].path.to_string(), "a.bin");
    assert!(m.is_private() && !m.is_multi_file());
    assert_eq!(m.trackers(), [vec!["http://t/announce".to_owned()]]);
    assert_eq!(
        m.layout().piece_size(PieceIndex::new_unchecked_in_range(2)),
        40_000 - 32768
    );
}

#[test]
fn multi_file_offsets_seeds_and_attributes() {
    let exe = v1_file(10, &["bin", "run"]).with(b"attr", s("xh"));
    let info = multi_v1(
        vec![v1_file(5, &["a"]), exe, v1_file(0, &["empty"])],
        16384,
        1,
    );
    let t = torrent(info)
        .with(
            b"url-list",
            list(vec![s("http://w/x"), s("http://w/x/"), V::int(3), s("")]),
        )
        .with(b"httpseeds", s("http://h/seed"));
    let m = parse(&t).expect("valid");
    let got: Vec<(String, u64, u64)> = m
        .files()
        .iter()
        .map(|f| (f.path.to_string(), f.offset, f.length))
        .collect();
    assert_eq!(
        got,
        [
            ("dir/a".into(), 0, 5),
            ("dir/bin/run".into(), 5, 10),
            ("dir/empty".into(), 15, 0)
        ]
    );
    assert!(m.files()[1].executable && m.files()[1].hidden && !m.files()[0].executable);
    assert_eq!(m.web_seeds(), ["http://w/x/".to_owned()]);
    assert_eq!(m.http_seeds(), ["http://h/seed".to_owned()]);
    assert!(m.is_multi_file());
}

#[test]
fn limits_are_enforced_before_work() {
    let files: Vec<V> = (0..3).map(|i| v1_file(1, &[&i.to_string()])).collect();
    let t = torrent(multi_v1(files, 16384, 1));
    let bytes = t.encode();
    let small = MetainfoLimits {
        max_files: 2,
        ..MetainfoLimits::default()
    };
    assert_eq!(
        Metainfo::from_bytes_with_limits(&bytes, &small).unwrap_err(),
        MetainfoError::TooManyFiles { max: 2 }
    );
    let tiny = MetainfoLimits {
        max_torrent_size: 10,
        ..MetainfoLimits::default()
    };
    assert!(matches!(
        Metainfo::from_bytes_with_limits(&bytes, &tiny),
        Err(MetainfoError::TooLarge { max: 10, .. })
    ));
    let few_pieces = MetainfoLimits {
        max_pieces: 1,
        ..MetainfoLimits::default()
    };
    let big = torrent(multi_v1(vec![v1_file(20_000, &["x"])], 16384, 2));
    assert_eq!(
        Metainfo::from_bytes_with_limits(&big.encode(), &few_pieces).unwrap_err(),
        MetainfoError::TooManyPieces { count: 2, max: 1 }
    );
    let long = "x".repeat(5000);
    let t = torrent(multi_v1(vec![v1_file(1, &[&long])], 16384, 1));
    assert_eq!(
        parse(&t).unwrap_err(),
        MetainfoError::PathElementTooLong {
            len: 5000,
            max: 4095
        }
    );
    let deep: Vec<&str> = vec!["d"; 101];
    let t = torrent(multi_v1(vec![v1_file(1, &deep)], 16384, 1));
    assert_eq!(
        parse(&t).unwrap_err(),
        MetainfoError::PathTooDeep {
            depth: 101,
            max: 100
        }
    );
    let shallow = MetainfoLimits {
        max_depth: 3,
        ..MetainfoLimits::default()
    };
    let err = Metainfo::from_bytes_with_limits(&bytes, &shallow).unwrap_err();
    assert!(matches!(err, MetainfoError::Bencode(e) if e.kind == ErrorKind::DepthExceeded));
}

#[test]
fn bencode_errors_carry_the_file_offset() {
    let bytes = torrent(multi_v1(vec![v1_file(1, &["a"])], 16384, 1)).encode();
    let cut = &bytes[..bytes.len() - 1];
    assert_eq!(
        Metainfo::from_bytes(cut).unwrap_err().bencode_offset(),
        Some(cut.len())
    );
    assert_eq!(
        Metainfo::from_bytes(b"").unwrap_err().bencode_offset(),
        Some(0)
    );
}

#[test]
fn version_and_tree_must_go_together() {
    let base = V::dict()
        .with(b"name", s("n"))
        .with(b"piece length", V::int(16384))
        .with(b"length", V::int(1))
        .with(b"pieces", pieces(1));
    let v3 = torrent(base.clone().with(b"meta version", V::int(3)));
    assert_eq!(parse(&v3).unwrap_err(), MetainfoError::UnknownVersion(3));
    let no_tree = torrent(base.clone().with(b"meta version", V::int(2)));
    assert_eq!(parse(&no_tree).unwrap_err(), MetainfoError::MissingFileTree);
    let tree = V::dict().with(
        b"n",
        V::dict().with(b"", V::dict().with(b"length", V::int(1))),
    );
    let no_version = torrent(base.with(b"file tree", tree));
    assert_eq!(
        parse(&no_version).unwrap_err(),
        MetainfoError::MissingMetaVersion
    );
}

/// A v2 file's content: `len` bytes of `fill`; returns its block hashes.
fn blocks(len: usize, fill: u8) -> Vec<Hash256> {
    vec![fill; len]
        .chunks(16384)
        .map(|c| Sha256::digest(c).into())
        .collect()
}

/// Root of a file's tree (16 KiB pieces: the piece layer is the leaf layer).
fn root(leaves: &[Hash256]) -> Hash256 {
    root_with_padding(leaves, [0; 32])
}

fn v2_leaf(len: i64, root: Option<Hash256>) -> V {
    let mut props = V::dict().with(b"length", V::int(len));
    if let Some(r) = root {
        props.insert(b"pieces root", V::bytes(r.to_vec()));
    }
    V::dict().with(b"", props)
}

/// Two files under "t": a (40,000 bytes, three pieces) and b (10 bytes); 16 KiB pieces.
struct V2Fixture {
    info: V,
    layers: V,
    root_a: Hash256,
}

fn v2_fixture() -> V2Fixture {
    let a = blocks(40_000, 1);
    let (root_a, root_b) = (root(&a), root(&blocks(10, 2)));
    let tree = V::dict()
        .with(b"a", v2_leaf(40_000, Some(root_a)))
        .with(b"b", v2_leaf(10, Some(root_b)))
        .with(b"e", v2_leaf(0, None));
    let info = V::dict()
        .with(b"file tree", tree)
        .with(b"meta version", V::int(2))
        .with(b"name", s("t"))
        .with(b"piece length", V::int(16384));
    let layers = V::dict().with(&root_a, V::bytes(a.concat()));
    V2Fixture {
        info,
        layers,
        root_a,
    }
}

#[test]
fn v2_pads_files_and_checks_layers() {
    let f = v2_fixture();
    let t = torrent(f.info.clone()).with(b"piece layers", f.layers.clone());
    let m = parse(&t).expect("valid");
    assert!(!m.has_v1() && m.has_v2());
    assert_eq!(
        m.info_hash().get_v2(),
        Some(InfoHashV2::of_info_bytes(&f.info.encode()))
    );
    let got: Vec<(String, u64, bool)> = m
        .files()
        .iter()
        .map(|f| (f.path.to_string(), f.offset, f.pad))
        .collect();
    assert_eq!(
        got,
        [
            ("t/a".into(), 0, false),
            ("t/.pad/9152".into(), 40_000, true),
            ("t/b".into(), 49_152, false),
            ("t/e".into(), 49_162, false),
            ("t/.pad/16374".into(), 49_162, true),
        ]
    );
    assert_eq!(m.piece_count(), 4);
    assert_eq!(m.files()[0].pieces_root, Some(f.root_a));
    assert_eq!(m.piece_layer(0).map(<[_]>::len), Some(3));
    assert!(m.has_all_piece_layers() && m.piece_hashes().is_empty());

    // Without layers the torrent still loads; they can come from peers.
    let m = parse(&torrent(f.info.clone())).expect("valid without layers");
    assert!(!m.has_all_piece_layers() && m.piece_layer(0).is_none());

    let bad_layer = V::dict().with(&f.root_a, V::bytes(blocks(40_000, 9).concat()));
    let t = torrent(f.info.clone()).with(b"piece layers", bad_layer);
    assert!(matches!(
        parse(&t),
        Err(MetainfoError::InvalidPieceLayer(_))
    ));
    let unknown = f.layers.clone().with(&[5u8; 32], V::bytes(vec![0; 32]));
    let t = torrent(f.info.clone()).with(b"piece layers", unknown);
    assert!(matches!(
        parse(&t),
        Err(MetainfoError::InvalidPieceLayer(_))
    ));
    let t = torrent(f.info).with(b"piece layers", V::int(1));
    assert!(matches!(
        parse(&t),
        Err(MetainfoError::InvalidPieceLayer(_))
    ));
}

#[test]
fn v2_info_must_be_canonical_and_errors_point_into_the_file() {
    let f = v2_fixture();
    let mut bytes = torrent(f.info).encode();
    let at = bytes
        .windows(7)
        .position(|w| w == b"i16384e")
        .expect("piece length");
    bytes.splice(at..at + 7, b"i016384e".iter().copied());
    let err = Metainfo::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, MetainfoError::Bencode(e) if e.kind == ErrorKind::LeadingZero));
    assert_eq!(err.bencode_offset(), Some(at + 1));
}

/// The v1 side of the fixture as a hybrid torrent would carry it.
fn hybrid_files(pad: i64, tail: Option<i64>) -> Vec<V> {
    let pad_entry = |n: i64| {
        V::dict()
            .with(b"attr", s("p"))
            .with(b"length", V::int(n))
            .with(b"path", path(&[".pad", &n.to_string()]))
    };
    let mut files = vec![
        v1_file(40_000, &["a"]),
        pad_entry(pad),
        v1_file(10, &["b"]),
        v1_file(0, &["e"]),
    ];
    files.extend(tail.map(pad_entry));
    files
}

fn hybrid(pad: i64, tail: Option<i64>) -> Result<Metainfo, MetainfoError> {
    let f = v2_fixture();
    // 49,162 bytes (65,536 with the tail pad): four pieces either way.
    let info = f
        .info
        .with(b"files", list(hybrid_files(pad, tail)))
        .with(b"pieces", pieces(4));
    parse(&torrent(info).with(b"piece layers", f.layers))
}

#[test]
fn hybrid_lists_must_agree() {
    let m = hybrid(9152, None).expect("valid hybrid");
    assert!(m.has_v1() && m.has_v2());
    assert_eq!(m.files().len(), 4);
    assert!(m.files()[0].pieces_root.is_some());
    let m = hybrid(9152, Some(16374)).expect("valid hybrid with tail pad");
    assert_eq!(m.files().len(), 5);
    assert_eq!(m.total_length(), 4 * 16384);
    assert!(matches!(
        hybrid(9153, None),
        Err(MetainfoError::InconsistentFiles(_))
    ));
    assert!(matches!(
        hybrid(9152, Some(100)),
        Err(MetainfoError::InconsistentFiles(_))
    ));
}

#[test]
fn v2_pad_attribute_and_zero_root_are_refused() {
    let tree = V::dict().with(
        b"a",
        V::dict().with(
            b"",
            V::dict().with(b"attr", s("p")).with(b"length", V::int(1)),
        ),
    );
    let info = V::dict()
        .with(b"file tree", tree)
        .with(b"meta version", V::int(2))
        .with(b"name", s("t"))
        .with(b"piece length", V::int(16384));
    assert_eq!(
        parse(&torrent(info.clone())).unwrap_err(),
        MetainfoError::InvalidPadFile
    );
    let tree = V::dict().with(b"a", v2_leaf(1, Some([0; 32])));
    let info = info.with(b"file tree", tree);
    assert_eq!(
        parse(&torrent(info)).unwrap_err(),
        MetainfoError::MissingPiecesRoot
    );
}

proptest! {
    /// Whatever bytes of a valid torrent are changed, parsing returns instead of panicking,
    /// and what it accepts is self-consistent.
    #[test]
    fn mutated_torrents_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        hybrid_torrent in any::<bool>(),
    ) {
        let f = v2_fixture();
        let info = if hybrid_torrent {
            f.info.with(b"files", list(hybrid_files(9152, None))).with(b"pieces", pieces(4))
        } else {
            f.info
        };
        let mut bytes = torrent(info).with(b"piece layers", f.layers).encode();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Ok(m) = Metainfo::from_bytes(&bytes) {
            let sum: u64 = m.files().iter().map(|f| f.length).sum();
            prop_assert_eq!(sum, m.total_length());
            prop_assert!(m.piece_count() >= 1);
        }
    }

    /// Random multi-file v1 torrents: offsets are running sums and the piece count covers the
    /// total length.
    #[test]
    fn v1_offsets_and_piece_count(lengths in proptest::collection::vec(0u32..100_000, 1..20)) {
        let total: u64 = lengths.iter().map(|l| u64::from(*l)).sum();
        prop_assume!(total > 0);
        let n = usize::try_from(total.div_ceil(16384)).unwrap_or(0);
        let files: Vec<V> = lengths.iter().enumerate()
            .map(|(i, l)| v1_file(i64::from(*l), &[&format!("f{i}")]))
            .collect();
        let m = parse(&torrent(multi_v1(files, 16384, n))).expect("valid");
        let mut offset = 0;
        for (f, l) in m.files().iter().zip(&lengths) {
            prop_assert_eq!(f.offset, offset);
            prop_assert_eq!(f.length, u64::from(*l));
            offset += u64::from(*l);
        }
        prop_assert_eq!(m.piece_count() as usize, n);
    }
}

#[test]
fn deep_v2_trees_are_bounded_in_total() {
    // 1,000 files at depth 50: small as bencode, but 51,000 path elements once expanded.
    let root = Sha256::digest(b"x").into();
    let mut dir = V::dict();
    for i in 0..1000 {
        dir.insert(format!("f{i:04}").as_bytes(), v2_leaf(1, Some(root)));
    }
    for _ in 0..49 {
        dir = V::dict().with(b"d", dir);
    }
    let info = V::dict()
        .with(b"file tree", dir)
        .with(b"meta version", V::int(2))
        .with(b"name", s("t"))
        .with(b"piece length", V::int(16384));
    let bytes = torrent(info).encode();
    assert!(bytes.len() < 100_000);
    let tight = MetainfoLimits {
        max_total_path_elements: 10_000,
        ..MetainfoLimits::default()
    };
    assert_eq!(
        Metainfo::from_bytes_with_limits(&bytes, &tight).unwrap_err(),
        MetainfoError::TooManyPathElements { max: 10_000 }
    );
    let m = Metainfo::from_bytes(&bytes).expect("within the default limits");
    assert_eq!(m.files().iter().filter(|f| !f.pad).count(), 1000);
    assert_eq!(m.files()[0].path.depth(), 51);
}
