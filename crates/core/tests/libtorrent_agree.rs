//! Agreement with libtorrent itself, not just with its test suite's expectations.
//!
//! One `/usr/bin/python3` process loads every .torrent of the corpora with the installed
//! libtorrent (`python3-libtorrent`) and prints what it found as TSV. For every file both
//! accept, the info-hashes (v1 and v2), piece length, piece count, total length and file count
//! must be equal. Files only one side accepts must be exactly those fixtures/README.md explains,
//! under "Where shoal deliberately differs" or "Where the installed libtorrent differs".
//!
//! Without libtorrent this test fails (it never skips): install `python3-libtorrent`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use shoal_core::metainfo::Metainfo;

const PYTHON: &str = "/usr/bin/python3";

/// Prints one TSV line per file given on the command line.
const SCRIPT: &str = r#"
import sys
try:
    import libtorrent as lt
except ImportError as e:
    print("NO_LIBTORRENT\t%s" % e)
    sys.exit(3)
for path in sys.argv[1:]:
    try:
        ti = lt.torrent_info(path)
    except Exception as e:
        print("%s\terror\t%s" % (path, str(e).replace("\t", " ").replace("\n", " ")))
        continue
    ih = ti.info_hashes()
    v1 = str(ih.v1) if ih.has_v1() else "-"
    v2 = str(ih.v2) if ih.has_v2() else "-"
    print("%s\tok\t%s\t%s\t%d\t%d\t%d\t%d" % (path, v1, v2, ti.piece_length(),
          ti.num_pieces(), ti.total_size(), ti.num_files()))
"#;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn torrent_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["libtorrent", "rqbit"] {
        let d = fixtures().join(dir);
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for e in entries {
            let p = e.expect("directory entry").path();
            if p.extension().is_some_and(|x| x == "torrent") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(
        out.len() > 100,
        "corpus not found under {}",
        fixtures().display()
    );
    out
}

#[derive(Debug, PartialEq, Eq)]
struct Facts {
    v1: Option<String>,
    v2: Option<String>,
    piece_length: u64,
    piece_count: u64,
    total_length: u64,
    num_files: u64,
}

fn libtorrent_verdicts(files: &[PathBuf]) -> BTreeMap<String, Result<Facts, String>> {
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(SCRIPT)
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {PYTHON} ({e}): install python3 and python3-libtorrent")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.starts_with("NO_LIBTORRENT") || !out.status.success() {
        panic!(
            "{PYTHON} cannot import libtorrent: install python3-libtorrent \
             (apt-get install python3-libtorrent). Output: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut verdicts = BTreeMap::new();
    for line in stdout.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let name = file_name(Path::new(cols[0]));
        let verdict = match cols.get(1) {
            Some(&"ok") => {
                let num = |i: usize| -> u64 {
                    cols.get(i)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or_else(|| panic!("bad line {line}"))
                };
                let hash = |i: usize| cols.get(i).filter(|c| **c != "-").map(|c| (*c).to_owned());
                Ok(Facts {
                    v1: hash(2),
                    v2: hash(3),
                    piece_length: num(4),
                    piece_count: num(5),
                    total_length: num(6),
                    num_files: num(7),
                })
            }
            Some(&"error") => Err(cols.get(2).copied().unwrap_or("").to_owned()),
            _ => panic!("unexpected line from libtorrent: {line}"),
        };
        verdicts.insert(name, verdict);
    }
    assert_eq!(
        verdicts.len(),
        files.len(),
        "libtorrent did not report on every file"
    );
    verdicts
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .expect("file name")
        .to_owned()
}

fn shoal_facts(m: &Metainfo) -> Facts {
    Facts {
        v1: m.info_hash().get_v1().map(|h| h.to_hex()),
        v2: m.info_hash().get_v2().map(|h| h.to_hex()),
        piece_length: u64::from(m.piece_length()),
        piece_count: u64::from(m.piece_count()),
        total_length: m.total_length(),
        num_files: m.files().len() as u64,
    }
}

fn readme_section_files(heading: &str) -> BTreeSet<String> {
    let readme = std::fs::read_to_string(fixtures().join("README.md")).expect("fixtures/README.md");
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in readme.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            inside = h.trim() == heading;
            continue;
        }
        if let (true, Some(rest)) = (inside, line.strip_prefix("- `")) {
            if let Some(end) = rest.find('`') {
                out.insert(rest[..end].to_owned());
            }
        }
    }
    out
}

#[test]
fn info_hashes_agree_with_libtorrent() {
    let files = torrent_files();
    let lt = libtorrent_verdicts(&files);
    let mut agreed = 0;
    let mut one_sided = BTreeSet::new();
    for path in &files {
        let name = file_name(path);
        let bytes = std::fs::read(path).expect("read torrent");
        let ours = Metainfo::from_bytes(&bytes);
        match (&ours, &lt[&name]) {
            (Ok(m), Ok(theirs)) => {
                assert_eq!(
                    &shoal_facts(m),
                    theirs,
                    "{name}: shoal and libtorrent disagree"
                );
                agreed += 1;
            }
            (Err(_), Err(_)) => {}
            (Ok(_), Err(e)) => {
                eprintln!("{name}: shoal accepts, libtorrent refuses ({e})");
                one_sided.insert(name);
            }
            (Err(e), Ok(_)) => {
                eprintln!("{name}: libtorrent accepts, shoal refuses ({e})");
                one_sided.insert(name);
            }
        }
    }
    assert!(agreed >= 60, "only {agreed} torrents accepted by both");
    let mut explained = readme_section_files("Where shoal deliberately differs");
    explained.extend(readme_section_files(
        "Where the installed libtorrent differs",
    ));
    assert_eq!(
        one_sided, explained,
        "torrents accepted by only one side must be exactly those fixtures/README.md explains"
    );
}
