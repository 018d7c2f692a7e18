//! Property: any sequence of block writes over any file layout reads back from FileStorage
//! exactly as from MemoryStorage.

use proptest::prelude::*;
use shoal_core::PieceIndex;
use shoal_storage::{FileStorage, MemoryStorage, Storage, StorageFile};

fn p(i: u32) -> PieceIndex {
    PieceIndex::new_unchecked_in_range(i)
}

/// File list from (length, is_pad) pairs, nested in a couple of directories.
fn files_of(spec: &[(u64, bool)]) -> Vec<StorageFile> {
    spec.iter()
        .enumerate()
        .map(|(i, &(len, pad))| {
            if pad {
                StorageFile::pad(format!(".pad/{len}"), len)
            } else {
                StorageFile::new(format!("d{}/e{}/f{i}", i % 2, i % 3), len)
            }
        })
        .collect()
}

/// Two versions of the torrent's bytes (writes may overwrite one with the other), zero in pads.
fn versions(files: &[StorageFile], seed: u8) -> [Vec<u8>; 2] {
    let mut v = [Vec::new(), Vec::new()];
    for f in files {
        for _ in 0..f.length {
            let i = v[0].len() as u8;
            let (a, b) = if f.pad {
                (0, 0)
            } else {
                (
                    i.wrapping_mul(13) ^ seed,
                    i.wrapping_mul(7).wrapping_add(seed) | 0x80,
                )
            };
            v[0].push(a);
            v[1].push(b);
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn file_storage_matches_memory_storage(
        piece_length in 1u32..=40,
        spec in prop::collection::vec((0u64..=70, prop::bool::weighted(0.2)), 1..=7),
        writes in prop::collection::vec((any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>()), 0..40),
        seed in any::<u8>(),
    ) {
        let files = files_of(&spec);
        let total: u64 = files.iter().map(|f| f.length).sum();
        prop_assume!(total > 0);
        let data = versions(&files, seed);
        let dir = tempfile::tempdir().unwrap();
        let fs_store = FileStorage::open_with_limit(dir.path(), piece_length, files.clone(), 3).unwrap();
        let mem = MemoryStorage::new(piece_length, total).unwrap();
        prop_assert_eq!(fs_store.piece_count(), mem.piece_count());
        let count = mem.piece_count();

        let mut done = Vec::new();
        for (ps, os, ls, which) in writes {
            let piece = ps % count;
            let plen = mem.piece_len(p(piece)).unwrap();
            let off = os % plen;
            let len = 1 + ls % (plen - off);
            let start = (u64::from(piece) * u64::from(piece_length) + u64::from(off)) as usize;
            let block = &data[usize::from(which)][start..start + len as usize];
            fs_store.write_block(p(piece), off, block).unwrap();
            mem.write_block(p(piece), off, block).unwrap();
            done.push((piece, off, len));
        }
        // Every written range is readable and agrees (holes inside files read as zeros in both).
        for &(piece, off, len) in &done {
            prop_assert_eq!(
                fs_store.read_block_vec(p(piece), off, len).unwrap(),
                mem.read_block_vec(p(piece), off, len).unwrap()
            );
        }
        // With every file at its full length, every piece and every hash agrees.
        for i in 0..files.len() {
            fs_store.set_file_len(i).unwrap();
        }
        fs_store.flush().unwrap();
        for i in 0..count {
            let len = mem.piece_len(p(i)).unwrap();
            prop_assert_eq!(fs_store.read_block_vec(p(i), 0, len).unwrap(), mem.read_block_vec(p(i), 0, len).unwrap());
            prop_assert_eq!(fs_store.hash_piece(p(i)).unwrap(), mem.hash_piece(p(i)).unwrap());
        }
        // And the files on disk are exactly the memory image, cut at file boundaries.
        let image = mem.contents();
        let mut pos = 0usize;
        for f in &files {
            let end = pos + f.length as usize;
            let path = dir.path().join(&f.path);
            if f.pad {
                prop_assert!(!dir.path().join(".pad").exists());
            } else {
                prop_assert_eq!(std::fs::read(&path).unwrap(), &image[pos..end]);
            }
            pos = end;
        }
    }
}
