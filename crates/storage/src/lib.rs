//! Piece storage for shoal: blocks in, blocks and piece hashes out, across a torrent's files.
//!
//! # Why a synchronous trait on a blocking pool
//!
//! [`Storage`] is a plain synchronous trait, and the engine calls it from a blocking thread pool
//! it owns, sending completions back to the torrent's actor as messages. We chose this over an
//! async trait because:
//!
//! - File I/O on Linux blocks no matter how it is dressed: regular files are always "ready", so
//!   `O_NONBLOCK` and epoll do nothing for them. Async file APIs (`tokio::fs` included) are
//!   thread pools in disguise; an async trait would hide one `spawn_blocking` per call and
//!   take away the engine's control over batching and queue depth.
//! - Piece hashing is CPU work on the same bytes. It belongs on the same pool, not on the
//!   reactor, and a sync `hash_piece` can read and hash in one pass with one small buffer.
//! - The disk queue is where backpressure lives. With the pool in the engine, one place caps
//!   the bytes queued for disk and reports it; storage knows nothing of tokio, which keeps the
//!   dependency graph pointing one way.
//! - Sync backends are easy to write and to test: [`MemoryStorage`] is a `Vec<u8>`,
//!   [`FaultyStorage`] is a wrapper of a few atomics, tests need no runtime, and the start-up
//!   check ([`Storage::check_existing`]) hashes on every core with `std::thread::scope`.
//!
//! Methods take `&self` and backends are `Send + Sync`, so the pool may run many operations on
//! one torrent at once. [`FileStorage`] uses positioned I/O (`pread`/`pwrite`), which has no
//! shared file cursor, so no lock is held across a read or write; only the open-handle cache
//! and the list of files owed an fsync sit behind short-lived mutexes.
//!
//! # Data safety
//!
//! Paths are relative, made of plain components only, and joined under a canonical download
//! directory; pre-existing symbolic links below it are refused with
//! [`StorageError::Symlink`], never followed. A piece counts as present only when its bytes
//! read back from storage hash correctly ([`PieceVerifier::verify_stored`],
//! [`Storage::check_existing`]); [`Storage::flush`] makes written data and new directory
//! entries durable. Every error says what to do next ([`StorageError::action`]).

mod check;
mod error;
mod faulty;
mod file;
mod geometry;
mod handles;
mod hash;
mod memory;
mod paths;
mod storage;

pub use check::{check_existing, check_pieces, default_threads, CheckProgress};
pub use error::{ErrorAction, StorageError};
pub use faulty::FaultyStorage;
pub use file::FileStorage;
pub use geometry::MAX_PIECE_LENGTH;
pub use hash::{hash_piece_v1, HashCheck, PieceVerifier};
pub use memory::MemoryStorage;
pub use storage::{FileState, Storage, StorageFile, HASH_CHUNK};
