//! The DHT node as a sans-IO state machine.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::proto::bep42;
use crate::proto::compact::{canonical, Family, NodeInfo};
use crate::proto::config::{Config, DhtEvent, DhtStats};
use crate::proto::id::NodeId;
use crate::proto::krpc::{Body, Message, Method, Query};
use crate::proto::krpc_decode::decode;
use crate::proto::lookup::{Lookup, LookupId, LookupKind, Phase};
use crate::proto::rate::RateLimiter;
use crate::proto::routing::{Contact, RoutingTable, K, REFRESH_AFTER};
use crate::proto::store::PeerStore;
use crate::proto::token::Tokens;

/// How often routing-table upkeep (refresh, pings), peer-store expiry and rate-limiter
/// cleanup run.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(5);
/// Datagrams queued for sending beyond this are dropped (the owner is not polling).
const MAX_QUEUED_TRANSMITS: usize = 4096;
/// Nodes a lookup starts from, taken from the routing table.
const LOOKUP_START: usize = 2 * K;

/// Why we sent a query (what its answer or failure feeds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Lookup(LookupId),
    Announce(LookupId),
    Ping,
}

/// A query of ours waiting for its answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outstanding {
    pub addr: SocketAddr,
    pub id: Option<NodeId>,
    pub sent: Instant,
    /// Past `slow_after`: no longer holds a lookup slot.
    pub slow: bool,
    pub purpose: Purpose,
}

/// A mainline DHT node without I/O.
///
/// # Call order
///
/// 1. [`Dht::new`], then [`Dht::bootstrap`] with a few known addresses (and/or
///    [`Dht::add_nodes`] with a saved routing table first).
/// 2. Loop: feed every received datagram to [`Dht::handle_datagram`]; when the time of
///    [`Dht::poll_timeout`] has come, call [`Dht::handle_timeout`]; issue commands
///    ([`Dht::get_peers`], [`Dht::announce`], [`Dht::find_node`]) at any time.
/// 3. After each of those calls, drain [`Dht::poll_transmit`] (datagrams to send) and
///    [`Dht::poll_event`] (peers found, lookups finished), then ask [`Dht::poll_timeout`]
///    again.
///
/// # States
///
/// A node has no global state beyond its routing table; the moving parts are
/// * each outstanding query: sent → slow (after `slow_after`, frees its lookup slot) →
///   answered, or failed at `query_timeout` (the node's failure count rises; two in a row
///   make it bad, and a cached replacement takes its place);
/// * each lookup: searching (≤ 3 queries in flight, converging on the 8 closest) →
///   for an announce, announcing (`announce_peer` to the closest nodes that gave a token,
///   waiting for their answers) → done (event [`DhtEvent::LookupDone`]);
/// * periodic maintenance every [`MAINTENANCE_EVERY`]: a refresh lookup for each bucket
///   unchanged for 15 minutes, a ping to the stalest questionable node of each bucket, a
///   lookup of our own id (backing off) while the table holds fewer than 8 nodes, expiry of
///   stored peers.
pub struct Dht {
    pub(crate) config: Config,
    pub(crate) table: RoutingTable,
    pub(crate) tokens: Tokens,
    pub(crate) store: PeerStore,
    pub(crate) rate: RateLimiter,
    /// Ordered so that stepping lookups is deterministic.
    pub(crate) lookups: BTreeMap<LookupId, Lookup>,
    pub(crate) outstanding: HashMap<u16, Outstanding>,
    next_tid: u16,
    next_lookup: u64,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    pub(crate) events: VecDeque<DhtEvent>,
    next_maintenance: Instant,
    /// While the table holds fewer than `K` nodes: when to look ourselves up again, and the
    /// wait after that (doubling up to [`crate::proto::REFRESH_AFTER`]).
    next_self_lookup: Instant,
    self_lookup_backoff: Duration,
    pub(crate) stats: DhtStats,
}

impl Dht {
    pub fn new(config: Config, now: Instant, rng: &mut impl Rng) -> Self {
        let id = match (config.id, config.external_ip) {
            (Some(id), _) => id,
            (None, Some(ip)) => bep42::id_for_ip(ip, rng),
            (None, None) => NodeId::random(rng),
        };
        Self {
            table: RoutingTable::new(id, config.family, now),
            tokens: Tokens::new(now, rng),
            store: PeerStore::default(),
            rate: RateLimiter::new(config.rate_limit),
            lookups: BTreeMap::new(),
            outstanding: HashMap::new(),
            next_tid: rng.random(),
            next_lookup: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_maintenance: now + MAINTENANCE_EVERY,
            next_self_lookup: now + MAINTENANCE_EVERY,
            self_lookup_backoff: MAINTENANCE_EVERY,
            stats: DhtStats::default(),
            config,
        }
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.table.own_id()
    }

    pub fn family(&self) -> Family {
        self.config.family
    }

    /// Nodes in the routing table.
    pub fn routing_table_size(&self) -> usize {
        self.table.len()
    }

    /// Every node in the routing table (for saving it).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.table.entries().map(|e| e.info).collect()
    }

    /// Read access to the routing table (states, buckets).
    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    pub fn stats(&self) -> DhtStats {
        let (stored_hashes, stored_peers) = self.store.size();
        DhtStats {
            nodes: self.table.len(),
            buckets: self.table.bucket_count(),
            lookups: self.lookups.len(),
            outstanding: self.outstanding.len(),
            stored_hashes,
            stored_peers,
            ..self.stats
        }
    }

    // ----- commands -----

    /// Adds nodes known from before (a saved routing table) without vouching for them: they
    /// are questionable until they answer, and are not handed to other nodes before that.
    pub fn add_nodes(&mut self, now: Instant, nodes: &[NodeInfo]) {
        for n in nodes {
            self.table.contact(now, canonical_node(n), Contact::Heard);
        }
    }

    /// Joins the DHT: a lookup of our own id starting from `addrs` (ids unknown) and whatever
    /// the routing table holds. Finishes with [`DhtEvent::LookupDone`].
    pub fn bootstrap(&mut self, now: Instant, addrs: &[SocketAddr]) -> LookupId {
        let seeds: Vec<SocketAddr> = addrs.iter().map(|a| canonical(*a)).collect();
        self.start_lookup(now, self.id(), LookupKind::FindNode, &seeds, false)
    }

    /// Finds the nodes closest to `target`.
    pub fn find_node(&mut self, now: Instant, target: NodeId) -> LookupId {
        self.start_lookup(now, target, LookupKind::FindNode, &[], false)
    }

    /// Finds peers for `info_hash` ([`DhtEvent::Peers`] as they come, then
    /// [`DhtEvent::LookupDone`]).
    pub fn get_peers(&mut self, now: Instant, info_hash: impl Into<NodeId>) -> LookupId {
        self.start_lookup(now, info_hash.into(), LookupKind::GetPeers, &[], false)
    }

    /// Finds peers for `info_hash` and stores us as a peer at the closest nodes, on `port`
    /// (`None`: the port our DHT datagrams come from, BEP 5 `implied_port`).
    pub fn announce(
        &mut self,
        now: Instant,
        info_hash: impl Into<NodeId>,
        port: Option<u16>,
    ) -> LookupId {
        let kind = LookupKind::Announce {
            port: port.unwrap_or(0),
            implied_port: port.is_none(),
        };
        self.start_lookup(now, info_hash.into(), kind, &[], false)
    }

    /// Stops a lookup; no further events come for it.
    pub fn cancel(&mut self, lookup: LookupId) {
        self.lookups.remove(&lookup);
    }

    pub(crate) fn start_lookup(
        &mut self,
        now: Instant,
        target: NodeId,
        kind: LookupKind,
        seeds: &[SocketAddr],
        silent: bool,
    ) -> LookupId {
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let start = self.table.closest(now, &target, LOOKUP_START, false);
        let mut lookup = Lookup::new(
            id,
            target,
            kind,
            self.id(),
            self.config.family,
            &start,
            seeds,
        );
        lookup.silent = silent;
        if self.lookups.len() >= self.config.max_lookups {
            lookup.phase = Phase::Done;
            self.finish(&lookup);
            return id;
        }
        self.lookups.insert(id, lookup);
        self.step_lookup(now, id);
        id
    }

    // ----- inputs -----

    /// Feeds one received datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let from = canonical(from);
        if Family::of(&from) != self.config.family {
            return;
        }
        match decode(data) {
            Ok(Message {
                transaction,
                read_only,
                body: Body::Query(q),
                ..
            }) => self.handle_query(now, from, transaction, read_only, q),
            Ok(msg) => self.handle_reply(now, from, msg),
            Err(failure) => {
                self.stats.malformed += 1;
                if let (Some(code), Some(tid)) = (failure.reply_code(), failure.transaction) {
                    self.reply_error(now, from, tid, code, &failure.error.to_string());
                }
            }
        }
    }

    /// Handles every deadline that has passed: slow and failed queries, maintenance.
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut impl Rng) {
        let mut expired: Vec<u16> = Vec::new();
        let mut slowed: Vec<u16> = Vec::new();
        for (&tid, o) in &self.outstanding {
            if now >= o.sent + self.config.query_timeout {
                expired.push(tid);
            } else if !o.slow && now >= o.sent + self.config.slow_after {
                slowed.push(tid);
            }
        }
        expired.sort_unstable();
        slowed.sort_unstable();
        for tid in slowed {
            if let Some(o) = self.outstanding.get_mut(&tid) {
                o.slow = true;
                if let Purpose::Lookup(l) = o.purpose {
                    let addr = o.addr;
                    if let Some(lookup) = self.lookups.get_mut(&l) {
                        lookup.mark_slow(&addr);
                    }
                }
            }
        }
        for tid in expired {
            if let Some(o) = self.outstanding.remove(&tid) {
                self.query_failed(now, o);
            }
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE_EVERY;
            self.maintenance(now, rng);
        }
        self.step_all(now);
    }

    // ----- outputs -----

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<DhtEvent> {
        self.events.pop_front()
    }

    /// When [`Dht::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let queries = self.outstanding.values().map(|o| {
            if o.slow {
                o.sent + self.config.query_timeout
            } else {
                o.sent + self.config.slow_after
            }
        });
        queries.chain([self.next_maintenance]).min()
    }

    // ----- internals shared by the server and client halves -----

    pub(crate) fn transmit(&mut self, to: SocketAddr, data: Vec<u8>) {
        if self.transmits.len() < MAX_QUEUED_TRANSMITS {
            self.transmits.push_back((to, data));
        }
    }

    /// Sends a query; returns false when no transaction slot is free.
    pub(crate) fn send_query(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        id: Option<NodeId>,
        method: Method,
        purpose: Purpose,
    ) -> bool {
        // Half the transaction-id space at most, so a free id is always near.
        if self.outstanding.len() >= self.config.max_outstanding.min(1 << 15) {
            return false;
        }
        let mut tid = self.next_tid;
        while self.outstanding.contains_key(&tid) {
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1);
        let msg = Message {
            transaction: tid.to_be_bytes().to_vec(),
            version: self.config.version.clone(),
            ip: None,
            read_only: false,
            body: Body::Query(Query {
                id: self.id(),
                method,
            }),
        };
        self.transmit(addr, msg.encode());
        self.outstanding.insert(
            tid,
            Outstanding {
                addr,
                id,
                sent: now,
                slow: false,
                purpose,
            },
        );
        true
    }

    pub(crate) fn ping(&mut self, now: Instant, node: NodeInfo) {
        if !self.send_query(now, node.addr, Some(node.id), Method::Ping, Purpose::Ping) {
            self.table.clear_ping(&node);
        }
    }

    /// Verifies a node that just entered the table on its own word.
    pub(crate) fn ping_new(&mut self, now: Instant, node: NodeInfo) {
        if self.table.mark_pinging(&node) {
            self.ping(now, node);
        }
    }

    fn maintenance(&mut self, now: Instant, rng: &mut impl Rng) {
        use crate::proto::routing::Maintenance;
        for job in self.table.maintenance(now, rng) {
            match job {
                Maintenance::Refresh(target) => {
                    self.start_lookup(now, target, LookupKind::FindNode, &[], true);
                }
                Maintenance::Ping(node) => self.ping(now, node),
            }
        }
        self.small_table_lookup(now);
        self.store.expire(now);
        self.rate.forget_idle(now);
    }

    /// A node that joined through a node which had just joined itself ends up knowing almost
    /// nobody, and nobody knows it. While the table is that small, look ourselves up again,
    /// backing off, so the node meets its neighbourhood without waiting for bucket refresh.
    fn small_table_lookup(&mut self, now: Instant) {
        if self.table.len() >= K || self.table.is_empty() {
            self.self_lookup_backoff = MAINTENANCE_EVERY;
            return;
        }
        if now < self.next_self_lookup {
            return;
        }
        self.start_lookup(now, self.id(), LookupKind::FindNode, &[], true);
        self.next_self_lookup = now + self.self_lookup_backoff;
        self.self_lookup_backoff = (self.self_lookup_backoff * 2).min(REFRESH_AFTER);
    }
}

fn canonical_node(n: &NodeInfo) -> NodeInfo {
    NodeInfo {
        id: n.id,
        addr: canonical(n.addr),
    }
}
