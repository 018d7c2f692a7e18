//! The answering half of [`Dht`]: replies to other nodes' queries.
//!
//! Every reply is bounded: at most [`MAX_REPLY`] bytes (BEP 32), `values` cut to fit, node
//! lists only in the families asked for, and nothing at all beyond the per-IP rate limit.
//! So a forged query can make us send at most one small datagram, a few times a second,
//! to any one address.

use std::net::SocketAddr;
use std::time::Instant;

use crate::proto::bep42;
use crate::proto::compact::{Family, NodeInfo};
use crate::proto::dht::Dht;
use crate::proto::id::NodeId;
use crate::proto::krpc::{
    Body, ErrorCode, ErrorReply, Message, Method, Query, Response, Want, MAX_REPLY,
};
use crate::proto::routing::{Contact, InsertOutcome, K};
use crate::proto::store::StoreOutcome;

/// Bytes `values` adds around its entries: `6:values` + `l` + `e`.
const VALUES_OVERHEAD: usize = 10;

impl Dht {
    pub(crate) fn handle_query(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transaction: Vec<u8>,
        read_only: bool,
        q: Query,
    ) {
        if !self.rate.allow(now, from.ip()) {
            self.stats.rate_limited += 1;
            return;
        }
        let trusted = !self.config.enforce_bep42 || bep42::acceptable(&q.id, from.ip());
        let node = NodeInfo {
            id: q.id,
            addr: from,
        };
        let seen = if !read_only && trusted {
            self.table.contact(now, node, Contact::Queried)
        } else {
            InsertOutcome::Ignored
        };
        let body = match q.method {
            Method::Ping => Body::Response(Response::bare(self.id())),
            Method::FindNode { target, want } => {
                let mut r = Response::bare(self.id());
                self.fill_nodes(now, &mut r, &target, want, from);
                Body::Response(r)
            }
            Method::GetPeers { info_hash, want } => {
                Body::Response(self.get_peers_reply(now, from, &info_hash, want))
            }
            Method::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => self.announce_reply(now, from, info_hash, port, implied_port, &token),
        };
        self.reply(from, transaction, body);
        match seen {
            // A newcomer is only a claim until it answers us; ask it once, at once, so that
            // it can be handed to others (replies name only nodes that have answered). The
            // address index admits one id per address, so this is one ping per address.
            InsertOutcome::Added | InsertOutcome::ReplacedBad => self.ping_new(now, node),
            InsertOutcome::Cached { ping: Some(p) } => self.ping(now, p),
            _ => {}
        }
    }

    /// Adds `nodes` / `nodes6` as BEP 32 asks: per `want`, else the querier's own family.
    /// Only families we have a table for can be filled.
    fn fill_nodes(
        &self,
        now: Instant,
        r: &mut Response,
        target: &NodeId,
        want: Option<Want>,
        from: SocketAddr,
    ) {
        let want = want.unwrap_or(Want {
            n4: from.is_ipv4(),
            n6: from.is_ipv6(),
        });
        let asked = match self.config.family {
            Family::V4 => want.n4,
            Family::V6 => want.n6,
        };
        if !asked {
            return;
        }
        let nodes = self.table.closest(now, target, K, true);
        match self.config.family {
            Family::V4 => r.nodes = Some(nodes),
            Family::V6 => r.nodes6 = Some(nodes),
        }
    }

    fn get_peers_reply(
        &self,
        now: Instant,
        from: SocketAddr,
        info_hash: &NodeId,
        want: Option<Want>,
    ) -> Response {
        let mut r = Response::bare(self.id());
        r.token = Some(self.tokens.issue(now, from.ip()));
        // Nodes always come along (BEP 32 allows both), so lookups converge even here.
        self.fill_nodes(now, &mut r, info_hash, want, from);
        let family = Family::of(&from);
        let fits = self.values_that_fit(from, &r, family);
        let peers = self.store.peers(now, info_hash, family, fits);
        if !peers.is_empty() {
            r.values = Some(peers);
        }
        r
    }

    /// How many compact peers of `family` fit in `r` under [`MAX_REPLY`].
    fn values_that_fit(&self, from: SocketAddr, r: &Response, family: Family) -> usize {
        let base = self.reply_message(from, vec![0; 2], Body::Response(r.clone()));
        // The transaction id is echoed; budget for the longest one accepted.
        let base_len = base.encode().len() + crate::proto::krpc::MAX_TID_LEN;
        let per = match family {
            Family::V4 => 8,  // "6:" + 6 bytes
            Family::V6 => 21, // "18:" + 18 bytes
        };
        MAX_REPLY.saturating_sub(base_len + VALUES_OVERHEAD) / per
    }

    fn announce_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        info_hash: NodeId,
        port: u16,
        implied_port: Option<bool>,
        token: &[u8],
    ) -> Body {
        if !self.tokens.check(now, from.ip(), token) {
            return Body::Error(ErrorReply::new(ErrorCode::Protocol, "bad token"));
        }
        let port = if implied_port == Some(true) {
            from.port()
        } else {
            port
        };
        if port == 0 {
            return Body::Error(ErrorReply::new(ErrorCode::Protocol, "invalid port"));
        }
        let peer = SocketAddr::new(from.ip(), port);
        match self.store.announce(now, info_hash, peer) {
            StoreOutcome::Stored | StoreOutcome::Refreshed => {
                Body::Response(Response::bare(self.id()))
            }
            StoreOutcome::Full => Body::Error(ErrorReply::new(ErrorCode::Server, "store full")),
        }
    }

    fn reply_message(&self, to: SocketAddr, transaction: Vec<u8>, body: Body) -> Message {
        Message {
            transaction,
            version: self.config.version.clone(),
            // BEP 42: tell the querier the address we see, so it can pick a valid id.
            ip: Some(to),
            read_only: false,
            body,
        }
    }

    fn reply(&mut self, to: SocketAddr, transaction: Vec<u8>, body: Body) {
        let bytes = self.reply_message(to, transaction, body).encode();
        debug_assert!(bytes.len() <= MAX_REPLY, "reply of {} bytes", bytes.len());
        if bytes.len() <= MAX_REPLY && crate::proto::compact::is_usable(&to) {
            self.stats.replies += 1;
            self.transmit(to, bytes);
        }
    }

    /// Answers a query that did not decode (rate-limited like any query).
    pub(crate) fn reply_error(
        &mut self,
        now: Instant,
        to: SocketAddr,
        transaction: Vec<u8>,
        code: ErrorCode,
        text: &str,
    ) {
        if !self.rate.allow(now, to.ip()) {
            self.stats.rate_limited += 1;
            return;
        }
        let text = text.get(..64).unwrap_or(text);
        self.reply(to, transaction, Body::Error(ErrorReply::new(code, text)));
    }
}
