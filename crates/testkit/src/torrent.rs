//! Reference .torrent files: made with mktorrent, read back with shoal-bencode.
//!
//! mktorrent (not shoal's own creator) makes the files so that an interop test never checks
//! shoal against a torrent shoal itself wrote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use shoal_core::ids::InfoHashV1;

use crate::process::Proc;
use crate::KitError;

/// The largest .torrent file the kit reads back.
const MAX_TORRENT_FILE: u64 = 64 << 20;
/// mktorrent hashes at disk speed; a GiB takes a few seconds.
const MKTORRENT_TIMEOUT: Duration = Duration::from_secs(300);

/// How to make a .torrent for some content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorrentOptions {
    /// log2 of the piece length; mktorrent accepts 15..=28.
    pub piece_log2: u8,
    /// Announce URLs, one tier each; empty for a trackerless torrent.
    pub trackers: Vec<String>,
    /// Sets the `private` flag (BEP 27).
    pub private: bool,
}

impl Default for TorrentOptions {
    fn default() -> Self {
        Self {
            piece_log2: 15,
            trackers: Vec::new(),
            private: false,
        }
    }
}

/// A .torrent file on disk, with what tests need from it.
#[derive(Clone, Debug)]
pub struct TorrentFile {
    path: PathBuf,
    bytes: Vec<u8>,
    info_hash: InfoHashV1,
    name: String,
    piece_len: u64,
    /// (path components below the name, length) in file order; one entry with no
    /// components for a single-file torrent.
    files: Vec<(Vec<String>, u64)>,
    /// `announce` and every `announce-list` URL, without repeats.
    trackers: Vec<String>,
}

impl TorrentFile {
    /// Reads and parses a v1 .torrent file.
    pub fn load(path: &Path) -> Result<Self, KitError> {
        let bad = |detail: &str| KitError::Torrent {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        };
        let len = std::fs::metadata(path)
            .map_err(|e| KitError::io(format!("reading {}", path.display()), e))?
            .len();
        if len > MAX_TORRENT_FILE {
            return Err(bad("file larger than 64 MiB"));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| KitError::io(format!("reading {}", path.display()), e))?;
        let root = shoal_bencode::decode(&bytes).map_err(|e| bad(&e.to_string()))?;
        let info = root.get(b"info").ok_or_else(|| bad("no info dictionary"))?;
        let info_hash = InfoHashV1::of_info_bytes(info.raw());
        let name = info
            .get(b"name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("no UTF-8 name"))?
            .to_string();
        let piece_len = info
            .get(b"piece length")
            .and_then(|v| v.as_int())
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| bad("no piece length"))?;
        let files = match (info.get(b"length"), info.get(b"files")) {
            (Some(len), _) => {
                let len = len.as_int().and_then(|n| u64::try_from(n).ok());
                vec![(Vec::new(), len.ok_or_else(|| bad("bad length"))?)]
            }
            (None, Some(list)) => {
                let list = list.as_list().ok_or_else(|| bad("files is not a list"))?;
                let mut files = Vec::with_capacity(list.len());
                for f in list {
                    let len = f
                        .get(b"length")
                        .and_then(|v| v.as_int())
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| bad("file without length"))?;
                    let parts = f
                        .get(b"path")
                        .and_then(|v| v.as_list())
                        .ok_or_else(|| bad("file without path"))?
                        .iter()
                        .map(|p| p.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| bad("path component is not UTF-8"))?;
                    files.push((parts, len));
                }
                files
            }
            (None, None) => return Err(bad("neither length nor files")),
        };
        let mut trackers: Vec<String> = Vec::new();
        let tiers = root
            .get(b"announce-list")
            .and_then(|v| v.as_list())
            .unwrap_or_default();
        let urls = root
            .get(b"announce")
            .into_iter()
            .chain(tiers.iter().flat_map(|t| t.as_list().unwrap_or_default()));
        for url in urls.filter_map(|u| u.as_str()) {
            if !trackers.iter().any(|t| t == url) {
                trackers.push(url.to_string());
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            info_hash,
            name,
            piece_len,
            files,
            trackers,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The exact bytes of the file (for RPC uploads).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn info_hash(&self) -> InfoHashV1 {
        self.info_hash
    }
    /// The `name` of the info dictionary: the file or top folder a client creates.
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn piece_len(&self) -> u64 {
        self.piece_len
    }
    /// Files in torrent order: (path components below the name, length).
    pub fn files(&self) -> &[(Vec<String>, u64)] {
        &self.files
    }
    /// Announce URLs (`announce`, then `announce-list`), without repeats.
    pub fn trackers(&self) -> &[String] {
        &self.trackers
    }
    pub fn total_len(&self) -> u64 {
        self.files.iter().map(|(_, len)| len).sum()
    }
    pub fn piece_count(&self) -> u64 {
        self.total_len().div_ceil(self.piece_len.max(1))
    }

    /// A magnet link (BEP 9) with the info-hash, the name and the given trackers.
    pub fn magnet(&self, trackers: &[&str]) -> String {
        let mut uri = format!(
            "magnet:?xt=urn:btih:{}&dn={}",
            self.info_hash.to_hex(),
            utf8_percent_encode(&self.name, NON_ALPHANUMERIC)
        );
        for t in trackers {
            uri.push_str("&tr=");
            uri.push_str(&utf8_percent_encode(t, NON_ALPHANUMERIC).to_string());
        }
        uri
    }
}

/// Makes `out` from the file or folder `content` with mktorrent and reads it back.
pub fn mktorrent(
    content: &Path,
    opts: &TorrentOptions,
    out: &Path,
) -> Result<TorrentFile, KitError> {
    if !(15..=28).contains(&opts.piece_log2) {
        return Err(KitError::Torrent {
            path: out.to_path_buf(),
            detail: format!("piece_log2 {} outside mktorrent's 15..=28", opts.piece_log2),
        });
    }
    // mktorrent refuses to overwrite.
    match std::fs::remove_file(out) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(KitError::io(format!("removing {}", out.display()), e)),
    }
    let mut cmd = Command::new("mktorrent");
    // -d: no creation date, so the same content and options give the same bytes.
    cmd.arg("-d").arg("-l").arg(opts.piece_log2.to_string());
    for t in &opts.trackers {
        cmd.arg("-a").arg(t);
    }
    if opts.private {
        cmd.arg("-p");
    }
    cmd.arg("-o").arg(out).arg(content);
    let log = out.with_extension("mktorrent.log");
    let proc = Proc::spawn("mktorrent", cmd, &log)?;
    let status = proc
        .wait_exit(MKTORRENT_TIMEOUT)
        .ok_or_else(|| KitError::timeout("mktorrent", MKTORRENT_TIMEOUT))?;
    if !status.success() {
        return Err(proc.exit_error(status));
    }
    TorrentFile::load(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mktorrent_output_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let content = dir.path().join("some name");
        std::fs::create_dir_all(content.join("sub")).unwrap();
        std::fs::write(content.join("sub/a"), vec![7u8; 40_000]).unwrap();
        std::fs::write(content.join("b"), b"").unwrap();
        let opts = TorrentOptions {
            piece_log2: 15,
            trackers: vec!["http://127.0.0.1:1/announce".into()],
            private: true,
        };
        let t = mktorrent(&content, &opts, &dir.path().join("x.torrent")).unwrap();
        assert_eq!(t.name(), "some name");
        assert_eq!(t.piece_len(), 1 << 15);
        assert_eq!(t.total_len(), 40_000);
        assert_eq!(t.piece_count(), 2);
        assert_eq!(t.files().len(), 2);
        assert_eq!(t.trackers(), ["http://127.0.0.1:1/announce"]);
        let again = mktorrent(&content, &opts, &dir.path().join("x.torrent")).unwrap();
        assert_eq!(
            again.info_hash(),
            t.info_hash(),
            "mktorrent -d is deterministic"
        );
        let m = t.magnet(&["http://127.0.0.1:1/announce"]);
        assert!(m.starts_with(&format!("magnet:?xt=urn:btih:{}", t.info_hash().to_hex())));
        assert!(m.contains("&dn=some%20name&tr=http%3A%2F%2F127%2E0%2E0%2E1%3A1%2Fannounce"));
    }

    #[test]
    fn bad_piece_sizes_and_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TorrentOptions {
            piece_log2: 14,
            ..TorrentOptions::default()
        };
        assert!(mktorrent(dir.path(), &opts, &dir.path().join("x.torrent")).is_err());
        let junk = dir.path().join("junk.torrent");
        std::fs::write(&junk, b"d4:infoi3ee").unwrap();
        assert!(matches!(
            TorrentFile::load(&junk),
            Err(KitError::Torrent { .. })
        ));
    }
}
