//! The [`Swarm`]'s side of the extensions: serving our metadata and exchanging peers.
//!
//! PEX goes out from the periodic tick, never from an input: the set of connections is only
//! a snapshot worth sending once it settled, and [`PexState`](shoal_wire::PexState) keeps each
//! peer to one message a minute anyway (BEP 11).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use shoal_picker::PeerKey;
use shoal_wire::ut_pex::UT_PEX;
use shoal_wire::PexFlags;

use crate::addrs::PeerSource;
use crate::extensions::{self, Incoming};
use crate::peer::Peer;
use crate::swarm::Swarm;
use crate::types::CloseReason;

impl Swarm {
    /// The peer's extension handshake arrived (or changed).
    pub(crate) fn on_peer_ext_handshake(&mut self, key: PeerKey) {
        if let Some(p) = self.peers.get_mut(&key) {
            extensions::on_ext_handshake(&mut p.ext, &p.session, self.pex_on);
        }
    }

    /// An extended message on one of our ids.
    pub(crate) fn on_peer_extended(&mut self, now: Instant, key: PeerKey, id: u8, payload: Bytes) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let incoming = extensions::on_extended(
            now,
            &mut p.session,
            &mut p.ext,
            self.metadata.as_ref(),
            self.pex_on,
            id,
            payload,
        );
        self.dirty.insert(key);
        match incoming {
            Incoming::Close(why) => self.close(now, key, CloseReason::Protocol(why)),
            Incoming::Peers(addrs) => {
                self.add_peers(now, addrs, PeerSource::Pex);
            }
            // We asked nobody for metadata: a data or reject message is stray, and harmless.
            Incoming::Metadata(_) | Incoming::Nothing => {}
        }
    }

    /// Sends a PEX message to every peer that is due one (from the tick).
    pub(crate) fn send_pex(&mut self, now: Instant) {
        if !self.pex_on {
            return;
        }
        let due = |p: &Peer| {
            p.ext
                .pex
                .as_ref()
                .is_some_and(|s| s.poll_timeout().is_none_or(|t| t <= now))
        };
        if !self.peers.values().any(due) {
            return;
        }
        let connected: Vec<(SocketAddr, PexFlags)> =
            self.peers.values().filter_map(pex_contact).collect();
        for (key, p) in self.peers.iter_mut() {
            if !due(p) {
                continue;
            }
            let Some(their_id) = p.session.peer_extension_id(UT_PEX) else {
                continue;
            };
            // The peer is not told about itself, under whichever address we list it.
            let own = pex_contact(p).map(|(a, _)| a);
            let Some(state) = p.ext.pex.as_mut() else {
                continue;
            };
            let others = connected.iter().copied().filter(|(a, _)| Some(*a) != own);
            if let Some(msg) = state.poll_message(now, others) {
                p.session
                    .send_extended(now, their_id, Bytes::from(msg.encode()));
                self.dirty.insert(*key);
            }
        }
    }
}

/// How a connected peer is listed to others: the address it accepts connections on (for an
/// incoming connection, its IP with the listen port its extension handshake gave; without
/// one it cannot be listed) and its flags.
fn pex_contact(p: &Peer) -> Option<(SocketAddr, PexFlags)> {
    let mut flags = 0;
    if p.is_seed() {
        flags |= PexFlags::SEED;
    }
    let addr = if p.outgoing {
        flags |= PexFlags::REACHABLE;
        p.addr
    } else {
        let port = p.session.peer_ext_handshake()?.p?;
        SocketAddr::new(p.addr.ip(), port)
    };
    Some((addr, PexFlags(flags)))
}
