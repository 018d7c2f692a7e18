//! FileStorage against real files in temporary directories.

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use shoal_core::PieceIndex;
use shoal_storage::{
    hash_piece_v1, CheckProgress, ErrorAction, FileState, FileStorage, Storage, StorageError,
    StorageFile,
};

fn p(i: u32) -> PieceIndex {
    PieceIndex::new_unchecked_in_range(i)
}

/// A torrent with nested folders, a zero-length file, a padding file, files straddling piece
/// boundaries and a short last piece (88 bytes in pieces of 16: the last has 8).
fn nested_files() -> Vec<StorageFile> {
    vec![
        StorageFile::new("top/a.bin", 10),
        StorageFile::new("top/sub/deeper/b.bin", 23),
        StorageFile::new("top/empty.txt", 0),
        StorageFile::pad(".pad/15", 15),
        StorageFile::new("top/sub/c.bin", 37),
        StorageFile::new("d.txt", 3),
    ]
}
const PIECE: u32 = 16;

/// The torrent's bytes: a pattern, with zeros where padding files are (as real torrents have).
fn content(files: &[StorageFile], seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        for _ in 0..f.length {
            let b = if f.pad {
                0
            } else {
                (out.len() as u8).wrapping_mul(31).wrapping_add(seed) | 1
            };
            out.push(b);
        }
    }
    out
}

fn piece_hashes(data: &[u8]) -> Vec<[u8; 20]> {
    data.chunks(PIECE as usize).map(hash_piece_v1).collect()
}

/// Every (piece, offset, len) block of 6 bytes (the last of each piece shorter), in a fixed
/// scrambled order.
fn scrambled_blocks(s: &impl Storage) -> Vec<(u32, u32, u32)> {
    let mut blocks = Vec::new();
    for i in 0..s.piece_count() {
        let len = s.piece_len(p(i)).unwrap();
        let mut off = 0;
        while off < len {
            let n = (len - off).min(6);
            blocks.push((i, off, n));
            off += n;
        }
    }
    let n = blocks.len();
    // 7 is coprime with the block count (checked below), so this is a permutation.
    assert_ne!(n % 7, 0);
    (0..n).map(|k| blocks[(k * 7 + 3) % n]).collect()
}

fn write_all(s: &impl Storage, data: &[u8]) {
    for (piece, off, len) in scrambled_blocks(s) {
        let start = (piece * PIECE + off) as usize;
        s.write_block(p(piece), off, &data[start..start + len as usize])
            .unwrap();
    }
}

#[test]
fn nested_torrent_written_in_random_order_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let files = nested_files();
    let data = content(&files, 7);
    let s = FileStorage::open(dir.path(), PIECE, files.clone()).unwrap();
    assert_eq!(s.piece_count(), 6);
    assert_eq!(s.piece_len(p(5)).unwrap(), 8);
    // Zero-length files exist as soon as storage is opened.
    assert_eq!(
        fs::metadata(dir.path().join("top/empty.txt"))
            .unwrap()
            .len(),
        0
    );

    write_all(&s, &data);
    s.flush().unwrap();

    let mut pos = 0usize;
    for f in &files {
        let path = dir.path().join(&f.path);
        if f.pad {
            assert!(!path.exists(), "pad file {} was created", f.path.display());
            assert!(!dir.path().join(".pad").exists());
        } else {
            let on_disk = fs::read(&path).unwrap();
            assert_eq!(on_disk.len() as u64, f.length, "{}", f.path.display());
            assert_eq!(
                on_disk,
                &data[pos..pos + f.length as usize],
                "{}",
                f.path.display()
            );
        }
        pos += f.length as usize;
    }
    let hashes = piece_hashes(&data);
    for i in 0..6 {
        let len = s.piece_len(p(i)).unwrap();
        let start = (i * PIECE) as usize;
        assert_eq!(
            s.read_block_vec(p(i), 0, len).unwrap(),
            &data[start..start + len as usize]
        );
        assert_eq!(s.hash_piece(p(i)).unwrap(), hashes[i as usize]);
    }

    let states = s.file_sizes_and_mtimes().unwrap();
    let lens: Vec<Option<u64>> = states
        .iter()
        .map(|st| match st {
            FileState::Present { len, .. } => Some(*len),
            _ => None,
        })
        .collect();
    assert_eq!(
        lens,
        vec![Some(10), Some(23), Some(0), None, Some(37), Some(3)]
    );
    assert_eq!(states[3], FileState::Pad);
}

#[test]
fn files_are_created_only_when_a_piece_touching_them_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let files = nested_files();
    let data = content(&files, 1);
    let s = FileStorage::open(dir.path(), PIECE, files).unwrap();
    // Piece 0 covers a.bin and the first 6 bytes of b.bin.
    s.write_block(p(0), 0, &data[..16]).unwrap();
    assert_eq!(fs::read(dir.path().join("top/a.bin")).unwrap(), &data[..10]);
    assert_eq!(
        fs::read(dir.path().join("top/sub/deeper/b.bin")).unwrap(),
        &data[10..16]
    );
    assert!(!dir.path().join("top/sub/c.bin").exists());
    assert!(!dir.path().join("d.txt").exists());
    let states = s.file_sizes_and_mtimes().unwrap();
    assert_eq!(states[4], FileState::Missing);
    // Reading a piece whose file was never written says the data is missing.
    let err = s.read_block_vec(p(5), 0, 8).unwrap_err();
    assert_eq!(err.action(), ErrorAction::PieceNotOnDisk, "{err}");
    // b.bin exists but is short: reading past its end is missing data too.
    let err = s.read_block_vec(p(1), 0, 16).unwrap_err();
    assert!(
        matches!(err, StorageError::MissingData { offset: 6, .. }),
        "{err}"
    );
}

#[test]
fn one_block_across_three_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        StorageFile::new("x", 3),
        StorageFile::new("y", 4),
        StorageFile::new("z", 5),
    ];
    let s = FileStorage::open(dir.path(), 12, files).unwrap();
    assert_eq!(s.piece_count(), 1);
    s.write_block(p(0), 0, b"abcdefghijkl").unwrap();
    s.write_block(p(0), 2, b"CDEFGHI").unwrap();
    assert_eq!(fs::read(dir.path().join("x")).unwrap(), b"abC");
    assert_eq!(fs::read(dir.path().join("y")).unwrap(), b"DEFG");
    assert_eq!(fs::read(dir.path().join("z")).unwrap(), b"HIjkl");
    assert_eq!(s.read_block_vec(p(0), 1, 10).unwrap(), b"bCDEFGHIjk");
    assert_eq!(s.hash_piece(p(0)).unwrap(), hash_piece_v1(b"abCDEFGHIjkl"));
}

#[cfg(unix)]
#[test]
fn symbolic_links_in_the_path_are_refused() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    symlink(outside.path(), dir.path().join("evil")).unwrap();
    fs::write(outside.path().join("target"), b"keep").unwrap();
    symlink(outside.path().join("target"), dir.path().join("g.txt")).unwrap();

    // A directory component that is a link.
    let s = FileStorage::open(dir.path(), 4, vec![StorageFile::new("evil/f", 4)]).unwrap();
    let err = s.write_block(p(0), 0, b"data").unwrap_err();
    assert!(matches!(err, StorageError::Symlink { .. }), "{err}");
    assert_eq!(err.action(), ErrorAction::ReportToUser);
    assert!(err.to_string().contains("evil"), "{err}");
    assert!(matches!(
        s.read_block_vec(p(0), 0, 4),
        Err(StorageError::Symlink { .. })
    ));
    assert!(matches!(
        s.set_file_len(0),
        Err(StorageError::Symlink { .. })
    ));
    assert!(matches!(
        s.file_sizes_and_mtimes(),
        Err(StorageError::Symlink { .. })
    ));
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        1,
        "wrote outside"
    );

    // The file itself is a link.
    let s = FileStorage::open(dir.path(), 4, vec![StorageFile::new("g.txt", 4)]).unwrap();
    let err = s.write_block(p(0), 0, b"gone").unwrap_err();
    assert!(matches!(err, StorageError::Symlink { .. }), "{err}");
    assert_eq!(fs::read(outside.path().join("target")).unwrap(), b"keep");

    // A zero-length file under a link is refused when storage is opened.
    let files = vec![StorageFile::new("evil/empty", 0), StorageFile::new("ok", 1)];
    let err = FileStorage::open(dir.path(), 4, files).unwrap_err();
    assert!(matches!(err, StorageError::Symlink { .. }), "{err}");
    assert!(!outside.path().join("empty").exists());
}

#[test]
fn unsafe_paths_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["../up", "/abs", "a/../../b", ""] {
        let err = FileStorage::open(dir.path(), 4, vec![StorageFile::new(bad, 1)]).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidLayout { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn check_existing_finds_exactly_the_intact_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let files = nested_files();
    let data = content(&files, 3);
    let hashes = piece_hashes(&data);
    let s = FileStorage::open(dir.path(), PIECE, files).unwrap();
    let go = |_: CheckProgress| ControlFlow::Continue(());

    // Nothing written yet: nothing found, and the missing files are not an error.
    assert!(s.check_existing(&hashes, &go).unwrap().is_clear());

    write_all(&s, &data);
    s.flush().unwrap();
    assert!(s.check_existing(&hashes, &go).unwrap().is_full());

    // Corrupt a byte of piece 1 (b.bin offset 10 = stream byte 20) and a byte of piece 3
    // (c.bin offset 5 = stream byte 53), and delete d.txt (the last 3 bytes of piece 5).
    let flip = |path: &Path, at: usize| {
        let mut bytes = fs::read(path).unwrap();
        bytes[at] ^= 0x40;
        fs::write(path, bytes).unwrap();
    };
    flip(&dir.path().join("top/sub/deeper/b.bin"), 10);
    flip(&dir.path().join("top/sub/c.bin"), 5);
    fs::remove_file(dir.path().join("d.txt")).unwrap();

    // A fresh storage, as at start-up.
    let s = FileStorage::open(dir.path(), PIECE, nested_files()).unwrap();
    let last = std::sync::Mutex::new(CheckProgress {
        checked: 0,
        found: 0,
        total: 0,
    });
    let record = |c: CheckProgress| {
        *last.lock().unwrap() = c;
        ControlFlow::Continue(())
    };
    let have = s.check_existing(&hashes, &record).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![0, 2, 4]);
    assert_eq!(
        *last.lock().unwrap(),
        CheckProgress {
            checked: 6,
            found: 3,
            total: 6
        }
    );
}

#[test]
fn a_removed_download_directory_is_reported_not_recreated() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("downloads");
    let s = FileStorage::open(&root, 4, vec![StorageFile::new("a/f", 8)]).unwrap();
    fs::remove_dir(&root).unwrap();
    let err = s.write_block(p(0), 0, b"abcd").unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
    assert_eq!(err.action(), ErrorAction::ReportToUser);
    assert!(!root.exists());
}

#[test]
fn set_file_len_makes_exact_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        StorageFile::new("big", 1000),
        StorageFile::pad("pad", 24),
        StorageFile::new("s", 5),
    ];
    fs::write(dir.path().join("s"), b"0123456789").unwrap();
    let s = FileStorage::open(dir.path(), 64, files).unwrap();
    s.set_file_len(0).unwrap();
    s.set_file_len(1).unwrap();
    s.set_file_len(2).unwrap();
    s.flush().unwrap();
    assert_eq!(fs::metadata(dir.path().join("big")).unwrap().len(), 1000);
    assert!(!dir.path().join("pad").exists());
    assert_eq!(fs::read(dir.path().join("s")).unwrap(), b"01234");
    // A sparse, never-written file reads as zeros.
    assert_eq!(s.read_block_vec(p(0), 0, 64).unwrap(), vec![0; 64]);
    assert!(matches!(
        s.set_file_len(3),
        Err(StorageError::NoSuchFile { index: 3, .. })
    ));
}

#[test]
fn bad_requests_are_refused_before_touching_disk() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path(), PIECE, nested_files()).unwrap();
    let err = s.read_block_vec(p(5), 4, 5).unwrap_err();
    assert!(matches!(
        err,
        StorageError::OutOfBounds {
            piece: 5,
            offset: 4,
            len: 5,
            piece_len: 8
        }
    ));
    assert_eq!(err.action(), ErrorAction::RejectRequest);
    assert!(matches!(
        s.read_block_vec(p(0), 0, u32::MAX),
        Err(StorageError::OutOfBounds { .. })
    ));
    assert!(matches!(
        s.write_block(p(6), 0, b"x"),
        Err(StorageError::NoSuchPiece {
            piece: 6,
            piece_count: 6
        })
    ));
    assert!(!dir.path().join("top/a.bin").exists());
}
