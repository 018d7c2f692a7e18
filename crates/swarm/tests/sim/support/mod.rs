//! A deterministic harness for whole swarms of [`Swarm`] cores.
//!
//! Every node is a real `Swarm` (or a scripted wire session) with an in-memory disk. Nodes are
//! joined by in-memory connections whose bytes move in 5 ms bandwidth ticks and arrive after a
//! latency; the harness does the handshake itself. Time is virtual: a base `Instant` plus a
//! simulated `Duration`, advanced straight to the next thing that can happen (a byte arriving,
//! a bandwidth tick, a disk completion, a core's deadline). Everything random comes from one
//! seeded RNG and every collection is ordered, so a seed replays exactly: a failure message
//! names its seed, and `SHOAL_SIM_SEED=<n>` runs only that seed.
//!
//! Faults are the harness's doing, never the core's: a node can corrupt the blocks it sends, a
//! disk can fail a write, a connection can vanish, and raw bytes can be injected on a pipe.
//!
//! Checks made on every step, in every test: a core never sends on a closed connection, never
//! sends a frame that does not decode, never requests a block while its downloading is paused
//! or its disk queue is at `max_disk_queue`, and hands the disk only whole, well-cut pieces.

pub mod content;
pub mod disk;
pub mod net;
pub mod script;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};
use shoal_core::InfoHash;
use shoal_core::PeerId;
use shoal_picker::PeerKey;
use shoal_swarm::{
    CloseReason, MetadataEvent, MetadataSwarm, Swarm, SwarmConfig, SwarmEvent, TorrentParams,
};
use shoal_wire::{Features, Handshake, Message};

pub use content::{Content, Have};
pub use disk::{MemDisk, WriteFault};
pub use net::{Link, LinkOpts, Logged};
pub use script::{Behavior, Script};

const INFO_HASH: [u8; 20] = [0x5a; 20];
/// Largest chunk handed to a core at once, like the engine's 64 KiB reads.
const READ_CHUNK: usize = 64 * 1024;

/// The seeds to run: `SHOAL_SIM_SEED` if set, else `default`.
pub fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("SHOAL_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => default.to_vec(),
    }
}

pub enum Core {
    Swarm(Box<Swarm>),
    Script(Script),
    /// A magnet link's metadata phase.
    Magnet(Box<MetadataSwarm>),
}

pub struct Node {
    pub name: String,
    /// Where it listens (what others dial).
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    pub core: Core,
    pub disk: MemDisk,
    pub events: Vec<(Duration, SwarmEvent)>,
    /// Events of a metadata-phase core.
    pub magnet_events: Vec<(Duration, MetadataEvent)>,
    /// Addresses it was told to dial, and when.
    pub dials: Vec<(Duration, SocketAddr)>,
    /// Connections it refused in `peer_connected`.
    pub refused: Vec<(Duration, SocketAddr, CloseReason)>,
    /// Flips a byte in every block it sends.
    pub corrupt: bool,
    /// Accepts dials.
    pub online: bool,
    max_disk_queue: u64,
}

pub struct Sim {
    pub seed: u64,
    pub content: Content,
    base: Instant,
    now: Duration,
    rng: StdRng,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    /// Settings of connections the cores dial themselves.
    pub dial_opts: LinkOpts,
    /// Nodes whose outputs must be drained.
    pending: BTreeSet<usize>,
    by_key: BTreeMap<(usize, PeerKey), usize>,
}

impl Sim {
    /// A simulation of a torrent of `total` random bytes in pieces of `piece_len`.
    pub fn new(seed: u64, total: u64, piece_len: u32) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let content = Content::random(&mut rng, total, piece_len);
        Self {
            seed,
            content,
            // The only clock read: every later time is this plus a simulated duration.
            base: Instant::now(),
            now: Duration::ZERO,
            rng,
            nodes: Vec::new(),
            links: Vec::new(),
            dial_opts: LinkOpts::default(),
            pending: BTreeSet::new(),
            by_key: BTreeMap::new(),
        }
    }

    pub fn now(&self) -> Instant {
        self.base + self.now
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now
    }

    fn add_node(
        &mut self,
        name: &str,
        have: &Have,
        core: impl FnOnce(&mut Self, PeerId, SocketAddr) -> Core,
        max_disk_queue: u64,
    ) -> usize {
        let i = self.nodes.len();
        let addr = SocketAddr::from(([127, 0, 0, 10 + i as u8], 6881));
        let mut id = *b"-SM0001-............";
        id[8..].copy_from_slice(format!("{i:012}").as_bytes());
        let peer_id = PeerId(id);
        let bits = have.bitfield(self.content.piece_count());
        let core = core(self, peer_id, addr);
        self.nodes.push(Node {
            name: name.to_string(),
            addr,
            peer_id,
            core,
            disk: MemDisk::new(&self.content, &bits),
            events: Vec::new(),
            magnet_events: Vec::new(),
            dials: Vec::new(),
            refused: Vec::new(),
            corrupt: false,
            online: true,
            max_disk_queue,
        });
        self.pending.insert(i);
        i
    }

    /// Adds a swarm core starting with `have`.
    pub fn add_swarm(&mut self, name: &str, have: Have, config: SwarmConfig) -> usize {
        self.add_swarm_with(name, have, config, None, false)
    }

    /// Adds a swarm core that serves `info` over ut_metadata and is `private` or not.
    pub fn add_swarm_with(
        &mut self,
        name: &str,
        have: Have,
        config: SwarmConfig,
        info: Option<Bytes>,
        private: bool,
    ) -> usize {
        let max = config.max_disk_queue;
        let have2 = have.clone();
        self.add_node(
            name,
            &have,
            |sim, peer_id, addr| {
                let params = TorrentParams {
                    total_length: sim.content.total(),
                    piece_length: sim.content.piece_len,
                    piece_hashes: sim.content.hashes.clone(),
                    have: have2.bitfield(sim.content.piece_count()),
                    our_id: peer_id,
                    listen_port: Some(addr.port()),
                    info_bytes: info,
                    private,
                };
                let seed = sim.rng.random();
                let swarm = Swarm::new(params, config, sim.now(), seed).expect("swarm");
                Core::Swarm(Box::new(swarm))
            },
            max,
        )
    }

    /// Adds a magnet link's metadata phase fetching the info dictionary of `info_hash`.
    pub fn add_magnet(&mut self, name: &str, info_hash: InfoHash, config: SwarmConfig) -> usize {
        self.add_node(
            name,
            &Have::None,
            |sim, peer_id, addr| {
                let m =
                    MetadataSwarm::new(info_hash, peer_id, Some(addr.port()), config, sim.now());
                Core::Magnet(Box::new(m))
            },
            u64::MAX,
        )
    }

    /// Ends node `n`'s metadata phase as the engine does: a swarm built from the fetched
    /// metadata adopts its connections (links and keys stay) and addresses.
    pub fn finish_magnet(&mut self, n: usize, have: Have, config: SwarmConfig) {
        let Core::Magnet(_) = &self.nodes[n].core else {
            panic!("node {n} is not a magnet");
        };
        let params = TorrentParams {
            total_length: self.content.total(),
            piece_length: self.content.piece_len,
            piece_hashes: self.content.hashes.clone(),
            have: have.bitfield(self.content.piece_count()),
            our_id: self.nodes[n].peer_id,
            listen_port: Some(self.nodes[n].addr.port()),
            info_bytes: Some(self.content.info_bytes()),
            private: false,
        };
        // What the phase found on disk (a magnet link added again over part of its data).
        self.nodes[n].disk = MemDisk::new(&self.content, &params.have);
        let seed = self.rng.random();
        let swarm = Swarm::new(params, config, self.now(), seed).expect("swarm");
        let now = self.now();
        let old = std::mem::replace(&mut self.nodes[n].core, Core::Swarm(Box::new(swarm)));
        let Core::Magnet(m) = old else { unreachable!() };
        if let Core::Swarm(s) = &mut self.nodes[n].core {
            s.adopt(now, m.into_handoff());
        }
        self.pending.insert(n);
        self.drain_all();
    }

    /// Gives magnet node `n` addresses to dial, as a tracker or the link would.
    pub fn magnet_add_peers(&mut self, n: usize, addrs: &[SocketAddr]) {
        let now = self.now();
        match &mut self.nodes[n].core {
            Core::Magnet(m) => {
                m.add_peers(now, addrs.iter().copied(), shoal_swarm::PeerSource::Manual)
            }
            _ => panic!("node {n} is not a magnet"),
        };
        self.pending.insert(n);
        self.drain_all();
    }

    /// The metadata node `n` fetched, once it did.
    pub fn fetched_metadata(&self, n: usize) -> Option<Bytes> {
        self.nodes[n]
            .magnet_events
            .iter()
            .find_map(|(_, e)| match e {
                MetadataEvent::Complete(b) => Some(b.clone()),
                _ => None,
            })
    }

    pub fn magnet(&self, n: usize) -> &MetadataSwarm {
        match &self.nodes[n].core {
            Core::Magnet(m) => m,
            _ => panic!("node {n} is not a magnet"),
        }
    }

    /// Adds a scripted seeder-like peer.
    pub fn add_script(&mut self, name: &str, have: Have, behavior: Behavior) -> usize {
        let bits = have.bitfield(self.content.piece_count());
        self.add_node(
            name,
            &have,
            |_, _, _| Core::Script(Script::new(behavior, bits)),
            u64::MAX,
        )
    }

    pub fn swarm(&self, n: usize) -> &Swarm {
        match &self.nodes[n].core {
            Core::Swarm(s) => s,
            _ => panic!("node {n} is not a swarm"),
        }
    }

    /// Runs a command on a swarm core at the current time, then drains its outputs.
    pub fn command<R>(&mut self, n: usize, f: impl FnOnce(&mut Swarm, Instant) -> R) -> R {
        let now = self.now();
        let r = match &mut self.nodes[n].core {
            Core::Swarm(s) => f(s, now),
            _ => panic!("node {n} is not a swarm"),
        };
        self.pending.insert(n);
        self.drain_all();
        r
    }

    // ----- connections -----

    /// Connects `a` (dialling) to `b`, doing the handshake with the real codec. Returns the
    /// link, or `None` when either core refused the connection.
    pub fn connect(&mut self, a: usize, b: usize, opts: LinkOpts) -> Option<usize> {
        let link = self.connect_inner(a, b, opts);
        self.drain_all();
        link
    }

    fn connect_inner(&mut self, a: usize, b: usize, opts: LinkOpts) -> Option<usize> {
        let hs = |id: PeerId| {
            let mut h = Handshake::new(INFO_HASH, id);
            h.set_fast_bit(opts.fast);
            h.set_extension_protocol_bit(opts.ext);
            // Through the codec, as a socket would carry it.
            Handshake::decode(&h.encode())
                .expect("handshake")
                .expect("whole handshake")
                .0
        };
        let (ha, hb) = (hs(self.nodes[a].peer_id), hs(self.nodes[b].peer_id));
        let features = Features::negotiate(&ha, &hb);
        assert_eq!(features, Features::negotiate(&hb, &ha));
        let link_id = self.links.len();
        let b_addr = self.nodes[b].addr;
        let a_seen = SocketAddr::new(self.nodes[a].addr.ip(), 40_000 + link_id as u16);
        let ka = self.core_connected(a, b_addr, hb.peer_id, features, true);
        let kb = self.core_connected(b, a_seen, ha.peer_id, features, false);
        match (ka, kb) {
            (Some(ka), Some(kb)) => {
                let ends = [net::End { node: a, key: ka }, net::End { node: b, key: kb }];
                self.links.push(Link::new(ends, &opts));
                self.by_key.insert((a, ka), link_id);
                self.by_key.insert((b, kb), link_id);
                self.pending.insert(a);
                self.pending.insert(b);
                Some(link_id)
            }
            (ka, kb) => {
                // The side that accepted learns at once that the other hung up.
                for (n, k) in [(a, ka), (b, kb)] {
                    if let Some(k) = k {
                        self.core_disconnected(n, k);
                    }
                }
                None
            }
        }
    }

    fn core_connected(
        &mut self,
        n: usize,
        remote: SocketAddr,
        peer_id: PeerId,
        features: Features,
        outgoing: bool,
    ) -> Option<PeerKey> {
        let now = self.now();
        let result = match &mut self.nodes[n].core {
            Core::Swarm(s) => s.peer_connected(now, remote, peer_id, features, outgoing),
            Core::Script(sc) => Ok(sc.connected(now, features, &self.content)),
            Core::Magnet(m) => m.peer_connected(now, remote, peer_id, features, outgoing),
        };
        self.pending.insert(n);
        match result {
            Ok(k) => Some(k),
            Err(reason) => {
                self.nodes[n].refused.push((self.now, remote, reason));
                None
            }
        }
    }

    fn core_disconnected(&mut self, n: usize, key: PeerKey) {
        let now = self.now();
        match &mut self.nodes[n].core {
            Core::Swarm(s) => s.peer_disconnected(now, key),
            Core::Script(sc) => {
                sc.sessions.remove(&key);
            }
            Core::Magnet(m) => m.peer_disconnected(now, key),
        }
        self.pending.insert(n);
    }

    /// Closes a link; every end but `initiator` is told the connection ended.
    fn close_link(&mut self, link: usize, initiator: Option<usize>) {
        if !self.links[link].open {
            return;
        }
        self.links[link].close(self.now);
        for end in self.links[link].ends {
            if Some(end.node) != initiator {
                self.core_disconnected(end.node, end.key);
            }
        }
    }

    /// The connection vanishes (both ends see it drop; bytes in flight are lost).
    pub fn drop_link(&mut self, link: usize) {
        self.close_link(link, None);
        self.drain_all();
    }

    /// Writes raw bytes onto `link` as if `from` sent them.
    pub fn inject(&mut self, link: usize, from: usize, bytes: &[u8]) {
        let now = self.now;
        let l = &mut self.links[link];
        let side = l.side(from);
        l.pipes[side].inject(now, Bytes::copy_from_slice(bytes));
    }

    pub fn link_between(&self, a: usize, b: usize) -> Option<usize> {
        self.links.iter().position(|l| {
            let n = [l.ends[0].node, l.ends[1].node];
            n == [a, b] || n == [b, a]
        })
    }

    /// The key node `n` knows `link` by.
    pub fn key(&self, link: usize, n: usize) -> PeerKey {
        let l = &self.links[link];
        l.ends[l.side(n)].key
    }

    // ----- running -----

    /// Runs until `done` returns true (checked after every step; it may also act on the
    /// simulation) or simulated time reaches `limit`. Returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let mut stuck = 0u32;
        loop {
            self.step();
            if done(self) {
                return true;
            }
            let Some(next) = self.next_event() else {
                return false;
            };
            if next > limit {
                self.now = self.now.max(limit);
                return false;
            }
            if next <= self.now {
                stuck += 1;
                assert!(
                    stuck < 10_000,
                    "seed {}: no progress at {:?}",
                    self.seed,
                    self.now
                );
            } else {
                stuck = 0;
                self.now = next;
            }
        }
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        self.run_until(limit, |_| false);
        self.now = limit;
    }

    /// Runs until every listed node is complete; panics (naming the seed) after `limit`.
    pub fn run_to_completion(&mut self, nodes: &[usize], limit: Duration) {
        let nodes = nodes.to_vec();
        let ok = self.run_until(limit, |sim| {
            nodes.iter().all(|&n| sim.swarm(n).is_complete())
        });
        if !ok {
            let have: Vec<String> = nodes
                .iter()
                .map(|&n| {
                    format!(
                        "{}: {}/{}",
                        self.nodes[n].name,
                        self.swarm(n).have().count_ones(),
                        self.content.piece_count()
                    )
                })
                .collect();
            panic!(
                "seed {}: not complete after {:?}: {}",
                self.seed,
                self.now,
                have.join(", ")
            );
        }
    }

    fn next_event(&self) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut consider = |t: Option<Duration>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for node in &self.nodes {
            let deadline = match &node.core {
                Core::Swarm(s) => s.poll_timeout(),
                Core::Script(sc) => sc.poll_timeout(),
                Core::Magnet(m) => m.poll_timeout(),
            };
            consider(deadline.map(|t| t.saturating_duration_since(self.base)));
            consider(node.disk.next_due());
        }
        for l in &self.links {
            consider(l.next_event());
        }
        next
    }

    /// Does everything due at the current time.
    fn step(&mut self) {
        let now = self.now();
        for n in 0..self.nodes.len() {
            match &mut self.nodes[n].core {
                Core::Swarm(s) => {
                    if s.poll_timeout().is_some_and(|t| t <= now) {
                        s.handle_timeout(now);
                        self.pending.insert(n);
                    }
                }
                Core::Magnet(m) => {
                    if m.poll_timeout().is_some_and(|t| t <= now) {
                        m.handle_timeout(now);
                        self.pending.insert(n);
                    }
                }
                Core::Script(sc) => {
                    let dead = sc.handle_timeout(now);
                    self.pending.insert(n);
                    for k in dead {
                        if let Some(&l) = self.by_key.get(&(n, k)) {
                            self.close_link(l, Some(n));
                        }
                    }
                }
            }
        }
        self.drain_all();
        for n in 0..self.nodes.len() {
            while let Some(done) = self.nodes[n].disk.pop_due(self.now, &self.content) {
                match &mut self.nodes[n].core {
                    Core::Swarm(s) => s.handle_disk_done(now, done),
                    _ => unreachable!("only swarms use the disk"),
                }
                self.pending.insert(n);
                self.drain_all();
            }
        }
        for l in &mut self.links {
            if l.open {
                for p in &mut l.pipes {
                    p.send_due(self.now);
                }
            }
        }
        for link in 0..self.links.len() {
            for side in 0..2 {
                while self.links[link].open {
                    let Some(bytes) =
                        self.links[link].pipes[side].take_arrived(self.now, READ_CHUNK)
                    else {
                        break;
                    };
                    let to = self.links[link].ends[1 - side];
                    self.deliver(link, to.node, to.key, &bytes);
                    self.drain_all();
                }
            }
        }
    }

    fn deliver(&mut self, link: usize, n: usize, key: PeerKey, bytes: &[u8]) {
        let now = self.now();
        let failed = match &mut self.nodes[n].core {
            Core::Swarm(s) => {
                s.handle_peer_bytes(now, key, bytes);
                false
            }
            Core::Script(sc) => sc.handle_bytes(now, key, bytes, &self.content).is_err(),
            Core::Magnet(m) => {
                m.handle_peer_bytes(now, key, bytes);
                false
            }
        };
        self.pending.insert(n);
        if failed {
            self.close_link(link, Some(n));
        }
    }

    fn drain_all(&mut self) {
        while let Some(n) = self.pending.pop_first() {
            self.drain(n);
        }
    }

    fn drain(&mut self, n: usize) {
        let mut outs: Vec<(PeerKey, Bytes)> = Vec::new();
        let mut ops = Vec::new();
        let mut events = Vec::new();
        let mut magnet = Vec::new();
        match &mut self.nodes[n].core {
            Core::Swarm(s) => {
                while let Some(t) = s.poll_transmit() {
                    outs.push(t);
                }
                while let Some(op) = s.poll_disk_op() {
                    ops.push(op);
                }
                while let Some(e) = s.poll_event() {
                    events.push(e);
                }
            }
            Core::Script(sc) => {
                for (k, s) in sc.sessions.iter_mut() {
                    while let Some(b) = s.poll_transmit() {
                        outs.push((*k, b));
                    }
                }
            }
            Core::Magnet(m) => {
                while let Some(t) = m.poll_transmit() {
                    outs.push(t);
                }
                while let Some(e) = m.poll_event() {
                    // Dials and closes are the same for both kinds of core.
                    let mirrored = match &e {
                        MetadataEvent::Dial(a) => Some(SwarmEvent::Dial(*a)),
                        MetadataEvent::Close(k, r) => Some(SwarmEvent::Close(*k, r.clone())),
                        MetadataEvent::Complete(_) => None,
                    };
                    magnet.push((self.now, e));
                    events.extend(mirrored);
                }
            }
        }
        self.nodes[n].magnet_events.extend(magnet);
        let mut requested = false;
        for (key, bytes) in outs {
            let Some(&link) = self.by_key.get(&(n, key)) else {
                panic!(
                    "seed {}: {} sent on unknown connection {key:?}",
                    self.seed, self.nodes[n].name
                )
            };
            let l = &mut self.links[link];
            assert!(
                l.open,
                "seed {}: {} sent on closed link {link}",
                self.seed, self.nodes[n].name
            );
            let side = l.side(n);
            let corrupt = if self.nodes[n].corrupt {
                Some(&mut self.rng)
            } else {
                None
            };
            let msgs = l.pipes[side].push(self.now, &bytes, corrupt);
            requested |= msgs.iter().any(|m| matches!(m, Message::Request(_)));
        }
        if let (true, Core::Swarm(s)) = (requested, &self.nodes[n].core) {
            assert!(
                !s.is_download_paused(),
                "seed {}: {} requested while downloading is paused",
                self.seed,
                self.nodes[n].name
            );
            assert!(
                s.disk_queue_bytes() < self.nodes[n].max_disk_queue,
                "seed {}: {} requested with {} bytes queued for the disk",
                self.seed,
                self.nodes[n].name,
                s.disk_queue_bytes()
            );
        }
        for op in ops {
            self.nodes[n].disk.submit(self.now, op);
        }
        for ev in events {
            self.nodes[n].events.push((self.now, ev.clone()));
            self.on_event(n, ev);
        }
    }

    fn on_event(&mut self, n: usize, ev: SwarmEvent) {
        match ev {
            SwarmEvent::Dial(addr) => {
                self.nodes[n].dials.push((self.now, addr));
                match self.nodes.iter().position(|x| x.addr == addr && x.online) {
                    Some(target) if target != n => {
                        let opts = self.dial_opts;
                        self.connect_inner(n, target, opts);
                    }
                    _ => {
                        let now = self.now();
                        match &mut self.nodes[n].core {
                            Core::Swarm(s) => s.dial_failed(now, addr),
                            Core::Magnet(m) => m.dial_failed(now, addr),
                            Core::Script(_) => {}
                        }
                        self.pending.insert(n);
                    }
                }
            }
            SwarmEvent::Close(key, _) => {
                let link = *self
                    .by_key
                    .get(&(n, key))
                    .expect("close of unknown connection");
                self.close_link(link, Some(n));
            }
            _ => {}
        }
    }

    // ----- observations -----

    pub fn events(&self, n: usize) -> impl Iterator<Item = &SwarmEvent> {
        self.nodes[n].events.iter().map(|(_, e)| e)
    }

    pub fn count_events(&self, n: usize, f: impl Fn(&SwarmEvent) -> bool) -> usize {
        self.events(n).filter(|e| f(e)).count()
    }

    /// Connections node `n` closed, with why.
    pub fn closes(&self, n: usize) -> Vec<(PeerKey, CloseReason)> {
        self.events(n)
            .filter_map(|e| match e {
                SwarmEvent::Close(k, r) => Some((*k, r.clone())),
                _ => None,
            })
            .collect()
    }

    /// Asserts node `n` finished with exactly the torrent's bytes and said so once.
    pub fn assert_complete_and_correct(&self, n: usize) {
        let name = &self.nodes[n].name;
        let s = self.swarm(n);
        assert!(s.is_complete(), "seed {}: {name} incomplete", self.seed);
        assert!(
            s.have().is_full(),
            "seed {}: {name} have-bitfield not full",
            self.seed
        );
        assert!(
            self.nodes[n].disk.data == self.content.data[..],
            "seed {}: {name}'s data differs from the source",
            self.seed
        );
        assert_eq!(
            self.count_events(n, |e| *e == SwarmEvent::Completed),
            1,
            "seed {}: {name} must report Completed exactly once",
            self.seed
        );
    }

    /// A digest of everything observable: events and every message on every link, with times.
    pub fn digest(&self) -> [u8; 20] {
        let mut h = Sha1::new();
        for node in &self.nodes {
            for (t, e) in &node.events {
                h.update(format!("{t:?} {e:?}\n").as_bytes());
            }
        }
        for l in &self.links {
            for p in &l.pipes {
                for m in &p.sent {
                    h.update(format!("{:?} {:?} {}\n", m.at, m.msg, m.data_len).as_bytes());
                }
            }
        }
        h.finalize().into()
    }
}

/// Requests in a log, with when.
pub fn requests(log: &[Logged]) -> Vec<(Duration, shoal_wire::BlockSpec)> {
    log.iter()
        .filter_map(|m| match m.msg {
            Message::Request(s) => Some((m.at, s)),
            _ => None,
        })
        .collect()
}

/// Cancels in a log, with when.
pub fn cancels(log: &[Logged]) -> Vec<(Duration, shoal_wire::BlockSpec)> {
    log.iter()
        .filter_map(|m| match m.msg {
            Message::Cancel(s) => Some((m.at, s)),
            _ => None,
        })
        .collect()
}

/// Blocks in a log as (when, piece, offset, length).
pub fn pieces(log: &[Logged]) -> Vec<(Duration, shoal_wire::BlockSpec)> {
    log.iter()
        .filter_map(|m| match m.msg {
            Message::Piece { index, begin, .. } => Some((
                m.at,
                shoal_wire::BlockSpec {
                    index,
                    begin,
                    length: m.data_len as u32,
                },
            )),
            _ => None,
        })
        .collect()
}

/// When the first message matching `f` was logged.
pub fn first_at(log: &[Logged], f: impl Fn(&Message) -> bool) -> Option<Duration> {
    log.iter().find(|m| f(&m.msg)).map(|m| m.at)
}

/// Blocks `from` requested on `link` and has not received (yet), counting repeats: what is
/// in flight on the wire from its side. Rejects count as answers.
pub fn unanswered(link: &Link, from: usize) -> Vec<shoal_wire::BlockSpec> {
    let mut open: BTreeMap<shoal_wire::BlockSpec, i64> = BTreeMap::new();
    for (_, s) in requests(link.sent_by(from)) {
        *open.entry(s).or_default() += 1;
    }
    for m in link.received_by(from) {
        let spec = match m.msg {
            Message::Piece { index, begin, .. } => shoal_wire::BlockSpec {
                index,
                begin,
                length: m.data_len as u32,
            },
            Message::Reject(s) => s,
            _ => continue,
        };
        *open.entry(spec).or_default() -= 1;
    }
    open.into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, _)| s)
        .collect()
}
