//! The BEP 10 extensions a swarm speaks on every connection: ut_metadata (BEP 9) and ut_pex
//! (BEP 11). Shared by [`crate::Swarm`] (which serves metadata and exchanges peers) and
//! [`crate::MetadataSwarm`] (which fetches metadata and only listens to PEX).
//!
//! PEX is untrusted advice (BEP 11, "Security Considerations"): a peer could list thousands of
//! addresses to turn us into a tool against some victim, or fill our address book with its
//! friends. So what one message can add is capped, duplicate IPs in it are ignored, and what
//! one connection can add over its whole life is capped too; the address book's own cap
//! bounds the total.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use shoal_wire::ut_metadata::UT_METADATA;
use shoal_wire::ut_pex::UT_PEX;
use shoal_wire::{
    ExtAction, ExtHandshake, MetadataMessage, MetadataServer, PeerSession, PexMessage, PexState,
};

/// Our id for ut_metadata messages (what peers send them on).
pub(crate) const UT_METADATA_ID: u8 = 1;
/// Our id for ut_pex messages.
pub(crate) const UT_PEX_ID: u8 = 2;
/// Contacts taken from one PEX message at most (BEP 11 asks senders for at most 50).
pub(crate) const MAX_PEX_PER_MESSAGE: usize = 50;
/// Contacts taken from one connection's PEX messages over its life.
pub(crate) const MAX_PEX_PER_PEER: usize = 200;
/// While this many bytes wait to go to a peer, its metadata requests are refused: a peer
/// asking for the same 16 KiB piece in a loop must not grow our send queue without bound.
const MAX_METADATA_BACKLOG: usize = 256 * 1024;

/// Our extension handshake. `metadata_size` is announced when we can serve the info
/// dictionary; `pex` is false for private torrents (BEP 27), and ut_pex is then not offered.
pub(crate) fn our_handshake(
    listen_port: Option<u16>,
    reqq: u32,
    metadata_size: Option<u32>,
    pex: bool,
) -> ExtHandshake {
    let mut m = std::collections::BTreeMap::new();
    m.insert(UT_METADATA.to_string(), UT_METADATA_ID);
    if pex {
        m.insert(UT_PEX.to_string(), UT_PEX_ID);
    }
    ExtHandshake {
        m,
        v: Some(concat!("shoal ", env!("CARGO_PKG_VERSION")).to_string()),
        reqq: Some(reqq),
        p: listen_port,
        metadata_size: metadata_size.map(u64::from),
        ..ExtHandshake::default()
    }
}

/// The extension state of one connection.
#[derive(Debug)]
pub(crate) struct PeerExt {
    /// The peer's address as we see it (never listed back to it).
    pub remote: SocketAddr,
    /// PEX with this peer; `None` when PEX is off (private torrent) or not agreed yet.
    pub pex: Option<PexState>,
    /// Contacts taken from this peer's PEX messages so far.
    pub pex_taken: usize,
}

impl PeerExt {
    pub fn new(remote: SocketAddr) -> Self {
        Self {
            remote,
            pex: None,
            pex_taken: 0,
        }
    }
}

/// What an extended message asks of the owner.
#[derive(Debug)]
pub(crate) enum Incoming {
    Nothing,
    /// Close the connection, for this reason.
    Close(String),
    /// Contacts from PEX, filtered and capped: add them to the address book.
    Peers(Vec<SocketAddr>),
    /// A ut_metadata data or reject message (requests were answered already).
    Metadata(MetadataMessage),
}

/// Starts PEX with a peer whose extension handshake offers it, if PEX is on.
pub(crate) fn on_ext_handshake(ext: &mut PeerExt, session: &PeerSession, pex_on: bool) {
    if pex_on && ext.pex.is_none() && session.peer_extension_id(UT_PEX).is_some() {
        ext.pex = Some(PexState::new(ext.remote));
    }
}

/// Handles an extended message on one of our ids. ut_metadata requests are answered here:
/// from `server`, or with a reject when we have no metadata (BEP 9) or the peer's send queue
/// is long.
pub(crate) fn on_extended(
    now: Instant,
    session: &mut PeerSession,
    ext: &mut PeerExt,
    server: Option<&MetadataServer>,
    pex_on: bool,
    id: u8,
    payload: Bytes,
) -> Incoming {
    match id {
        UT_METADATA_ID => {
            let msg = match MetadataMessage::decode(&payload) {
                Ok(msg) => msg,
                Err(e) => return on_error(e.action(), e.to_string()),
            };
            let MetadataMessage::Request { piece } = msg else {
                return Incoming::Metadata(msg);
            };
            let Some(their_id) = session.peer_extension_id(UT_METADATA) else {
                // It asks without telling us where to answer: nothing to do.
                return Incoming::Nothing;
            };
            let answer = match server {
                Some(s) if session.pending_transmit_len() < MAX_METADATA_BACKLOG => s.answer(piece),
                _ => MetadataMessage::Reject { piece },
            };
            session.send_extended(now, their_id, answer.encode());
            Incoming::Nothing
        }
        UT_PEX_ID if pex_on => {
            let remote = ext.remote;
            let state = ext.pex.get_or_insert_with(|| PexState::new(remote));
            match state.handle_message(now, &payload) {
                Ok(msg) => {
                    let room = MAX_PEX_PER_PEER.saturating_sub(ext.pex_taken);
                    let peers = pex_contacts(&msg, room.min(MAX_PEX_PER_MESSAGE));
                    ext.pex_taken += peers.len();
                    Incoming::Peers(peers)
                }
                Err(e) => on_error(e.action(), e.to_string()),
            }
        }
        // PEX is off (private torrent) or the id is not one of ours: not a reason to hang up.
        _ => Incoming::Nothing,
    }
}

fn on_error(action: ExtAction, text: String) -> Incoming {
    match action {
        ExtAction::IgnoreMessage => Incoming::Nothing,
        ExtAction::Disconnect => Incoming::Close(text),
    }
}

/// The added contacts of a PEX message, at most `cap`, one per IP.
pub(crate) fn pex_contacts(msg: &PexMessage, cap: usize) -> Vec<SocketAddr> {
    let mut ips: BTreeSet<IpAddr> = BTreeSet::new();
    msg.added
        .iter()
        .map(|p| SocketAddr::V4(p.addr))
        .chain(msg.added6.iter().map(|p| SocketAddr::V6(p.addr)))
        .filter(|a| ips.insert(a.ip()))
        .take(cap)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_wire::{PexFlags, PexPeer};

    #[test]
    fn pex_contacts_are_capped_and_one_per_ip() {
        let p = |s: &str| PexPeer {
            addr: s.parse().unwrap(),
            flags: PexFlags::default(),
        };
        let msg = PexMessage {
            added: vec![
                p("127.0.0.2:1"),
                p("127.0.0.2:2"),
                p("127.0.0.3:1"),
                p("127.0.0.4:1"),
            ],
            added6: vec![PexPeer {
                addr: "[::1]:5".parse().unwrap(),
                flags: PexFlags::default(),
            }],
            ..PexMessage::default()
        };
        let all = pex_contacts(&msg, 10);
        assert_eq!(all.len(), 4);
        assert!(!all.contains(&"127.0.0.2:2".parse().unwrap()));
        assert_eq!(pex_contacts(&msg, 2).len(), 2);
        assert!(pex_contacts(&msg, 0).is_empty());
    }

    #[test]
    fn handshake_offers_pex_only_when_on() {
        let public = our_handshake(Some(6881), 250, Some(1000), true);
        assert_eq!(public.m.get(UT_PEX), Some(&UT_PEX_ID));
        assert_eq!(public.m.get(UT_METADATA), Some(&UT_METADATA_ID));
        assert_eq!(public.metadata_size, Some(1000));
        let private = our_handshake(None, 250, None, false);
        assert_eq!(private.m.get(UT_PEX), None);
        assert_eq!(private.metadata_size, None);
    }
}
