//! The routing table (BEP 5): k-buckets that split around our own id.
//!
//! Bucket `i` holds the nodes whose ids share exactly `i` leading bits with ours; the last
//! bucket holds everything closer. Only the last bucket ever splits (it is the one that
//! "contains our id"), so the table is detailed near us and sparse far away, as Kademlia
//! wants. Each bucket keeps up to [`K`] live entries and a replacement cache of [`K`] more,
//! from which bad entries are replaced.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::proto::compact::{is_usable, Family, NodeInfo};
use crate::proto::id::{NodeId, ID_BITS};

/// Nodes per bucket (and per reply, and per lookup result).
pub const K: usize = 8;
/// A node that responded within this long is good; after it, questionable (BEP 5).
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Buckets not changed for this long are refreshed with a lookup (BEP 5).
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);
/// Failed queries in a row that make a node bad (BEP 5: "try once more before discarding").
pub const BAD_AFTER_FAILURES: u8 = 2;

/// BEP 5 node states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Responded to us within 15 minutes, or responded once and queried us within 15 minutes.
    Good,
    /// Neither good nor bad: not heard from lately, or never answered a query of ours.
    Questionable,
    /// Failed to answer two queries in a row: first to be replaced.
    Bad,
}

/// How we heard from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact {
    /// It answered one of our queries (so its address is proven).
    Responded,
    /// It sent us a query (its address is only claimed).
    Queried,
    /// We were told about it (a saved routing table): no proof, no timestamps.
    Heard,
}

/// What [`RoutingTable::contact`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// New entry in a bucket.
    Added,
    /// Known entry refreshed.
    Updated,
    /// New entry in place of a bad one.
    ReplacedBad,
    /// The bucket is full: the node waits in the replacement cache. `ping` is a questionable
    /// entry to probe now; if it fails twice, the cached node takes its place.
    Cached { ping: Option<NodeInfo> },
    /// Not eligible: our own id, an unusable address, another family, or an unproven claim
    /// conflicting with a known entry.
    Ignored,
}

/// Work the table asks for, from [`RoutingTable::maintenance`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Maintenance {
    /// Look up this id (a random id in a stale bucket's range).
    Refresh(NodeId),
    /// Ping this questionable node to learn whether it is still there.
    Ping(NodeInfo),
}

/// One known node.
#[derive(Clone, Debug)]
pub struct Entry {
    pub info: NodeInfo,
    /// When it last answered a query of ours.
    pub last_response: Option<Instant>,
    /// When it last queried us.
    pub last_query: Option<Instant>,
    /// Consecutive queries it failed to answer.
    pub failures: u8,
    /// A maintenance ping to it is outstanding (so we do not send a second).
    pub pinging: bool,
}

impl Entry {
    fn new(info: NodeInfo) -> Self {
        Self {
            info,
            last_response: None,
            last_query: None,
            failures: 0,
            pinging: false,
        }
    }

    pub fn state(&self, now: Instant) -> NodeState {
        let recent =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < GOOD_FOR);
        if self.failures >= BAD_AFTER_FAILURES {
            NodeState::Bad
        } else if recent(self.last_response)
            || (self.last_response.is_some() && recent(self.last_query))
        {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }

    /// The last time we heard from it at all (`None`: never).
    fn last_seen(&self) -> Option<Instant> {
        self.last_response.max(self.last_query)
    }

    fn touch(&mut self, now: Instant, how: Contact) {
        match how {
            Contact::Responded => {
                self.last_response = Some(now);
                self.failures = 0;
                self.pinging = false;
            }
            Contact::Queried => self.last_query = Some(now),
            Contact::Heard => {}
        }
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    nodes: Vec<Entry>,
    /// Nodes waiting for a place, newest last.
    replacements: Vec<Entry>,
    /// When an entry was last added, replaced or answered (BEP 5's "last changed").
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self {
            nodes: Vec::with_capacity(K),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// The routing table of one address family.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    family: Family,
    buckets: Vec<Bucket>,
    /// Address → id of every entry and cached replacement, to spot a node that restarted
    /// with a new id (and to refuse one address posing as many ids).
    by_addr: HashMap<SocketAddr, NodeId>,
}

impl RoutingTable {
    pub fn new(own: NodeId, family: Family, now: Instant) -> Self {
        Self {
            own,
            family,
            buckets: vec![Bucket::new(now)],
            by_addr: HashMap::new(),
        }
    }

    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// Entries in buckets (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn index_of(&self, id: &NodeId) -> usize {
        self.own
            .common_prefix_len(id)
            .min(self.buckets.len().saturating_sub(1))
    }

    /// The entry for `id`, if it is in a bucket.
    pub fn get(&self, id: &NodeId) -> Option<&Entry> {
        let b = self.buckets.get(self.index_of(id))?;
        b.nodes.iter().find(|e| e.info.id == *id)
    }

    /// Every entry in the buckets.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// Records that we heard from `info`, inserting it if there is room (BEP 5 rules).
    pub fn contact(&mut self, now: Instant, info: NodeInfo, how: Contact) -> InsertOutcome {
        if info.id == self.own || !is_usable(&info.addr) || Family::of(&info.addr) != self.family {
            return InsertOutcome::Ignored;
        }
        if let Some(&known) = self.by_addr.get(&info.addr) {
            if known != info.id {
                // Only a proven address may displace the id we knew at it.
                if how != Contact::Responded {
                    return InsertOutcome::Ignored;
                }
                self.remove(&NodeInfo {
                    id: known,
                    addr: info.addr,
                });
            }
        }
        let outcome = self.insert(now, info, how);
        self.check_invariants();
        outcome
    }

    fn insert(&mut self, now: Instant, info: NodeInfo, how: Contact) -> InsertOutcome {
        // Bounded: each split deepens the table by one bit.
        for _ in 0..=ID_BITS {
            let idx = self.index_of(&info.id);
            let last = idx + 1 == self.buckets.len();
            let Some(bucket) = self.buckets.get_mut(idx) else {
                return InsertOutcome::Ignored;
            };
            if let Some(e) = bucket.nodes.iter_mut().find(|e| e.info.id == info.id) {
                if e.info.addr != info.addr {
                    // Same id at a new address: believe it only if the old one went bad.
                    if how != Contact::Responded || e.state(now) != NodeState::Bad {
                        return InsertOutcome::Ignored;
                    }
                    self.by_addr.remove(&e.info.addr);
                    self.by_addr.insert(info.addr, info.id);
                    e.info.addr = info.addr;
                    e.failures = 0;
                }
                e.touch(now, how);
                if how == Contact::Responded {
                    bucket.last_changed = now;
                }
                return InsertOutcome::Updated;
            }
            let mut entry = Entry::new(info);
            entry.touch(now, how);
            let bad = bucket
                .nodes
                .iter()
                .position(|e| e.state(now) == NodeState::Bad);
            if bucket.nodes.len() < K || bad.is_some() {
                let outcome = match bad {
                    Some(pos) if bucket.nodes.len() >= K => {
                        let gone = bucket.nodes.swap_remove(pos);
                        self.by_addr.remove(&gone.info.addr);
                        InsertOutcome::ReplacedBad
                    }
                    _ => InsertOutcome::Added,
                };
                drop_cached(bucket, &mut self.by_addr, &info.id);
                bucket.nodes.push(entry);
                bucket.last_changed = now;
                self.by_addr.insert(info.addr, info.id);
                return outcome;
            }
            if last && self.buckets.len() < ID_BITS {
                self.split(now);
                continue;
            }
            return self.cache(now, idx, entry);
        }
        InsertOutcome::Ignored
    }

    /// Puts `entry` in bucket `idx`'s replacement cache and picks a questionable node to ping.
    fn cache(&mut self, now: Instant, idx: usize, entry: Entry) -> InsertOutcome {
        let Some(bucket) = self.buckets.get_mut(idx) else {
            return InsertOutcome::Ignored;
        };
        let id = entry.info.id;
        if let Some(pos) = bucket.replacements.iter().position(|e| e.info.id == id) {
            let mut old = bucket.replacements.remove(pos);
            if old.info.addr != entry.info.addr {
                bucket.replacements.insert(pos, old);
                return InsertOutcome::Ignored;
            }
            old.last_response = old.last_response.max(entry.last_response);
            old.last_query = old.last_query.max(entry.last_query);
            bucket.replacements.push(old);
        } else {
            if bucket.replacements.len() >= K {
                let gone = bucket.replacements.remove(0);
                self.by_addr.remove(&gone.info.addr);
            }
            self.by_addr.insert(entry.info.addr, id);
            let Some(bucket) = self.buckets.get_mut(idx) else {
                return InsertOutcome::Ignored;
            };
            bucket.replacements.push(entry);
        }
        let Some(bucket) = self.buckets.get_mut(idx) else {
            return InsertOutcome::Ignored;
        };
        let ping = stalest_questionable(bucket, now).map(|e| {
            e.pinging = true;
            e.info
        });
        InsertOutcome::Cached { ping }
    }

    /// Splits the last bucket: entries sharing one more bit with our id move to a new bucket.
    fn split(&mut self, now: Instant) {
        let depth = self.buckets.len();
        let own = self.own;
        let Some(last) = self.buckets.last_mut() else {
            return;
        };
        let mut deeper = Bucket::new(now);
        let closer = |e: &Entry| own.common_prefix_len(&e.info.id) >= depth;
        deeper.nodes = last.nodes.iter().filter(|e| closer(e)).cloned().collect();
        last.nodes.retain(|e| !closer(e));
        deeper.replacements = last
            .replacements
            .iter()
            .filter(|e| closer(e))
            .cloned()
            .collect();
        last.replacements.retain(|e| !closer(e));
        deeper.last_changed = last.last_changed;
        self.buckets.push(deeper);
    }

    fn remove(&mut self, info: &NodeInfo) {
        let idx = self.index_of(&info.id);
        if let Some(b) = self.buckets.get_mut(idx) {
            b.nodes.retain(|e| e.info.id != info.id);
            b.replacements.retain(|e| e.info.id != info.id);
        }
        self.by_addr.remove(&info.addr);
    }

    /// Records that `info` did not answer a query. A node that becomes bad is replaced at
    /// once by the freshest cached node, if there is one.
    pub fn failed(&mut self, now: Instant, info: &NodeInfo) {
        let idx = self.index_of(&info.id);
        let Some(bucket) = self.buckets.get_mut(idx) else {
            return;
        };
        let Some(pos) = bucket
            .nodes
            .iter()
            .position(|e| e.info.id == info.id && e.info.addr == info.addr)
        else {
            // A cached node that fails is simply forgotten.
            if let Some(p) = bucket.replacements.iter().position(|e| e.info == *info) {
                bucket.replacements.remove(p);
                self.by_addr.remove(&info.addr);
            }
            return;
        };
        let Some(e) = bucket.nodes.get_mut(pos) else {
            return;
        };
        e.failures = e.failures.saturating_add(1);
        e.pinging = false;
        if e.state(now) == NodeState::Bad {
            if let Some(rep) = take_best_replacement(bucket, now) {
                let gone = bucket.nodes.swap_remove(pos);
                bucket.nodes.push(rep);
                bucket.last_changed = now;
                self.by_addr.remove(&gone.info.addr);
            }
        }
        self.check_invariants();
    }

    /// Marks `info` as being pinged; false if it is not in a bucket or already pinged.
    pub fn mark_pinging(&mut self, info: &NodeInfo) -> bool {
        let idx = self.index_of(&info.id);
        match self
            .buckets
            .get_mut(idx)
            .and_then(|b| b.nodes.iter_mut().find(|e| e.info == *info))
        {
            Some(e) if !e.pinging => {
                e.pinging = true;
                true
            }
            _ => false,
        }
    }

    /// A ping picked by [`RoutingTable::maintenance`] or [`InsertOutcome::Cached`] could not
    /// be sent (or was answered with an error): the node may be picked again.
    pub fn clear_ping(&mut self, info: &NodeInfo) {
        let idx = self.index_of(&info.id);
        if let Some(e) = self
            .buckets
            .get_mut(idx)
            .and_then(|b| b.nodes.iter_mut().find(|e| e.info == *info))
        {
            e.pinging = false;
        }
    }

    /// The `count` entries closest to `target` that are not bad. With `proven_only`, only
    /// nodes that have answered us at least once (what we hand to other nodes).
    pub fn closest(
        &self,
        now: Instant,
        target: &NodeId,
        count: usize,
        proven_only: bool,
    ) -> Vec<NodeInfo> {
        let mut all: Vec<_> = self
            .entries()
            .filter(|e| e.state(now) != NodeState::Bad)
            .filter(|e| !proven_only || e.last_response.is_some())
            .map(|e| (e.info.id.distance(target), e.info))
            .collect();
        all.sort_unstable_by_key(|(d, _)| *d);
        all.into_iter().take(count).map(|(_, info)| info).collect()
    }

    /// Periodic upkeep: a refresh lookup for every bucket unchanged for 15 minutes, and a ping
    /// to the stalest questionable node of each bucket that has no ping outstanding.
    pub fn maintenance(&mut self, now: Instant, rng: &mut impl Rng) -> Vec<Maintenance> {
        let mut out = Vec::new();
        let depth = self.buckets.len();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if now.saturating_duration_since(b.last_changed) >= REFRESH_AFTER {
                let target = if i + 1 == depth {
                    self.own.random_within_prefix(i, rng)
                } else {
                    self.own.random_at_prefix(i, rng)
                };
                out.push(Maintenance::Refresh(target));
                // The refresh will bring answers; do not ask again before the next period.
                b.last_changed = now;
            }
            if b.nodes.iter().any(|e| e.pinging) {
                continue;
            }
            if let Some(e) = stalest_questionable(b, now) {
                e.pinging = true;
                out.push(Maintenance::Ping(e.info));
            }
        }
        out
    }

    /// Debug-build check of the structural invariants after each mutation.
    fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let depth = self.buckets.len();
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            debug_assert!(b.nodes.len() <= K, "bucket {i} over K");
            debug_assert!(b.replacements.len() <= K, "cache {i} over K");
            for e in b.nodes.iter().chain(b.replacements.iter()) {
                let cpl = self.own.common_prefix_len(&e.info.id);
                debug_assert!(
                    if i + 1 == depth { cpl >= i } else { cpl == i },
                    "entry in the wrong bucket"
                );
                debug_assert_eq!(self.by_addr.get(&e.info.addr), Some(&e.info.id));
                seen += 1;
            }
        }
        debug_assert_eq!(seen, self.by_addr.len(), "address index out of step");
    }
}

/// Removes `id` from the bucket's replacement cache (it is getting a place of its own).
fn drop_cached(b: &mut Bucket, by_addr: &mut HashMap<SocketAddr, NodeId>, id: &NodeId) {
    if let Some(pos) = b.replacements.iter().position(|e| e.info.id == *id) {
        let gone = b.replacements.remove(pos);
        by_addr.remove(&gone.info.addr);
    }
}

/// The questionable entry heard from least recently (never-heard-from first), not already
/// being pinged.
fn stalest_questionable(b: &mut Bucket, now: Instant) -> Option<&mut Entry> {
    b.nodes
        .iter_mut()
        .filter(|e| !e.pinging && e.state(now) == NodeState::Questionable)
        .min_by_key(|e| e.last_seen())
}

/// Takes the cached node most worth a place: proven ones before claimed ones, newest first.
fn take_best_replacement(b: &mut Bucket, now: Instant) -> Option<Entry> {
    let pos = b
        .replacements
        .iter()
        .enumerate()
        .filter(|(_, e)| e.state(now) != NodeState::Bad)
        .max_by_key(|(i, e)| (e.last_response.is_some(), *i))
        .map(|(i, _)| i)?;
    Some(b.replacements.remove(pos))
}
