//! Settings, events and counters of the [`crate::proto::Dht`] state machine.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::proto::compact::{Family, NodeInfo};
use crate::proto::id::NodeId;
use crate::proto::lookup::LookupId;
use crate::proto::rate::RateLimit;

/// Settings for a [`crate::proto::Dht`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Our node id, e.g. the one saved with the routing table. When `None`, one is generated:
    /// valid for `external_ip` under BEP 42 if that is known, random otherwise.
    pub id: Option<NodeId>,
    /// Our address as the rest of the DHT sees it, if known.
    pub external_ip: Option<IpAddr>,
    /// Which DHT this node is part of (BEP 32: one routing table per family).
    pub family: Family,
    /// Enforce BEP 42: nodes on public addresses whose ids do not match their IP are kept
    /// out of the routing table and are not announced to. Local addresses are always exempt.
    pub enforce_bep42: bool,
    /// The `v` value we send (two-letter client code and two version bytes, BEP 5/20).
    pub version: Option<Vec<u8>>,
    /// Per-IP limit on the queries we answer.
    pub rate_limit: RateLimit,
    /// After this long without an answer a query stops holding a lookup slot.
    pub slow_after: Duration,
    /// After this long without an answer a query has failed.
    pub query_timeout: Duration,
    /// Our queries outstanding at once (over all lookups and pings).
    pub max_outstanding: usize,
    /// Lookups running at once; further commands finish at once with no result.
    pub max_lookups: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            id: None,
            external_ip: None,
            family: Family::V4,
            enforce_bep42: false,
            version: Some(b"SH\x00\x01".to_vec()),
            rate_limit: RateLimit::default(),
            slow_after: Duration::from_secs(1),
            query_timeout: Duration::from_secs(4),
            max_outstanding: 256,
            max_lookups: 64,
        }
    }
}

/// What the DHT reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtEvent {
    /// Peers for the info-hash of a `get_peers` or `announce` lookup; each reported once.
    Peers {
        lookup: LookupId,
        peers: Vec<SocketAddr>,
    },
    /// A lookup finished.
    LookupDone {
        lookup: LookupId,
        target: NodeId,
        /// The (up to 8) closest nodes that answered, closest first.
        closest: Vec<NodeInfo>,
        /// Distinct peers reported for this lookup.
        peers: usize,
        /// For an announce: how many nodes confirmed storing us.
        announced: Option<usize>,
    },
}

/// Counters for monitoring and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DhtStats {
    /// Nodes in the routing table.
    pub nodes: usize,
    pub buckets: usize,
    pub lookups: usize,
    /// Our queries waiting for an answer.
    pub outstanding: usize,
    pub stored_hashes: usize,
    pub stored_peers: usize,
    /// Queries dropped by the per-IP rate limit.
    pub rate_limited: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Responses and errors matching no query of ours (late, forged or misdirected).
    pub unsolicited: u64,
    /// Queries we answered (with a response or an error).
    pub replies: u64,
}
