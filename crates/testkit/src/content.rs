//! Deterministic test content, its .torrent, and byte-for-byte verification of a download.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::torrent::{mktorrent, TorrentFile, TorrentOptions};
use crate::KitError;

/// Files are written and compared in chunks of this size.
const CHUNK: usize = 1 << 20;

/// One file of a multi-file content tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Path below the top folder, `/`-separated, relative, without `.` or `..`.
    pub path: String,
    pub len: u64,
}

/// The shape of the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A single-file torrent of this many bytes.
    SingleFile(u64),
    /// A folder holding these files.
    Tree(Vec<FileSpec>),
}

/// What to generate: names, sizes, the seed of the bytes, and the torrent options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentSpec {
    /// The torrent's `name`: the top folder, or the file of a single-file torrent.
    pub name: String,
    /// Seed of the pseudo-random bytes; the same seed gives the same bytes everywhere.
    pub seed: u64,
    pub shape: Shape,
    pub torrent: TorrentOptions,
}

impl ContentSpec {
    /// The standard tree: about 25 MiB in 256 KiB pieces (see [`ContentSpec::tree`]).
    pub fn standard() -> Self {
        Self::tree("shoal-standard", 18)
    }

    /// The same tree scaled down to about 3 MiB in 32 KiB pieces, for quick tests.
    pub fn small() -> Self {
        Self::tree("shoal-small", 15)
    }

    /// A tree of 101 pieces of 2^`piece_log2` bytes (plus a short last one) that covers the
    /// layouts clients get wrong: nested folders, a zero-length file at the top and one alone
    /// in its folder, a one-byte file, a file exactly one piece long at an unaligned offset,
    /// files that straddle piece boundaries, and a short last piece.
    pub fn tree(name: &str, piece_log2: u8) -> Self {
        let p = 1u64 << piece_log2;
        let files = [
            ("README.txt", 1_000),
            ("empty.dat", 0),
            ("a/one.bin", 20 * p + 12_345),
            ("a/b/two.bin", 28 * p - 1),
            ("a/b/c/three.bin", 1),
            ("a/b/c/only-empty/nothing.dat", 0),
            ("d/four.bin", 40 * p + 777),
            ("d/five.bin", p),
            ("last.bin", 12 * p + 4_321),
        ];
        Self {
            name: name.to_string(),
            seed: 1,
            shape: Shape::Tree(
                files
                    .iter()
                    .map(|&(path, len)| FileSpec {
                        path: path.to_string(),
                        len,
                    })
                    .collect(),
            ),
            torrent: TorrentOptions {
                piece_log2,
                ..TorrentOptions::default()
            },
        }
    }

    /// One file of `len` bytes in 256 KiB pieces (benchmarks).
    pub fn single_file(len: u64) -> Self {
        Self {
            name: "shoal-single.bin".to_string(),
            seed: 1,
            shape: Shape::SingleFile(len),
            torrent: TorrentOptions {
                piece_log2: 18,
                ..TorrentOptions::default()
            },
        }
    }

    /// Adds an announce URL (a tier of its own).
    pub fn with_tracker(mut self, url: impl Into<String>) -> Self {
        self.torrent.trackers.push(url.into());
        self
    }
    /// Marks the torrent private (BEP 27).
    pub fn private(mut self) -> Self {
        self.torrent.private = true;
        self
    }
    pub fn with_piece_log2(mut self, piece_log2: u8) -> Self {
        self.torrent.piece_log2 = piece_log2;
        self
    }
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Total content length in bytes.
    pub fn total_len(&self) -> u64 {
        match &self.shape {
            Shape::SingleFile(len) => *len,
            Shape::Tree(files) => files.iter().map(|f| f.len).sum(),
        }
    }
}

/// Whether a verification tolerates a client that skips zero-length files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Transmission 3.00 creates neither zero-length files nor folders holding only those;
    /// set this for Transmission downloads. Present ones must still be empty.
    pub allow_missing_empty_files: bool,
}

impl VerifyOptions {
    /// Every file must exist with the exact bytes.
    pub const EXACT: Self = Self {
        allow_missing_empty_files: false,
    };
    /// As [`VerifyOptions::EXACT`], but missing zero-length files are accepted.
    pub const ALLOW_MISSING_EMPTY: Self = Self {
        allow_missing_empty_files: true,
    };
}

/// Generated content on disk and its .torrent.
///
/// Layout under the directory given to [`TestContent::generate`]: `data/<name>` holds the
/// content (so `data/` is the save path a seeder is given) and `<name>.torrent` the torrent.
#[derive(Clone, Debug)]
pub struct TestContent {
    spec: ContentSpec,
    data_dir: PathBuf,
    torrent: TorrentFile,
}

impl TestContent {
    /// Writes the content of `spec` under `dir` and makes its .torrent with mktorrent.
    pub fn generate(dir: &Path, spec: &ContentSpec) -> Result<Self, KitError> {
        let data_dir = dir.join("data");
        check_relative(&spec.name)?;
        let root = data_dir.join(&spec.name);
        match &spec.shape {
            Shape::SingleFile(len) => {
                create_parent(&root)?;
                write_file(&root, spec.seed, 0, *len)?;
            }
            Shape::Tree(files) => {
                std::fs::create_dir_all(&root)
                    .map_err(|e| KitError::io(format!("creating {}", root.display()), e))?;
                for (index, f) in files.iter().enumerate() {
                    check_relative(&f.path)?;
                    let path = root.join(&f.path);
                    create_parent(&path)?;
                    write_file(&path, spec.seed, index as u64, f.len)?;
                }
            }
        }
        let torrent = mktorrent(
            &root,
            &spec.torrent,
            &dir.join(format!("{}.torrent", spec.name)),
        )?;
        Ok(Self {
            spec: spec.clone(),
            data_dir,
            torrent,
        })
    }

    /// The folder that holds the content: a seeder's save path.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    /// The content itself (top folder, or the file of a single-file torrent).
    pub fn root(&self) -> PathBuf {
        self.data_dir.join(&self.spec.name)
    }
    pub fn torrent(&self) -> &TorrentFile {
        &self.torrent
    }
    pub fn spec(&self) -> &ContentSpec {
        &self.spec
    }

    /// Makes another .torrent of the same content (other trackers, private flag, piece size).
    pub fn make_torrent(&self, opts: &TorrentOptions, out: &Path) -> Result<TorrentFile, KitError> {
        mktorrent(&self.root(), opts, out)
    }

    /// Checks that `save_path/<name>` holds exactly the source content.
    ///
    /// Files the spec does not name are ignored (clients leave their own state files).
    pub fn verify(&self, save_path: &Path, opts: VerifyOptions) -> Result<(), KitError> {
        let got_root = save_path.join(&self.spec.name);
        let files: Vec<(PathBuf, PathBuf, u64)> = match &self.spec.shape {
            Shape::SingleFile(len) => vec![(got_root, self.root(), *len)],
            Shape::Tree(files) => files
                .iter()
                .map(|f| (got_root.join(&f.path), self.root().join(&f.path), f.len))
                .collect(),
        };
        for (got, want, len) in files {
            let meta = match std::fs::metadata(&got) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if len == 0 && opts.allow_missing_empty_files {
                        continue;
                    }
                    return Err(mismatch(&got, "file missing".into()));
                }
                Err(e) => return Err(KitError::io(format!("reading {}", got.display()), e)),
            };
            if !meta.is_file() {
                return Err(mismatch(&got, "not a regular file".into()));
            }
            if meta.len() != len {
                return Err(mismatch(
                    &got,
                    format!("length {} instead of {len}", meta.len()),
                ));
            }
            compare_files(&got, &want)?;
        }
        Ok(())
    }
}

fn mismatch(path: &Path, detail: String) -> KitError {
    KitError::Mismatch {
        path: path.to_path_buf(),
        detail,
    }
}

/// Refuses absolute paths and `..` so a spec cannot write outside its directory.
fn check_relative(path: &str) -> Result<(), KitError> {
    let p = Path::new(path);
    let ok = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(KitError::io(
            format!("content path {path:?}"),
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a plain relative path",
            ),
        ))
    }
}

fn create_parent(path: &Path) -> Result<(), KitError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| KitError::io(format!("creating {}", parent.display()), e))?;
    }
    Ok(())
}

/// Writes `len` pseudo-random bytes, a stream determined by (seed, file index).
fn write_file(path: &Path, seed: u64, index: u64, len: u64) -> Result<(), KitError> {
    let ctx = || format!("writing {}", path.display());
    let file = File::create(path).map_err(|e| KitError::io(ctx(), e))?;
    let mut out = BufWriter::new(file);
    let mut rng = SplitMix64::new(seed, index);
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        rng.fill(&mut buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| KitError::io(ctx(), e))?;
        left -= n as u64;
    }
    out.flush().map_err(|e| KitError::io(ctx(), e))
}

/// Compares two files of equal length chunk by chunk and names the first differing byte.
fn compare_files(got: &Path, want: &Path) -> Result<(), KitError> {
    let open =
        |p: &Path| File::open(p).map_err(|e| KitError::io(format!("opening {}", p.display()), e));
    let (mut g, mut w) = (open(got)?, open(want)?);
    let (mut gb, mut wb) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut w, &mut wb)
            .map_err(|e| KitError::io(format!("reading {}", want.display()), e))?;
        let m = read_full(&mut g, &mut gb[..n.max(1)])
            .map_err(|e| KitError::io(format!("reading {}", got.display()), e))?;
        if n == 0 {
            return if m == 0 {
                Ok(())
            } else {
                Err(mismatch(
                    got,
                    format!("longer than the source ({offset} bytes)"),
                ))
            };
        }
        // Slice equality is a memcmp even in debug builds; look for the offset only on a miss.
        let differs = gb[..m] != wb[..m];
        if let Some(i) = differs
            .then(|| gb[..m].iter().zip(&wb[..m]).position(|(a, b)| a != b))
            .flatten()
        {
            return Err(mismatch(
                got,
                format!("first differing byte at offset {}", offset + i as u64),
            ));
        }
        if m < n {
            return Err(mismatch(
                got,
                format!(
                    "ends at {} of {} bytes",
                    offset + m as u64,
                    offset + n as u64
                ),
            ));
        }
        offset += n as u64;
    }
}

/// Reads until `buf` is full or the end of the file; returns the bytes read.
fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// SplitMix64, written out so that the bytes of a seed never change with a dependency's
/// version (rand documents its seeded generators as not portable across releases).
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64, stream: u64) -> Self {
        let mut s = Self(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        s.next(); // decorrelate neighbouring seeds
        s
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_has_the_promised_shape() {
        let spec = ContentSpec::small();
        let p = 1u64 << spec.torrent.piece_log2;
        let Shape::Tree(files) = &spec.shape else {
            panic!("tree expected")
        };
        assert!(files.iter().filter(|f| f.len == 0).count() >= 2);
        assert_ne!(spec.total_len() % p, 0, "short last piece");
        let mut offset = 0;
        let mut straddling = 0;
        for f in files {
            if f.len > 0 && offset / p != (offset + f.len - 1) / p && offset % p != 0 {
                straddling += 1;
            }
            offset += f.len;
        }
        assert!(straddling >= 3);
    }

    #[test]
    fn generation_is_deterministic_and_verify_catches_changes() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ContentSpec::small().with_tracker("http://127.0.0.1:1/announce");
        let a = TestContent::generate(&dir.path().join("a"), &spec).unwrap();
        let b = TestContent::generate(&dir.path().join("b"), &spec).unwrap();
        assert_eq!(a.torrent().info_hash(), b.torrent().info_hash());
        assert_eq!(a.torrent().total_len(), spec.total_len());
        assert_eq!(
            a.torrent().files().len(),
            9,
            "mktorrent keeps zero-length files"
        );
        b.verify(a.data_dir(), VerifyOptions::EXACT).unwrap();

        let other =
            TestContent::generate(&dir.path().join("c"), &spec.clone().with_seed(2)).unwrap();
        assert_ne!(other.torrent().info_hash(), a.torrent().info_hash());
        assert!(matches!(
            other.verify(a.data_dir(), VerifyOptions::EXACT),
            Err(KitError::Mismatch { .. })
        ));

        // Flip one byte deep inside a file.
        let victim = b.root().join("d/four.bin");
        let mut bytes = std::fs::read(&victim).unwrap();
        bytes[100_000] ^= 1;
        std::fs::write(&victim, &bytes).unwrap();
        let err = a.verify(b.data_dir(), VerifyOptions::EXACT).unwrap_err();
        assert!(err.to_string().contains("offset 100000"), "{err}");
        bytes[100_000] ^= 1;
        std::fs::write(&victim, &bytes).unwrap();

        // Missing zero-length files: refused unless allowed.
        std::fs::remove_file(a.root().join("a/b/c/only-empty/nothing.dat")).unwrap();
        std::fs::remove_dir(a.root().join("a/b/c/only-empty")).unwrap();
        std::fs::remove_file(a.root().join("empty.dat")).unwrap();
        assert!(b.verify(a.data_dir(), VerifyOptions::EXACT).is_err());
        b.verify(a.data_dir(), VerifyOptions::ALLOW_MISSING_EMPTY)
            .unwrap();
    }

    #[test]
    fn single_file_and_bad_paths() {
        let dir = tempfile::tempdir().unwrap();
        let c = TestContent::generate(dir.path(), &ContentSpec::single_file(70_000)).unwrap();
        assert_eq!(std::fs::metadata(c.root()).unwrap().len(), 70_000);
        assert!(c.torrent().files()[0].0.is_empty());
        c.verify(c.data_dir(), VerifyOptions::EXACT).unwrap();

        let mut spec = ContentSpec::small();
        spec.shape = Shape::Tree(vec![FileSpec {
            path: "../escape".into(),
            len: 1,
        }]);
        assert!(TestContent::generate(dir.path(), &spec).is_err());
    }
}
