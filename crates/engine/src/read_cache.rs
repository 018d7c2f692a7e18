//! Serving uploads from memory: the first request for a piece reads the whole piece once, and
//! the other blocks of it (peers ask for them in a row) are answered from memory without
//! another trip to the disk pool. Requests that arrive while the read is under way wait for it.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use shoal_core::PieceIndex;
use shoal_swarm::PeerKey;
use shoal_wire::BlockRange;

/// A block read that waits for its piece.
pub type Waiter = (PeerKey, BlockRange);

/// Recently read pieces, least recently filled dropped first.
pub struct ReadCache {
    pieces: HashMap<PieceIndex, Bytes>,
    order: VecDeque<PieceIndex>,
    bytes: usize,
    capacity: usize,
    pending: HashMap<PieceIndex, Vec<Waiter>>,
}

impl ReadCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            pieces: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            capacity,
            pending: HashMap::new(),
        }
    }

    /// The block, when its piece is in memory (a zero-copy slice).
    pub fn lookup(&self, block: &BlockRange) -> Option<Bytes> {
        let data = self.pieces.get(&block.piece)?;
        let start = block.offset as usize;
        let end = start.checked_add(block.len as usize)?;
        (end <= data.len()).then(|| data.slice(start..end))
    }

    /// Queues a read of `block`; returns true when the caller must start reading its piece
    /// (nobody is reading it yet).
    pub fn wait(&mut self, peer: PeerKey, block: BlockRange) -> bool {
        let waiters = self.pending.entry(block.piece).or_default();
        waiters.push((peer, block));
        waiters.len() == 1
    }

    /// A piece read finished: keeps it (if it fits) and answers everyone who waited for it.
    pub fn fill(
        &mut self,
        piece: PieceIndex,
        data: Result<Bytes, String>,
    ) -> Vec<(PeerKey, BlockRange, Result<Bytes, String>)> {
        let waiters = self.pending.remove(&piece).unwrap_or_default();
        if let Ok(bytes) = &data {
            self.insert(piece, bytes.clone());
        }
        waiters
            .into_iter()
            .map(|(peer, block)| {
                let answer = match &data {
                    Ok(bytes) => {
                        let (start, len) = (block.offset as usize, block.len as usize);
                        if start + len <= bytes.len() {
                            Ok(bytes.slice(start..start + len))
                        } else {
                            Err("block outside the piece".to_string())
                        }
                    }
                    Err(e) => Err(e.clone()),
                };
                (peer, block, answer)
            })
            .collect()
    }

    /// Forgets a piece (its data on disk changed).
    pub fn invalidate(&mut self, piece: PieceIndex) {
        if let Some(d) = self.pieces.remove(&piece) {
            self.bytes -= d.len();
            self.order.retain(|p| *p != piece);
        }
    }

    fn insert(&mut self, piece: PieceIndex, data: Bytes) {
        if data.len() > self.capacity || self.pieces.contains_key(&piece) {
            return;
        }
        while self.bytes + data.len() > self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(d) = self.pieces.remove(&old) {
                self.bytes -= d.len();
            }
        }
        self.bytes += data.len();
        self.order.push_back(piece);
        self.pieces.insert(piece, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(piece: u32, offset: u32, len: u32) -> BlockRange {
        BlockRange {
            piece: PieceIndex::checked(piece, 10).unwrap(),
            offset,
            len,
        }
    }

    #[test]
    fn one_read_serves_every_waiter_and_later_lookups() {
        let mut c = ReadCache::new(100);
        let (a, b) = (PeerKey::new(1), PeerKey::new(2));
        assert!(c.wait(a, block(3, 0, 4)));
        assert!(
            !c.wait(b, block(3, 4, 4)),
            "second waiter does not start another read"
        );
        let data = Bytes::from_static(b"abcdefgh");
        let answers = c.fill(block(3, 0, 1).piece, Ok(data));
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[1].2.as_deref(), Ok(&b"efgh"[..]));
        assert_eq!(c.lookup(&block(3, 2, 3)).as_deref(), Some(&b"cde"[..]));
        assert_eq!(c.lookup(&block(3, 6, 4)), None, "past the end");
    }

    #[test]
    fn evicts_oldest_beyond_capacity() {
        let mut c = ReadCache::new(10);
        for p in 0..3 {
            c.wait(PeerKey::new(1), block(p, 0, 1));
            c.fill(block(p, 0, 1).piece, Ok(Bytes::from(vec![p as u8; 4])));
        }
        assert!(c.lookup(&block(0, 0, 1)).is_none());
        assert!(c.lookup(&block(2, 0, 1)).is_some());
    }

    #[test]
    fn errors_reach_every_waiter() {
        let mut c = ReadCache::new(10);
        c.wait(PeerKey::new(1), block(1, 0, 1));
        let answers = c.fill(block(1, 0, 1).piece, Err("gone".into()));
        assert!(answers[0].2.is_err());
        assert!(c.lookup(&block(1, 0, 1)).is_none());
    }
}
