//! [`MetadataFetcher`]: downloads an info dictionary from many peers and proves it against the
//! info-hash.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_core::InfoHash;

use super::copies::{self, Added, PieceCopies};
use super::message::{MetadataError, MetadataMessage, MetadataPiece, MetadataSize};

/// Tunables of a [`MetadataFetcher`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetcherConfig {
    /// Requests outstanding at once per peer. A few keep a fast peer busy; more would put all
    /// pieces on the first peer that connects and leave nothing to spread.
    pub max_requests_per_peer: usize,
    /// A request unanswered for this long stops holding its piece: the piece may go to another
    /// peer. The slow peer's answer is still taken if it comes, and its request slot stays
    /// used until then, so a silent peer is not given more work.
    pub request_timeout: Duration,
    /// Bytes hashed at most per incoming copy while looking for the assembly that matches
    /// the info-hash. Bounds the CPU that disagreeing peers can cost us; the honest case needs
    /// one assembly per copy.
    pub max_hash_bytes_per_copy: usize,
    /// A peer that refused a piece is not asked for it again for this long. A reject usually
    /// means "I do not have the metadata yet" (BEP 9); a peer fetching it too will have it
    /// later, so the refusal must not last for the life of the connection.
    pub reject_backoff: Duration,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        Self {
            max_requests_per_peer: 4,
            request_timeout: Duration::from_secs(20),
            max_hash_bytes_per_copy: 64 * 1024 * 1024,
            reject_backoff: Duration::from_secs(60),
        }
    }
}

/// Why a peer is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadPeerReason {
    /// It sent a piece whose bytes differ from the verified metadata.
    WrongData,
    /// It announced a `metadata_size` other than the verified metadata's size.
    WrongSize,
}

/// What the fetcher reports; drain with [`MetadataFetcher::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchEvent<P> {
    /// Every piece has `round` suppliers and no assembly of what they sent matches the
    /// info-hash. Pieces are now fetched again from peers that have not sent them.
    VerifyFailed { round: usize },
    /// The peer lied, as the verified metadata proves (it may have disconnected since). Ban
    /// it. All of these come before [`FetchEvent::Complete`].
    BadPeer { peer: P, reason: BadPeerReason },
    /// The info dictionary, verified against the info-hash. The last event.
    Complete(Bytes),
}

/// Result of [`MetadataFetcher::handle_data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataOutcome {
    /// Stored (and checked, if it completed an assembly; see the events).
    Accepted,
    /// We have no request for this piece out to this peer (never asked, already answered,
    /// made before the fetch started over, or the fetch is complete). Dropped; harmless.
    Unrequested,
    /// `total_size` is not the size the peer announced, or the data is not as long as the
    /// piece: the peer contradicts itself. Disconnect it.
    Inconsistent,
}

/// Result of [`MetadataFetcher::handle_reject`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectOutcome {
    /// The piece will be asked of another peer; this peer is not asked for it again.
    Noted,
    /// We had no request for this piece out to this peer.
    Unrequested,
}

#[derive(Debug)]
struct PeerEntry {
    size: MetadataSize,
    /// Pieces we asked this peer for and it has not answered.
    in_flight: BTreeSet<MetadataPiece>,
    /// Pieces it refused, and when; not asked again until the reject backoff passed.
    rejected: BTreeMap<MetadataPiece, Instant>,
}

#[derive(Clone, Copy, Debug)]
struct Request {
    sent: Instant,
    /// Older than the request timeout: no longer holds the piece.
    stale: bool,
}

#[derive(Debug)]
struct Slot<P> {
    copies: PieceCopies<P>,
    requests: BTreeMap<P, Request>,
}

/// The assembly in progress, for one announced size.
#[derive(Debug)]
struct Target<P> {
    size: MetadataSize,
    slots: Vec<Slot<P>>,
    /// Distinct suppliers every piece needs before the round is over: 1, plus one per failed
    /// round.
    round: usize,
}

/// Sans-IO download of a torrent's info dictionary over ut_metadata (BEP 9), from any number
/// of peers, verified against the info-hash (SHA-1 for v1, SHA-256 for v2, both for hybrids).
///
/// `P` is whatever the owner uses to name a connection (an address, a slot number).
///
/// # Call order
///
/// 1. [`new`](Self::new) with the info-hash from the magnet link.
/// 2. For each peer whose extension handshake names `ut_metadata` and a `metadata_size`:
///    [`add_peer`](Self::add_peer). Then, and whenever something below changed, call
///    [`next_request`](Self::next_request)`(now, peer)` round-robin over the peers until every
///    one returns `None` (asking one peer until it is full would put every piece on it), and
///    send each piece it returns as a [`MetadataMessage::Request`].
/// 3. Feed what peers answer: [`handle_message`](Self::handle_message) (or `handle_data` /
///    `handle_reject`); a lost connection: [`remove_peer`](Self::remove_peer); the deadline
///    from [`poll_timeout`](Self::poll_timeout): [`handle_timeout`](Self::handle_timeout).
/// 4. After each input drain [`poll_event`](Self::poll_event): ban peers named in
///    [`FetchEvent::BadPeer`]; [`FetchEvent::Complete`] carries the verified bytes, after
///    which the fetcher ignores every input.
///
/// # States
///
/// - *Idle* until a peer with a valid size is added.
/// - *Fetching* for one size (chosen when needed: the size most peers announced). Each piece
///   needs copies from `round` distinct peers; requests go only to peers that announced that
///   size, have not sent or refused that piece, and have a free request slot.
/// - Each new distinct copy of a piece, once every piece has one, triggers a check of the
///   assemblies it completes. On a match: *Complete*, and senders of losing copies are
///   reported. When every piece reached `round` suppliers without a match, the round failed
///   and `round` grows.
/// - If some piece can no longer get the suppliers it needs (every peer of that size sent or
///   refused it) and peers announced another size, the fetch starts over for that size:
///   a lying `metadata_size` cannot block the download for good.
///
/// Memory: at most four distinct copies of each piece are kept, so at most four times the
/// metadata size (itself capped at [`super::MAX_METADATA_SIZE`]), whatever the number of
/// peers; per peer, a few requests and the set of pieces it refused.
#[derive(Debug)]
pub struct MetadataFetcher<P> {
    info_hash: InfoHash,
    config: FetcherConfig,
    peers: BTreeMap<P, PeerEntry>,
    target: Option<Target<P>>,
    events: VecDeque<FetchEvent<P>>,
    complete: bool,
}

impl<P: Ord + Clone> MetadataFetcher<P> {
    pub fn new(info_hash: InfoHash, config: FetcherConfig) -> Self {
        Self {
            info_hash,
            config,
            peers: BTreeMap::new(),
            target: None,
            events: VecDeque::new(),
            complete: false,
        }
    }

    // ----- inputs -----

    /// A peer announced `metadata_size` (from [`crate::ExtHandshake::metadata_size`]). A size
    /// of zero or over [`super::MAX_METADATA_SIZE`] is refused and the peer is not used. A peer
    /// already known with another size (a later handshake) starts over with the new one.
    pub fn add_peer(&mut self, peer: P, metadata_size: u64) -> Result<(), MetadataError> {
        let size = MetadataSize::new(metadata_size)?;
        if self.complete {
            return Ok(());
        }
        if self.peers.get(&peer).is_some_and(|e| e.size == size) {
            return Ok(());
        }
        self.remove_peer(&peer);
        self.peers.insert(
            peer,
            PeerEntry {
                size,
                in_flight: BTreeSet::new(),
                rejected: BTreeMap::new(),
            },
        );
        // Nobody announces the size being fetched (first peer, or the only one changed its
        // mind): fetch for a size somebody does announce.
        let orphaned = self
            .target
            .as_ref()
            .is_none_or(|t| !self.peers.values().any(|e| e.size == t.size));
        if orphaned {
            self.switch_size(None);
        }
        self.check_invariants();
        Ok(())
    }

    /// The peer is gone. Its unanswered requests are handed to others; the pieces it sent are
    /// kept (and it is still reported if they prove to be lies).
    pub fn remove_peer(&mut self, peer: &P) {
        let Some(entry) = self.peers.remove(peer) else {
            return;
        };
        if let Some(target) = &mut self.target {
            for piece in &entry.in_flight {
                if let Some(slot) = target.slots.get_mut(piece.as_usize()) {
                    slot.requests.remove(peer);
                }
            }
            if target.size == entry.size && !self.peers.values().any(|e| e.size == entry.size) {
                let current = target.size;
                self.switch_size(Some(current));
            }
        }
        self.check_stall();
        self.check_invariants();
    }

    /// The next piece to ask `peer` for, recorded as requested at `now`; `None` when the peer
    /// has nothing to do (unknown, busy, announced another size, or no piece needs it).
    pub fn next_request(&mut self, now: Instant, peer: &P) -> Option<MetadataPiece> {
        if self.complete {
            return None;
        }
        self.expire(now);
        let entry = self.peers.get_mut(peer)?;
        let target = self.target.as_mut()?;
        if entry.size != target.size || entry.in_flight.len() >= self.config.max_requests_per_peer {
            return None;
        }
        let round = target.round;
        // The open piece with the fewest suppliers and live requests, lowest index first:
        // concurrent peers get different pieces, and a re-fetch round starts where it is
        // needed most.
        let (index, _) = target
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let piece = target.size.piece(u32::try_from(i).ok()?)?;
                let load = slot.copies.supplier_count()
                    + slot.requests.values().filter(|r| !r.stale).count();
                let eligible = load < round
                    && !slot.copies.supplied_by(peer)
                    && !slot.requests.contains_key(peer)
                    && !entry.rejected.contains_key(&piece);
                eligible.then_some((i, load))
            })
            .min_by_key(|&(i, load)| (load, i))?;
        let piece = target.size.piece(u32::try_from(index).ok()?)?;
        let slot = target.slots.get_mut(index)?;
        slot.requests.insert(
            peer.clone(),
            Request {
                sent: now,
                stale: false,
            },
        );
        entry.in_flight.insert(piece);
        self.check_invariants();
        Some(piece)
    }

    /// A decoded ut_metadata message from `peer`. Requests are not the fetcher's business
    /// (answer them with a [`super::MetadataServer`] or a reject) and yield `None`.
    pub fn handle_message(
        &mut self,
        now: Instant,
        peer: &P,
        msg: &MetadataMessage,
    ) -> Option<MessageOutcome> {
        match msg {
            MetadataMessage::Request { .. } => None,
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => Some(MessageOutcome::Data(self.handle_data(
                now,
                peer,
                *piece,
                *total_size,
                data.clone(),
            ))),
            MetadataMessage::Reject { piece } => Some(MessageOutcome::Reject(
                self.handle_reject(now, peer, *piece),
            )),
        }
    }

    /// A data message from `peer`: piece `piece` of metadata of `total_size` bytes.
    pub fn handle_data(
        &mut self,
        now: Instant,
        peer: &P,
        piece: u32,
        total_size: u32,
        data: Bytes,
    ) -> DataOutcome {
        if self.complete {
            return DataOutcome::Unrequested;
        }
        let Some(entry) = self.peers.get_mut(peer) else {
            return DataOutcome::Unrequested;
        };
        let Some(index) = entry.size.piece(piece) else {
            return DataOutcome::Inconsistent;
        };
        if total_size != entry.size.get() || data.len() != entry.size.piece_len(index) {
            return DataOutcome::Inconsistent;
        }
        let Some(target) = self.target.as_mut() else {
            return DataOutcome::Unrequested;
        };
        let Some(slot) = target.slots.get_mut(index.as_usize()) else {
            return DataOutcome::Unrequested;
        };
        if target.size != entry.size || slot.requests.remove(peer).is_none() {
            return DataOutcome::Unrequested;
        }
        entry.in_flight.remove(&index);
        let added = slot.copies.add(peer.clone(), data);
        if let Added::NewVariant(variant) = added {
            self.try_verify(index.as_usize(), variant);
        }
        if !self.complete {
            self.check_round();
            self.expire(now);
            self.check_stall();
        }
        self.check_invariants();
        DataOutcome::Accepted
    }

    /// A reject from `peer` for `piece`.
    pub fn handle_reject(&mut self, now: Instant, peer: &P, piece: u32) -> RejectOutcome {
        if self.complete {
            return RejectOutcome::Unrequested;
        }
        let (Some(entry), Some(target)) = (self.peers.get_mut(peer), self.target.as_mut()) else {
            return RejectOutcome::Unrequested;
        };
        let Some(index) = target.size.piece(piece) else {
            return RejectOutcome::Unrequested;
        };
        let removed = target
            .slots
            .get_mut(index.as_usize())
            .and_then(|slot| slot.requests.remove(peer));
        if removed.is_none() {
            return RejectOutcome::Unrequested;
        }
        entry.in_flight.remove(&index);
        entry.rejected.insert(index, now);
        self.expire(now);
        self.check_stall();
        self.check_invariants();
        RejectOutcome::Noted
    }

    /// Marks requests older than the request timeout as stale, so their pieces can go to
    /// other peers, and forgets rejects older than the reject backoff. Call
    /// [`next_request`](Self::next_request) for idle peers afterwards.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
        self.check_stall();
        self.check_invariants();
    }

    // ----- outputs -----

    pub fn poll_event(&mut self) -> Option<FetchEvent<P>> {
        self.events.pop_front()
    }

    /// When the oldest live request times out or the oldest reject expires; `None` when
    /// there is neither.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let target = self.target.as_ref()?;
        let requests = target
            .slots
            .iter()
            .flat_map(|s| s.requests.values())
            .filter(|r| !r.stale)
            .filter_map(|r| r.sent.checked_add(self.config.request_timeout));
        let rejects = self
            .peers
            .values()
            .flat_map(|e| e.rejected.values())
            .filter_map(|t| t.checked_add(self.config.reject_backoff));
        requests.chain(rejects).min()
    }

    // ----- state -----

    pub fn is_complete(&self) -> bool {
        self.complete
    }
    /// The size being fetched, once a peer announced one.
    pub fn metadata_size(&self) -> Option<MetadataSize> {
        self.target.as_ref().map(|t| t.size)
    }
    /// Pieces with at least one copy, and the piece count (for display).
    pub fn progress(&self) -> (u32, u32) {
        self.target.as_ref().map_or((0, 0), |t| {
            let covered = t.slots.iter().filter(|s| s.copies.is_covered()).count();
            (covered as u32, t.size.piece_count())
        })
    }
    /// Current round: how many distinct peers each piece must come from (1 until a check
    /// failed).
    pub fn round(&self) -> usize {
        self.target.as_ref().map_or(0, |t| t.round)
    }

    // ----- internals -----

    fn expire(&mut self, now: Instant) {
        let timeout = self.config.request_timeout;
        if let Some(target) = &mut self.target {
            for r in target
                .slots
                .iter_mut()
                .flat_map(|s| s.requests.values_mut())
            {
                if !r.stale && now.saturating_duration_since(r.sent) >= timeout {
                    r.stale = true;
                }
            }
        }
        let backoff = self.config.reject_backoff;
        for e in self.peers.values_mut() {
            e.rejected
                .retain(|_, at| now.saturating_duration_since(*at) < backoff);
        }
    }

    /// Starts over for the size announced by most peers, other than `avoid`. Keeps the
    /// current target when no other size is announced.
    fn switch_size(&mut self, avoid: Option<MetadataSize>) {
        let mut votes: BTreeMap<MetadataSize, usize> = BTreeMap::new();
        for e in self.peers.values() {
            *votes.entry(e.size).or_default() += 1;
        }
        // Most votes; on a tie the smaller size, which costs less to try.
        let Some((&size, _)) = votes
            .iter()
            .filter(|(s, _)| Some(**s) != avoid)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        else {
            return;
        };
        for e in self.peers.values_mut() {
            e.in_flight.clear();
            e.rejected.clear();
        }
        let slots = (0..size.piece_count())
            .map(|_| Slot {
                copies: PieceCopies::new(),
                requests: BTreeMap::new(),
            })
            .collect();
        self.target = Some(Target {
            size,
            slots,
            round: 1,
        });
    }

    /// A piece that still needs suppliers, with no request out and no peer of the current
    /// size left to ask, cannot progress: try another announced size.
    fn check_stall(&mut self) {
        let Some(target) = &self.target else {
            return;
        };
        let stalled = target.slots.iter().enumerate().any(|(i, slot)| {
            let Some(piece) = u32::try_from(i).ok().and_then(|i| target.size.piece(i)) else {
                return false;
            };
            slot.copies.supplier_count() < target.round
                && slot.requests.is_empty()
                && !self.peers.iter().any(|(p, e)| {
                    e.size == target.size
                        && !slot.copies.supplied_by(p)
                        && !e.rejected.contains_key(&piece)
                })
        });
        let other_size = self.peers.values().any(|e| e.size != target.size);
        if stalled && other_size {
            let current = target.size;
            self.switch_size(Some(current));
        }
    }

    /// Every piece reached `round` suppliers and nothing matched: ask for one more each.
    fn check_round(&mut self) {
        let Some(target) = &mut self.target else {
            return;
        };
        let round = target.round;
        if target
            .slots
            .iter()
            .all(|s| s.copies.supplier_count() >= round)
        {
            self.events.push_back(FetchEvent::VerifyFailed { round });
            target.round += 1;
        }
    }

    fn try_verify(&mut self, piece: usize, variant: usize) {
        let Some(target) = &self.target else {
            return;
        };
        if !target.slots.iter().all(|s| s.copies.is_covered()) {
            return;
        }
        let copies: Vec<&PieceCopies<P>> = target.slots.iter().map(|s| &s.copies).collect();
        let attempts = self.config.max_hash_bytes_per_copy / target.size.get() as usize;
        let Some(verified) = copies::search(
            &copies,
            piece,
            variant,
            target.size,
            &self.info_hash,
            attempts,
        ) else {
            return;
        };
        let mut bad: BTreeMap<P, BadPeerReason> = BTreeMap::new();
        for (copies, &winner) in copies.iter().zip(&verified.choice) {
            for p in copies.losers(winner) {
                bad.insert(p.clone(), BadPeerReason::WrongData);
            }
        }
        for (p, e) in &self.peers {
            if e.size != target.size {
                bad.entry(p.clone()).or_insert(BadPeerReason::WrongSize);
            }
        }
        self.events.extend(
            bad.into_iter()
                .map(|(peer, reason)| FetchEvent::BadPeer { peer, reason }),
        );
        self.events.push_back(FetchEvent::Complete(verified.bytes));
        self.complete = true;
        self.target = None;
        self.peers.clear();
    }

    fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let Some(target) = &self.target else {
            debug_assert!(self.peers.values().all(|e| e.in_flight.is_empty()));
            return;
        };
        debug_assert_eq!(target.slots.len(), target.size.piece_count() as usize);
        debug_assert!(target.round >= 1);
        for (p, e) in &self.peers {
            debug_assert!(e.in_flight.len() <= self.config.max_requests_per_peer);
            for piece in &e.in_flight {
                debug_assert_eq!(e.size, target.size);
                debug_assert!(target
                    .slots
                    .get(piece.as_usize())
                    .is_some_and(|s| s.requests.contains_key(p)));
            }
        }
        for (i, slot) in target.slots.iter().enumerate() {
            let Some(piece) = u32::try_from(i).ok().and_then(|i| target.size.piece(i)) else {
                debug_assert!(false, "slot {i} past the piece count");
                return;
            };
            slot.copies.check_invariants(target.size.piece_len(piece));
            for p in slot.requests.keys() {
                debug_assert!(self
                    .peers
                    .get(p)
                    .is_some_and(|e| e.in_flight.contains(&piece)));
            }
        }
    }
}

/// Result of [`MetadataFetcher::handle_message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageOutcome {
    Data(DataOutcome),
    Reject(RejectOutcome),
}
