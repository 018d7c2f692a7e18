//! Resume data: which pieces were verified and written, and what the files looked like then.
//!
//! Written atomically (temporary file, fsync, rename, fsync of the directory) only after the
//! data it vouches for was flushed, so a crash at any moment leaves either the previous file
//! or the new one, and neither claims a piece that is not on disk. At start-up a piece is
//! trusted only when every file it touches still has exactly the recorded length and
//! modification time; all other pieces are hashed again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shoal_bencode::{decode_with, Limits, OwnedValue};
use shoal_core::layout::Layout;
use shoal_core::{Bitfield, PieceIndex};
use shoal_storage::FileState;

/// What a resume file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeData {
    pub info_hash: [u8; 20],
    pub have: Bitfield,
    /// Per file: `None` for missing or pad files, else (length, mtime as nanoseconds since
    /// the epoch).
    pub files: Vec<Option<(u64, u128)>>,
}

/// Largest resume file read (a bitfield of 2^22 pieces plus a million files fits easily).
const MAX_RESUME_BYTES: usize = 64 << 20;

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos()
}

/// The per-file record of `states`.
pub fn file_records(states: &[FileState]) -> Vec<Option<(u64, u128)>> {
    states
        .iter()
        .map(|s| match s {
            FileState::Present { len, modified } => Some((*len, nanos(*modified))),
            FileState::Pad | FileState::Missing => None,
        })
        .collect()
}

impl ResumeData {
    pub fn encode(&self) -> Vec<u8> {
        let files = self
            .files
            .iter()
            .map(|f| match f {
                Some((len, mtime)) => OwnedValue::List(vec![
                    OwnedValue::int(i64::try_from(*len).unwrap_or(i64::MAX)),
                    OwnedValue::bytes(mtime.to_string()),
                ]),
                None => OwnedValue::List(Vec::new()),
            })
            .collect();
        OwnedValue::dict()
            .with(b"file-format", OwnedValue::bytes("shoal resume 1"))
            .with(b"info-hash", OwnedValue::bytes(self.info_hash.to_vec()))
            .with(b"pieces", OwnedValue::int(i64::from(self.have.len())))
            .with(b"have", OwnedValue::bytes(self.have.as_bytes().to_vec()))
            .with(b"files", OwnedValue::List(files))
            .encode()
    }

    /// Parses a resume file; `None` for anything malformed (it is then ignored and every
    /// piece is checked, which is always safe).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_RESUME_BYTES {
            return None;
        }
        let v = decode_with(bytes, &Limits::default(), false).ok()?;
        if v.get(b"file-format")?.as_bytes()? != b"shoal resume 1" {
            return None;
        }
        let info_hash: [u8; 20] = v.get(b"info-hash")?.as_bytes()?.try_into().ok()?;
        let pieces = u32::try_from(v.get(b"pieces")?.as_int()?).ok()?;
        let have = Bitfield::from_bytes(v.get(b"have")?.as_bytes()?, pieces).ok()?;
        let mut files = Vec::new();
        for f in v.get(b"files")?.as_list()? {
            let l = f.as_list()?;
            files.push(match l {
                [] => None,
                [len, mtime] => Some((
                    u64::try_from(len.as_int()?).ok()?,
                    mtime.as_str()?.parse().ok()?,
                )),
                _ => return None,
            });
        }
        Some(Self {
            info_hash,
            have,
            files,
        })
    }
}

/// Where a torrent's resume file lives under `state_dir`.
pub fn path_for(state_dir: &Path, info_hash: &[u8; 20]) -> PathBuf {
    state_dir
        .join("resume")
        .join(format!("{}.resume", shoal_core::ids::to_hex(info_hash)))
}

/// Reads a resume file; `None` when absent or unusable.
pub fn load(path: &Path) -> Option<ResumeData> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > MAX_RESUME_BYTES as u64 {
        return None;
    }
    ResumeData::decode(&std::fs::read(path).ok()?)
}

/// Writes `data` to `path` atomically and durably.
pub fn save(path: &Path, data: &ResumeData) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("resume path has no folder"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("resume.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data.encode())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename itself must survive a crash too.
    std::fs::File::open(dir)?.sync_all()
}

/// Splits pieces into those the resume data vouches for (every file they touch unchanged)
/// and those that must be hashed (the rest of the pieces that could have data).
pub fn trusted_pieces(
    resume: &ResumeData,
    now: &[Option<(u64, u128)>],
    layout: &Layout,
) -> (Bitfield, Vec<u32>) {
    let count = layout.piece_count();
    let mut trusted = Bitfield::new(count);
    let mut to_check = Vec::new();
    let unchanged: Vec<bool> = now
        .iter()
        .enumerate()
        .map(|(i, f)| resume.files.get(i) == Some(f))
        .collect();
    let same_torrent = resume.have.len() == count && resume.files.len() == now.len();
    for i in 0..count {
        let Some(piece) = PieceIndex::checked(i, count) else {
            continue;
        };
        let files_ok = layout
            .file_slices(piece)
            .all(|s| unchanged.get(s.file_index) == Some(&true));
        if same_torrent && resume.have.get(i) && files_ok {
            trusted.set(i, true);
        } else {
            // Only worth hashing when some file of the piece has data.
            let any_data = layout
                .file_slices(piece)
                .any(|s| now.get(s.file_index).is_some_and(|f| f.is_some()));
            if any_data {
                to_check.push(i);
            }
        }
    }
    (trusted, to_check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ResumeData {
        let mut have = Bitfield::new(10);
        have.set(0, true);
        have.set(9, true);
        ResumeData {
            info_hash: [7; 20],
            have,
            files: vec![Some((100, 123_456_789_000)), None],
        }
    }

    #[test]
    fn round_trip_and_garbage() {
        let r = sample();
        assert_eq!(ResumeData::decode(&r.encode()), Some(r));
        assert_eq!(ResumeData::decode(b"d4:spami1ee"), None);
        assert_eq!(ResumeData::decode(b"not bencode"), None);
    }

    #[test]
    fn atomic_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), &[7; 20]);
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path), Some(sample()));
        assert!(!path.with_extension("resume.tmp").exists());
    }

    #[test]
    fn only_pieces_of_unchanged_files_are_trusted() {
        // Two files of 20 bytes, pieces of 8: piece 2 straddles both files.
        let layout = Layout::new(8, &[20, 20]).unwrap();
        let mut have = Bitfield::full(5);
        have.set(4, false);
        let resume = ResumeData {
            info_hash: [1; 20],
            have,
            files: vec![Some((20, 1)), Some((20, 2))],
        };
        // File 1 changed since.
        let now = vec![Some((20, 1)), Some((20, 3))];
        let (trusted, check) = trusted_pieces(&resume, &now, &layout);
        assert_eq!(trusted.iter_ones().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(check, vec![2, 3, 4]);
    }
}
