//! An in-memory network of many `Dht` cores on a virtual clock: datagrams are routed between
//! cores with a seeded random latency, every core's timers fire in time order, and nothing
//! touches a socket. A failing seed replays exactly.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_dht::proto::{Config, Dht, DhtEvent, Family, LookupId, NodeId};

/// Something that will happen at a virtual time: a datagram arrives or a node's timer fires.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Datagram {
        seq: u64,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
    Timer {
        node: usize,
    },
}

pub struct Net {
    pub nodes: Vec<Dht>,
    pub addrs: Vec<SocketAddr>,
    index: HashMap<SocketAddr, usize>,
    pub start: Instant,
    pub now: Instant,
    queue: BinaryHeap<Reverse<(Instant, Due)>>,
    scheduled: Vec<Option<Instant>>,
    seq: u64,
    pub rng: StdRng,
    /// Events per node, in order.
    pub events: Vec<(usize, DhtEvent)>,
    /// Finished lookups by (node, lookup), for cheap stop conditions.
    pub finished: HashMap<(usize, LookupId), DhtEvent>,
    /// Datagrams delivered so far.
    pub delivered: u64,
    /// Nodes that drop everything sent to them (dead nodes).
    pub dead: Vec<bool>,
}

/// A distinct address per node: loopback for IPv4, unique-local for IPv6 (inert data:
/// nothing is sent on a real socket).
pub fn addr_of(i: usize, family: Family) -> SocketAddr {
    let i = i as u32 + 2;
    match family {
        Family::V4 => SocketAddr::from(([127, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881)),
        Family::V6 => {
            let ip = std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (i >> 16) as u16, i as u16);
            SocketAddr::new(ip.into(), 6881)
        }
    }
}

impl Net {
    pub fn new(n: usize, seed: u64) -> Self {
        Self::with_family(n, seed, Family::V4)
    }

    pub fn with_family(n: usize, seed: u64, family: Family) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let start = Instant::now();
        let mut nodes = Vec::with_capacity(n);
        let mut addrs = Vec::with_capacity(n);
        let config = Config {
            family,
            ..Config::default()
        };
        for i in 0..n {
            nodes.push(Dht::new(config.clone(), start, &mut rng));
            addrs.push(addr_of(i, family));
        }
        let index = addrs.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let mut net = Self {
            nodes,
            addrs,
            index,
            start,
            now: start,
            queue: BinaryHeap::new(),
            scheduled: vec![None; n],
            seq: 0,
            rng,
            events: Vec::new(),
            finished: HashMap::new(),
            delivered: 0,
            dead: vec![false; n],
        };
        for i in 0..n {
            net.flush(i);
        }
        net
    }

    /// Collects what node `i` wants to send and report, and (re)arms its timer.
    pub fn flush(&mut self, i: usize) {
        let from = self.addrs[i];
        while let Some((to, data)) = self.nodes[i].poll_transmit() {
            let latency = Duration::from_millis(self.rng.random_range(5..60));
            self.seq += 1;
            self.queue.push(Reverse((
                self.now + latency,
                Due::Datagram {
                    seq: self.seq,
                    from,
                    to,
                    data,
                },
            )));
        }
        while let Some(ev) = self.nodes[i].poll_event() {
            if let DhtEvent::LookupDone { lookup, .. } = &ev {
                self.finished.insert((i, *lookup), ev.clone());
            }
            self.events.push((i, ev));
        }
        if let Some(t) = self.nodes[i].poll_timeout() {
            if self.scheduled[i] != Some(t) {
                self.scheduled[i] = Some(t);
                self.queue.push(Reverse((t, Due::Timer { node: i })));
            }
        }
    }

    /// Runs until `stop` holds or nothing is left before `limit` (virtual time from start).
    pub fn run_until(&mut self, limit: Duration, mut stop: impl FnMut(&Net) -> bool) -> bool {
        let deadline = self.start + limit;
        while let Some(Reverse((t, _))) = self.queue.peek() {
            if stop(self) {
                return true;
            }
            if *t > deadline {
                break;
            }
            let Some(Reverse((t, due))) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(t);
            match due {
                Due::Datagram { from, to, data, .. } => {
                    let Some(&j) = self.index.get(&to) else {
                        continue;
                    };
                    if self.dead[j] {
                        continue;
                    }
                    self.delivered += 1;
                    self.nodes[j].handle_datagram(self.now, from, &data);
                    self.flush(j);
                }
                Due::Timer { node } => {
                    if self.scheduled[node] != Some(t) {
                        continue; // superseded
                    }
                    self.scheduled[node] = None;
                    let mut rng = StdRng::seed_from_u64(self.rng.random());
                    self.nodes[node].handle_timeout(self.now, &mut rng);
                    self.flush(node);
                }
            }
        }
        stop(self)
    }

    /// Gives node `i` a command and collects its output.
    pub fn with<T>(&mut self, i: usize, f: impl FnOnce(&mut Dht, Instant) -> T) -> T {
        let now = self.now;
        let out = f(&mut self.nodes[i], now);
        self.flush(i);
        out
    }

    pub fn done(&self, node: usize, lookup: LookupId) -> Option<&DhtEvent> {
        self.finished.get(&(node, lookup))
    }

    /// Starts a lookup at `node` with `start`, runs the network until it is done (within a
    /// minute of virtual time) and returns the ids of the closest nodes it reports.
    pub fn lookup(
        &mut self,
        node: usize,
        start: impl FnOnce(&mut Dht, Instant) -> LookupId,
    ) -> (LookupId, Vec<NodeId>) {
        let l = self.with(node, start);
        let t = self.now - self.start + Duration::from_secs(60);
        assert!(
            self.run_until(t, |n| n.done(node, l).is_some()),
            "lookup finished"
        );
        let Some(DhtEvent::LookupDone { closest, .. }) = self.done(node, l) else {
            unreachable!("checked above")
        };
        (l, closest.iter().map(|n| n.id).collect())
    }

    /// Every peer reported to `node` for `lookup`.
    pub fn peers(&self, node: usize, lookup: LookupId) -> Vec<SocketAddr> {
        self.events
            .iter()
            .filter(|(i, _)| *i == node)
            .flat_map(|(_, e)| match e {
                DhtEvent::Peers { lookup: l, peers } if *l == lookup => peers.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The ids of the `k` live nodes closest to `target` other than `asker` (a lookup never
    /// returns the node that runs it), by brute force.
    pub fn true_closest(&self, target: &NodeId, k: usize, asker: usize) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.dead[*i] && *i != asker)
            .map(|(_, d)| d.id())
            .collect();
        ids.sort_by_key(|id| id.distance(target));
        ids.truncate(k);
        ids
    }
}
