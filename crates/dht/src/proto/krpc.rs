//! KRPC messages (BEP 5): typed queries, responses and errors, and their encoding.
//!
//! Decoding lives in `krpc_decode`. Both sides keep exactly the fields shoal uses, plus the
//! optional ones other clients send that matter for a faithful re-encoding (`v`, BEP 42 `ip`,
//! BEP 43 `ro`): a captured message decodes and re-encodes byte for byte.

use std::net::SocketAddr;

use shoal_bencode::OwnedValue;

use crate::proto::compact::{encode_nodes, peer_bytes, Family, NodeInfo};
use crate::proto::id::NodeId;

/// Datagrams larger than this are dropped unread. Every message shoal expects is far
/// smaller; BEP 32 asks for replies of at most 1024 bytes and Ethernet carries 1500.
pub const MAX_DATAGRAM: usize = 1500;
/// The largest reply shoal sends (BEP 32: at most 1024 bytes of UDP payload).
pub const MAX_REPLY: usize = 1024;
/// Transaction ids longer than this are refused (real clients use 2 to 4 bytes; we echo it).
pub const MAX_TID_LEN: usize = 16;
/// Write tokens longer than this are refused (libtorrent uses 4 bytes, shoal 8).
pub const MAX_TOKEN_LEN: usize = 64;
/// Client version strings (`v`) longer than this are refused (BEP 5 says 4 bytes).
pub const MAX_VERSION_LEN: usize = 16;
/// Error texts longer than this are cut when decoded.
pub const MAX_ERROR_TEXT: usize = 256;

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `t`: chosen by the querying node, echoed in the reply.
    pub transaction: Vec<u8>,
    /// `v`: the sender's client and version, when it says.
    pub version: Option<Vec<u8>>,
    /// `ip` (BEP 42): in a reply, the address the replying node saw the query come from.
    pub ip: Option<SocketAddr>,
    /// `ro` (BEP 43): the sender does not answer queries; keep it out of routing tables.
    pub read_only: bool,
    pub body: Body,
}

/// What kind of message, with its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Query(Query),
    Response(Response),
    Error(ErrorReply),
}

/// A query: the sender's id and the method with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub id: NodeId,
    pub method: Method,
}

/// The four BEP 5 methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Ping,
    FindNode {
        target: NodeId,
        want: Option<Want>,
    },
    GetPeers {
        info_hash: NodeId,
        want: Option<Want>,
    },
    AnnouncePeer {
        info_hash: NodeId,
        /// The `port` argument (ignored by the receiver when `implied_port` is set).
        port: u16,
        /// `implied_port` (`None` when absent): use the UDP source port instead of `port`.
        implied_port: Option<bool>,
        token: Vec<u8>,
    },
}

impl Method {
    pub fn name(&self) -> &'static [u8] {
        match self {
            Method::Ping => b"ping",
            Method::FindNode { .. } => b"find_node",
            Method::GetPeers { .. } => b"get_peers",
            Method::AnnouncePeer { .. } => b"announce_peer",
        }
    }
}

/// BEP 32 `want`: which node families the querier asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Want {
    pub n4: bool,
    pub n6: bool,
}

/// A response. KRPC responses do not name the query they answer, so this holds whichever
/// return values are present; the caller matches it to its query by transaction id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: NodeId,
    /// `nodes`: IPv4 nodes close to the target.
    pub nodes: Option<Vec<NodeInfo>>,
    /// `nodes6` (BEP 32): IPv6 nodes close to the target.
    pub nodes6: Option<Vec<NodeInfo>>,
    /// `values`: peers for the info-hash (6- or 18-byte entries; malformed entries skipped).
    pub values: Option<Vec<SocketAddr>>,
    /// `token`: the write token for a later `announce_peer`.
    pub token: Option<Vec<u8>>,
}

impl Response {
    /// A response carrying only the responder's id (ping, announce_peer).
    pub fn bare(id: NodeId) -> Self {
        Self {
            id,
            nodes: None,
            nodes6: None,
            values: None,
            token: None,
        }
    }
}

/// A KRPC error: `e` = [code, text].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    pub code: i64,
    pub text: Vec<u8>,
}

/// The error codes of BEP 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    Generic = 201,
    Server = 202,
    Protocol = 203,
    MethodUnknown = 204,
}

impl ErrorReply {
    pub fn new(code: ErrorCode, text: &str) -> Self {
        Self {
            code: code as i64,
            text: text.as_bytes().to_vec(),
        }
    }
}

impl Message {
    /// The canonical bencoding (keys sorted, as BEP 5 and every capture expect).
    pub fn encode(&self) -> Vec<u8> {
        let mut top = OwnedValue::dict().with(b"t", OwnedValue::bytes(self.transaction.clone()));
        if let Some(v) = &self.version {
            top.insert(b"v", OwnedValue::bytes(v.clone()));
        }
        if let Some(ip) = &self.ip {
            top.insert(b"ip", OwnedValue::bytes(peer_bytes(ip)));
        }
        if self.read_only {
            top.insert(b"ro", OwnedValue::int(1));
        }
        match &self.body {
            Body::Query(q) => {
                top.insert(b"y", OwnedValue::bytes(&b"q"[..]));
                top.insert(b"q", OwnedValue::bytes(q.method.name()));
                top.insert(b"a", query_args(q));
            }
            Body::Response(r) => {
                top.insert(b"y", OwnedValue::bytes(&b"r"[..]));
                top.insert(b"r", response_values(r));
            }
            Body::Error(e) => {
                top.insert(b"y", OwnedValue::bytes(&b"e"[..]));
                let list = vec![OwnedValue::int(e.code), OwnedValue::bytes(e.text.clone())];
                top.insert(b"e", OwnedValue::List(list));
            }
        }
        top.encode()
    }
}

fn want_value(w: &Want) -> OwnedValue {
    let mut l = Vec::new();
    if w.n4 {
        l.push(OwnedValue::bytes(&b"n4"[..]));
    }
    if w.n6 {
        l.push(OwnedValue::bytes(&b"n6"[..]));
    }
    OwnedValue::List(l)
}

fn query_args(q: &Query) -> OwnedValue {
    let mut a = OwnedValue::dict().with(b"id", OwnedValue::bytes(q.id.0.to_vec()));
    match &q.method {
        Method::Ping => {}
        Method::FindNode { target, want } => {
            a.insert(b"target", OwnedValue::bytes(target.0.to_vec()));
            if let Some(w) = want {
                a.insert(b"want", want_value(w));
            }
        }
        Method::GetPeers { info_hash, want } => {
            a.insert(b"info_hash", OwnedValue::bytes(info_hash.0.to_vec()));
            if let Some(w) = want {
                a.insert(b"want", want_value(w));
            }
        }
        Method::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
        } => {
            a.insert(b"info_hash", OwnedValue::bytes(info_hash.0.to_vec()));
            a.insert(b"port", OwnedValue::int(i64::from(*port)));
            a.insert(b"token", OwnedValue::bytes(token.clone()));
            if let Some(i) = implied_port {
                a.insert(b"implied_port", OwnedValue::int(i64::from(*i)));
            }
        }
    }
    a
}

fn response_values(r: &Response) -> OwnedValue {
    let mut d = OwnedValue::dict().with(b"id", OwnedValue::bytes(r.id.0.to_vec()));
    if let Some(n) = &r.nodes {
        d.insert(b"nodes", OwnedValue::bytes(encode_nodes(n, Family::V4)));
    }
    if let Some(n) = &r.nodes6 {
        d.insert(b"nodes6", OwnedValue::bytes(encode_nodes(n, Family::V6)));
    }
    if let Some(t) = &r.token {
        d.insert(b"token", OwnedValue::bytes(t.clone()));
    }
    if let Some(v) = &r.values {
        let list = v.iter().map(|a| OwnedValue::bytes(peer_bytes(a))).collect();
        d.insert(b"values", OwnedValue::List(list));
    }
    d
}
