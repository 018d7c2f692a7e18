//! [`PexState`]: what one peer has been told, what to tell it next, and when.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::message::{PexError, PexFlags, PexMessage, PexPeer};

/// BEP 11: "Clients must batch updates to send no more than 1 PEX message per minute."
pub const PEX_INTERVAL: Duration = Duration::from_secs(60);

/// An incoming message is accepted this much before a full [`PEX_INTERVAL`] after the previous
/// one: the sender's timer may tick a little early, or a message may sit behind a slow block,
/// and that is not a flood.
pub const INBOUND_SLACK: Duration = Duration::from_secs(10);

/// BEP 11: "the combined amount of added v4/v6 contacts should not exceed 50 entries. The same
/// applies to dropped entries." We keep to it even in the first message; the rest follows a
/// minute later.
pub const MAX_ADDED_PER_MESSAGE: usize = 50;
/// See [`MAX_ADDED_PER_MESSAGE`].
pub const MAX_DROPPED_PER_MESSAGE: usize = 50;

/// The PEX side of one connection, sans-IO: the contacts this peer has been told about, the
/// once-a-minute rule in both directions.
///
/// # Why a diff of snapshots
///
/// The owner passes the set of peers it is connected to *now*; the message is the difference
/// from what this peer was told before. That satisfies BEP 11's rules by construction: a
/// contact is never added twice nor dropped unless added, never added and dropped in the same
/// message, and a connection that came and went between two messages is never mentioned. An
/// event queue per peer would need explicit elision for each of these.
///
/// # Call order
///
/// - Outgoing: whenever [`poll_timeout`](Self::poll_timeout) has passed (or is `None`), call
///   [`poll_message`](Self::poll_message)`(now, connected)`; send what it returns, encoded,
///   on the peer's ut_pex id. It returns `None` when there is nothing new or when it is too
///   soon, and then nothing changes.
/// - Incoming: each payload on our ut_pex id goes to
///   [`handle_message`](Self::handle_message); on error act on [`PexError::action`].
#[derive(Clone, Debug)]
pub struct PexState {
    /// The peer itself: never listed to it.
    remote: SocketAddr,
    /// Contacts this peer was told we are connected to (added and not dropped since). Bounded
    /// by the owner's connection count.
    advertised: BTreeSet<SocketAddr>,
    last_sent: Option<Instant>,
    last_received: Option<Instant>,
}

impl PexState {
    /// State for the connection to `remote`.
    pub fn new(remote: SocketAddr) -> Self {
        Self {
            remote,
            advertised: BTreeSet::new(),
            last_sent: None,
            last_received: None,
        }
    }

    /// The next message for this peer, given every peer we are connected to now (with the
    /// flags to announce for it): added = connected but not yet advertised, dropped =
    /// advertised but no longer connected, each at most 50. `None` when nothing changed or
    /// less than [`PEX_INTERVAL`] passed since the last message. Contacts beyond the caps stay
    /// pending for the next message.
    pub fn poll_message(
        &mut self,
        now: Instant,
        connected: impl IntoIterator<Item = (SocketAddr, PexFlags)>,
    ) -> Option<PexMessage> {
        if self
            .last_sent
            .is_some_and(|last| now.saturating_duration_since(last) < PEX_INTERVAL)
        {
            return None;
        }
        let connected: BTreeMap<SocketAddr, PexFlags> = connected
            .into_iter()
            .map(|(a, f)| (normalise(a), f))
            .filter(|(a, _)| *a != normalise(self.remote) && a.port() != 0)
            .collect();
        let mut msg = PexMessage::default();
        let added = connected
            .iter()
            .filter(|(a, _)| !self.advertised.contains(a))
            .take(MAX_ADDED_PER_MESSAGE);
        for (&addr, &flags) in added {
            match addr {
                SocketAddr::V4(addr) => msg.added.push(PexPeer { addr, flags }),
                SocketAddr::V6(addr) => msg.added6.push(PexPeer { addr, flags }),
            }
        }
        let dropped = self
            .advertised
            .iter()
            .filter(|a| !connected.contains_key(a))
            .take(MAX_DROPPED_PER_MESSAGE);
        for &addr in dropped {
            match addr {
                SocketAddr::V4(addr) => msg.dropped.push(addr),
                SocketAddr::V6(addr) => msg.dropped6.push(addr),
            }
        }
        if msg.is_empty() {
            return None;
        }
        for p in &msg.added {
            self.advertised.insert(SocketAddr::V4(p.addr));
        }
        for p in &msg.added6 {
            self.advertised.insert(SocketAddr::V6(p.addr));
        }
        for a in &msg.dropped {
            self.advertised.remove(&SocketAddr::V4(*a));
        }
        for a in &msg.dropped6 {
            self.advertised.remove(&SocketAddr::V6(*a));
        }
        self.last_sent = Some(now);
        Some(msg)
    }

    /// The earliest time the next message may go; `None` before the first one (it may go at
    /// once).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.last_sent.and_then(|t| t.checked_add(PEX_INTERVAL))
    }

    /// A payload from the peer. Refused unread when it comes sooner than
    /// [`PEX_INTERVAL`] - [`INBOUND_SLACK`] after the last message accepted.
    pub fn handle_message(&mut self, now: Instant, payload: &[u8]) -> Result<PexMessage, PexError> {
        if let Some(last) = self.last_received {
            let since = now.saturating_duration_since(last);
            if since < PEX_INTERVAL.saturating_sub(INBOUND_SLACK) {
                return Err(PexError::TooFrequent(since));
            }
        }
        let msg = PexMessage::decode(payload)?;
        self.last_received = Some(now);
        Ok(msg)
    }

    /// Contacts this peer currently believes we are connected to.
    pub fn advertised(&self) -> &BTreeSet<SocketAddr> {
        &self.advertised
    }
}

/// Compact entries carry neither IPv6 flow info nor scope: compare addresses without them.
fn normalise(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => SocketAddr::V6(std::net::SocketAddrV6::new(*a.ip(), a.port(), 0, 0)),
        v4 => v4,
    }
}
