//! Pausing a torrent: no connections while paused, dialling again at once on resume.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal_core::{Bitfield, PeerId};
use shoal_swarm::{CloseReason, PeerSource, Swarm, SwarmConfig, SwarmEvent, TorrentParams};
use shoal_wire::Features;

fn swarm(now: Instant) -> Swarm {
    let params = TorrentParams {
        total_length: 4 * 16384,
        piece_length: 16384,
        piece_hashes: vec![[0; 20]; 4],
        have: Bitfield::new(4),
        our_id: PeerId(*b"-SH0100-pausepause00"),
        listen_port: None,
        info_bytes: None,
        private: false,
    };
    Swarm::new(params, SwarmConfig::default(), now, 1).expect("swarm")
}

fn dials(s: &mut Swarm) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    while let Some(e) = s.poll_event() {
        if let SwarmEvent::Dial(a) = e {
            out.push(a);
        }
    }
    out
}

#[test]
fn paused_torrents_connect_to_nobody_and_resume_dials_at_once() {
    let t0 = Instant::now();
    let mut s = swarm(t0);
    let peer: SocketAddr = "127.0.0.9:6881".parse().unwrap();
    s.add_peers(t0, [peer], PeerSource::Manual);
    assert_eq!(dials(&mut s), vec![peer]);
    let features = Features {
        fast: true,
        extension_protocol: true,
        dht: false,
    };
    let key = s
        .peer_connected(t0, peer, PeerId([7; 20]), features, true)
        .expect("connected");
    assert_eq!(s.peer_count(), 1);

    s.set_paused(t0, true);
    assert!(s.is_paused());
    assert_eq!(s.peer_count(), 0);
    let closed: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .filter(|e| matches!(e, SwarmEvent::Close(k, CloseReason::Stopping) if *k == key))
        .collect();
    assert_eq!(closed.len(), 1, "the connection is closed");
    // Nobody is dialled or accepted while paused, whatever time passes.
    let later = t0 + Duration::from_secs(3600);
    s.handle_timeout(later);
    assert!(dials(&mut s).is_empty());
    let other: SocketAddr = "127.0.0.10:6881".parse().unwrap();
    assert_eq!(
        s.peer_connected(later, other, PeerId([8; 20]), features, false),
        Err(CloseReason::Stopping)
    );

    s.set_paused(later, false);
    assert!(!s.is_paused());
    assert_eq!(
        dials(&mut s),
        vec![peer],
        "known peers are dialled again at once"
    );
}

#[test]
fn a_peer_flooding_requests_while_choked_is_closed() {
    let t0 = Instant::now();
    let mut have = Bitfield::new(4);
    for i in 0..4 {
        have.set(i, true);
    }
    let params = TorrentParams {
        total_length: 4 * 16384,
        piece_length: 16384,
        piece_hashes: vec![[0; 20]; 4],
        have,
        our_id: PeerId(*b"-SH0100-floodflood00"),
        listen_port: None,
        info_bytes: None,
        private: false,
    };
    let mut s = Swarm::new(params, SwarmConfig::default(), t0, 1).expect("swarm");
    let peer: SocketAddr = "127.0.0.9:6881".parse().unwrap();
    let features = Features {
        fast: true,
        extension_protocol: false,
        dht: false,
    };
    let key = s
        .peer_connected(t0, peer, PeerId([7; 20]), features, false)
        .expect("connected");
    // A peer that never became interested stays choked; each request is refused.
    let request = shoal_wire::Message::Request(shoal_wire::BlockSpec {
        index: 0,
        begin: 0,
        length: 16384,
    });
    let mut closed = false;
    for _ in 0..1500 {
        s.handle_peer_bytes(t0, key, &request.to_vec());
        while let Some(e) = s.poll_event() {
            if let SwarmEvent::Close(k, CloseReason::Protocol(_)) = e {
                closed |= k == key;
            }
        }
        while s.poll_transmit().is_some() {}
        if closed {
            break;
        }
    }
    assert!(closed, "the flooding peer is disconnected");
    assert_eq!(s.peer_count(), 0);
}
