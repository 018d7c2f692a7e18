//! Hashing throughput of torrent creation: a 256 MiB file, one thread and every core.
//!
//! The file is written once to a temporary folder and read back through the page cache, so
//! this measures SHA-1 and the read path, not the disk. Compare the per-thread figure with
//! `openssl speed -evp sha1` (scripts/bench-hash.sh does both).

use std::hint::black_box;
use std::io::Write;
use std::num::NonZeroUsize;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shoal_core::create::{hash_pieces, scan};

const SIZE: usize = 256 << 20;
const PIECE_LENGTH: u64 = 1 << 20;

fn hashing(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("data.bin");
    {
        let mut f = std::fs::File::create(&path).expect("create data file");
        let mut block = vec![0u8; 1 << 20];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..SIZE / block.len() {
            for b in block.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            f.write_all(&block).expect("write data file");
        }
    }
    let content = scan(&path).expect("scan");
    let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);

    let mut g = c.benchmark_group("create: hash 256 MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(SIZE as u64));
    let mut counts = vec![NonZeroUsize::MIN];
    if cores.get() > 1 {
        counts.push(cores);
    }
    for threads in counts {
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &t| {
            b.iter(|| {
                hash_pieces(black_box(&content.files), PIECE_LENGTH, t, &|_| {}).map(|h| h.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
