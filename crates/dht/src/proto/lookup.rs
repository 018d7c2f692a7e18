//! Iterative lookups (Kademlia, BEP 5): ask the closest known nodes for closer ones until the
//! [`K`] closest have all answered.
//!
//! A lookup keeps a short list of candidates sorted by distance to the target. At most
//! [`ALPHA`] queries are in flight (a query that is slow to answer stops counting, so one dead
//! node does not stall the search, but its answer is still used if it comes). The lookup is
//! done when none of the `K` closest candidates that have not failed is still unasked or
//! waiting. A `get_peers` lookup also collects the peers and write tokens it is given; an
//! announce is a `get_peers` lookup followed by `announce_peer` to the `K` closest nodes that
//! gave a token.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::proto::bep42;
use crate::proto::compact::{is_usable, Family, NodeInfo};
use crate::proto::id::{Distance, NodeId};
use crate::proto::routing::K;

/// Queries in flight per lookup.
pub const ALPHA: usize = 3;
/// Candidates kept per lookup; the farthest beyond this are forgotten.
pub const MAX_CANDIDATES: usize = 64;
/// Addresses remembered per lookup (so a node is never asked twice).
const MAX_SEEN: usize = 2048;
/// Distinct peers reported per lookup.
pub const MAX_PEERS_PER_LOOKUP: usize = 1000;

/// Names a lookup started by a command.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct LookupId(pub u64);

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// Nodes closest to the target (bootstrap, bucket refresh).
    FindNode,
    /// Peers for an info-hash.
    GetPeers,
    /// Peers for an info-hash, then store ourselves at the closest nodes: on `port`, or on
    /// the DHT socket's port when `implied_port`.
    Announce { port: u16, implied_port: bool },
}

/// Where a lookup is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Searching,
    /// `announce_peer` sent; waiting for `pending` replies, `acked` came back positive.
    Announcing {
        pending: usize,
        acked: usize,
    },
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    InFlight { slow: bool },
    Responded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    /// `None` for a bootstrap address whose id we learn from its answer.
    id: Option<NodeId>,
    /// Distance of `id` to the target, kept so sorting does not recompute it (maximal while
    /// the id is unknown).
    dist: Distance,
    addr: SocketAddr,
    state: State,
    token: Option<Vec<u8>>,
}

/// One iterative lookup.
#[derive(Clone, Debug)]
pub struct Lookup {
    pub id: LookupId,
    pub target: NodeId,
    pub kind: LookupKind,
    /// Internal lookups (bucket refresh) report no events.
    pub silent: bool,
    pub phase: Phase,
    own: NodeId,
    family: Family,
    /// Addresses of unknown id, asked first.
    seeds: Vec<Candidate>,
    /// Known nodes sorted by distance to the target, closest first.
    candidates: Vec<Candidate>,
    seen: HashSet<SocketAddr>,
    peers: HashSet<SocketAddr>,
}

impl Lookup {
    pub fn new(
        id: LookupId,
        target: NodeId,
        kind: LookupKind,
        own: NodeId,
        family: Family,
        start: &[NodeInfo],
        seeds: &[SocketAddr],
    ) -> Self {
        let mut l = Self {
            id,
            target,
            kind,
            silent: false,
            phase: Phase::Searching,
            own,
            family,
            seeds: Vec::new(),
            candidates: Vec::new(),
            seen: HashSet::new(),
            peers: HashSet::new(),
        };
        for &addr in seeds {
            if l.usable(&addr) && l.seen.insert(addr) {
                l.seeds.push(Candidate {
                    id: None,
                    dist: Distance([0xff; 20]),
                    addr,
                    state: State::Fresh,
                    token: None,
                });
            }
        }
        l.add_nodes(start);
        l
    }

    fn usable(&self, addr: &SocketAddr) -> bool {
        is_usable(addr) && Family::of(addr) == self.family && self.seen.len() < MAX_SEEN
    }

    /// Adds newly heard-of nodes as candidates.
    fn add_nodes(&mut self, nodes: &[NodeInfo]) {
        for n in nodes {
            if n.id == self.own || !self.usable(&n.addr) || !self.seen.insert(n.addr) {
                continue;
            }
            self.candidates.push(Candidate {
                id: Some(n.id),
                dist: n.id.distance(&self.target),
                addr: n.addr,
                state: State::Fresh,
                token: None,
            });
        }
        self.sort();
    }

    fn sort(&mut self) {
        self.candidates.sort_by_key(|c| c.dist);
        self.candidates.truncate(MAX_CANDIDATES);
    }

    /// The `K` closest candidates that have not failed.
    fn top(&self) -> impl Iterator<Item = &Candidate> + '_ {
        self.candidates
            .iter()
            .filter(|c| c.state != State::Failed)
            .take(K)
    }

    /// Picks the next nodes to ask (at most `budget`) and marks them in flight.
    pub fn next_queries(&mut self, budget: usize) -> Vec<(SocketAddr, Option<NodeId>)> {
        if self.phase != Phase::Searching {
            return Vec::new();
        }
        let fast = self
            .seeds
            .iter()
            .chain(self.candidates.iter())
            .filter(|c| c.state == State::InFlight { slow: false })
            .count();
        let want = ALPHA.saturating_sub(fast).min(budget);
        let mut out = Vec::new();
        for c in self.seeds.iter_mut().filter(|c| c.state == State::Fresh) {
            if out.len() >= want {
                return out;
            }
            c.state = State::InFlight { slow: false };
            out.push((c.addr, None));
        }
        let mut picks = Vec::new();
        for (i, c) in self
            .candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.state != State::Failed)
            .take(K)
        {
            if picks.len() + out.len() >= want {
                break;
            }
            if c.state == State::Fresh {
                picks.push(i);
            }
        }
        for i in picks {
            if let Some(c) = self.candidates.get_mut(i) {
                c.state = State::InFlight { slow: false };
                out.push((c.addr, c.id));
            }
        }
        out
    }

    fn find(&mut self, addr: &SocketAddr) -> Option<&mut Candidate> {
        self.seeds
            .iter_mut()
            .chain(self.candidates.iter_mut())
            .find(|c| c.addr == *addr)
    }

    /// The query to `addr` is slow: it no longer holds one of the `ALPHA` slots.
    pub fn mark_slow(&mut self, addr: &SocketAddr) {
        if let Some(c) = self.find(addr) {
            if let State::InFlight { .. } = c.state {
                c.state = State::InFlight { slow: true };
            }
        }
    }

    /// The query to `addr` failed (timeout or error reply).
    pub fn on_failure(&mut self, addr: &SocketAddr) {
        if let Some(c) = self.find(addr) {
            c.state = State::Failed;
        }
    }

    /// `from` (with id `id`) answered: record it and its token, learn the nodes it named, and
    /// return the peers not reported before.
    pub fn on_response(
        &mut self,
        from: SocketAddr,
        id: NodeId,
        nodes: &[NodeInfo],
        token: Option<Vec<u8>>,
        values: &[SocketAddr],
    ) -> Vec<SocketAddr> {
        if id == self.own {
            // Our own query reflected back (or a node posing as us): worth nothing.
            self.on_failure(&from);
            return Vec::new();
        }
        if let Some(pos) = self.seeds.iter().position(|c| c.addr == from) {
            // A bootstrap address: now that its id is known it competes like any node.
            let mut c = self.seeds.remove(pos);
            c.state = State::Responded;
            c.id = Some(id);
            c.dist = id.distance(&self.target);
            c.token = token;
            self.candidates.push(c);
        } else if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == from) {
            c.state = State::Responded;
            // The node may answer with another id than we were told; it is its own word
            // that counts.
            c.id = Some(id);
            c.dist = id.distance(&self.target);
            c.token = token;
        }
        self.add_nodes(nodes);
        let mut fresh = Vec::new();
        for p in values {
            if self.peers.len() >= MAX_PEERS_PER_LOOKUP {
                break;
            }
            if is_usable(p) && self.peers.insert(*p) {
                fresh.push(*p);
            }
        }
        fresh
    }

    /// Whether the search is over: no seed left and nothing unasked or waiting among the
    /// `K` closest live candidates.
    pub fn search_done(&self) -> bool {
        let busy = |c: &Candidate| matches!(c.state, State::Fresh | State::InFlight { .. });
        !self.seeds.iter().any(busy) && !self.top().any(busy)
    }

    /// The `K` closest nodes that answered.
    pub fn closest(&self) -> Vec<NodeInfo> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Responded)
            .filter_map(|c| c.id.map(|id| NodeInfo { id, addr: c.addr }))
            .take(K)
            .collect()
    }

    /// Where to announce: the `K` closest answering nodes that gave a token (and, when BEP 42
    /// is enforced, whose ids match their addresses).
    pub fn announce_targets(&self, enforce_bep42: bool) -> Vec<(NodeInfo, Vec<u8>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Responded)
            .filter_map(|c| {
                let id = c.id?;
                let token = c.token.clone()?;
                if enforce_bep42 && !bep42::acceptable(&id, c.addr.ip()) {
                    return None;
                }
                Some((NodeInfo { id, addr: c.addr }, token))
            })
            .take(K)
            .collect()
    }

    /// Distinct peers reported so far.
    pub fn peers_found(&self) -> usize {
        self.peers.len()
    }
}
