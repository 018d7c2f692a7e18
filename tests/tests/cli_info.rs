//! `shoal info` on the libtorrent corpus, magnet links and hostile input.
//!
//! Most cases run the CLI in-process through `shoal::run`, with buffers for stdout and stderr,
//! so a panic anywhere fails the test with its backtrace. One case runs the real binary to
//! check what only a process shows (exit status, streams); see [`shoal_binary`] for how it is
//! found.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/libtorrent")
}

/// What one CLI run produced.
struct Run {
    code: i32,
    out: String,
    err: String,
}

fn shoal(args: &[&str]) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("shoal").chain(args.iter().copied());
    let code = shoal::run(argv, &mut out, &mut err, false);
    Run {
        code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

fn info_json(file: &str) -> Value {
    let path = fixtures().join(file);
    let r = shoal(&["info", "--json", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{file}: {}", r.err);
    assert!(r.err.is_empty(), "{file}: {}", r.err);
    serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("{file}: bad JSON ({e}): {}", r.out))
}

/// Asserts a failed run: non-zero exit, nothing on stdout, exactly one line on stderr.
fn assert_one_line_error(r: &Run, what: &str) {
    assert_ne!(r.code, 0, "{what}: accepted; stdout: {}", r.out);
    assert!(r.out.is_empty(), "{what}: wrote to stdout: {}", r.out);
    assert!(r.err.starts_with("shoal: "), "{what}: {:?}", r.err);
    assert!(r.err.ends_with('\n'), "{what}: {:?}", r.err);
    assert_eq!(r.err.lines().count(), 1, "{what}: {:?}", r.err);
}

#[test]
fn json_has_the_documented_keys() {
    let v = info_json("base.torrent");
    for key in [
        "name",
        "info_hash",
        "info_hash_v2",
        "piece_length",
        "piece_count",
        "total_length",
        "files",
        "trackers",
        "web_seeds",
        "private",
        "dht_nodes",
        "creation_date",
        "comment",
        "created_by",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}: {v}");
    }
    assert_eq!(v["name"], "temp");
    assert_eq!(v["total_length"], 425);
    assert_eq!(v["piece_length"], 16384);
    assert_eq!(v["piece_count"], 1);
    assert_eq!(v["private"], false);
    assert_eq!(v["info_hash_v2"], Value::Null);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["path"], "temp");
    assert_eq!(files[0]["length"], 425);
    assert_eq!(files[0]["pad"], false);
}

/// The v1 info-hash printed is the SHA-1 of the raw info dictionary, found independently by
/// the bencode decoder.
#[test]
fn info_hash_is_sha1_of_the_raw_info_dict() {
    for file in ["base.torrent", "v2_hybrid.torrent", "unordered.torrent"] {
        let bytes = std::fs::read(fixtures().join(file)).unwrap();
        let top = shoal_bencode::decode(&bytes).unwrap();
        let raw = top.get(b"info").unwrap().raw();
        let want = shoal_core::InfoHashV1::of_info_bytes(raw).to_hex();
        assert_eq!(info_json(file)["info_hash"], want.as_str(), "{file}");
    }
}

#[test]
fn hybrid_torrent_shows_both_hashes() {
    let v = info_json("v2_hybrid.torrent");
    let v1 = v["info_hash"].as_str().unwrap();
    let v2 = v["info_hash_v2"].as_str().unwrap();
    assert_eq!(v1.len(), 40);
    assert_eq!(v2.len(), 64);

    let text = shoal(&[
        "info",
        fixtures().join("v2_hybrid.torrent").to_str().unwrap(),
    ]);
    assert_eq!(text.code, 0, "{}", text.err);
    let line_of = |label: &str| {
        text.out
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|rest| rest.trim().to_string())
    };
    assert_eq!(
        line_of("info-hash v1:").as_deref(),
        Some(v1),
        "{}",
        text.out
    );
    assert_eq!(
        line_of("info-hash v2:").as_deref(),
        Some(v2),
        "{}",
        text.out
    );

    // A v2-only torrent has no v1 hash: null, not an empty string.
    let v2_only = info_json("v2_only.torrent");
    assert!(v2_only["info_hash"].is_null(), "{v2_only}");
    assert_eq!(
        v2_only["info_hash_v2"],
        "95e04d0c4bad94ab206efa884666fd89777dbe4f7bd9945af1829037a85c6192"
    );
}

#[test]
fn web_seeds_dht_nodes_pad_files_and_dates() {
    let v = info_json("url_seed_multi.torrent");
    assert_eq!(v["web_seeds"], serde_json::json!(["http://test.com/file/"]));

    // The fixture lists a private-range DHT node; `shoal info` only prints it, never contacts it.
    let v = info_json("dht_nodes.torrent");
    assert_eq!(
        v["dht_nodes"],
        serde_json::json!([
            {"host": "127.0.0.1", "port": 6881},
            {"host": "192.168.1.1", "port": 6881}
        ])
    );

    let v = info_json("pad_file.torrent");
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["pad"], false);
    assert_eq!(files[1]["pad"], true);
    let text = shoal(&[
        "info",
        fixtures().join("pad_file.torrent").to_str().unwrap(),
    ]);
    assert_eq!(text.out.matches("[pad]").count(), 1, "{}", text.out);

    let v = info_json("creation_date.torrent");
    assert_eq!(v["creation_date"], 1_234_567);
    let text = shoal(&[
        "info",
        fixtures().join("creation_date.torrent").to_str().unwrap(),
    ]);
    assert!(
        text.out.contains("1970-01-15 06:56:07 UTC (1234567)"),
        "{}",
        text.out
    );
}

#[test]
fn text_output_lists_every_field() {
    let r = shoal(&["info", fixtures().join("base.torrent").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    for want in [
        "name:",
        "info-hash v1:",
        "piece length:  16 KiB (16384 bytes)",
        "pieces:        1",
        "total size:    425 B (425 bytes)",
        "private:       no",
        "files (1):",
    ] {
        assert!(r.out.contains(want), "missing {want:?} in\n{}", r.out);
    }
}

#[test]
fn magnet_link_shows_what_it_holds() {
    let link = "magnet:?xt=urn:btih:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd&dn=Some%20Name\
                &tr=http%3A%2F%2F127.0.0.1%3A8000%2Fannounce&ws=http%3A%2F%2F127.0.0.1%2Fseed\
                &x.pe=127.0.0.1:6881";
    let r = shoal(&["info", "--json", link]);
    assert_eq!(r.code, 0, "{}", r.err);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(v["name"], "Some Name");
    assert_eq!(v["info_hash"], "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
    assert_eq!(v["info_hash_v2"], Value::Null);
    assert_eq!(
        v["trackers"],
        serde_json::json!([["http://127.0.0.1:8000/announce"]])
    );
    assert_eq!(v["web_seeds"], serde_json::json!(["http://127.0.0.1/seed"]));
    assert_eq!(v["peers"], serde_json::json!(["127.0.0.1:6881"]));
    for unknown in [
        "piece_length",
        "piece_count",
        "total_length",
        "files",
        "private",
    ] {
        assert_eq!(v[unknown], Value::Null, "{unknown}");
    }

    let text = shoal(&["info", link]);
    assert_eq!(text.code, 0);
    assert!(text.out.contains("Some Name"), "{}", text.out);
    assert!(
        text.out.contains("http://127.0.0.1:8000/announce"),
        "{}",
        text.out
    );

    let bad = shoal(&["info", "magnet:?xt=urn:btih:nothex"]);
    assert_one_line_error(&bad, "bad magnet");
    assert!(bad.err.contains("magnet"), "{}", bad.err);
}

/// The files fixtures/README.md lists under "Where shoal deliberately differs": libtorrent
/// refuses them and shoal may load them.
fn deliberate_deviations() -> Vec<String> {
    let readme = std::fs::read_to_string(fixtures().join("../README.md")).unwrap();
    let mut inside = false;
    let mut out = Vec::new();
    for line in readme.lines() {
        if line.starts_with("## ") {
            inside = line.starts_with("## Where shoal deliberately differs");
        } else if inside {
            if let Some(rest) = line.strip_prefix("- `") {
                if let Some(end) = rest.find('`') {
                    out.push(rest[..end].to_string());
                }
            }
        }
    }
    out
}

/// Every torrent the corpus marks as an error is refused with one line naming the file,
/// except the deliberate deviations, which may also load and then print normally.
#[test]
fn every_error_row_of_the_corpus_gives_one_line() {
    let deviations = deliberate_deviations();
    let tsv = std::fs::read_to_string(fixtures().join("EXPECTED.tsv")).unwrap();
    let mut checked = 0;
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (Some(file), Some(outcome)) = (cols.first(), cols.get(1)) else {
            continue;
        };
        if *outcome != "error" {
            continue;
        }
        let path = fixtures().join(file);
        let r = shoal(&["info", path.to_str().unwrap()]);
        if r.code == 0 && deviations.iter().any(|d| d == file) {
            assert!(
                r.err.is_empty() && r.out.contains("name:"),
                "{file}: {}",
                r.err
            );
            continue;
        }
        assert_one_line_error(&r, file);
        assert!(
            r.err.contains(file),
            "{file}: message does not name the file: {}",
            r.err
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} error rows found");
}

/// Bencode errors name the byte offset where decoding failed.
#[test]
fn bencode_errors_name_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixtures().join("base.torrent")).unwrap();
    let cut = dir.path().join("cut.torrent");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let r = shoal(&["info", cut.to_str().unwrap()]);
    assert_one_line_error(&r, "truncated");
    assert!(r.err.contains("at byte "), "{}", r.err);

    let r = shoal(&[
        "info",
        fixtures()
            .join("v2_overlong_integer.torrent")
            .to_str()
            .unwrap(),
    ]);
    assert!(r.err.contains("at byte 98"), "{}", r.err);
}

/// Truncations of every good torrent, bit flips and random bytes: each run either shows the
/// torrent or refuses it in one line; none panics.
#[test]
fn hostile_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.torrent");
    let p = path.to_str().unwrap();
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let check = |bytes: &[u8], what: &str| {
        std::fs::write(&path, bytes).unwrap();
        for json in [false, true] {
            let r = if json {
                shoal(&["info", "--json", p])
            } else {
                shoal(&["info", p])
            };
            if r.code != 0 {
                assert_one_line_error(&r, what);
            } else {
                assert!(r.err.is_empty(), "{what}: {}", r.err);
            }
        }
    };

    let mut good = Vec::new();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let entry = entry.unwrap().path();
        if entry.extension().is_some_and(|e| e == "torrent") {
            good.push(std::fs::read(&entry).unwrap());
        }
    }
    assert!(good.len() > 100);
    for (i, bytes) in good.iter().enumerate() {
        // Truncations at a spread of points, always including the empty file.
        for k in 0..8 {
            let at = bytes.len() * k / 8;
            check(&bytes[..at], &format!("torrent {i} cut at {at}"));
        }
        // A few single-byte corruptions.
        for _ in 0..4 {
            let mut b = bytes.clone();
            if b.is_empty() {
                break;
            }
            let at = (rng.next() as usize) % b.len();
            b[at] = rng.next() as u8;
            check(&b, &format!("torrent {i} byte {at} changed"));
        }
    }
    for n in 0..50 {
        let len = (rng.next() % 512) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check(&bytes, &format!("random buffer {n}"));
        // Random bytes behind a plausible start.
        let mut framed = b"d4:infod".to_vec();
        framed.extend_from_slice(&bytes);
        check(&framed, &format!("framed random buffer {n}"));
    }
}

#[test]
fn missing_file_and_usage_errors() {
    let r = shoal(&["info", "/nonexistent/shoal-test.torrent"]);
    assert_one_line_error(&r, "missing file");
    assert!(
        r.err.contains("/nonexistent/shoal-test.torrent"),
        "{}",
        r.err
    );

    let r = shoal(&["info"]);
    assert_eq!(r.code, 2, "usage error exit code");
    assert!(r.out.is_empty());
    assert!(r.err.contains("Usage"), "{}", r.err);

    let r = shoal(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(
        r.out.contains("info") && r.out.contains("create"),
        "{}",
        r.out
    );
}

/// Deterministic bytes for the fuzz-like cases (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The `shoal` binary of this build.
///
/// `$SHOAL_BIN` wins when set (as for the other tests that run the binary). Otherwise: cargo
/// only exposes `CARGO_BIN_EXE_*` to the tests of the package that owns the binary, and this
/// test package is another one, so the binary is found the way cargo lays out a target
/// directory: this test executable is `<target>/<profile>/deps/cli_info-<hash>`, and the
/// binary is `<target>/<profile>/shoal`. To be sure it is built and up to date, the test first
/// runs `cargo build --locked -p shoal --bin shoal` for that target directory and profile
/// (cargo releases its build lock before running tests, so this does not wait on the outer
/// run; when everything is fresh it returns at once).
fn shoal_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("SHOAL_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps directory");
    let profile_dir = deps.parent().expect("profile directory");
    let target_dir = profile_dir.parent().expect("target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(other) => other.to_string(),
        None => panic!("cannot tell the profile from {}", exe.display()),
    };
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "shoal",
            "--bin",
            "shoal",
            "--profile",
        ])
        .arg(&profile)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p shoal failed");
    let bin = profile_dir.join(format!("shoal{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "no binary at {}", bin.display());
    bin
}

#[test]
fn real_binary_exit_status_and_streams() {
    let bin = shoal_binary();
    let ok = Command::new(&bin)
        .args(["info", "--json"])
        .arg(fixtures().join("base.torrent"))
        .output()
        .unwrap();
    assert!(ok.status.success());
    let v: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["name"], "temp");
    assert!(ok.stderr.is_empty());

    let bad = Command::new(&bin)
        .arg("info")
        .arg(fixtures().join("unaligned_pieces.torrent"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(bad.stdout.is_empty());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unaligned_pieces.torrent"), "{err}");
}
