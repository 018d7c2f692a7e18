//! [`Swarm`]: the state of one torrent's peers, and its inputs and outputs.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_core::{Bitfield, PeerId, PieceIndex};
use shoal_picker::{Choker, Geometry, PeerKey, Picker};
use shoal_wire::{Features, MetadataServer, PeerSession, PieceGeometry as PeerGeometry};

use crate::addrs::{AddrBook, PeerSource};
use crate::ban::{Retries, Suspects};
use crate::extensions::{self, PeerExt};
use crate::peer::{Counted, Peer};
use crate::rate::Rate;
use crate::types::{CloseReason, DiskOp, SwarmConfig, SwarmEvent};
use crate::SwarmError;

/// A piece whose blocks are arriving: assembled in memory, hashed and written in one go.
pub(crate) struct PieceBuf {
    pub blocks: Vec<Option<Bytes>>,
    /// Who sent each block, for hash-failure accounting.
    pub senders: Vec<Option<SocketAddr>>,
}

/// Totals for progress lines and snapshots.
///
/// `downloaded` counts every block payload byte received; `wasted` is the part of it that did
/// not end up on disk (duplicates, late or unrequested blocks, pieces that failed their hash
/// or could not be written). So `downloaded - wasted` is the bytes of pieces we verified and
/// wrote from peers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwarmTotals {
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes received that were of no use (duplicates, unrequested, failed pieces).
    pub wasted: u64,
    pub hash_failures: u64,
}

/// The sans-IO brain of one torrent: every connected peer's [`PeerSession`], the piece
/// [`Picker`], the [`Choker`] and the address book, joined.
///
/// It owns no socket, file or clock. Call order:
/// 1. [`Swarm::new`] with the torrent's geometry, piece hashes and the pieces already on disk;
///    optionally [`set_wanted_files`](Self::set_wanted_files).
/// 2. Feed it: [`add_peers`](Self::add_peers) (tracker, DHT, PEX, manual), after a handshake
///    [`peer_connected`](Self::peer_connected), bytes with
///    [`handle_peer_bytes`](Self::handle_peer_bytes), [`peer_disconnected`](Self::peer_disconnected),
///    [`dial_failed`](Self::dial_failed), disk results with
///    [`handle_disk_done`](Self::handle_disk_done), and
///    [`handle_timeout`](Self::handle_timeout) once [`poll_timeout`](Self::poll_timeout) passes.
/// 3. After every input drain [`poll_transmit`](Self::poll_transmit),
///    [`poll_disk_op`](Self::poll_disk_op) and [`poll_event`](Self::poll_event) until `None`,
///    then read [`poll_timeout`](Self::poll_timeout) again.
///
/// A peer closed by the swarm (a [`SwarmEvent::Close`]) is already forgotten; later calls
/// naming it are ignored.
///
/// # Costs
///
/// Every input ends by topping up the request pipelines of the peers it concerned (see
/// `requests.rs`): a burst of blocks read in one `handle_peer_bytes` costs one pick, not one
/// per block. Blocks going back to the pool (a choke, a disconnect, a request timeout, a hash
/// failure, the disk catching up) wake every peer's pipeline at once, so nothing waits for the
/// periodic tick, which is only a safety net and skips peers whose last pick found nothing.
/// `poll_timeout` is O(log peers): connection keep-alives and idle timeouts, which need no
/// precision, are checked on the tick instead of being part of the deadline.
pub struct Swarm {
    pub(crate) config: SwarmConfig,
    pub(crate) geometry: PeerGeometry,
    pub(crate) blocks: Geometry,
    pub(crate) hashes: Vec<[u8; 20]>,
    pub(crate) picker: Picker,
    pub(crate) choker: Choker,
    pub(crate) peers: BTreeMap<PeerKey, Peer>,
    pub(crate) addrs: AddrBook,
    pub(crate) pieces: HashMap<PieceIndex, PieceBuf>,
    /// Senders of blocks of pieces now at the disk, by piece.
    pub(crate) at_disk: HashMap<PieceIndex, Vec<Option<SocketAddr>>>,
    pub(crate) disk_queue_bytes: u64,
    pub(crate) suspects: Suspects,
    /// Failed pieces being fetched again from one peer each.
    pub(crate) retries: Retries,
    pub(crate) events: VecDeque<SwarmEvent>,
    pub(crate) disk_ops: VecDeque<DiskOp>,
    /// Peers whose sessions may have bytes to send.
    pub(crate) dirty: BTreeSet<PeerKey>,
    /// Peers whose request pipelines are topped up before the current input returns.
    pub(crate) to_fill: BTreeSet<PeerKey>,
    /// Every peer's pipeline is topped up before the current input returns (blocks went back
    /// to the pool, or the endgame started).
    pub(crate) fill_all: bool,
    /// Interest in every peer must be recounted (the wanted pieces changed).
    pub(crate) recount_interest: bool,
    /// Every piece: the piece set handed to the picker for a peer that has them all, built
    /// once instead of per pick.
    pub(crate) all_pieces: Bitfield,
    pub(crate) rng: StdRng,
    pub(crate) next_key: u64,
    pub(crate) next_tick: Instant,
    pub(crate) completed: bool,
    /// Downloading stopped after a disk error; uploads go on.
    pub(crate) download_paused: bool,
    /// Paused by the user: no connections at all until resumed.
    pub(crate) user_paused: bool,
    pub(crate) our_id: PeerId,
    pub(crate) listen_port: Option<u16>,
    pub(crate) totals: SwarmTotals,
    pub(crate) down_rate: Rate,
    pub(crate) up_rate: Rate,
    /// Serves our info dictionary over ut_metadata; `None` when we were not given it.
    pub(crate) metadata: Option<MetadataServer>,
    /// Peer exchange is allowed (a public torrent; BEP 27 forbids it for private ones).
    pub(crate) pex_on: bool,
    /// A private torrent (BEP 27).
    pub(crate) private: bool,
}

/// A torrent as the swarm needs it.
#[derive(Clone, Debug)]
pub struct TorrentParams {
    pub total_length: u64,
    pub piece_length: u32,
    pub piece_hashes: Vec<[u8; 20]>,
    /// Pieces already verified on disk.
    pub have: Bitfield,
    pub our_id: PeerId,
    /// Our listen port, announced in the extension handshake.
    pub listen_port: Option<u16>,
    /// The info dictionary exactly as hashed, to serve over ut_metadata (BEP 9); `None`:
    /// requests are refused.
    pub info_bytes: Option<Bytes>,
    /// A private torrent (BEP 27): no peer exchange.
    pub private: bool,
}

impl Swarm {
    pub fn new(
        params: TorrentParams,
        config: SwarmConfig,
        now: Instant,
        seed: u64,
    ) -> Result<Self, SwarmError> {
        // Metadata over the ut_metadata cap is not served (peers would refuse it anyway); the
        // torrent itself is fine.
        let metadata = params.info_bytes.and_then(|b| MetadataServer::new(b).ok());
        let config_pex = config.pex;
        let geometry = PeerGeometry::new(params.total_length, params.piece_length)
            .ok_or(SwarmError::BadGeometry)?;
        if params.piece_hashes.len() != geometry.piece_count() as usize
            || params.have.len() != geometry.piece_count()
        {
            return Err(SwarmError::BadGeometry);
        }
        let blocks = Geometry::new(params.piece_length, params.total_length)
            .map_err(|e| SwarmError::Picker(e.to_string()))?;
        let picker = Picker::new(blocks.clone(), &params.have, config.picker.clone())
            .map_err(|e| SwarmError::Picker(e.to_string()))?;
        let mut choker = Choker::new(config.choker.clone(), now);
        let completed = picker.is_finished();
        choker.set_seeding(completed);
        Ok(Self {
            addrs: AddrBook::new(config.max_known_addrs),
            next_tick: now,
            all_pieces: Bitfield::full(geometry.piece_count()),
            config,
            geometry,
            blocks,
            hashes: params.piece_hashes,
            picker,
            choker,
            peers: BTreeMap::new(),
            pieces: HashMap::new(),
            at_disk: HashMap::new(),
            disk_queue_bytes: 0,
            suspects: Suspects::default(),
            retries: Retries::default(),
            events: VecDeque::new(),
            disk_ops: VecDeque::new(),
            dirty: BTreeSet::new(),
            to_fill: BTreeSet::new(),
            fill_all: false,
            recount_interest: false,
            rng: StdRng::seed_from_u64(seed),
            next_key: 1,
            completed,
            download_paused: false,
            user_paused: false,
            our_id: params.our_id,
            listen_port: params.listen_port,
            totals: SwarmTotals::default(),
            down_rate: Rate::new(now),
            up_rate: Rate::new(now),
            metadata,
            pex_on: config_pex && !params.private,
            private: params.private,
        })
    }

    // ----- inputs -----

    /// Addresses learnt from a tracker, the DHT, PEX or the user. Returns how many were new.
    pub fn add_peers(
        &mut self,
        now: Instant,
        addrs: impl IntoIterator<Item = SocketAddr>,
        source: PeerSource,
    ) -> usize {
        let added = addrs
            .into_iter()
            .filter(|a| self.addrs.add(*a, source, now))
            .count();
        if added > 0 {
            self.dial_more(now);
        }
        added
    }

    /// Never dial `addr` (our own address as a tracker reports it).
    pub fn exclude_addr(&mut self, addr: SocketAddr) {
        self.addrs.exclude(addr);
    }

    /// A dial to `addr` (from [`SwarmEvent::Dial`]) failed before or during the handshake.
    pub fn dial_failed(&mut self, now: Instant, addr: SocketAddr) {
        self.addrs.dial_failed(addr, now);
        self.dial_more(now);
    }

    /// Whether an incoming connection from `addr` would be taken (checked before answering
    /// its handshake).
    pub fn accepts_incoming(&self, addr: SocketAddr) -> bool {
        !self.addrs.is_banned(addr.ip()) && self.peers.len() < self.config.max_peers
    }

    /// A connection passed the handshake. `outgoing` says who dialled. Returns the key for
    /// the connection's later inputs, or why it must be closed.
    pub fn peer_connected(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        peer_id: PeerId,
        features: Features,
        outgoing: bool,
    ) -> Result<PeerKey, CloseReason> {
        if self.addrs.is_banned(addr.ip()) {
            return Err(CloseReason::Banned);
        }
        if self.user_paused {
            if outgoing {
                self.addrs.dial_failed(addr, now);
            }
            return Err(CloseReason::Stopping);
        }
        if self.peers.len() >= self.config.max_peers
            || peer_id == self.our_id
            || self.peers.values().any(|p| p.peer_id == peer_id)
        {
            if outgoing {
                self.addrs.disconnected(addr, now);
            }
            return Err(CloseReason::NotUseful);
        }
        if outgoing {
            self.addrs.connected(addr);
        } else {
            self.addrs.incoming(addr, now);
        }
        let source = if outgoing {
            self.addrs.source(&addr).unwrap_or(PeerSource::Manual)
        } else {
            PeerSource::Incoming
        };
        let mut session = PeerSession::new(
            now,
            self.config.session.clone(),
            features,
            Some((self.geometry, self.picker.have())),
        );
        if features.extension_protocol {
            let hs = self.our_ext_handshake();
            let _ = session.send_ext_handshake(now, &hs);
        }
        let key = PeerKey::new(self.next_key);
        self.next_key += 1;
        self.peers.insert(
            key,
            Peer::new(
                now,
                addr,
                source,
                peer_id,
                session,
                outgoing,
                PeerExt::new(addr),
            ),
        );
        self.dirty.insert(key);
        Ok(key)
    }

    /// Bytes received on a connection.
    pub fn handle_peer_bytes(&mut self, now: Instant, key: PeerKey, data: &[u8]) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let result = peer.session.handle_bytes(now, data);
        self.drain_session_events(now, key);
        match result {
            Err(e) => {
                let reason = if e.action() == shoal_wire::ErrorAction::Ban {
                    CloseReason::Banned
                } else {
                    CloseReason::Protocol(e.to_string())
                };
                self.close(now, key, reason);
            }
            Ok(()) => {
                self.dirty.insert(key);
                if self.is_flooding(key) {
                    let why = "kept requesting while choked".to_string();
                    self.close(now, key, CloseReason::Protocol(why));
                }
            }
        }
        self.finish_input(now);
    }

    /// A choked peer that keeps sending requests after being refused many times over is
    /// wasting our parsing and its bandwidth on purpose: counted from when we last choked it
    /// (or connected), allowing twice what our request queue holds.
    fn is_flooding(&self, key: PeerKey) -> bool {
        let Some(peer) = self.peers.get(&key) else {
            return false;
        };
        let refused = peer.session.stats().requests_refused;
        peer.session.am_choking()
            && refused.saturating_sub(peer.refused_at_choke)
                > 2 * self.config.session.max_peer_requests as u64
    }

    /// The connection ended from the outside (EOF, error). Idempotent.
    pub fn peer_disconnected(&mut self, now: Instant, key: PeerKey) {
        self.forget_peer(now, key);
        self.dial_more(now);
        self.finish_input(now);
    }

    /// Deadlines passed: request timeouts, rechoke, and the periodic tick (connection
    /// keep-alives and idle timeouts, dialling).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.picker.poll_timeout().is_some_and(|t| t <= now) {
            // The stalled peers keep their (now timed-out) requests in case the data still
            // comes; the blocks are pickable by everyone else from now on.
            if !self.picker.handle_timeout(now).is_empty() {
                self.fill_all = true;
            }
        }
        if self.choker.poll_timeout().is_some_and(|t| t <= now) {
            self.rechoke(now);
        }
        if now >= self.next_tick {
            self.next_tick = now + self.config.tick;
            self.tick(now);
        }
        self.finish_input(now);
    }

    /// Every `config.tick`: connection timers, a safety-net refill, dialling.
    fn tick(&mut self, now: Instant) {
        let due: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.session.poll_timeout().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            match peer.session.handle_timeout(now) {
                Err(e) => self.close(now, key, CloseReason::Protocol(e.to_string())),
                Ok(()) => {
                    self.dirty.insert(key);
                }
            }
        }
        // Every event that can give a peer more to request already refills it; a peer whose
        // last pick found nothing is skipped here, so the tick costs no picks in steady state.
        let hungry: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.starved)
            .map(|(k, _)| *k)
            .collect();
        self.to_fill.extend(hungry);
        self.send_pex(now);
        self.dial_more(now);
    }

    /// Work every input ends with: interest recounts and pipeline top-ups it asked for.
    pub(crate) fn finish_input(&mut self, now: Instant) {
        if self.recount_interest {
            self.recount_interest = false;
            self.recount_all_interest(now);
        }
        self.flush_fills(now);
    }

    // ----- outputs -----

    /// Bytes to send on a connection.
    pub fn poll_transmit(&mut self) -> Option<(PeerKey, Bytes)> {
        while let Some(&key) = self.dirty.first() {
            if let Some(peer) = self.peers.get_mut(&key) {
                if let Some(b) = peer.session.poll_transmit() {
                    return Some((key, b));
                }
            }
            self.dirty.remove(&key);
        }
        None
    }

    pub fn poll_disk_op(&mut self) -> Option<DiskOp> {
        self.disk_ops.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SwarmEvent> {
        self.events.pop_front()
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) must be called. O(log peers).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            Some(self.next_tick),
            self.picker.poll_timeout(),
            self.choker.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- state -----

    pub fn have(&self) -> &Bitfield {
        self.picker.have()
    }

    /// Every wanted piece is verified and written.
    pub fn is_complete(&self) -> bool {
        self.picker.is_finished()
    }

    pub fn totals(&self) -> &SwarmTotals {
        &self.totals
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Download and upload rates (bytes/s) over the last few seconds.
    pub fn rates(&mut self, now: Instant) -> (u64, u64) {
        (self.down_rate.per_second(now), self.up_rate.per_second(now))
    }

    /// Bytes of verified pieces (what `left` is computed from at trackers).
    pub fn bytes_have(&self) -> u64 {
        self.picker
            .have()
            .iter_ones()
            .filter_map(|i| self.geometry.piece(i))
            .map(|p| u64::from(self.geometry.piece_len(p)))
            .sum()
    }

    pub fn total_length(&self) -> u64 {
        self.geometry.total_length()
    }

    /// Bytes of pieces handed to the disk and not yet written (or refused).
    pub fn disk_queue_bytes(&self) -> u64 {
        self.disk_queue_bytes
    }

    // ----- internals shared by the other files -----

    /// Our BEP 10 handshake: ut_metadata with our size when we serve it, ut_pex when allowed.
    pub(crate) fn our_ext_handshake(&self) -> shoal_wire::ExtHandshake {
        extensions::our_handshake(
            self.listen_port,
            u32::try_from(self.config.session.max_peer_requests).unwrap_or(u32::MAX),
            self.metadata.as_ref().map(|m| m.size().get()),
            self.pex_on,
        )
    }

    /// Dials known addresses while there is room.
    pub(crate) fn dial_more(&mut self, now: Instant) {
        if self.user_paused {
            return;
        }
        // Counted once: the book is scanned per dial, not per loop test.
        let mut connecting = self.addrs.connecting_count();
        while self.peers.len() + connecting < self.config.max_peers
            && connecting < self.config.max_connecting
        {
            let Some((addr, _)) = self.addrs.next_to_dial(now) else {
                break;
            };
            connecting += 1;
            self.events.push_back(SwarmEvent::Dial(addr));
        }
    }

    /// Closes a connection on our side: forgets it and tells the owner.
    pub(crate) fn close(&mut self, now: Instant, key: PeerKey, reason: CloseReason) {
        if let Some(addr) = self.peers.get(&key).map(|p| p.addr) {
            if reason == CloseReason::Banned {
                self.addrs.ban(addr.ip());
            }
            self.forget_peer(now, key);
            self.events.push_back(SwarmEvent::Close(key, reason));
        }
    }

    fn forget_peer(&mut self, now: Instant, key: PeerKey) {
        let Some(peer) = self.peers.remove(&key) else {
            return;
        };
        match peer.counted {
            Counted::All => self.picker.peer_lost_all(),
            Counted::Pieces => {
                if let Some(bits) = peer.session.peer_pieces() {
                    self.picker.peer_lost(bits);
                }
            }
        }
        // Its requests go back to the pool: the other peers take them now, not at the tick.
        if !self.picker.on_peer_disconnected(key).is_empty() {
            self.fill_all = true;
        }
        if self.choker.remove_peer(key) {
            self.rechoke_if_room(now);
        }
        self.addrs.disconnected(peer.addr, now);
        self.dirty.remove(&key);
        self.to_fill.remove(&key);
    }
}

/// One connected peer, for progress lines and snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub source: PeerSource,
    pub peer_id: PeerId,
    pub client: Option<String>,
    pub outgoing: bool,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    pub snubbed: bool,
    /// Pieces the peer has.
    pub pieces: u32,
    pub down_rate: u64,
    pub up_rate: u64,
    pub downloaded: u64,
    pub uploaded: u64,
    pub requests_in_flight: usize,
    pub hash_strikes: u32,
}

impl Swarm {
    /// Every connected peer.
    pub fn peer_infos(&mut self, now: Instant) -> Vec<PeerInfo> {
        let piece_count = self.geometry.piece_count();
        let mut out = Vec::with_capacity(self.peers.len());
        for (key, p) in self.peers.iter_mut() {
            out.push(PeerInfo {
                key: *key,
                addr: p.addr,
                source: p.source,
                peer_id: p.peer_id,
                client: p.session.peer_ext_handshake().and_then(|h| h.v.clone()),
                outgoing: p.outgoing,
                am_choking: p.session.am_choking(),
                am_interested: p.session.am_interested(),
                peer_choking: p.session.peer_choking(),
                peer_interested: p.session.peer_interested(),
                snubbed: self.choker.is_snubbing(*key),
                pieces: match p.counted {
                    Counted::All => piece_count,
                    Counted::Pieces => p.session.peer_pieces().map_or(0, |b| b.count_ones()),
                },
                down_rate: p.down.per_second(now),
                up_rate: p.up.per_second(now),
                downloaded: p.down.total(),
                uploaded: p.up.total(),
                requests_in_flight: self.picker.outstanding(*key),
                hash_strikes: p.strikes,
            });
        }
        out
    }

    /// Peer addresses known but not connected, and IPs banned.
    pub fn addr_counts(&self) -> (usize, usize) {
        (self.addrs.idle_count(), self.addrs.banned_count())
    }

    pub fn our_id(&self) -> PeerId {
        self.our_id
    }
}
