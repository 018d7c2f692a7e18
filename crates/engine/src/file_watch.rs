//! Noticing files that change under us. Every few seconds the files' lengths and modification
//! times are compared with the last ones seen. A file that is gone or shorter than it should
//! be loses at once every piece whose bytes lie past its end; a file that changed while we did
//! not write to it has its pieces hashed again, and those that fail are lost. Lost pieces are
//! never served again and are downloaded anew.
//!
//! "Shorter than it should be" is normal while downloading: pieces are written where they
//! belong, so a file grows only as far as the last piece written into it. A piece that lies
//! within the file's present length is therefore not lost for that reason alone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use shoal_core::layout::Layout;
use shoal_core::PieceIndex;
use shoal_storage::{FileState, Storage};

/// How often files are looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The watcher's memory, owned by the torrent actor.
pub struct FileWatch {
    layout: Arc<Layout>,
    /// Lengths the torrent gives each file (pad files: `None`).
    expected: Vec<Option<u64>>,
    known: Option<Vec<FileState>>,
    /// Files we wrote since `known` was taken: their changes are ours.
    dirty: BTreeSet<usize>,
    busy: bool,
}

/// What a check found: pieces to drop now, pieces to hash again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub lost: Vec<PieceIndex>,
    pub recheck: Vec<PieceIndex>,
}

impl FileWatch {
    pub fn new(layout: Arc<Layout>, expected: Vec<Option<u64>>) -> Self {
        Self {
            layout,
            expected,
            known: None,
            dirty: BTreeSet::new(),
            busy: false,
        }
    }

    /// We wrote `piece`: changes to its files are ours.
    pub fn wrote(&mut self, piece: PieceIndex) {
        for s in self.layout.file_slices(piece) {
            self.dirty.insert(s.file_index);
        }
    }

    /// Whether a check may start (one at a time).
    pub fn start(&mut self) -> bool {
        !std::mem::replace(&mut self.busy, true)
    }

    /// A check could not read the file states; the next one may.
    pub fn finish_failed(&mut self) {
        self.busy = false;
    }

    /// Compares `now` with what was seen before; only pieces in `have` are reported.
    pub fn finish(&mut self, now: Vec<FileState>, have: &shoal_core::Bitfield) -> Findings {
        self.busy = false;
        // File index -> its present length, for files shorter than the torrent says.
        let mut short = BTreeMap::new();
        let mut changed = BTreeSet::new();
        for (i, state) in now.iter().enumerate() {
            let Some(Some(expected)) = self.expected.get(i) else {
                continue;
            };
            match state {
                FileState::Present { len, .. } if len < expected => {
                    short.insert(i, *len);
                }
                FileState::Missing if *expected > 0 => {
                    short.insert(i, 0);
                }
                _ => {}
            }
            let before = self.known.as_ref().and_then(|k| k.get(i));
            if before.is_some_and(|b| b != state) && !self.dirty.contains(&i) {
                changed.insert(i);
            }
        }
        self.known = Some(now);
        self.dirty.clear();
        let mut f = Findings::default();
        let files: BTreeSet<usize> = short.keys().chain(changed.iter()).copied().collect();
        for file in files {
            for piece in self.layout.pieces_of_file(file) {
                if !have.has(piece) {
                    continue;
                }
                // Only bytes past the end are gone; the rest is as good as the file's mtime
                // says (a change we did not make gets them hashed again).
                let past_end = short.get(&file).is_some_and(|&len| {
                    self.layout
                        .file_slices(piece)
                        .any(|s| s.file_index == file && s.offset_in_file + s.len > len)
                });
                if past_end {
                    f.lost.push(piece);
                } else if changed.contains(&file) {
                    f.recheck.push(piece);
                }
            }
        }
        f.lost.sort();
        f.lost.dedup();
        f.recheck.sort();
        f.recheck.dedup();
        f.recheck.retain(|p| f.lost.binary_search(p).is_err());
        f
    }
}

/// Hashes `pieces` again; returns those that no longer match.
pub fn recheck(
    storage: &Arc<dyn Storage>,
    hashes: &[[u8; 20]],
    pieces: &[PieceIndex],
) -> Vec<PieceIndex> {
    pieces
        .iter()
        .copied()
        .filter(|p| {
            let ok = storage
                .hash_piece(*p)
                .ok()
                .is_some_and(|h| hashes.get(p.as_usize()) == Some(&h));
            !ok
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn present(len: u64, secs: u64) -> FileState {
        FileState::Present {
            len,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    #[test]
    fn truncated_changed_and_own_writes() {
        // Files of 20 and 20 bytes, pieces of 8: pieces 0,1 in file 0; 2 spans both; 3,4 file 1.
        let layout = Arc::new(Layout::new(8, &[20, 20]).unwrap());
        let mut w = FileWatch::new(layout, vec![Some(20), Some(20)]);
        let have = shoal_core::Bitfield::full(5);
        // First look only records.
        assert_eq!(
            w.finish(vec![present(20, 1), present(20, 1)], &have),
            Findings::default()
        );
        // File 1 truncated to 10 bytes: pieces 3 and 4 lie past its end and are lost at once;
        // piece 2 holds only bytes 0..4 of it, still there but changed behind our back.
        let f = w.finish(vec![present(20, 1), present(10, 2)], &have);
        assert_eq!(
            f.lost.iter().map(|p| p.get()).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(
            f.recheck.iter().map(|p| p.get()).collect::<Vec<_>>(),
            vec![2]
        );
        // File 0 changed behind our back while file 1 stays short: recheck what is not lost.
        let f = w.finish(vec![present(20, 5), present(10, 2)], &have);
        assert_eq!(
            f.lost.iter().map(|p| p.get()).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(
            f.recheck.iter().map(|p| p.get()).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        // A change we made ourselves is not suspicious.
        w.wrote(PieceIndex::checked(0, 5).unwrap());
        let f = w.finish(vec![present(20, 9), present(10, 2)], &have);
        assert!(f.recheck.is_empty());
    }

    #[test]
    fn files_still_growing_keep_their_pieces() {
        // Pieces are written where they belong, so a file being downloaded ends at the last
        // piece written into it. Files of 20 and 20 bytes, pieces of 8.
        let layout = Arc::new(Layout::new(8, &[20, 20]).unwrap());
        let mut w = FileWatch::new(layout, vec![Some(20), Some(20)]);
        let mut have = shoal_core::Bitfield::new(5);
        have.set(0, true);
        have.set(3, true);
        // Piece 0 is bytes 0..8 of file 0; piece 3 ends 12 bytes into file 1.
        assert_eq!(
            w.finish(vec![present(8, 1), present(12, 1)], &have),
            Findings::default()
        );
        w.wrote(PieceIndex::checked(1, 5).unwrap());
        have.set(1, true);
        assert_eq!(
            w.finish(vec![present(16, 2), present(12, 1)], &have),
            Findings::default()
        );
        // The same file cut back below piece 3's end loses it, and only it.
        let f = w.finish(vec![present(16, 2), present(11, 3)], &have);
        assert_eq!(f.lost.iter().map(|p| p.get()).collect::<Vec<_>>(), vec![3]);
        assert!(f.recheck.is_empty());
        // A file that vanished loses everything in it.
        let f = w.finish(vec![FileState::Missing, present(11, 3)], &have);
        assert_eq!(
            f.lost.iter().map(|p| p.get()).collect::<Vec<_>>(),
            vec![0, 1, 3]
        );
    }
}
