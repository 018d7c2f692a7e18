//! [`PeerSession`]: the state of one peer connection after the handshake.

mod commands;
mod incoming;
mod peer_pieces;
mod requests;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use shoal_core::{Bitfield, PieceIndex};

use crate::codec;
use crate::error::WireError;
use crate::extension::{ExtHandshake, MAX_EXTENSIONS};
use crate::geometry::{BlockRange, PieceGeometry};
use crate::handshake::Features;
use crate::message::Message;
use peer_pieces::PeerPieces;
use requests::OurRequests;

pub use types::{
    CancelOutcome, PeerEvent, RefuseOutcome, RequestOutcome, SendOutcome, ServeOutcome,
    SessionConfig, SessionStats,
};

/// Messages below this size are coalesced into one outgoing buffer; larger payloads (blocks)
/// are queued as their own `Bytes` so they are never copied.
const COALESCE_LIMIT: usize = 1024;

/// The sans-IO state machine of one peer connection, from just after the handshake until it
/// closes.
///
/// It owns no socket and reads no clock: the owner feeds it received bytes and the time, and
/// drains bytes to send, events and its next deadline.
///
/// # Call order
///
/// 1. Do the handshake (see [`crate::Handshake`]), then [`PeerSession::new`] with the
///    negotiated [`Features`]. `new` queues our piece set (bitfield / have-all / have-none), so
///    it is always our first message; send the extension handshake next if BEP 10 is on.
///    Bytes that followed the peer's handshake in the same read go to `handle_bytes`.
/// 2. Loop:
///    - on received bytes: [`handle_bytes`](PeerSession::handle_bytes)`(now, bytes)`;
///    - when the deadline from [`poll_timeout`](PeerSession::poll_timeout) passes:
///      [`handle_timeout`](PeerSession::handle_timeout)`(now)`;
///    - issue commands (`send_interested`, `request`, `cancel`, `send_piece`, `have`, `choke`,
///      `unchoke`, `send_extended`, ...) whenever the owner decides to;
///    - after any of the above: drain [`poll_event`](PeerSession::poll_event) and
///      [`poll_transmit`](PeerSession::poll_transmit) until `None`, and re-read `poll_timeout`.
/// 3. When an input returns an error, close the socket and act on [`WireError::action`].
///    Events queued before the error are still valid and may be drained; nothing more is
///    transmitted, every later input returns the same error, and commands do nothing.
///
/// # States
///
/// Four flags, all starting as BEP 3 says: `am_choking = true`, `am_interested = false`,
/// `peer_choking = true`, `peer_interested = false`. Orthogonal to them:
/// - the peer's piece set: *pending* while the torrent's metadata is unknown (raw bitfield and
///   haves kept, bounded), *known* after [`set_geometry`](PeerSession::set_geometry) or from the
///   start. A bitfield, have-all or have-none is accepted only before any other message except
///   keep-alive, port and extended ones (some clients send their extension handshake first).
/// - each request we sent: *live* -> answered by a block, a reject, or voided by the peer's
///   choke (without fast extension); or *live* -> cancelled -> (fast extension: still pending
///   until its block or reject arrives; otherwise: remembered as *late* for a while).
/// - each request the peer sent: queued -> served (`send_piece`), refused, cancelled by the
///   peer, or voided by our choke.
/// - closed, after the first error.
///
/// Memory is bounded by the configuration and codec caps: the receive buffer holds at most one
/// incomplete frame after each `handle_bytes`, and the event and transmit queues hold what one
/// input or command produced as long as the owner drains them after each call.
#[derive(Debug)]
pub struct PeerSession {
    config: SessionConfig,
    features: Features,
    /// `None` until the torrent's metadata is known (magnet links).
    geometry: Option<PieceGeometry>,

    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,

    peer_pieces: PeerPieces,
    /// True until the peer sends something that must come after its piece set.
    initial_allowed: bool,
    /// Pieces the peer lets us request while choked (bounded by `max_allowed_fast`).
    allowed_fast_in: BTreeSet<PieceIndex>,
    /// Pieces we let the peer request while we choke it.
    allowed_fast_out: BTreeSet<PieceIndex>,
    our_requests: OurRequests,
    /// Requests from the peer that we have not answered (bounded by `max_peer_requests`).
    peer_requests: BTreeSet<BlockRange>,

    /// The peer's latest extension handshake, and its merged name -> id map (BEP 10 updates
    /// are additive; id 0 removes).
    peer_ext: Option<ExtHandshake>,
    peer_ext_ids: BTreeMap<String, u8>,

    recv: BytesMut,
    /// Small messages accumulate here before moving to `out`.
    out_small: BytesMut,
    out: VecDeque<Bytes>,
    out_len: usize,
    events: VecDeque<PeerEvent>,

    last_read: Instant,
    last_write: Instant,
    closed: Option<WireError>,
    stats: SessionStats,
}

impl PeerSession {
    /// A session whose handshake completed at `now`. `torrent` is the torrent's geometry and
    /// our pieces (`ours.len()` must equal the piece count), or `None` while the metadata is
    /// unknown. Queues our piece set: a bitfield, or with the fast extension have-all /
    /// have-none; nothing at all without the fast extension when we have no piece.
    pub fn new(
        now: Instant,
        config: SessionConfig,
        features: Features,
        torrent: Option<(PieceGeometry, &Bitfield)>,
    ) -> Self {
        let geometry = torrent.map(|(g, _)| g);
        let mut session = PeerSession {
            config,
            features,
            geometry,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            peer_pieces: PeerPieces::new(geometry.as_ref()),
            initial_allowed: true,
            allowed_fast_in: BTreeSet::new(),
            allowed_fast_out: BTreeSet::new(),
            our_requests: OurRequests::default(),
            peer_requests: BTreeSet::new(),
            peer_ext: None,
            peer_ext_ids: BTreeMap::new(),
            recv: BytesMut::new(),
            out_small: BytesMut::new(),
            out: VecDeque::new(),
            out_len: 0,
            events: VecDeque::new(),
            last_read: now,
            last_write: now,
            closed: None,
            stats: SessionStats::default(),
        };
        let ours = torrent.and_then(|(g, bits)| {
            debug_assert_eq!(
                bits.len(),
                g.piece_count(),
                "our bitfield does not fit the torrent"
            );
            // A mismatched bitfield is the owner's bug; under-advertising is the safe fallback.
            (bits.len() == g.piece_count()).then_some(bits)
        });
        let initial = match ours {
            Some(bits) if features.fast && bits.is_full() => Some(Message::HaveAll),
            Some(bits) if !bits.is_clear() => {
                Some(Message::Bitfield(bits.as_bytes().to_vec().into()))
            }
            _ if features.fast => Some(Message::HaveNone),
            _ => None,
        };
        if let Some(msg) = initial {
            session.queue(&msg, now);
        }
        session
    }

    // ----- inputs -----

    /// Feeds bytes received from the peer; decodes and acts on every complete frame.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) -> Result<(), WireError> {
        self.check_open()?;
        if !data.is_empty() {
            self.last_read = now;
        }
        self.recv.extend_from_slice(data);
        let result = self.drain_frames(now);
        self.finish(result)
    }

    fn drain_frames(&mut self, now: Instant) -> Result<(), WireError> {
        while let Some(msg) = codec::decode_from(&mut self.recv)? {
            self.on_message(now, msg)?;
        }
        Ok(())
    }

    /// Acts on the deadline returned by [`poll_timeout`](Self::poll_timeout): closes a peer
    /// that has been silent for the idle timeout, queues a keep-alive when we have been.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), WireError> {
        self.check_open()?;
        let silent = now.saturating_duration_since(self.last_read);
        if silent >= self.config.idle_timeout {
            return self.finish(Err(WireError::Timeout(silent)));
        }
        if now.saturating_duration_since(self.last_write) >= self.config.keep_alive_interval {
            self.queue(&Message::KeepAlive, now);
        }
        Ok(())
    }

    /// The torrent's metadata became known (magnet links): validates what the peer announced so
    /// far, and queues [`PeerEvent::Bitfield`] with the peer's piece set.
    pub fn set_geometry(&mut self, geometry: PieceGeometry) -> Result<(), WireError> {
        self.check_open()?;
        if self.geometry.is_some() {
            return Ok(());
        }
        self.geometry = Some(geometry);
        let result = self.peer_pieces.resolve(&geometry).map(|bits| {
            self.events.push_back(PeerEvent::Bitfield(bits));
        });
        self.finish(result)
    }

    // ----- outputs -----

    /// The next event, in the order the peer's messages arrived.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// The next bytes to write to the socket, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.flush_small();
        let chunk = self.out.pop_front()?;
        self.out_len -= chunk.len();
        Some(chunk)
    }

    /// Bytes queued for sending and not yet taken by `poll_transmit` (for backpressure).
    pub fn pending_transmit_len(&self) -> usize {
        self.out_len + self.out_small.len()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        // A configured interval too large to represent as an Instant means "never".
        let keep_alive = self.last_write.checked_add(self.config.keep_alive_interval);
        let idle = self.last_read.checked_add(self.config.idle_timeout);
        match (keep_alive, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- state -----

    pub fn features(&self) -> Features {
        self.features
    }
    pub fn geometry(&self) -> Option<&PieceGeometry> {
        self.geometry.as_ref()
    }
    pub fn am_choking(&self) -> bool {
        self.am_choking
    }
    pub fn am_interested(&self) -> bool {
        self.am_interested
    }
    pub fn peer_choking(&self) -> bool {
        self.peer_choking
    }
    pub fn peer_interested(&self) -> bool {
        self.peer_interested
    }
    /// The peer's pieces; `None` while the metadata is unknown.
    pub fn peer_pieces(&self) -> Option<&Bitfield> {
        self.peer_pieces.known()
    }
    /// Pieces the peer allows us to request while it chokes us.
    pub fn allowed_fast(&self) -> &BTreeSet<PieceIndex> {
        &self.allowed_fast_in
    }
    /// Our live requests (cancelled ones awaiting a fast-extension answer are not included).
    pub fn outstanding_requests(&self) -> impl Iterator<Item = BlockRange> + '_ {
        self.our_requests.live()
    }
    /// The peer's requests we have neither served nor refused.
    pub fn peer_requests(&self) -> &BTreeSet<BlockRange> {
        &self.peer_requests
    }
    /// The peer's latest extension handshake.
    pub fn peer_ext_handshake(&self) -> Option<&ExtHandshake> {
        self.peer_ext.as_ref()
    }
    /// The id to send extension `name` to the peer with, if it supports it.
    pub fn peer_extension_id(&self, name: &str) -> Option<u8> {
        self.peer_ext_ids.get(name).copied()
    }
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }
    /// The error that closed the session, if any.
    pub fn closed(&self) -> Option<&WireError> {
        self.closed.as_ref()
    }

    // ----- plumbing -----

    fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    fn check_open(&self) -> Result<(), WireError> {
        match &self.closed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Records a fatal error: nothing more is sent once the connection is condemned.
    fn finish(&mut self, result: Result<(), WireError>) -> Result<(), WireError> {
        if let Err(e) = &result {
            self.closed = Some(e.clone());
            self.out.clear();
            self.out_small.clear();
            self.out_len = 0;
        }
        self.check_invariants();
        result
    }

    fn queue(&mut self, msg: &Message, now: Instant) {
        if msg.encoded_len() > COALESCE_LIMIT {
            self.flush_small();
            let mut buf = BytesMut::with_capacity(msg.encoded_len());
            msg.encode(&mut buf);
            self.out_len += buf.len();
            self.out.push_back(buf.freeze());
        } else {
            msg.encode(&mut self.out_small);
        }
        self.last_write = now;
    }

    fn flush_small(&mut self) {
        if !self.out_small.is_empty() {
            let chunk = self.out_small.split().freeze();
            self.out_len += chunk.len();
            self.out.push_back(chunk);
        }
    }

    fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            self.our_requests.check_invariants();
            debug_assert!(self.peer_requests.len() <= self.config.max_peer_requests);
            debug_assert!(self.allowed_fast_in.len() <= self.config.max_allowed_fast);
            debug_assert!(self.peer_ext_ids.len() <= MAX_EXTENSIONS);
            debug_assert!(self.peer_ext_ids.values().all(|&id| id != 0));
            debug_assert_eq!(self.out_len, self.out.iter().map(Bytes::len).sum::<usize>());
            if !self.features.fast {
                // Without BEP 6 a choke voids requests and none are kept after a cancel.
                debug_assert_eq!(self.our_requests.cancelled_count(), 0);
                debug_assert!(!self.peer_choking || self.our_requests.live().next().is_none());
            }
            if let (Some(g), Some(bits)) = (&self.geometry, self.peer_pieces.known()) {
                debug_assert_eq!(g.piece_count(), bits.len());
            }
        }
    }
}
