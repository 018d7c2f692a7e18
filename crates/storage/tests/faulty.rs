//! FaultyStorage injects the failures the engine must survive.

use std::ops::ControlFlow;

use shoal_core::PieceIndex;
use shoal_storage::{
    hash_piece_v1, CheckProgress, ErrorAction, FaultyStorage, FileStorage, HashCheck,
    MemoryStorage, PieceVerifier, Storage, StorageError, StorageFile,
};

fn p(i: u32) -> PieceIndex {
    PieceIndex::new_unchecked_in_range(i)
}

#[test]
fn disk_full_after_budget_keeps_the_bytes_that_fit() {
    let s = FaultyStorage::new(MemoryStorage::new(16, 64).unwrap());
    s.fail_writes_after(20);
    s.write_block(p(0), 0, &[1; 16]).unwrap();
    let err = s.write_block(p(1), 0, &[2; 16]).unwrap_err();
    assert!(matches!(err, StorageError::DiskFull { .. }), "{err}");
    assert_eq!(err.action(), ErrorAction::PauseDownloading);
    assert_eq!(s.bytes_written(), 20);
    let stored = s.inner().contents();
    assert_eq!(&stored[..16], &[1; 16]);
    assert_eq!(&stored[16..20], &[2; 4], "the part that fit was written");
    assert_eq!(&stored[20..32], &[0; 12]);
    // Still full until healed; a bad request is still reported as such, not as disk full.
    assert!(matches!(
        s.write_block(p(2), 0, &[3; 1]),
        Err(StorageError::DiskFull { .. })
    ));
    assert!(matches!(
        s.write_block(p(2), 10, &[3; 7]),
        Err(StorageError::OutOfBounds { .. })
    ));
    s.heal();
    s.write_block(p(1), 0, &[2; 16]).unwrap();
    assert_eq!(s.bytes_written(), 36);
}

#[test]
fn disk_full_over_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![StorageFile::new("a", 10), StorageFile::new("b", 10)];
    let s = FaultyStorage::new(FileStorage::open(dir.path(), 8, files).unwrap());
    s.fail_writes_after(12);
    s.write_block(p(0), 0, &[9; 8]).unwrap();
    let err = s.write_block(p(1), 0, &[8; 8]).unwrap_err();
    assert_eq!(err.action(), ErrorAction::PauseDownloading);
    assert_eq!(
        std::fs::read(dir.path().join("a")).unwrap(),
        [9, 9, 9, 9, 9, 9, 9, 9, 8, 8]
    );
    // Piece 1 spans a[8..10] and b[0..6]; 4 bytes of budget were left.
    assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), [8, 8]);
}

#[test]
fn corrupt_reads_fail_verification_and_the_check() {
    let s = FaultyStorage::new(MemoryStorage::new(4, 8).unwrap());
    s.write_block(p(0), 0, b"abcd").unwrap();
    s.write_block(p(1), 0, b"efgh").unwrap();
    let verifier = PieceVerifier::new(vec![hash_piece_v1(b"abcd"), hash_piece_v1(b"efgh")]);
    s.corrupt_reads_of(p(1));
    assert_eq!(verifier.verify_stored(&s, p(0)).unwrap(), HashCheck::Match);
    assert_eq!(
        verifier.verify_stored(&s, p(1)).unwrap(),
        HashCheck::Mismatch
    );
    let mut buf = [0u8; 2];
    s.read_block(p(1), 2, &mut buf).unwrap();
    assert_ne!(&buf, b"gh");
    let go = |_: CheckProgress| ControlFlow::Continue(());
    let have = s.check_existing(verifier.hashes(), &go).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![0]);
    s.heal();
    assert!(s.check_existing(verifier.hashes(), &go).unwrap().is_full());
}

#[test]
fn read_errors_are_transient_and_stop_a_check() {
    let s = FaultyStorage::new(MemoryStorage::new(4, 8).unwrap());
    s.fail_next_reads(1);
    let err = s.read_block_vec(p(0), 0, 4).unwrap_err();
    assert_eq!(err.action(), ErrorAction::RetryThenPause, "{err}");
    assert_eq!(s.read_block_vec(p(0), 0, 4).unwrap(), [0; 4]);
    // An I/O error is not "piece missing": the check stops and reports it.
    s.fail_next_reads(1);
    let go = |_: CheckProgress| ControlFlow::Continue(());
    let r = s.check_existing(&[[0; 20]; 2], &go);
    assert!(matches!(r, Err(StorageError::Io { .. })), "{r:?}");
}

#[test]
fn wraps_a_shared_trait_object() {
    use std::sync::Arc;
    let shared: Arc<dyn Storage> = Arc::new(MemoryStorage::new(4, 8).unwrap());
    let s = FaultyStorage::new(Arc::clone(&shared));
    s.fail_writes_after(2);
    assert!(s.write_block(p(0), 0, b"abcd").is_err());
    assert_eq!(shared.read_block_vec(p(0), 0, 4).unwrap(), b"ab\0\0");
}
