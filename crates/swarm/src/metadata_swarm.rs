//! [`MetadataSwarm`]: the peers of a magnet link before its info dictionary is known.
//!
//! # Why a core of its own
//!
//! Everything in [`crate::Swarm`] (picker, choker, disk, piece requests) needs the torrent's
//! geometry, which a magnet link does not have. Rather than make each of those optional, the
//! metadata phase is this small separate core: it connects to peers, fetches the info
//! dictionary with ut_metadata from all of them at once ([`MetadataFetcher`], which verifies
//! it against the info-hash and names liars), and listens to PEX for more peers. When the
//! dictionary is verified the owner builds the torrent and a `Swarm`, which adopts these
//! connections as they are ([`MetadataSwarm::into_handoff`], [`crate::Swarm::adopt`]): each
//! session learns the geometry and reveals the piece set it kept, and our pieces (if any were
//! on disk) follow as HAVEs, since the first message (have-none, or nothing) is long sent.
//!
//! Handing connections over rather than closing and dialling again matters in practice: some
//! clients refuse a new connection from an address they have not yet seen go (Transmission
//! does), and peers that dialled us would be lost.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use shoal_core::{InfoHash, PeerId};
use shoal_picker::PeerKey;
use shoal_wire::ut_metadata::{DataOutcome, FetcherConfig, MessageOutcome, UT_METADATA};
use shoal_wire::{Features, FetchEvent, MetadataFetcher, MetadataMessage, PeerEvent, PeerSession};

use crate::addrs::{AddrBook, PeerSource};
use crate::extensions::{self, Incoming, PeerExt};
use crate::swarm::PeerInfo;
use crate::types::{CloseReason, SwarmConfig};

/// What the owner of a [`MetadataSwarm`] must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataEvent {
    /// Dial this address; then `peer_connected` or `dial_failed`.
    Dial(SocketAddr),
    /// Close this connection (and call nothing more for it).
    Close(PeerKey, CloseReason),
    /// The info dictionary, verified against the info-hash. The last event.
    Complete(Bytes),
}

struct MetaPeer {
    addr: SocketAddr,
    peer_id: PeerId,
    session: PeerSession,
    outgoing: bool,
    ext: PeerExt,
}

/// One connection handed from the metadata phase to the torrent's [`crate::Swarm`].
pub struct HandoffPeer {
    pub(crate) key: PeerKey,
    pub(crate) addr: SocketAddr,
    pub(crate) peer_id: PeerId,
    pub(crate) session: PeerSession,
    pub(crate) outgoing: bool,
    pub(crate) source: PeerSource,
    pub(crate) ext: PeerExt,
}

impl HandoffPeer {
    /// The key the connection had, and keeps.
    pub fn key(&self) -> PeerKey {
        self.key
    }
}

/// What the metadata phase hands to the torrent's swarm ([`crate::Swarm::adopt`]): its live
/// connections, under the same keys, and every address it knew.
pub struct Handoff {
    pub(crate) peers: Vec<HandoffPeer>,
    pub(crate) addrs: Vec<(SocketAddr, PeerSource)>,
    pub(crate) banned: Vec<std::net::IpAddr>,
}

impl Handoff {
    pub fn peers(&self) -> impl Iterator<Item = &HandoffPeer> {
        self.peers.iter()
    }
}

/// The sans-IO metadata phase of a magnet link: connections, the ut_metadata fetch and PEX.
///
/// Call order, as for [`crate::Swarm`]:
/// 1. [`new`](Self::new); [`add_peers`](Self::add_peers) from the link, trackers, the DHT.
/// 2. Inputs: [`peer_connected`](Self::peer_connected) after a handshake (the extension bit
///    must be set on ours), [`handle_peer_bytes`](Self::handle_peer_bytes),
///    [`peer_disconnected`](Self::peer_disconnected), [`dial_failed`](Self::dial_failed),
///    [`handle_timeout`](Self::handle_timeout) once [`poll_timeout`](Self::poll_timeout)
///    passed.
/// 3. After each input drain [`poll_transmit`](Self::poll_transmit) and
///    [`poll_event`](Self::poll_event). On [`MetadataEvent::Complete`] the phase is over:
///    build the torrent and a `Swarm`, and hand it the connections with
///    [`into_handoff`](Self::into_handoff) and [`crate::Swarm::adopt`].
///
/// States: *fetching* until the fetcher verified the dictionary, then *complete* (inputs are
/// ignored). Peers without the extension protocol are refused: they cannot help here.
pub struct MetadataSwarm {
    config: SwarmConfig,
    our_id: PeerId,
    listen_port: Option<u16>,
    peers: BTreeMap<PeerKey, MetaPeer>,
    addrs: AddrBook,
    fetcher: MetadataFetcher<PeerKey>,
    events: VecDeque<MetadataEvent>,
    /// Peers whose sessions may have bytes to send.
    dirty: BTreeSet<PeerKey>,
    next_key: u64,
    next_tick: Instant,
    complete: bool,
}

impl MetadataSwarm {
    pub fn new(
        info_hash: InfoHash,
        our_id: PeerId,
        listen_port: Option<u16>,
        config: SwarmConfig,
        now: Instant,
    ) -> Self {
        Self {
            addrs: AddrBook::new(config.max_known_addrs),
            config,
            our_id,
            listen_port,
            peers: BTreeMap::new(),
            fetcher: MetadataFetcher::new(info_hash, FetcherConfig::default()),
            events: VecDeque::new(),
            dirty: BTreeSet::new(),
            next_key: 1,
            next_tick: now,
            complete: false,
        }
    }

    // ----- inputs -----

    /// Addresses to try. Returns how many were new.
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

    /// Never dial `addr` (our own).
    pub fn exclude_addr(&mut self, addr: SocketAddr) {
        self.addrs.exclude(addr);
    }

    pub fn dial_failed(&mut self, now: Instant, addr: SocketAddr) {
        self.addrs.dial_failed(addr, now);
        self.dial_more(now);
    }

    pub fn accepts_incoming(&self, addr: SocketAddr) -> bool {
        !self.complete
            && !self.addrs.is_banned(addr.ip())
            && self.peers.len() < self.config.max_peers
    }

    /// A connection passed the handshake.
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
        if self.complete
            || !features.extension_protocol
            || self.peers.len() >= self.config.max_peers
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
        let mut session = PeerSession::new(now, self.config.session.clone(), features, None);
        let hs = extensions::our_handshake(
            self.listen_port,
            u32::try_from(self.config.session.max_peer_requests).unwrap_or(u32::MAX),
            None,
            self.config.pex,
        );
        session.send_ext_handshake(now, &hs);
        let key = PeerKey::new(self.next_key);
        self.next_key += 1;
        self.peers.insert(
            key,
            MetaPeer {
                addr,
                peer_id,
                session,
                outgoing,
                ext: PeerExt::new(addr),
            },
        );
        self.dirty.insert(key);
        Ok(key)
    }

    pub fn handle_peer_bytes(&mut self, now: Instant, key: PeerKey, data: &[u8]) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let result = peer.session.handle_bytes(now, data);
        self.dirty.insert(key);
        loop {
            let Some(event) = self
                .peers
                .get_mut(&key)
                .and_then(|p| p.session.poll_event())
            else {
                break;
            };
            self.on_peer_event(now, key, event);
        }
        if let Err(e) = result {
            self.close(now, key, CloseReason::Protocol(e.to_string()));
        }
        self.finish_input(now);
    }

    pub fn peer_disconnected(&mut self, now: Instant, key: PeerKey) {
        self.forget(now, key);
        self.dial_more(now);
        self.finish_input(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.fetcher.poll_timeout().is_some_and(|t| t <= now) {
            self.fetcher.handle_timeout(now);
        }
        if now >= self.next_tick {
            self.next_tick = now + self.config.tick;
            let due: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(_, p)| p.session.poll_timeout().is_some_and(|t| t <= now))
                .map(|(k, _)| *k)
                .collect();
            for key in due {
                let Some(p) = self.peers.get_mut(&key) else {
                    continue;
                };
                if let Err(e) = p.session.handle_timeout(now) {
                    self.close(now, key, CloseReason::Protocol(e.to_string()));
                } else {
                    self.dirty.insert(key);
                }
            }
            self.dial_more(now);
        }
        self.finish_input(now);
    }

    // ----- outputs -----

    pub fn poll_transmit(&mut self) -> Option<(PeerKey, Bytes)> {
        while let Some(&key) = self.dirty.first() {
            if let Some(b) = self
                .peers
                .get_mut(&key)
                .and_then(|p| p.session.poll_transmit())
            {
                return Some((key, b));
            }
            self.dirty.remove(&key);
        }
        None
    }

    pub fn poll_event(&mut self) -> Option<MetadataEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.complete {
            return None;
        }
        [Some(self.next_tick), self.fetcher.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- state -----

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Metadata pieces received and the piece count (0 of 0 until a peer told the size).
    pub fn progress(&self) -> (u32, u32) {
        self.fetcher.progress()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Connected peers whose extension handshake offered the metadata.
    pub fn metadata_peer_count(&self) -> usize {
        self.peers
            .values()
            .filter(|p| {
                p.session.peer_extension_id(UT_METADATA).is_some()
                    && p.session
                        .peer_ext_handshake()
                        .is_some_and(|h| h.metadata_size.is_some())
            })
            .count()
    }

    /// Every connected peer, for progress lines and snapshots (no pieces are exchanged yet).
    pub fn peer_infos(&self) -> Vec<PeerInfo> {
        self.peers
            .iter()
            .map(|(key, p)| PeerInfo {
                key: *key,
                addr: p.addr,
                source: if p.outgoing {
                    self.addrs.source(&p.addr).unwrap_or(PeerSource::Manual)
                } else {
                    PeerSource::Incoming
                },
                peer_id: p.peer_id,
                client: p.session.peer_ext_handshake().and_then(|h| h.v.clone()),
                outgoing: p.outgoing,
                am_choking: p.session.am_choking(),
                am_interested: p.session.am_interested(),
                peer_choking: p.session.peer_choking(),
                peer_interested: p.session.peer_interested(),
                snubbed: false,
                pieces: 0,
                down_rate: 0,
                up_rate: 0,
                downloaded: 0,
                uploaded: 0,
                requests_in_flight: 0,
                hash_strikes: 0,
            })
            .collect()
    }

    /// Known addresses not connected, and banned IPs.
    pub fn addr_counts(&self) -> (usize, usize) {
        (self.addrs.idle_count(), self.addrs.banned_count())
    }

    /// Ends the phase: the live connections (keys unchanged, so the owner's connection tasks
    /// go on as they are) and every dialable address, for [`crate::Swarm::adopt`].
    pub fn into_handoff(self) -> Handoff {
        let mut addrs: Vec<(SocketAddr, PeerSource)> = self.addrs.dialable().collect();
        addrs.sort();
        let banned = self.addrs.banned_ips();
        let peers = self
            .peers
            .into_iter()
            .map(|(key, p)| HandoffPeer {
                key,
                source: if p.outgoing {
                    self.addrs.source(&p.addr).unwrap_or(PeerSource::Manual)
                } else {
                    PeerSource::Incoming
                },
                addr: p.addr,
                peer_id: p.peer_id,
                session: p.session,
                outgoing: p.outgoing,
                ext: p.ext,
            })
            .collect();
        Handoff {
            peers,
            addrs,
            banned,
        }
    }

    // ----- internals -----

    fn on_peer_event(&mut self, now: Instant, key: PeerKey, event: PeerEvent) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        match event {
            PeerEvent::ExtHandshake(h) => {
                extensions::on_ext_handshake(&mut p.ext, &p.session, self.config.pex);
                if let Some(size) = h.metadata_size {
                    if p.session.peer_extension_id(UT_METADATA).is_some() {
                        // A size out of range is the peer's problem: it is just not asked.
                        let _ = self.fetcher.add_peer(key, size);
                    }
                }
            }
            PeerEvent::Extended { id, payload } => {
                let incoming = extensions::on_extended(
                    now,
                    &mut p.session,
                    &mut p.ext,
                    None,
                    self.config.pex,
                    id,
                    payload,
                );
                match incoming {
                    Incoming::Close(why) => self.close(now, key, CloseReason::Protocol(why)),
                    Incoming::Peers(addrs) => {
                        self.add_peers(now, addrs, PeerSource::Pex);
                    }
                    Incoming::Metadata(msg) => self.on_metadata(now, key, &msg),
                    Incoming::Nothing => {}
                }
            }
            // The piece set waits in the session until the metadata is known; nothing else
            // matters before then.
            _ => {}
        }
    }

    fn on_metadata(&mut self, now: Instant, key: PeerKey, msg: &MetadataMessage) {
        let outcome = self.fetcher.handle_message(now, &key, msg);
        if outcome == Some(MessageOutcome::Data(DataOutcome::Inconsistent)) {
            self.close(
                now,
                key,
                CloseReason::Protocol("ut_metadata data contradicts its announced size".into()),
            );
        }
    }

    /// Sends metadata requests round-robin (so pieces spread over peers) and acts on what
    /// the fetcher concluded.
    fn finish_input(&mut self, now: Instant) {
        if self.complete {
            return;
        }
        loop {
            let mut sent = false;
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            for key in keys {
                let Some(piece) = self.fetcher.next_request(now, &key) else {
                    continue;
                };
                let Some(p) = self.peers.get_mut(&key) else {
                    continue;
                };
                if let Some(id) = p.session.peer_extension_id(UT_METADATA) {
                    let msg = MetadataMessage::Request { piece: piece.get() };
                    p.session.send_extended(now, id, msg.encode());
                    self.dirty.insert(key);
                    sent = true;
                }
            }
            if !sent {
                break;
            }
        }
        while let Some(event) = self.fetcher.poll_event() {
            match event {
                // Proven to have sent a wrong piece or size (it may be gone already).
                FetchEvent::BadPeer { peer, .. } => self.close(now, peer, CloseReason::Banned),
                FetchEvent::VerifyFailed { .. } => {}
                FetchEvent::Complete(bytes) => {
                    self.complete = true;
                    self.events.push_back(MetadataEvent::Complete(bytes));
                }
            }
        }
    }

    fn dial_more(&mut self, now: Instant) {
        if self.complete {
            return;
        }
        let mut connecting = self.addrs.connecting_count();
        while self.peers.len() + connecting < self.config.max_peers
            && connecting < self.config.max_connecting
        {
            let Some((addr, _)) = self.addrs.next_to_dial(now) else {
                break;
            };
            connecting += 1;
            self.events.push_back(MetadataEvent::Dial(addr));
        }
    }

    fn close(&mut self, now: Instant, key: PeerKey, reason: CloseReason) {
        if self.peers.contains_key(&key) {
            if reason == CloseReason::Banned {
                if let Some(p) = self.peers.get(&key) {
                    self.addrs.ban(p.addr.ip());
                }
            }
            self.forget(now, key);
            self.events.push_back(MetadataEvent::Close(key, reason));
        }
    }

    fn forget(&mut self, now: Instant, key: PeerKey) {
        let Some(p) = self.peers.remove(&key) else {
            return;
        };
        self.fetcher.remove_peer(&key);
        self.addrs.disconnected(p.addr, now);
        self.dirty.remove(&key);
    }
}
