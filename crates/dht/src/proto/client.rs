//! The asking half of [`Dht`]: answers to our queries, failures, and driving lookups.

use std::net::SocketAddr;
use std::time::Instant;

use crate::proto::bep42;
use crate::proto::compact::{Family, NodeInfo};
use crate::proto::config::DhtEvent;
use crate::proto::dht::{Dht, Outstanding, Purpose};
use crate::proto::krpc::{Body, Message, Method, Response};
use crate::proto::lookup::{Lookup, LookupId, LookupKind, Phase};
use crate::proto::routing::{Contact, InsertOutcome};

impl Dht {
    /// A response or error: matched to our query by transaction id *and* source address, so
    /// an off-path forger has to guess both.
    pub(crate) fn handle_reply(&mut self, now: Instant, from: SocketAddr, msg: Message) {
        let tid = <[u8; 2]>::try_from(msg.transaction.as_slice()).map(u16::from_be_bytes);
        let Some(out) = tid.ok().and_then(|t| {
            let o = self.outstanding.get(&t)?;
            (o.addr == from).then_some(t)
        }) else {
            self.stats.unsolicited += 1;
            return;
        };
        let Some(out) = self.outstanding.remove(&out) else {
            return;
        };
        match msg.body {
            Body::Response(r) => self.on_response(now, from, out, r),
            Body::Error(_) | Body::Query(_) => {
                // An error proves the node is there but gives us nothing: the lookup moves on,
                // the routing table neither rewards nor punishes it.
                if let Some(id) = out.id {
                    self.table.clear_ping(&NodeInfo { id, addr: from });
                }
                self.lookup_failed(out);
            }
        }
        // The freed slot may let any lookup move on, not only this query's.
        self.step_all(now);
    }

    fn on_response(&mut self, now: Instant, from: SocketAddr, out: Outstanding, r: Response) {
        let node = NodeInfo {
            id: r.id,
            addr: from,
        };
        let trusted = !self.config.enforce_bep42 || bep42::acceptable(&r.id, from.ip());
        if trusted {
            if let InsertOutcome::Cached { ping: Some(p) } =
                self.table.contact(now, node, Contact::Responded)
            {
                self.ping(now, p);
            }
        }
        match out.purpose {
            Purpose::Ping => {}
            Purpose::Lookup(l) => {
                let Some(lookup) = self.lookups.get_mut(&l) else {
                    return;
                };
                let nodes = match self.config.family {
                    Family::V4 => r.nodes.unwrap_or_default(),
                    Family::V6 => r.nodes6.unwrap_or_default(),
                };
                let values = r.values.unwrap_or_default();
                let token = r.token.filter(|_| trusted);
                let fresh = lookup.on_response(from, r.id, &nodes, token, &values);
                if !fresh.is_empty() && !lookup.silent && lookup.kind != LookupKind::FindNode {
                    self.events.push_back(DhtEvent::Peers {
                        lookup: l,
                        peers: fresh,
                    });
                }
            }
            Purpose::Announce(l) => {
                if let Some(Lookup {
                    phase: Phase::Announcing { pending, acked },
                    ..
                }) = self.lookups.get_mut(&l)
                {
                    *pending = pending.saturating_sub(1);
                    *acked += 1;
                }
            }
        }
    }

    /// A query of ours got no answer in time.
    pub(crate) fn query_failed(&mut self, now: Instant, out: Outstanding) {
        if let Some(id) = out.id {
            self.table.failed(now, &NodeInfo { id, addr: out.addr });
        }
        self.lookup_failed(out);
    }

    fn lookup_failed(&mut self, out: Outstanding) {
        match out.purpose {
            Purpose::Ping => {}
            Purpose::Lookup(l) => {
                if let Some(lookup) = self.lookups.get_mut(&l) {
                    lookup.on_failure(&out.addr);
                }
            }
            Purpose::Announce(l) => {
                if let Some(Lookup {
                    phase: Phase::Announcing { pending, .. },
                    ..
                }) = self.lookups.get_mut(&l)
                {
                    *pending = pending.saturating_sub(1);
                }
            }
        }
    }

    pub(crate) fn step_all(&mut self, now: Instant) {
        let ids: Vec<LookupId> = self.lookups.keys().copied().collect();
        for id in ids {
            self.step_lookup(now, id);
        }
    }

    /// Sends what lookup `id` may send now, and moves it on when its phase is over.
    pub(crate) fn step_lookup(&mut self, now: Instant, id: LookupId) {
        let Some(lookup) = self.lookups.get_mut(&id) else {
            return;
        };
        match lookup.phase {
            Phase::Searching => {
                let budget = self
                    .config
                    .max_outstanding
                    .saturating_sub(self.outstanding.len());
                let method = match lookup.kind {
                    LookupKind::FindNode => Method::FindNode {
                        target: lookup.target,
                        want: None,
                    },
                    LookupKind::GetPeers | LookupKind::Announce { .. } => Method::GetPeers {
                        info_hash: lookup.target,
                        want: None,
                    },
                };
                for (addr, node) in lookup.next_queries(budget) {
                    self.send_query(now, addr, node, method.clone(), Purpose::Lookup(id));
                }
                let Some(lookup) = self.lookups.get_mut(&id) else {
                    return;
                };
                if lookup.search_done() {
                    self.search_finished(now, id);
                }
            }
            Phase::Announcing { pending: 0, .. } => {
                if let Some(l) = self.lookups.remove(&id) {
                    self.finish(&l);
                }
            }
            Phase::Announcing { .. } => {}
            Phase::Done => {
                if let Some(l) = self.lookups.remove(&id) {
                    self.finish(&l);
                }
            }
        }
    }

    fn search_finished(&mut self, now: Instant, id: LookupId) {
        let Some(lookup) = self.lookups.get_mut(&id) else {
            return;
        };
        let LookupKind::Announce { port, implied_port } = lookup.kind else {
            lookup.phase = Phase::Done;
            if let Some(l) = self.lookups.remove(&id) {
                self.finish(&l);
            }
            return;
        };
        let info_hash = lookup.target;
        let targets = lookup.announce_targets(self.config.enforce_bep42);
        lookup.phase = Phase::Announcing {
            pending: 0,
            acked: 0,
        };
        let mut sent = 0;
        for (node, token) in targets {
            let method = Method::AnnouncePeer {
                info_hash,
                port,
                implied_port: implied_port.then_some(true),
                token,
            };
            if self.send_query(now, node.addr, Some(node.id), method, Purpose::Announce(id)) {
                sent += 1;
            }
        }
        if let Some(Lookup {
            phase: Phase::Announcing { pending, .. },
            ..
        }) = self.lookups.get_mut(&id)
        {
            *pending = sent;
        }
        self.step_lookup(now, id);
    }

    /// Reports a finished lookup (unless it is an internal one).
    pub(crate) fn finish(&mut self, lookup: &Lookup) {
        if lookup.silent {
            return;
        }
        let announced = match (lookup.kind, lookup.phase) {
            (LookupKind::Announce { .. }, Phase::Announcing { acked, .. }) => Some(acked),
            (LookupKind::Announce { .. }, _) => Some(0),
            _ => None,
        };
        self.events.push_back(DhtEvent::LookupDone {
            lookup: lookup.id,
            target: lookup.target,
            closest: lookup.closest(),
            peers: lookup.peers_found(),
            announced,
        });
    }
}
