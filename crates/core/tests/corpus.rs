//! The libtorrent and rqbit .torrent corpora in fixtures/, row by row.
//!
//! Every row of fixtures/libtorrent/EXPECTED.tsv is checked: the outcome (ok or error), the
//! kind of error (libtorrent's error code mapped to a [`MetainfoError`] variant), and every
//! property the row states. A row whose outcome shoal deliberately does not share must be
//! listed in fixtures/README.md under "Where shoal deliberately differs"; the test fails if
//! the list and the behaviour drift apart.

use std::collections::BTreeSet;
use std::path::PathBuf;

use shoal_bencode::ErrorKind;
use shoal_core::metainfo::{Metainfo, MetainfoError};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn read(dir: &str, file: &str) -> Vec<u8> {
    let p = fixtures().join(dir).join(file);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

struct Row {
    file: String,
    ok: bool,
    text: String,
}

fn rows(dir: &str) -> Vec<Row> {
    let tsv = String::from_utf8(read(dir, "EXPECTED.tsv")).expect("EXPECTED.tsv is UTF-8");
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 3, "malformed row: {l}");
            let ok = match cols[1] {
                "ok" => true,
                "error" => false,
                other => panic!("unknown outcome {other:?} in row {l}"),
            };
            Row {
                file: cols[0].to_owned(),
                ok,
                text: cols[2].to_owned(),
            }
        })
        .collect()
}

/// The files named in one `## ` section of fixtures/README.md.
fn readme_section_files(heading: &str) -> BTreeSet<String> {
    let readme = std::fs::read_to_string(fixtures().join("README.md")).expect("fixtures/README.md");
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in readme.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            inside = h.trim() == heading;
            continue;
        }
        if inside {
            if let Some(rest) = line.strip_prefix("- `") {
                if let Some(end) = rest.find('`') {
                    out.insert(rest[..end].to_owned());
                }
            }
        }
    }
    out
}

/// Outcomes shoal deliberately does not share with EXPECTED.tsv: file and shoal's outcome.
const DEVIATIONS: &[(&str, bool)] = &[("bad_name.torrent", true)];

/// libtorrent's error code (as named in EXPECTED.tsv) matched against shoal's error.
fn same_category(code: &str, e: &MetainfoError) -> bool {
    use MetainfoError as E;
    match code {
        "torrent_missing_piece_length" => matches!(e, E::InvalidPieceLength(_)),
        "torrent_missing_name" => matches!(e, E::MissingName(_)),
        "torrent_missing_info" => matches!(e, E::MissingInfo),
        "torrent_is_no_dict" => matches!(e, E::NotADictionary),
        "torrent_invalid_length" => matches!(e, E::InvalidLength(_)),
        "torrent_invalid_name" => matches!(e, E::InvalidName(_)),
        "torrent_missing_pieces" => matches!(e, E::MissingPieces),
        "torrent_invalid_hashes" => matches!(e, E::InvalidHashes { .. }),
        "too_many_pieces_in_torrent" => matches!(e, E::TooManyPieces { .. }),
        "no_files_in_torrent" => matches!(e, E::NoFiles),
        "torrent_inconsistent_files" => matches!(e, E::InconsistentFiles(_)),
        "torrent_file_parse_failed" => matches!(e, E::FileParseFailed(_)),
        "bdecode depth_exceeded" => {
            matches!(e, E::Bencode(d) if d.kind == ErrorKind::DepthExceeded)
        }
        "invalid_bencoding" => matches!(e, E::Bencode(d) if d.kind.is_strictness()),
        "torrent_invalid_piece_layer" => matches!(e, E::InvalidPieceLayer(_)),
        "torrent_missing_pieces_root" => matches!(e, E::MissingPiecesRoot),
        "torrent_invalid_pad_file" => matches!(e, E::InvalidPadFile),
        "too_many_duplicate_filenames" => matches!(e, E::TooManyDuplicateFilenames),
        other => panic!("no mapping for libtorrent error {other:?}"),
    }
}

/// The libtorrent error code a row names: `errors::NAME` (or `errors::bdecode NAME`).
fn error_code(text: &str) -> String {
    let rest = text
        .split("errors::")
        .nth(1)
        .unwrap_or_else(|| panic!("no error code in {text}"));
    let end = rest.find([' ', '=']).unwrap_or(rest.len());
    let code = &rest[..end];
    if code == "bdecode" {
        let word = rest[end..].trim_start().split(' ').next().unwrap_or("");
        format!("bdecode {word}")
    } else {
        code.to_owned()
    }
}

#[test]
fn libtorrent_corpus() {
    let rows = rows("libtorrent");
    assert_eq!(
        rows.len(),
        108,
        "EXPECTED.tsv should have one row per .torrent file"
    );
    let mut differing = BTreeSet::new();
    for row in &rows {
        let bytes = read("libtorrent", &row.file);
        let result = Metainfo::from_bytes(&bytes);
        let expected_ok = DEVIATIONS
            .iter()
            .find(|(f, _)| *f == row.file)
            .map_or(row.ok, |(_, ok)| *ok);
        if expected_ok != row.ok {
            differing.insert(row.file.clone());
        }
        match (&result, expected_ok) {
            (Ok(m), true) => {
                check_ok(&row.file, m);
                assert_eq!(m.info_bytes(), info_span(&bytes, m), "{}", row.file);
            }
            (Err(e), false) => {
                let code = error_code(&row.text);
                assert!(
                    same_category(&code, e),
                    "{}: expected {code}, got {e:?} ({e})",
                    row.file
                );
            }
            (Ok(_), false) => panic!("{}: loaded, but should fail: {}", row.file, row.text),
            (Err(e), true) => panic!(
                "{}: failed with {e}, but should load: {}",
                row.file, row.text
            ),
        }
    }
    let listed = readme_section_files("Where shoal deliberately differs");
    assert!(
        differing.is_subset(&listed),
        "fixtures/README.md must explain every differing row: {differing:?} vs {listed:?}"
    );
    for f in &listed {
        assert!(
            rows.iter().any(|r| &r.file == f),
            "README lists unknown file {f}"
        );
    }
}

/// The info dictionary's bytes as found in the file: `4:info` followed by exactly them.
fn info_span<'a>(bytes: &'a [u8], m: &Metainfo) -> &'a [u8] {
    let info = m.info_bytes();
    let at = bytes
        .windows(info.len())
        .position(|w| w == info)
        .expect("info bytes are a substring of the file");
    assert_eq!(bytes.get(at - 6..at), Some(&b"4:info"[..]));
    &bytes[at..at + info.len()]
}

fn paths(m: &Metainfo) -> Vec<String> {
    m.files().iter().map(|f| f.path.to_string()).collect()
}

fn symlink(m: &Metainfo, i: usize) -> String {
    m.files()[i]
        .symlink
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn hex(b: &[u8]) -> String {
    shoal_core::ids::to_hex(b)
}

fn v2_hex(m: &Metainfo) -> String {
    m.info_hash()
        .get_v2()
        .map(|h| h.to_hex())
        .unwrap_or_default()
}

fn root_hex(m: &Metainfo, i: usize) -> String {
    m.files()[i]
        .pieces_root
        .map(|r| hex(&r))
        .unwrap_or_default()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Real (non-pad) files.
fn real_files(m: &Metainfo) -> usize {
    m.files().iter().filter(|f| !f.pad).count()
}

const ROOT_1MB: &str = "515ea9181744b817744ded9d2e8e9dc6a8450c0b0c52e24b5077f302ffbd9008";

/// The properties each "ok" row of EXPECTED.tsv states.
fn check_ok(file: &str, m: &Metainfo) {
    let single_temp = |m: &Metainfo| {
        assert_eq!(m.name(), "temp", "{file}");
        assert_eq!(m.piece_length(), 16384, "{file}");
        assert_eq!(m.total_length(), 425, "{file}");
    };
    match file {
        "base.torrent" => {
            single_temp(m);
            assert_eq!(paths(m), ["temp"]);
            assert!(!m.is_multi_file());
        }
        "empty_path.torrent" => assert_eq!(paths(m), ["temp/_/_"]),
        "parent_path.torrent" => assert_eq!(paths(m), ["temp/_/_/bar"]),
        "hidden_parent_path.torrent" => assert_eq!(paths(m), ["temp/foo......bar/bar"]),
        "single_multi_file.torrent" => {
            assert_eq!(paths(m), ["temp/foo/bar"]);
            assert!(m.is_multi_file());
        }
        "slash_path.torrent" => assert_eq!(paths(m), ["temp/_/_/bar"]),
        "slash_path2.torrent" => assert_eq!(paths(m), ["temp/abc....def/_/bar"]),
        "slash_path3.torrent" => assert_eq!(paths(m), ["temp....abc"]),
        "backslash_path.torrent" => assert_eq!(paths(m), ["temp/_/_/bar"]),
        "url_list.torrent" | "url_list2.torrent" | "url_list3.torrent" => {
            single_temp(m);
            assert!(m.web_seeds().is_empty(), "{file}: {:?}", m.web_seeds());
        }
        "httpseed.torrent" => assert_eq!(m.http_seeds(), strings(&["http://foobar.com/"])),
        "empty_httpseed.torrent" => {
            assert!(m.http_seeds().is_empty());
            assert!(m.web_seeds().is_empty());
        }
        "long_name.torrent" => {
            // Shortened to a file-system-safe length, extension kept.
            assert!(m.name().len() <= 255 && m.name().len() < 300);
            assert!(m.name().starts_with("abcdefghij0123456789"));
            assert!(m.name().ends_with(".23456789"));
            assert_eq!(paths(m), [m.name()]);
        }
        "whitespace_url.torrent" => {
            assert_eq!(m.trackers(), [strings(&["udp://test.com/announce"])]);
        }
        "duplicate_files.torrent" => {
            assert_eq!(paths(m), ["temp/foo/bar.txt", "temp/foo/bar.1.txt"]);
        }
        "pad_file.torrent" => {
            assert_eq!(m.files().len(), 2);
            assert!(!m.files()[0].pad);
            assert!(m.files()[1].pad);
        }
        "creation_date.torrent" => assert_eq!(m.creation_date(), Some(1234567)),
        "no_creation_date.torrent" => assert_eq!(m.creation_date(), None),
        "url_seed.torrent" => assert_eq!(m.web_seeds(), strings(&["http://test.com/file"])),
        "url_seed_multi.torrent" => {
            assert_eq!(m.web_seeds(), strings(&["http://test.com/file/"]));
        }
        "url_seed_multi_single_file.torrent" => {
            assert_eq!(
                m.web_seeds(),
                strings(&["http://test.com/file/temp/foo/bar.txt"])
            );
        }
        "url_seed_multi_space.torrent" | "url_seed_multi_space_nolist.torrent" => {
            assert_eq!(
                m.web_seeds(),
                strings(&["http://test.com/test%20file/foo%20bar/"])
            );
        }
        "empty_path_multi.torrent" => {
            assert_eq!(paths(m), ["temp/abcde", "temp/_", "temp/_.1"]);
        }
        "duplicate_web_seeds.torrent" => assert_eq!(m.web_seeds().len(), 3),
        "invalid_name2.torrent" => {
            assert_eq!(m.name(), "b61560c2918f463768cd122b6d2fdd47b77bdb35");
            assert_eq!(m.files().len(), 2);
        }
        "invalid_name3.torrent" => {
            #[cfg(not(windows))]
            assert_eq!(m.name(), "foobar ");
            #[cfg(windows)]
            assert_eq!(m.name(), "foobar");
        }
        "symlink1.torrent" | "symlink_zero_size.torrent" => {
            assert_eq!(m.files().len(), 2);
            assert_eq!(symlink(m, 1), "temp/a/b/bar");
            assert_eq!(m.files()[1].length, 0);
        }
        "symlink2.torrent" => {
            assert_eq!(m.files().len(), 5);
            assert_eq!(symlink(m, 0), "Some.framework/Versions/A/SDL2");
            assert_eq!(symlink(m, 4), "Some.framework/Versions/A");
        }
        "unordered.torrent" => {
            single_temp(m);
            // The info dictionary is not canonical, so only its raw bytes give the hash.
            assert!(shoal_bencode::check_strict(m.info_bytes()).is_err());
            let v1 = m.info_hash().get_v1().expect("v1");
            assert_eq!(v1.to_hex(), "1e44709a0ec082a6a5ea4837e450ae08d3f4394e");
        }
        "symlink_filtered_path.torrent" => {
            assert_eq!(m.files().len(), 2);
            assert_eq!(paths(m)[0], "temp/a/_/bar");
            assert_eq!(symlink(m, 1), "temp/a/_/bar");
        }
        "pad_file_no_path.torrent" => {
            assert_eq!(m.files().len(), 2);
            assert_eq!(paths(m)[1], ".pad/2124");
            assert!(m.files()[1].pad);
        }
        "large.torrent" => {
            assert_eq!(m.piece_count(), 5000);
            assert_eq!(m.total_length(), 5_242_880_000);
            assert_eq!(m.piece_hashes().len(), 5000);
        }
        "absolute_filename.torrent" => assert_eq!(paths(m), ["temp/abcde", "temp/foobar"]),
        "invalid_filename.torrent" => {
            assert_eq!(m.files().len(), 2);
            assert_eq!(paths(m), ["est2/f", "est2/_"]);
        }
        "invalid_filename2.torrent" => {
            assert_eq!(m.files().len(), 3);
            assert_eq!(paths(m), ["est2/f", "est2/_/_", "est2/_/_.1"]);
        }
        "overlapping_symlinks.torrent" | "v2_symlinks.torrent" => {
            assert!(m.files().len() > 3);
            assert_eq!(symlink(m, 0), "SDL2.framework/Versions/Current/Headers");
            assert_eq!(symlink(m, 1), "SDL2.framework/Versions/Current/Resources");
            assert_eq!(symlink(m, 2), "SDL2.framework/Versions/Current/SDL2");
        }
        "invalid_directory_name.torrent" => {
            assert_eq!(paths(m), ["test2/_/foo", "test2/_/foo.1"]);
        }
        "v2.torrent" => {
            assert!(m.has_v1() && m.has_v2());
            assert_eq!(paths(m), ["test64K"]);
            assert_eq!(m.files()[0].length, 65536);
            assert_eq!(
                root_hex(m, 0),
                "60aae9c7b428f87e0713e88229e18f0adf12cd7b22a0dd8a92bb2485eb7af242"
            );
            assert_eq!(
                v2_hex(m),
                "597b180c1a170a585dfc5e85d834d69013ceda174b8f357d5bb1a0ca509faf0a"
            );
        }
        "v2_multipiece_file.torrent" => {
            assert!(m.has_v1() && m.has_v2());
            assert_eq!(paths(m), ["test1MB"]);
            assert_eq!(m.files()[0].length, 1_048_576);
            assert_eq!(root_hex(m, 0), ROOT_1MB);
            assert_eq!(
                v2_hex(m),
                "108ac2c3718ce722e6896edc56c4afa98f1d711ecaace7aad74fca418ebd03de"
            );
            assert!(m.has_all_piece_layers());
            assert_eq!(m.piece_layer(0).map(<[_]>::len), Some(16));
        }
        "v2_only.torrent" => {
            assert!(!m.has_v1() && m.has_v2());
            assert_eq!(paths(m), ["test1MB"]);
            assert_eq!(m.files()[0].length, 1_048_576);
            assert_eq!(root_hex(m, 0), ROOT_1MB);
            assert_eq!(
                v2_hex(m),
                "95e04d0c4bad94ab206efa884666fd89777dbe4f7bd9945af1829037a85c6192"
            );
            assert!(m.piece_hashes().is_empty());
            assert!(m.has_all_piece_layers());
        }
        "v2_invalid_filename.torrent" => assert_eq!(paths(m), ["_estMB"]),
        "v2_multiple_files.torrent" => {
            assert!(!m.has_v1() && m.has_v2());
            // Three files, the pad file between the last two and the tail pad.
            assert_eq!(m.files().len(), 5);
            assert_eq!(real_files(m), 3);
            assert!(m.has_all_piece_layers());
            for (i, f) in m.files().iter().enumerate() {
                if !f.pad {
                    assert_eq!(f.offset % u64::from(m.piece_length()), 0);
                    assert!(m.piece_layer(i).is_some());
                }
            }
        }
        "v2_invalid_filename2.torrent" => {
            assert_eq!(paths(m), ["test/_", "test/_.1", "test/stress_test2"]);
        }
        "v2_hybrid.torrent" | "v2_hybrid-missing-tailpad.torrent" => {
            assert!(m.has_v1() && m.has_v2());
            let expected = if file == "v2_hybrid.torrent" { 18 } else { 17 };
            assert_eq!(m.files().len(), expected);
            assert!(m.has_all_piece_layers());
            assert_eq!(m.piece_hashes().len(), m.piece_count() as usize);
        }
        "empty-files-1.torrent"
        | "empty-files-2.torrent"
        | "empty-files-3.torrent"
        | "empty-files-4.torrent"
        | "empty-files-5.torrent" => {
            assert!(m.has_v1() && m.has_v2());
            assert_eq!(m.files().len(), 7);
        }
        "v2_no_piece_layers.torrent" | "v2_incomplete_piece_layer.torrent" => {
            assert!(!m.has_v1() && m.has_v2());
            assert!(!m.has_all_piece_layers());
        }
        "similar.torrent" | "similar2.torrent" => {
            let similar: Vec<[u8; 20]> = m.similar().iter().map(|h| h.0).collect();
            assert_eq!(similar, [*b"aaaaaaaaaaaaaaaaaaaa"]);
        }
        "collection.torrent" | "collection2.torrent" => {
            assert_eq!(m.collections(), strings(&["bar", "foo"]));
        }
        "dht_nodes.torrent" => {
            let nodes: Vec<(&str, u16)> = m
                .dht_nodes()
                .iter()
                .map(|n| (n.host.as_str(), n.port))
                .collect();
            assert_eq!(nodes, [("127.0.0.1", 6881), ("192.168.1.1", 6881)]);
        }
        "large_piece_size.torrent" => assert_eq!(m.piece_length(), 32767 * 16384),
        "sample.torrent" => {
            assert_eq!(m.name(), "sample");
            assert_eq!(m.files().len(), 3);
            assert!(m.files()[1].pad);
            assert_eq!(m.comment(), Some("sample comment"));
            assert_eq!(m.created_by(), Some("libtorrent"));
        }
        "v2_empty_file.torrent" => {
            assert!(m.has_v1() && m.has_v2());
            assert_eq!(paths(m), ["test/file1", "test/file2", "test/file3"]);
            assert_eq!(m.files()[1].pieces_root, None);
        }
        // A deliberate difference (fixtures/README.md): the NUL bytes of the name become `_`.
        "bad_name.torrent" => assert_eq!(m.name(), "____"),
        other => panic!("{other}: no property check for this row; add one"),
    }
}

#[test]
fn rqbit_corpus() {
    let rows = rows("rqbit");
    let torrents: Vec<&Row> = rows
        .iter()
        .filter(|r| r.file.ends_with(".torrent"))
        .collect();
    assert_eq!(torrents.len(), 3);
    for row in torrents {
        assert!(row.ok);
        let m = Metainfo::from_bytes(&read("rqbit", &row.file))
            .unwrap_or_else(|e| panic!("{}: {e}", row.file));
        let v1 = m.info_hash().get_v1().map(|h| h.to_hex());
        match row.file.as_str() {
            "ubuntu-21.04-desktop-amd64.iso.torrent" => {
                assert_eq!(
                    v1.as_deref(),
                    Some("64a980abe6e448226bb930ba061592e44c3781a1")
                );
                assert!(!m.trackers().is_empty());
            }
            "ubuntu-21.04-live-server-amd64.iso.torrent" => {
                assert_eq!(
                    v1.as_deref(),
                    Some("cab507494d02ebb1178b38f2e9d7be299c86b862")
                );
            }
            "private.torrent" => assert!(m.is_private()),
            other => panic!("{other}: no check for this row"),
        }
        if row.file != "private.torrent" {
            assert!(!m.is_private(), "{}", row.file);
        }
    }
}
