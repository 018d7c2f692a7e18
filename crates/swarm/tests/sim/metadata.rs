//! Magnet links between cores: a [`MetadataSwarm`](shoal_swarm::MetadataSwarm) fetches the info
//! dictionary over ut_metadata from swarms that serve it, then becomes a swarm and downloads.

use std::time::Duration;

use shoal_core::{InfoHash, InfoHashV1};
use shoal_swarm::{CloseReason, SwarmConfig};
use shoal_wire::{Message, MetadataMessage};

use crate::support::{pieces, seeds, Have, Link, LinkOpts, Sim};

fn info_hash(sim: &Sim) -> InfoHash {
    InfoHash::v1(InfoHashV1::of_info_bytes(&sim.content.info_bytes()))
}

/// ut_metadata messages of a type (0 request, 1 data, 2 reject) `from` sent on `link`. Our
/// cores receive ut_metadata on id 1.
fn metadata_msgs(link: &Link, from: usize, msg_type: u8) -> usize {
    let needle = format!("8:msg_typei{msg_type}e");
    link.sent_by(from)
        .iter()
        .filter(|m| match &m.msg {
            Message::Extended { id: 1, payload } => payload
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            _ => false,
        })
        .count()
}

#[test]
fn metadata_comes_from_every_seeder_and_is_verified() {
    for seed in seeds(&[1, 2, 3]) {
        // 1024 pieces: 20 KiB of hashes, so two metadata pieces to spread over two peers.
        let mut sim = Sim::new(seed, 1024 * 16_384, 16_384);
        let info = sim.content.info_bytes();
        assert!(info.len() > 16_384);
        let seeders: Vec<usize> = (0..2)
            .map(|i| {
                let cfg = SwarmConfig::default();
                sim.add_swarm_with(
                    &format!("seeder{i}"),
                    Have::All,
                    cfg,
                    Some(info.clone()),
                    false,
                )
            })
            .collect();
        let ih = info_hash(&sim);
        let m = sim.add_magnet("magnet", ih, SwarmConfig::default());
        let addrs: Vec<_> = seeders.iter().map(|&s| sim.nodes[s].addr).collect();
        sim.magnet_add_peers(m, &addrs);
        let done = sim.run_until(Duration::from_secs(30), |sim| {
            sim.fetched_metadata(m).is_some()
        });
        assert!(done, "seed {seed}: no metadata after {:?}", sim.elapsed());
        assert_eq!(sim.fetched_metadata(m).as_deref(), Some(&info[..]));
        assert!(sim.magnet(m).is_complete());
        assert_eq!(sim.magnet(m).progress(), (0, 0), "the fetcher is done");
        // The first peer whose handshake arrives may get both requests before the other
        // is known; between them, each piece came once and nothing was refused.
        let mut data = 0;
        for &s in &seeders {
            let link = sim.link_between(m, s).expect("dialled");
            data += metadata_msgs(&sim.links[link], s, 1);
            assert_eq!(metadata_msgs(&sim.links[link], s, 2), 0);
        }
        assert_eq!(data, 2, "seed {seed}");
    }
}

#[test]
fn magnet_becomes_a_swarm_and_downloads() {
    for seed in seeds(&[4, 5]) {
        let mut sim = Sim::new(seed, 1 << 20, 32_768);
        let info = sim.content.info_bytes();
        let s = sim.add_swarm_with(
            "seeder",
            Have::All,
            SwarmConfig::default(),
            Some(info),
            false,
        );
        let ih = info_hash(&sim);
        let m = sim.add_magnet("magnet", ih, SwarmConfig::default());
        let addr = sim.nodes[s].addr;
        sim.magnet_add_peers(m, &[addr]);
        assert!(sim.run_until(Duration::from_secs(30), |sim| sim
            .fetched_metadata(m)
            .is_some()));
        let link = sim.link_between(m, s).expect("dialled");
        sim.finish_magnet(m, Have::None, SwarmConfig::default());
        sim.run_to_completion(&[m], Duration::from_secs(60));
        sim.assert_complete_and_correct(m);
        // The same connection carried the metadata and the data: never dialled again.
        assert_eq!(sim.nodes[m].dials.len(), 1, "seed {seed}");
        assert_eq!(sim.nodes[m].dials[0].1, addr);
        assert!(!pieces(sim.links[link].received_by(m)).is_empty());
    }
}

#[test]
fn peers_without_metadata_are_not_asked_and_refuse_requests() {
    for seed in seeds(&[6, 7]) {
        let mut sim = Sim::new(seed, 1 << 20, 32_768);
        let info = sim.content.info_bytes();
        // A leecher that has no metadata to give (it was not handed the info dictionary).
        let empty = sim.add_swarm("no-metadata", Have::None, SwarmConfig::default());
        let ih = info_hash(&sim);
        let m = sim.add_magnet("magnet", ih, SwarmConfig::default());
        let addr = sim.nodes[empty].addr;
        sim.magnet_add_peers(m, &[addr]);
        sim.run_for(Duration::from_secs(5));
        assert!(sim.fetched_metadata(m).is_none());
        let link = sim.link_between(m, empty).expect("dialled");
        assert_eq!(
            metadata_msgs(&sim.links[link], m, 0),
            0,
            "seed {seed}: no metadata_size announced, nothing asked"
        );
        // Asked anyway, it refuses as BEP 9 requires.
        let mut frame = Vec::new();
        Message::Extended {
            id: 1,
            payload: MetadataMessage::Request { piece: 0 }.encode(),
        }
        .encode(&mut frame);
        sim.inject(link, m, &frame);
        sim.run_for(Duration::from_secs(1));
        assert_eq!(metadata_msgs(&sim.links[link], empty, 2), 1, "seed {seed}");
        assert_eq!(metadata_msgs(&sim.links[link], empty, 1), 0);

        let s = sim.add_swarm_with(
            "seeder",
            Have::All,
            SwarmConfig::default(),
            Some(info.clone()),
            false,
        );
        let addr = sim.nodes[s].addr;
        sim.magnet_add_peers(m, &[addr]);
        assert!(sim.run_until(Duration::from_secs(30), |sim| sim
            .fetched_metadata(m)
            .is_some()));
        assert_eq!(sim.fetched_metadata(m).as_deref(), Some(&info[..]));
    }
}

#[test]
fn a_liar_is_banned_once_the_truth_is_known() {
    for seed in seeds(&[8, 9]) {
        let mut sim = Sim::new(seed, 1 << 20, 32_768);
        let info = sim.content.info_bytes();
        // Same size, one byte changed: only the info-hash tells them apart.
        let mut forged = info.to_vec();
        let last = forged.len() - 2;
        forged[last] ^= 0xff;
        let liar = sim.add_swarm_with(
            "liar",
            Have::All,
            SwarmConfig::default(),
            Some(forged.into()),
            false,
        );
        let honest = sim.add_swarm_with(
            "honest",
            Have::All,
            SwarmConfig::default(),
            Some(info.clone()),
            false,
        );
        let ih = info_hash(&sim);
        let m = sim.add_magnet("magnet", ih, SwarmConfig::default());
        let addrs = [sim.nodes[liar].addr, sim.nodes[honest].addr];
        sim.magnet_add_peers(m, &addrs);
        assert!(sim.run_until(Duration::from_secs(60), |sim| sim
            .fetched_metadata(m)
            .is_some()));
        assert_eq!(
            sim.fetched_metadata(m).as_deref(),
            Some(&info[..]),
            "seed {seed}"
        );
        let liar_key = sim.key(sim.link_between(m, liar).expect("dialled"), m);
        assert!(
            sim.closes(m).contains(&(liar_key, CloseReason::Banned)),
            "seed {seed}: {:?}",
            sim.closes(m)
        );
    }
}

#[test]
fn peers_without_the_extension_protocol_are_refused() {
    let mut sim = Sim::new(10, 1 << 20, 32_768);
    let info = sim.content.info_bytes();
    let s = sim.add_swarm_with(
        "seeder",
        Have::All,
        SwarmConfig::default(),
        Some(info),
        false,
    );
    let ih = info_hash(&sim);
    let m = sim.add_magnet("magnet", ih, SwarmConfig::default());
    assert!(sim.connect(m, s, LinkOpts::default().ext(false)).is_none());
    assert_eq!(sim.nodes[m].refused.len(), 1);
    assert_eq!(sim.nodes[m].refused[0].2, CloseReason::NotUseful);
}

#[test]
fn adopted_connections_learn_what_the_magnet_already_had() {
    for seed in seeds(&[11, 12]) {
        let mut sim = Sim::new(seed, 1 << 20, 32_768);
        let info = sim.content.info_bytes();
        let half = sim.content.piece_count() / 2;
        // The seeder only has the first half, so the leecher needs the magnet for the rest.
        let s = sim.add_swarm_with(
            "half-seeder",
            Have::Range(0..half),
            SwarmConfig::default(),
            Some(info),
            false,
        );
        let l = sim.add_swarm("leecher", Have::None, SwarmConfig::default());
        let ih = info_hash(&sim);
        let m = sim.add_magnet("magnet", ih, SwarmConfig::default());
        let addr = sim.nodes[s].addr;
        sim.magnet_add_peers(m, &[addr]);
        // The leecher dials the magnet during its metadata phase (an incoming connection).
        let lm = sim.connect(l, m, LinkOpts::default()).expect("l-m");
        assert!(sim.run_until(Duration::from_secs(30), |sim| sim
            .fetched_metadata(m)
            .is_some()));
        // The magnet's data dir already held the second half.
        sim.finish_magnet(m, Have::Range(half..u32::MAX), SwarmConfig::default());
        sim.run_to_completion(&[m, l], Duration::from_secs(60));
        sim.assert_complete_and_correct(m);
        sim.assert_complete_and_correct(l);
        let haves = sim.links[lm]
            .sent_by(m)
            .iter()
            .filter(|x| matches!(x.msg, Message::Have(_)))
            .count();
        assert!(
            haves >= (sim.content.piece_count() - half) as usize,
            "seed {seed}: {haves}"
        );
        assert!(!pieces(sim.links[lm].sent_by(m)).is_empty(), "seed {seed}");
        assert_eq!(
            sim.nodes[m].dials.len(),
            1,
            "seed {seed}: nobody dialled twice"
        );
    }
}
