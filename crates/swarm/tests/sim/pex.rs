//! Peer exchange (BEP 11) between swarm cores, and its absence in private torrents (BEP 27).

use std::time::Duration;

use shoal_swarm::{PeerSource, SwarmConfig};
use shoal_wire::{Message, PexMessage};

use crate::support::{seeds, Have, Link, LinkOpts, Sim};

/// ut_pex payloads `from` sent on `link` (our cores receive ut_pex on id 2), with when.
fn pex_sent(link: &Link, from: usize) -> Vec<(Duration, PexMessage)> {
    link.sent_by(from)
        .iter()
        .filter_map(|m| match &m.msg {
            Message::Extended { id: 2, payload } => {
                Some((m.at, PexMessage::decode(payload).expect("our PEX decodes")))
            }
            _ => None,
        })
        .collect()
}

/// A hub, and two leechers that each know only the hub. Links are slow so nobody finishes
/// before PEX had its chance.
fn hub_and_two(seed: u64, private: bool) -> (Sim, [usize; 3]) {
    let mut sim = Sim::new(seed, 1 << 20, 32_768);
    let info = sim.content.info_bytes();
    let hub = sim.add_swarm_with(
        "hub",
        Have::All,
        SwarmConfig::default(),
        Some(info),
        private,
    );
    let b = sim.add_swarm_with("b", Have::None, SwarmConfig::default(), None, private);
    let c = sim.add_swarm_with("c", Have::None, SwarmConfig::default(), None, private);
    let slow = LinkOpts::default().rate(32 << 10);
    sim.dial_opts = slow;
    sim.connect(b, hub, slow).expect("b-hub");
    sim.connect(c, hub, slow).expect("c-hub");
    (sim, [hub, b, c])
}

#[test]
fn leechers_find_each_other_through_the_hub() {
    for seed in seeds(&[1, 2, 3]) {
        let (mut sim, [hub, b, c]) = hub_and_two(seed, false);
        let (b_addr, c_addr) = (sim.nodes[b].addr, sim.nodes[c].addr);
        let met = sim.run_until(Duration::from_secs(10), |sim| {
            sim.link_between(b, c).is_some()
        });
        assert!(met, "seed {seed}: b and c never connected");

        // The hub listed each leecher to the other, under its listen address (both dialled
        // the hub, so it knows them from their extension handshakes' `p`).
        let to_b = pex_sent(&sim.links[sim.link_between(hub, b).expect("b-hub")], hub);
        let to_c = pex_sent(&sim.links[sim.link_between(hub, c).expect("c-hub")], hub);
        let listed = |msgs: &[(Duration, PexMessage)], who| {
            msgs.iter().any(|(_, m)| {
                m.added
                    .iter()
                    .any(|p| std::net::SocketAddr::V4(p.addr) == who)
            })
        };
        assert!(listed(&to_b, c_addr), "seed {seed}: {to_b:?}");
        assert!(listed(&to_c, b_addr), "seed {seed}: {to_c:?}");
        // Nobody is told about itself.
        assert!(!listed(&to_b, b_addr) && !listed(&to_c, c_addr));

        // Exactly one of them dialled the other, and knows the address from PEX.
        let (dialler, other) = if sim.nodes[b].dials.iter().any(|(_, a)| *a == c_addr) {
            (b, c_addr)
        } else {
            (c, b_addr)
        };
        let infos = sim.command(dialler, |s, now| s.peer_infos(now));
        let peer = infos.iter().find(|p| p.addr == other).expect("connected");
        assert_eq!(peer.source, PeerSource::Pex, "seed {seed}");
        assert!(peer.outgoing);

        // BEP 11: at most one message a minute to each peer, however the swarm changes.
        sim.run_for(Duration::from_secs(150));
        for (link, from) in [
            (sim.link_between(hub, b), hub),
            (sim.link_between(hub, c), hub),
        ] {
            let msgs = pex_sent(&sim.links[link.expect("still linked")], from);
            for pair in msgs.windows(2) {
                assert!(
                    pair[1].0 - pair[0].0 >= Duration::from_secs(60),
                    "seed {seed}: {msgs:?}"
                );
            }
        }
    }
}

#[test]
fn private_torrents_exchange_no_peers() {
    for seed in seeds(&[4, 5]) {
        let (mut sim, [hub, b, c]) = hub_and_two(seed, true);
        sim.run_for(Duration::from_secs(90));
        assert!(sim.link_between(b, c).is_none(), "seed {seed}");
        for l in &sim.links {
            for n in [hub, b, c] {
                if l.ends.iter().any(|e| e.node == n) {
                    assert!(
                        pex_sent(l, n).is_empty(),
                        "seed {seed}: PEX in a private torrent"
                    );
                }
            }
        }
    }
}

#[test]
fn a_flood_of_pex_contacts_is_capped() {
    let mut sim = Sim::new(9, 1 << 20, 32_768);
    let a = sim.add_swarm("a", Have::None, SwarmConfig::default());
    // Two empty leechers: nothing else goes over the link, so the injected messages arrive
    // at once and the link stays up.
    let b = sim.add_swarm("b", Have::None, SwarmConfig::default());
    let link = sim.connect(a, b, LinkOpts::default()).expect("a-b");
    sim.run_for(Duration::from_secs(1));
    // 200 contacts on distinct IPs, more than BEP 11 lets anyone send at once.
    let added = (0..200u32)
        .map(|i| shoal_wire::PexPeer {
            addr: std::net::SocketAddrV4::new(std::net::Ipv4Addr::from(0x7f01_0000 + i), 6881),
            flags: shoal_wire::PexFlags::default(),
        })
        .collect();
    let msg = PexMessage {
        added,
        ..PexMessage::default()
    };
    let mut frame = Vec::new();
    Message::Extended {
        id: 2,
        payload: msg.encode().into(),
    }
    .encode(&mut frame);
    sim.inject(link, b, &frame);
    sim.run_for(Duration::from_secs(1));
    // Dials to these addresses fail at once and go back to the book.
    let (idle, _) = sim.swarm(a).addr_counts();
    assert_eq!(idle, 50, "one message adds at most 50 contacts");
    assert!(!sim.nodes[a].dials.is_empty());
    // A second message within the minute is ignored.
    sim.inject(link, b, &frame);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.swarm(a).addr_counts().0, 50);
    assert!(
        sim.links[link].open,
        "a message too many is not worth the connection"
    );
}
