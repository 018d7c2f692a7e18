//! Parsing a very large .torrent: 2^20 pieces of 16 KiB (16 GiB) in 100,000 files.
//!
//! This is the worst case a client meets in practice (libtorrent refuses more than 2^21
//! pieces): 20 MiB of piece hashes and a file list of a hundred thousand entries, every path
//! sanitised and checked for duplicates. The torrent is generated here, so the benchmark needs
//! no fixture.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shoal_bencode::OwnedValue;
use shoal_core::metainfo::Metainfo;

const PIECE_LENGTH: u64 = 16 * 1024;
const PIECES: u64 = 1 << 20;
const FILES: u64 = 100_000;

/// A multi-file torrent with `FILES` files adding up to exactly `PIECES` pieces.
fn big_torrent() -> Vec<u8> {
    let total = PIECE_LENGTH * PIECES;
    let each = total / FILES;
    let files: Vec<OwnedValue> = (0..FILES)
        .map(|i| {
            let len = if i + 1 == FILES {
                total - each * (FILES - 1)
            } else {
                each
            };
            let path = vec![
                OwnedValue::bytes(format!("folder {:03}", i / 1000)),
                OwnedValue::bytes(format!("file {i:06}.bin")),
            ];
            OwnedValue::dict()
                .with(b"length", OwnedValue::int(len as i64))
                .with(b"path", OwnedValue::List(path))
        })
        .collect();
    // Piece hashes only need to look random; xorshift keeps the input deterministic.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let pieces: Vec<u8> = (0..PIECES * 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let info = OwnedValue::dict()
        .with(b"files", OwnedValue::List(files))
        .with(b"name", OwnedValue::bytes("big"))
        .with(b"piece length", OwnedValue::int(PIECE_LENGTH as i64))
        .with(b"pieces", OwnedValue::Bytes(pieces));
    OwnedValue::dict()
        .with(
            b"announce",
            OwnedValue::bytes("http://127.0.0.1:6969/announce"),
        )
        .with(b"info", info)
        .encode()
}

fn decode(c: &mut Criterion) {
    let torrent = big_torrent();
    let meta = Metainfo::from_bytes(&torrent).expect("the generated torrent is valid");
    assert_eq!(u64::from(meta.piece_count()), PIECES);
    assert_eq!(meta.files().len() as u64, FILES);

    let mut g = c.benchmark_group("decode 2^20 pieces, 100k files");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(torrent.len() as u64));
    g.bench_function("bencode only", |b| {
        b.iter(|| shoal_bencode::decode(black_box(&torrent)).map(|v| v.offset()))
    });
    g.bench_function("Metainfo::from_bytes", |b| {
        b.iter(|| Metainfo::from_bytes(black_box(&torrent)).map(|m| m.piece_count()))
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
