//! `shoal create` writes the same info dictionary as mktorrent 1.1, byte for byte.
//!
//! For each content layout (generated in a temporary folder) both tools make a torrent with
//! the same piece length and tracker; the raw info dictionaries must be identical, which is
//! what makes the info-hashes, and so the swarms, the same. The torrent shoal wrote is then
//! loaded by shoal's own parser and by libtorrent, which must agree on the info-hash.
//!
//! mktorrent and libtorrent's Python bindings are required: when they are missing these tests
//! fail with a message saying what to install, rather than passing without checking anything.

use std::fs;
use std::path::Path;
use std::process::Command;

use shoal_core::metainfo::Metainfo;

const MKTORRENT: &str = "/usr/bin/mktorrent";
const PYTHON: &str = "/usr/bin/python3";
const TRACKER: &str = "http://127.0.0.1:6969/announce";

fn require_mktorrent() {
    assert!(
        Path::new(MKTORRENT).is_file(),
        "{MKTORRENT} is missing: install mktorrent 1.1 (apt-get install mktorrent)"
    );
}

/// Deterministic content: byte `i` of a file depends on `i` and `seed`.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(167).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn put(root: &Path, rel: &str, len: usize, seed: u8) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content(len, seed)).unwrap();
}

/// Runs `shoal create` in-process; returns the .torrent bytes and the printed info-hash.
fn shoal_create(src: &Path, out: &Path, extra: &[&str]) -> (Vec<u8>, String) {
    let mut args: Vec<String> = ["shoal", "create"].iter().map(|s| s.to_string()).collect();
    args.push(src.to_str().unwrap().to_string());
    args.extend(["-o", out.to_str().unwrap(), "--no-date"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let code = shoal::run(args, &mut o, &mut e, false);
    let stdout = String::from_utf8_lossy(&o).into_owned();
    assert_eq!(
        code,
        0,
        "shoal create failed: {}",
        String::from_utf8_lossy(&e)
    );
    let hash = stdout
        .lines()
        .find_map(|l| l.strip_prefix("info-hash: "))
        .unwrap_or_else(|| panic!("no info-hash line in {stdout:?}"))
        .to_string();
    (fs::read(out).unwrap(), hash)
}

fn mktorrent(src: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    require_mktorrent();
    let status = Command::new(MKTORRENT)
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {MKTORRENT}: {e}"));
    assert!(
        status.status.success(),
        "mktorrent failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    fs::read(out).unwrap()
}

fn raw_info(torrent: &[u8]) -> Vec<u8> {
    let top = shoal_bencode::decode(torrent).expect("torrent decodes");
    top.get(b"info").expect("has info").raw().to_vec()
}

/// libtorrent's v1 info-hash of a .torrent file, in hex.
fn libtorrent_info_hash(path: &Path) -> String {
    let script = "import sys, libtorrent as lt\n\
                  ti = lt.torrent_info(sys.argv[1])\n\
                  print(str(ti.info_hashes().v1))";
    let out = Command::new(PYTHON)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON}: {e}"));
    assert!(
        out.status.success(),
        "libtorrent could not load {}: {} (install python3-libtorrent if it is missing)",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Creates with both tools and checks everything the module doc promises.
/// `log2` is mktorrent's `-l`; shoal gets the same length in bytes.
fn compare(src: &Path, log2: u32, shoal_extra: &[&str], mk_extra: &[&str]) -> Vec<u8> {
    let work = tempfile::tempdir().unwrap();
    let ours = work.path().join("shoal.torrent");
    let theirs = work.path().join("mktorrent.torrent");
    let bytes = (1u64 << log2).to_string();
    let mut s_args = vec!["--piece-length", &bytes, "--tracker", TRACKER];
    s_args.extend_from_slice(shoal_extra);
    let (shoal_bytes, printed) = shoal_create(src, &ours, &s_args);
    let l = log2.to_string();
    let mut m_args = vec!["-l", &l, "-a", TRACKER, "-d"];
    m_args.extend_from_slice(mk_extra);
    let mk_bytes = mktorrent(src, &theirs, &m_args);

    let info = raw_info(&shoal_bytes);
    let mk_info = raw_info(&mk_bytes);
    assert!(
        info == mk_info,
        "info dictionaries differ for {}:\nshoal:     {}\nmktorrent: {}",
        src.display(),
        printable(&info),
        printable(&mk_info)
    );

    let meta = Metainfo::from_bytes(&shoal_bytes).expect("shoal parses its own torrent");
    let v1 = meta.info_hash().get_v1().expect("a v1 torrent").to_hex();
    assert_eq!(v1, printed, "printed info-hash");
    assert_eq!(v1, libtorrent_info_hash(&ours), "libtorrent's info-hash");
    assert_eq!(
        Metainfo::from_bytes(&mk_bytes).unwrap().info_hash(),
        meta.info_hash()
    );
    info
}

/// The info dictionary with the piece hashes elided, for a readable failure message.
fn printable(info: &[u8]) -> String {
    let text = String::from_utf8_lossy(info);
    match text.find("6:pieces") {
        Some(at) => format!("{}6:pieces…", &text[..at]),
        None => text.into_owned(),
    }
}

#[test]
fn single_file_with_short_last_piece() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("data.bin");
    fs::write(&f, content(100_003, 1)).unwrap();
    let info = compare(&f, 15, &[], &[]);
    assert!(info.starts_with(b"d6:lengthi100003e4:name8:data.bin"));
}

#[test]
fn nested_folders_empty_files_and_unicode_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Some Folder");
    put(&root, "ünïcödé/日本.txt", 5_000, 2);
    put(&root, "a/b/c/deep.bin", 70_000, 3);
    put(&root, "a/b.txt", 33_000, 4);
    put(&root, "a-b", 1, 5);
    put(&root, "a.b", 2, 6);
    put(&root, "A", 3, 7);
    put(&root, "_under", 40_000, 8);
    put(&root, ".hidden/inside", 12_345, 9);
    put(&root, "zero", 0, 0);
    put(&root, "sub/zero-too", 0, 0);
    put(&root, "sub/Ωmega", 65_536, 10);
    compare(&root, 15, &[], &[]);
    compare(&root, 16, &[], &[]);
}

#[test]
fn files_straddling_many_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("straddle");
    // Sizes around a 32 KiB piece: each file ends inside a different piece.
    for (i, len) in [1usize, 32_767, 32_768, 32_769, 100_000, 7, 65_535]
        .iter()
        .enumerate()
    {
        put(&root, &format!("f{i}"), *len, i as u8);
    }
    compare(&root, 15, &[], &[]);
    // A piece larger than all the content: one short piece.
    compare(&root, 20, &[], &[]);
}

#[test]
fn private_and_source_are_in_the_info_dict() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    put(&root, "x", 50_000, 1);
    put(&root, "y/z", 10, 2);
    let info = compare(
        &root,
        15,
        &[
            "--private",
            "--source",
            "SRC",
            "--comment",
            "not in the info dict",
        ],
        &["-p", "-s", "SRC", "-c", "not in the info dict"],
    );
    let text = String::from_utf8_lossy(&info);
    assert!(text.ends_with("7:privatei1e6:source3:SRCe"), "{text}");
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_followed_like_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    put(&outside, "shared.bin", 20_000, 1);
    let root = dir.path().join("links");
    put(&root, "real/file", 40_000, 2);
    std::os::unix::fs::symlink(outside.join("shared.bin"), root.join("to-file")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("to-dir")).unwrap();
    compare(&root, 15, &[], &[]);
}

#[test]
fn tracker_tiers_and_web_seeds_outside_the_info_dict() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    fs::write(&f, content(1000, 3)).unwrap();
    let out = dir.path().join("f.torrent");
    let (bytes, _) = shoal_create(
        &f,
        &out,
        &[
            "--tracker",
            "http://127.0.0.1:1/a,http://127.0.0.1:2/a",
            "--tracker",
            "udp://127.0.0.1:3",
            "--web-seed",
            "http://127.0.0.1/f",
            "--comment",
            "hello",
        ],
    );
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(
        meta.trackers(),
        [
            vec![
                "http://127.0.0.1:1/a".to_string(),
                "http://127.0.0.1:2/a".to_string()
            ],
            vec!["udp://127.0.0.1:3".to_string()]
        ]
    );
    assert_eq!(meta.web_seeds(), ["http://127.0.0.1/f".to_string()]);
    assert_eq!(meta.comment(), Some("hello"));
    assert_eq!(meta.created_by(), Some("shoal/0.1.0"));
    assert_eq!(meta.creation_date(), None);
    assert_eq!(
        meta.piece_length(),
        16384,
        "auto piece length for 1000 bytes"
    );
}

#[test]
fn create_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    fs::write(&f, b"x").unwrap();
    let out = dir.path().join("out.torrent");
    let run = |args: &[&str]| {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let argv = ["shoal", "create"].iter().chain(args.iter());
        let code = shoal::run(argv, &mut o, &mut e, false);
        (code, String::from_utf8_lossy(&e).into_owned())
    };
    let out_s = out.to_str().unwrap();
    let f_s = f.to_str().unwrap();
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    for (args, needle) in [
        (vec![missing.to_str().unwrap(), "-o", out_s], "missing"),
        (vec![empty.to_str().unwrap(), "-o", out_s], "no files"),
        (
            vec![f_s, "-o", out_s, "--piece-length", "1000"],
            "power of two",
        ),
        (
            vec![f_s, "-o", out_s, "--piece-length", "lots"],
            "piece-length",
        ),
        (vec![f_s, "-o", out_s, "--tracker", ","], "empty"),
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(!out.exists());
    let (code, err) = run(&[f_s, "-o", out_s]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(&[f_s, "-o", out_s]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (code, err) = run(&[f_s, "-o", out_s, "--force"]);
    assert_eq!(code, 0, "{err}");
}
