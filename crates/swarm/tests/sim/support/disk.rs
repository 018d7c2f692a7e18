//! An in-memory disk that runs the swarm's `DiskOp`s: hashes pieces with SHA-1, stores them,
//! serves reads from what it stored. Writes and reads are each served one at a time in order,
//! after a configurable delay, and a write can be made to fail.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use sha1::{Digest, Sha1};
use shoal_core::Bitfield;
use shoal_swarm::{DiskDone, DiskOp};

use super::content::Content;

/// Makes the `nth` write attempt (0-based) fail with a `WriteError`.
#[derive(Clone, Copy, Debug)]
pub struct WriteFault {
    pub nth: u32,
    pub disk_full: bool,
}

pub struct MemDisk {
    pub data: Vec<u8>,
    /// Pieces written (or present from the start).
    pub have: Bitfield,
    pub write_delay: Duration,
    pub read_delay: Duration,
    pub fault: Option<WriteFault>,
    writes: VecDeque<(Duration, DiskOp)>,
    reads: VecDeque<(Duration, DiskOp)>,
    write_free_at: Duration,
    read_free_at: Duration,
    pub write_attempts: u32,
    pub pieces_written: u32,
    pub hash_failures: u32,
}

impl MemDisk {
    pub fn new(content: &Content, have: &Bitfield) -> Self {
        let mut data = vec![0u8; content.data.len()];
        for i in have.iter_ones() {
            let r = content.piece_range(content.piece(i));
            data[r.clone()].copy_from_slice(&content.data[r]);
        }
        Self {
            data,
            have: have.clone(),
            write_delay: Duration::ZERO,
            read_delay: Duration::ZERO,
            fault: None,
            writes: VecDeque::new(),
            reads: VecDeque::new(),
            write_free_at: Duration::ZERO,
            read_free_at: Duration::ZERO,
            write_attempts: 0,
            pieces_written: 0,
            hash_failures: 0,
        }
    }

    pub fn submit(&mut self, now: Duration, op: DiskOp) {
        match op {
            DiskOp::WritePiece { .. } => {
                let at = self.write_free_at.max(now) + self.write_delay;
                self.write_free_at = at;
                self.writes.push_back((at, op));
            }
            DiskOp::Read { .. } => {
                let at = self.read_free_at.max(now) + self.read_delay;
                self.read_free_at = at;
                self.reads.push_back((at, op));
            }
        }
    }

    pub fn next_due(&self) -> Option<Duration> {
        let w = self.writes.front().map(|(t, _)| *t);
        let r = self.reads.front().map(|(t, _)| *t);
        [w, r].into_iter().flatten().min()
    }

    /// The next operation due at `now`, executed.
    pub fn pop_due(&mut self, now: Duration, content: &Content) -> Option<DiskDone> {
        let take_write = self.writes.front().is_some_and(|(t, _)| *t <= now);
        let op = if take_write {
            self.writes.pop_front()
        } else if self.reads.front().is_some_and(|(t, _)| *t <= now) {
            self.reads.pop_front()
        } else {
            None
        }?;
        Some(self.execute(op.1, content))
    }

    fn execute(&mut self, op: DiskOp, content: &Content) -> DiskDone {
        match op {
            DiskOp::WritePiece {
                piece,
                blocks,
                expected,
                block_hashes,
            } => {
                // The swarm must hand over exactly the piece's blocks, 16 KiB each but the last.
                let piece_len = content.geometry.piece_len(piece) as usize;
                let total: usize = blocks.iter().map(Bytes::len).sum();
                assert_eq!(
                    total, piece_len,
                    "piece {piece} handed to disk with {total} bytes"
                );
                for (i, b) in blocks.iter().enumerate() {
                    let want = (piece_len - i * 16384).min(16384);
                    assert_eq!(
                        b.len(),
                        want,
                        "piece {piece} block {i} has the wrong length"
                    );
                }
                assert_eq!(
                    expected,
                    content.hashes[piece.as_usize()],
                    "wrong expected hash"
                );
                let mut h = Sha1::new();
                for b in &blocks {
                    h.update(b);
                }
                let got: [u8; 20] = h.finalize().into();
                if got != expected {
                    self.hash_failures += 1;
                    return DiskDone::PieceFailed { piece, blocks };
                }
                let attempt = self.write_attempts;
                self.write_attempts += 1;
                if let Some(f) = self.fault.filter(|f| f.nth == attempt) {
                    return DiskDone::WriteError {
                        piece,
                        disk_full: f.disk_full,
                        message: "no space left on device".into(),
                    };
                }
                let mut at = content.piece_range(piece).start;
                for b in &blocks {
                    self.data[at..at + b.len()].copy_from_slice(b);
                    at += b.len();
                }
                self.have.set(piece.get(), true);
                self.pieces_written += 1;
                let block_hashes = if block_hashes {
                    blocks.iter().map(|b| Sha1::digest(b).into()).collect()
                } else {
                    Vec::new()
                };
                DiskDone::PieceWritten {
                    piece,
                    block_hashes,
                }
            }
            DiskOp::Read { peer, block } => {
                let data = if self.have.has(block.piece) {
                    let start = content.piece_range(block.piece).start + block.offset as usize;
                    Ok(Bytes::copy_from_slice(
                        &self.data[start..start + block.len as usize],
                    ))
                } else {
                    Err(format!("piece {} is not on disk", block.piece))
                };
                DiskDone::Read { peer, block, data }
            }
        }
    }
}
