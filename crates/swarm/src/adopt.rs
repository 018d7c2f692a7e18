//! Taking over the connections of a magnet link's metadata phase.

use std::time::Instant;

use shoal_wire::ut_pex::UT_PEX;

use crate::addrs::PeerSource;
use crate::metadata_swarm::Handoff;
use crate::peer::Peer;
use crate::swarm::Swarm;
use crate::types::{CloseReason, SwarmEvent};

impl Swarm {
    /// Adopts the connections and addresses of a finished [`crate::MetadataSwarm`], under the
    /// keys they already had (the owner keeps its connection tasks). Call it once, on a new
    /// swarm, before any peer connects.
    ///
    /// Each session learns the geometry and reports the piece set the peer sent during the
    /// metadata phase; our own pieces go out as HAVEs (the first message, have-none or
    /// nothing, is long sent), and an updated extension handshake announces our metadata
    /// size. In a private torrent (BEP 27), connections and addresses that came from the DHT
    /// or PEX are dropped: only the trackers may name peers. Connections that cannot be
    /// adopted are closed with a [`SwarmEvent::Close`].
    pub fn adopt(&mut self, now: Instant, handoff: Handoff) {
        let Handoff {
            peers,
            addrs,
            banned,
        } = handoff;
        for ip in banned {
            self.addrs.ban(ip);
        }
        let not_private_source =
            |source: PeerSource| !matches!(source, PeerSource::Dht | PeerSource::Pex);
        for (addr, source) in addrs {
            if !self.private || not_private_source(source) {
                self.addrs.add(addr, source, now);
            }
        }
        for p in peers {
            let key = p.key;
            self.next_key = self.next_key.max(key.get().saturating_add(1));
            let refused = if self.private && !not_private_source(p.source) {
                Some(CloseReason::NotUseful)
            } else if self.addrs.is_banned(p.addr.ip()) {
                Some(CloseReason::Banned)
            } else if self.peers.len() >= self.config.max_peers
                || self.peers.values().any(|q| q.peer_id == p.peer_id)
            {
                Some(CloseReason::NotUseful)
            } else {
                None
            };
            let mut session = p.session;
            let refused = refused.or_else(|| {
                session
                    .set_geometry(self.geometry)
                    .err()
                    .map(|e| CloseReason::Protocol(e.to_string()))
            });
            if let Some(reason) = refused {
                if p.outgoing {
                    self.addrs.disconnected(p.addr, now);
                }
                self.events.push_back(SwarmEvent::Close(key, reason));
                continue;
            }
            if p.outgoing {
                self.addrs.add(p.addr, p.source, now);
                self.addrs.connected(p.addr);
            } else {
                self.addrs.incoming(p.addr, now);
            }
            for piece in self.picker.have().iter_ones() {
                if let Some(piece) = self.geometry.piece(piece) {
                    session.have(now, piece);
                }
            }
            if session.features().extension_protocol {
                let mut hs = self.our_ext_handshake();
                if !self.pex_on {
                    // BEP 10: a zero id withdraws what the first handshake offered.
                    hs.m.insert(UT_PEX.to_string(), 0);
                }
                let _ = session.send_ext_handshake(now, &hs);
            }
            let mut ext = p.ext;
            if !self.pex_on {
                ext.pex = None;
            }
            let interested = session.peer_interested();
            self.peers.insert(
                key,
                Peer::new(now, p.addr, p.source, p.peer_id, session, p.outgoing, ext),
            );
            self.dirty.insert(key);
            // The piece set the session kept comes out now, as the peer's bitfield.
            self.drain_session_events(now, key);
            if interested {
                self.rechoke_if_room(now);
            }
        }
        self.dial_more(now);
        self.finish_input(now);
    }
}
