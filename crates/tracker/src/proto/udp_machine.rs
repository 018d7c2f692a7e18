//! The BEP 15 client exchange with one UDP tracker, sans-IO.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use shoal_core::InfoHash;

use super::types::{
    later, AnnounceRequest, AnnounceResponse, ReplyLimits, ScrapeEntry, ScrapeResponse,
};
use super::udp_packet::{self as packet, AddressFamily};
use super::MAX_SCRAPE_HASHES;
use crate::{ReplyError, TrackerError};

/// Timing and limits of a [`UdpTrackerMachine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// First retransmission timeout; attempt `n` waits `base * 2^n` (BEP 15: 15 s).
    pub retransmit_base: Duration,
    /// The last attempt number; when its timeout passes the request fails (BEP 15: 8, so
    /// about two hours in all with the standard base).
    pub max_retransmit_exponent: u32,
    /// How long we use a connection id after receiving it (BEP 15: one minute).
    pub connection_id_lifetime: Duration,
    /// The tracker's address family, which fixes the peer entry size of announce replies.
    pub family: AddressFamily,
    /// Caps on what one reply may make us hold.
    pub limits: ReplyLimits,
}

impl Default for UdpConfig {
    fn default() -> Self {
        Self {
            retransmit_base: Duration::from_secs(15),
            max_retransmit_exponent: 8,
            connection_id_lifetime: Duration::from_secs(60),
            family: AddressFamily::V4,
            limits: ReplyLimits::default(),
        }
    }
}

/// Names one announce or scrape given to a machine; events carry it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpEvent {
    Announced {
        request: RequestId,
        response: AnnounceResponse,
    },
    Scraped {
        request: RequestId,
        response: ScrapeResponse,
    },
    Failed {
        request: RequestId,
        error: TrackerError,
    },
}

impl UdpEvent {
    /// The request this event finishes.
    pub fn request(&self) -> RequestId {
        match self {
            UdpEvent::Announced { request, .. }
            | UdpEvent::Scraped { request, .. }
            | UdpEvent::Failed { request, .. } => *request,
        }
    }
}

/// What [`UdpTrackerMachine::handle_datagram`] did with a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatagramOutcome {
    /// It answered one of our transactions.
    Accepted,
    /// It was dropped: too short to carry a transaction id, or an id we are not waiting for
    /// (a stale, duplicated or spoofed reply).
    Ignored(IgnoreReason),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    TooShort(ReplyError),
    UnknownTransaction(u32),
}

#[derive(Clone, Debug)]
enum Connection {
    None,
    Connecting {
        tid: u32,
        attempt: u32,
        deadline: Instant,
    },
    Connected {
        id: u64,
        expires: Instant,
    },
}

#[derive(Clone, Debug)]
enum Work {
    Announce(AnnounceRequest),
    Scrape(Vec<InfoHash>),
}

#[derive(Clone, Debug)]
struct Pending {
    id: RequestId,
    work: Work,
    /// Kept for the life of the request, so a late reply to any earlier send still counts.
    tid: u32,
    /// BEP 15's `n`: the current timeout is `base * 2^attempt`.
    attempt: u32,
    /// When the current send times out; `None` while the request waits for a connection id.
    deadline: Option<Instant>,
}

/// The client side of BEP 15 for one tracker address: connection ids, transactions and
/// retransmissions.
///
/// States: the connection is *none*, *connecting* (a connect request is out) or *connected*
/// (an id younger than [`UdpConfig::connection_id_lifetime`]). Each request is either
/// *waiting* for a connection id or *sent* with a deadline. A request that needs sending
/// when the id is missing or stale starts a connect; the connect reply sends every waiting
/// request. A timeout bumps the request's attempt `n` and resends it (reconnecting first when
/// the id has expired, as in the BEP's "announce times out" example); after the timeout of
/// attempt `max_retransmit_exponent` it fails with [`TrackerError::Timeout`]. An error reply
/// fails the transaction it names (for a connect: every waiting request).
///
/// Call order: commands ([`announce`](Self::announce), [`scrape`](Self::scrape)) and inputs
/// ([`handle_datagram`](Self::handle_datagram), [`handle_timeout`](Self::handle_timeout))
/// in any order; after each, drain [`poll_transmit`](Self::poll_transmit) (send each datagram
/// to the tracker) and [`poll_event`](Self::poll_event), then sleep until
/// [`poll_timeout`](Self::poll_timeout) or the next datagram.
#[derive(Debug)]
pub struct UdpTrackerMachine<R> {
    config: UdpConfig,
    /// Source of transaction ids (BEP 15: random, so off-path replies cannot match).
    rng: R,
    conn: Connection,
    pending: Vec<Pending>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<UdpEvent>,
    next_request: u64,
}

impl<R: rand::Rng> UdpTrackerMachine<R> {
    pub fn new(config: UdpConfig, rng: R) -> Self {
        Self {
            config,
            rng,
            conn: Connection::None,
            pending: Vec::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            next_request: 0,
        }
    }

    /// Queues an announce.
    pub fn announce(&mut self, now: Instant, req: AnnounceRequest) -> RequestId {
        self.submit(now, Work::Announce(req))
    }

    /// Queues a scrape of 1 to [`MAX_SCRAPE_HASHES`] torrents.
    pub fn scrape(&mut self, now: Instant, hashes: &[InfoHash]) -> Result<RequestId, TrackerError> {
        if hashes.is_empty() {
            return Err(TrackerError::InvalidRequest("scrape of no torrents"));
        }
        if hashes.len() > MAX_SCRAPE_HASHES {
            return Err(TrackerError::InvalidRequest(
                "more than 74 torrents in one scrape",
            ));
        }
        Ok(self.submit(now, Work::Scrape(hashes.to_vec())))
    }

    /// Takes a datagram that came from the tracker's address.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) -> DatagramOutcome {
        let (action, tid) = match packet::peek_header(data) {
            Ok(h) => h,
            Err(e) => return DatagramOutcome::Ignored(IgnoreReason::TooShort(e)),
        };
        if matches!(self.conn, Connection::Connecting { tid: t, .. } if t == tid) {
            self.on_connect_reply(now, action, data);
        } else if let Some(i) = self.pending.iter().position(|p| p.tid == tid) {
            let p = self.pending.swap_remove(i);
            self.on_request_reply(p, action, data);
        } else {
            return DatagramOutcome::Ignored(IgnoreReason::UnknownTransaction(tid));
        }
        self.drive(now);
        DatagramOutcome::Accepted
    }

    /// Retransmits, reconnects or gives up for every deadline that has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Connection::Connecting {
            tid,
            attempt,
            deadline,
        } = self.conn
        {
            if deadline <= now {
                if attempt >= self.config.max_retransmit_exponent {
                    self.conn = Connection::None;
                    self.fail_waiting(|| TrackerError::Timeout);
                } else {
                    self.start_connect(now, tid, attempt + 1);
                }
            }
        }
        let max = self.config.max_retransmit_exponent;
        let mut i = 0;
        while let Some(p) = self.pending.get_mut(i) {
            match p.deadline {
                Some(d) if d <= now && p.attempt >= max => {
                    let p = self.pending.swap_remove(i);
                    self.events.push_back(UdpEvent::Failed {
                        request: p.id,
                        error: TrackerError::Timeout,
                    });
                    continue;
                }
                Some(d) if d <= now => {
                    p.attempt += 1;
                    p.deadline = None;
                }
                _ => {}
            }
            i += 1;
        }
        self.drive(now);
    }

    /// Forgets a request (its caller gave up); a late reply to it is then ignored. A connect
    /// that no remaining request waits for is dropped too.
    pub fn cancel(&mut self, request: RequestId) {
        self.pending.retain(|p| p.id != request);
        let anyone_waiting = self.pending.iter().any(|p| p.deadline.is_none());
        if !anyone_waiting && matches!(self.conn, Connection::Connecting { .. }) {
            self.conn = Connection::None;
        }
    }

    /// The next datagram to send to the tracker.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next finished request.
    pub fn poll_event(&mut self) -> Option<UdpEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn = match self.conn {
            Connection::Connecting { deadline, .. } => Some(deadline),
            _ => None,
        };
        self.pending
            .iter()
            .filter_map(|p| p.deadline)
            .chain(conn)
            .min()
    }

    /// Requests not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn submit(&mut self, now: Instant, work: Work) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let tid = self.fresh_tid();
        self.pending.push(Pending {
            id,
            work,
            tid,
            attempt: 0,
            deadline: None,
        });
        self.drive(now);
        id
    }

    /// Sends every waiting request if the connection id is fresh, else makes sure a connect
    /// is out.
    fn drive(&mut self, now: Instant) {
        let waiting_attempt = self
            .pending
            .iter()
            .filter(|p| p.deadline.is_none())
            .map(|p| p.attempt)
            .max();
        let Some(attempt) = waiting_attempt else {
            return;
        };
        match self.conn {
            Connection::Connected { id, expires } if now < expires => {
                for i in 0..self.pending.len() {
                    self.send_request(now, id, i);
                }
            }
            Connection::Connecting { .. } => {}
            _ => {
                let tid = self.fresh_tid();
                self.start_connect(now, tid, attempt);
            }
        }
        debug_assert!(
            self.pending.iter().all(|p| p.deadline.is_some())
                || matches!(self.conn, Connection::Connecting { .. }),
            "a waiting request without a connect in flight would never be sent"
        );
    }

    fn send_request(&mut self, now: Instant, connection_id: u64, index: usize) {
        let backoff = self.backoff_for(self.pending.get(index).map_or(0, |p| p.attempt));
        let Some(p) = self.pending.get_mut(index) else {
            return;
        };
        if p.deadline.is_some() {
            return;
        }
        let datagram = match &p.work {
            Work::Announce(req) => packet::encode_announce(connection_id, p.tid, req),
            Work::Scrape(hashes) => packet::encode_scrape(connection_id, p.tid, hashes),
        };
        p.deadline = Some(later(now, backoff));
        self.transmit.push_back(datagram);
    }

    fn start_connect(&mut self, now: Instant, tid: u32, attempt: u32) {
        self.conn = Connection::Connecting {
            tid,
            attempt,
            deadline: later(now, self.backoff_for(attempt)),
        };
        self.transmit.push_back(packet::encode_connect(tid));
    }

    fn on_connect_reply(&mut self, now: Instant, action: u32, data: &[u8]) {
        self.conn = Connection::None;
        if action == packet::ACTION_ERROR {
            let message = packet::parse_error(data).unwrap_or_default();
            self.fail_waiting(|| TrackerError::Refused(message.clone()));
            return;
        }
        match packet::parse_connect(data) {
            Ok(id) => {
                self.conn = Connection::Connected {
                    id,
                    expires: later(now, self.config.connection_id_lifetime),
                }
            }
            // It carries our transaction id, so it is the tracker's answer, and a broken one.
            Err(e) => self.fail_waiting(|| TrackerError::Malformed(e.clone())),
        }
    }

    fn on_request_reply(&mut self, p: Pending, action: u32, data: &[u8]) {
        let request = p.id;
        let event = if action == packet::ACTION_ERROR {
            UdpEvent::Failed {
                request,
                error: TrackerError::Refused(packet::parse_error(data).unwrap_or_default()),
            }
        } else {
            let parsed = match p.work {
                Work::Announce(_) => {
                    packet::parse_announce(data, self.config.family, &self.config.limits)
                        .map(|response| UdpEvent::Announced { request, response })
                }
                Work::Scrape(hashes) => packet::parse_scrape(data, hashes.len()).map(|stats| {
                    let files = hashes
                        .into_iter()
                        .zip(stats)
                        .map(|(info_hash, stats)| ScrapeEntry { info_hash, stats })
                        .collect();
                    UdpEvent::Scraped {
                        request,
                        response: ScrapeResponse { files },
                    }
                }),
            };
            parsed.unwrap_or_else(|e| UdpEvent::Failed {
                request,
                error: TrackerError::Malformed(e),
            })
        };
        self.events.push_back(event);
    }

    fn fail_waiting(&mut self, error: impl Fn() -> TrackerError) {
        let (waiting, sent): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.deadline.is_none());
        self.pending = sent;
        for p in waiting {
            self.events.push_back(UdpEvent::Failed {
                request: p.id,
                error: error(),
            });
        }
    }

    fn backoff_for(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.config.retransmit_base.saturating_mul(factor)
    }

    /// A random transaction id that no open transaction uses. A clash (about one in four
    /// billion per open transaction) steps to the next free value, so this always ends.
    fn fresh_tid(&mut self) -> u32 {
        let mut tid: u32 = self.rng.random();
        while self.tid_in_use(tid) {
            tid = tid.wrapping_add(1);
        }
        tid
    }

    fn tid_in_use(&self, tid: u32) -> bool {
        self.pending.iter().any(|p| p.tid == tid)
            || matches!(self.conn, Connection::Connecting { tid: t, .. } if t == tid)
    }
}

#[cfg(test)]
#[path = "udp_machine_tests.rs"]
mod tests;
