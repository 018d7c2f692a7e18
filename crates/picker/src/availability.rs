//! The pick order of pieces nobody has started: one array sorted into buckets by
//! (priority class, availability), in the manner of libtorrent's piece picker.
//!
//! Why buckets rather than a sorted tree: availability changes by exactly one at a time (a HAVE,
//! a bitfield bit, a lost peer), and a piece whose count moves by one only crosses one bucket
//! boundary. Swapping it with the element at that boundary and moving the boundary is O(1), with
//! no allocation, where a `BTreeSet` would be O(log n) plus node churn for every bit of every
//! bitfield. Reading the order is a walk over a flat array, rarest bucket first.
//!
//! Inserting or removing a piece (it was started, finished, or its priority changed) has to
//! shift one element per later bucket, so it costs O(number of buckets) = 7 × `stride`, where
//! `stride` tracks the highest availability seen (about the number of connected peers). That
//! happens once per piece started, which is rare next to availability updates.
//!
//! This type only stores order; the caller owns availability and priority and passes the key
//! of a piece to every call, so the two can never disagree silently: `check` compares them.

use std::ops::Range;

/// Number of priority classes: priorities 7 (class 0, picked first) down to 1 (class 6).
/// Priority 0 pieces are never in the order.
pub(crate) const CLASSES: u32 = 7;

/// Marks a piece that is not in the order.
const ABSENT: u32 = u32::MAX;

/// Key of a piece in the order: its priority class and availability (seeds excluded: a seed
/// adds one to every piece and changes no ranking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub class: u32,
    pub avail: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct PieceOrder {
    /// Pieces in pick order: by class, then availability; arbitrary inside a bucket.
    order: Vec<u32>,
    /// Position of each piece in `order`, or `ABSENT`.
    pos: Vec<u32>,
    /// `starts[b]..starts[b + 1]` is bucket `b = class * stride + avail`;
    /// `starts[CLASSES * stride] == order.len()`.
    starts: Vec<u32>,
    /// Availabilities per class that have their own bucket; grows on demand.
    stride: u32,
}

impl PieceOrder {
    /// An order for `piece_count` pieces holding `initial` (pieces with their classes, all at
    /// availability 0), in the given sequence.
    pub fn new(piece_count: u32, initial: impl Iterator<Item = (u32, u32)>) -> Self {
        let stride = 8;
        let mut me = Self {
            order: Vec::new(),
            pos: vec![ABSENT; piece_count as usize],
            starts: vec![0; (CLASSES * stride + 1) as usize],
            stride,
        };
        let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); CLASSES as usize];
        for (piece, class) in initial {
            if let Some(v) = by_class.get_mut(class as usize) {
                v.push(piece);
            }
        }
        for (class, pieces) in (0u32..).zip(by_class) {
            let b = (class * stride) as usize;
            for p in pieces {
                me.put(p, me.order.len());
                me.order.push(p);
            }
            // Every bucket after this class's availability-0 bucket starts at the current end.
            for s in me.starts.iter_mut().skip(b + 1) {
                *s = me.order.len() as u32;
            }
        }
        me
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn contains(&self, piece: u32) -> bool {
        self.pos.get(piece as usize).is_some_and(|&p| p != ABSENT)
    }

    /// Number of buckets per class (the availability range with its own bucket).
    pub fn stride(&self) -> u32 {
        self.stride
    }

    /// The pieces in bucket `(class, avail)`.
    pub fn bucket(&self, class: u32, avail: u32) -> &[u32] {
        if avail >= self.stride {
            return &[];
        }
        let b = (class * self.stride + avail) as usize;
        self.slice(b..b + 1)
    }

    /// All pieces of one priority class, rarest first.
    pub fn class(&self, class: u32) -> &[u32] {
        let b = (class * self.stride) as usize;
        self.slice(b..b + self.stride as usize)
    }

    /// Number of pieces at availability 0 (over all classes).
    pub fn unavailable(&self) -> usize {
        (0..CLASSES).map(|c| self.bucket(c, 0).len()).sum()
    }

    fn slice(&self, buckets: Range<usize>) -> &[u32] {
        let lo = self.starts.get(buckets.start).copied().unwrap_or(0) as usize;
        let hi = self.starts.get(buckets.end).copied().unwrap_or(0) as usize;
        self.order.get(lo..hi).unwrap_or(&[])
    }

    fn put(&mut self, piece: u32, at: usize) {
        if let Some(p) = self.pos.get_mut(piece as usize) {
            *p = at as u32;
        }
    }

    /// Moves the piece at `from` to `to` (overwriting what was at `to`).
    fn shift(&mut self, from: usize, to: usize) {
        if let Some(&piece) = self.order.get(from) {
            if let Some(slot) = self.order.get_mut(to) {
                *slot = piece;
            }
            self.put(piece, to);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b || a >= self.order.len() || b >= self.order.len() {
            return;
        }
        self.order.swap(a, b);
        let (pa, pb) = (self.order[a], self.order[b]);
        self.put(pa, a);
        self.put(pb, b);
    }

    fn start(&self, b: usize) -> usize {
        self.starts.get(b).copied().unwrap_or(0) as usize
    }

    fn set_start(&mut self, b: usize, v: usize) {
        if let Some(s) = self.starts.get_mut(b) {
            *s = v as u32;
        }
    }

    /// Makes sure availability `avail` has its own bucket in every class.
    fn ensure(&mut self, avail: u32) {
        if avail < self.stride {
            return;
        }
        let new_stride = (self.stride * 2).max(avail + 1);
        let mut starts = Vec::with_capacity((CLASSES * new_stride + 1) as usize);
        for class in 0..CLASSES {
            for a in 0..new_stride {
                let at = if a < self.stride {
                    self.start((class * self.stride + a) as usize)
                } else {
                    // Empty buckets for the new availabilities, at the end of the class.
                    self.start(((class + 1) * self.stride) as usize)
                };
                starts.push(at as u32);
            }
        }
        starts.push(self.order.len() as u32);
        self.starts = starts;
        self.stride = new_stride;
    }

    fn bucket_index(&self, key: Key) -> usize {
        (key.class * self.stride + key.avail) as usize
    }

    /// Adds `piece` (absent) with `key`. O(buckets after the piece's bucket).
    pub fn insert(&mut self, piece: u32, key: Key) {
        if self.contains(piece) || key.class >= CLASSES || piece as usize >= self.pos.len() {
            return;
        }
        self.ensure(key.avail);
        let b = self.bucket_index(key);
        let last = (CLASSES * self.stride) as usize;
        // Open a hole at the end, then walk it down: each later bucket hands its first element
        // to the slot just past its end and starts one later.
        let mut hole = self.order.len();
        self.order.push(piece);
        for j in (b + 1..last).rev() {
            let s = self.start(j);
            if s < hole {
                self.shift(s, hole);
                hole = s;
            }
            self.set_start(j, s + 1);
        }
        self.set_start(last, self.order.len());
        if let Some(slot) = self.order.get_mut(hole) {
            *slot = piece;
        }
        self.put(piece, hole);
    }

    /// Removes `piece` (present, with `key`). O(buckets after the piece's bucket).
    pub fn remove(&mut self, piece: u32, key: Key) {
        let Some(&at) = self.pos.get(piece as usize) else {
            return;
        };
        if at == ABSENT || key.avail >= self.stride {
            return;
        }
        let b = self.bucket_index(key);
        let last = (CLASSES * self.stride) as usize;
        // Fill the hole with the last piece of its own bucket, then each later bucket gives its
        // last element to the slot just before its start and starts one earlier.
        let mut hole = at as usize;
        let end = self.start(b + 1);
        if end > 0 {
            self.shift(end - 1, hole);
            hole = end - 1;
        }
        for j in b + 1..last {
            let s = self.start(j);
            let e = self.start(j + 1);
            if s < e {
                self.shift(e - 1, hole);
                hole = e - 1;
            }
            self.set_start(j, s.saturating_sub(1));
        }
        self.order.pop();
        self.set_start(last, self.order.len());
        self.put(piece, ABSENT as usize);
    }

    /// `piece` (present, with `key`) gained one peer. O(1) unless the stride must grow.
    pub fn increment(&mut self, piece: u32, key: Key) {
        let Some(&at) = self.pos.get(piece as usize) else {
            return;
        };
        if at == ABSENT {
            return;
        }
        self.ensure(key.avail + 1);
        let b = self.bucket_index(key);
        // Swap with the last element of its bucket, then move the boundary below it.
        let end = self.start(b + 1);
        if end == 0 {
            return;
        }
        self.swap(at as usize, end - 1);
        self.set_start(b + 1, end - 1);
    }

    /// `piece` (present, with `key`, `key.avail > 0`) lost one peer. O(1).
    pub fn decrement(&mut self, piece: u32, key: Key) {
        let Some(&at) = self.pos.get(piece as usize) else {
            return;
        };
        if at == ABSENT || key.avail == 0 || key.avail >= self.stride {
            return;
        }
        let b = self.bucket_index(key);
        // Swap with the first element of its bucket, then move the boundary above it.
        let start = self.start(b);
        self.swap(at as usize, start);
        self.set_start(b, start + 1);
    }

    /// Verifies positions and bucket membership against the caller's view of each piece:
    /// `key(p)` is `Some` exactly for pieces that belong in the order.
    pub fn check(&self, key: impl Fn(u32) -> Option<Key>) -> Result<(), String> {
        let last = (CLASSES * self.stride) as usize;
        if self.starts.len() != last + 1 {
            return Err(format!(
                "{} bucket starts for stride {}",
                self.starts.len(),
                self.stride
            ));
        }
        if self.starts.first() != Some(&0) || self.start(last) != self.order.len() {
            return Err("bucket starts do not span the order".into());
        }
        if self.starts.windows(2).any(|w| w[0] > w[1]) {
            return Err("bucket starts are not sorted".into());
        }
        let mut members = 0usize;
        for (p, &at) in (0u32..).zip(&self.pos) {
            let expected = key(p);
            match (at, expected) {
                (ABSENT, None) => {}
                (ABSENT, Some(k)) => {
                    return Err(format!("piece {p} with {k:?} missing from the order"))
                }
                (_, None) => return Err(format!("piece {p} is in the order but should not be")),
                (at, Some(k)) => {
                    members += 1;
                    if self.order.get(at as usize) != Some(&p) {
                        return Err(format!("piece {p} position {at} is stale"));
                    }
                    if k.avail >= self.stride {
                        return Err(format!("piece {p} avail {} beyond stride", k.avail));
                    }
                    let b = self.bucket_index(k);
                    let (s, e) = (self.start(b), self.start(b + 1));
                    if !(s..e).contains(&(at as usize)) {
                        return Err(format!(
                            "piece {p} at {at} outside its bucket {s}..{e} for {k:?}"
                        ));
                    }
                }
            }
        }
        if members != self.order.len() {
            return Err(format!(
                "order holds {} pieces, {members} belong",
                self.order.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference model: the order is valid when `check` passes against it.
    struct Model {
        order: PieceOrder,
        keys: Vec<Option<Key>>,
    }

    impl Model {
        fn new(n: u32) -> Self {
            let order = PieceOrder::new(n, (0..n).map(|p| (p, 3)));
            let keys = (0..n).map(|_| Some(Key { class: 3, avail: 0 })).collect();
            Self { order, keys }
        }
        fn check(&self) {
            self.order.check(|p| self.keys[p as usize]).unwrap();
        }
        fn inc(&mut self, p: u32) {
            if let Some(k) = self.keys[p as usize].as_mut() {
                self.order.increment(p, *k);
                k.avail += 1;
            }
        }
        fn dec(&mut self, p: u32) {
            if let Some(k) = self.keys[p as usize].as_mut() {
                if k.avail > 0 {
                    self.order.decrement(p, *k);
                    k.avail -= 1;
                }
            }
        }
        fn toggle(&mut self, p: u32, class: u32) {
            match self.keys[p as usize] {
                Some(k) => {
                    self.order.remove(p, k);
                    self.keys[p as usize] = None;
                }
                None => {
                    let k = Key {
                        class,
                        avail: (p * 7) % 5,
                    };
                    self.order.insert(p, k);
                    self.keys[p as usize] = Some(k);
                }
            }
        }
    }

    #[test]
    fn buckets_follow_availability() {
        let mut m = Model::new(4);
        for _ in 0..3 {
            m.inc(0);
        }
        m.inc(2);
        m.check();
        assert_eq!(m.order.bucket(3, 0), &[3, 1]);
        assert_eq!(m.order.bucket(3, 1), &[2]);
        assert_eq!(m.order.bucket(3, 3), &[0]);
        assert_eq!(m.order.class(3), &[3, 1, 2, 0]);
        m.dec(0);
        assert_eq!(m.order.bucket(3, 2), &[0]);
        m.check();
    }

    #[test]
    fn grows_past_the_initial_stride() {
        let mut m = Model::new(3);
        for _ in 0..40 {
            m.inc(1);
        }
        m.check();
        assert!(m.order.stride() > 40);
        assert_eq!(m.order.class(3).last(), Some(&1));
    }

    #[test]
    fn random_operations_keep_the_structure_valid() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut m = Model::new(50);
        for _ in 0..5000 {
            let p = rng.random_range(0..50);
            match rng.random_range(0..3) {
                0 => m.inc(p),
                1 => m.dec(p),
                _ => m.toggle(p, rng.random_range(0..CLASSES)),
            }
            m.check();
        }
    }
}
