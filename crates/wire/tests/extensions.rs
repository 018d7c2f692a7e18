//! ut_metadata and ut_pex over real sessions: the ids a real client announces (qBittorrent's
//! handshake from rqbit's corpus, fixtures/rqbit), and two `PeerSession`s wired back to back
//! in memory, one fetching a real info dictionary from the other and both exchanging PEX.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_core::metainfo::Metainfo;
use shoal_wire::ut_metadata::{FetcherConfig, UT_METADATA};
use shoal_wire::ut_pex::UT_PEX;
use shoal_wire::{
    decode, ExtHandshake, Features, FetchEvent, Message, MetadataFetcher, MetadataMessage,
    MetadataServer, PeerEvent, PeerSession, PexFlags, PexMessage, PexPeer, PexState, SessionConfig,
};

fn read_fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/rqbit/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).expect("fixture present")
}

#[test]
fn qbittorrent_handshake_names_both_extensions() {
    let wire = read_fixture("extended-handshake.bin");
    let (msg, _) = decode(&wire).unwrap().unwrap();
    let Message::Extended { id: 0, payload } = msg else {
        panic!("not an extension handshake");
    };
    let h = ExtHandshake::decode(&payload).unwrap();
    assert_eq!(h.m.get(UT_METADATA), Some(&2));
    assert_eq!(h.m.get(UT_PEX), Some(&1));
    assert_eq!(h.metadata_size, Some(138_876));

    // What we would do with it: fetch 9 pieces of metadata, asking this peer on its id 2.
    let info_hash = shoal_core::InfoHash::v1(shoal_core::InfoHashV1([0; 20]));
    let mut fetcher = MetadataFetcher::new(info_hash, FetcherConfig::default());
    fetcher.add_peer("qbt", h.metadata_size.unwrap()).unwrap();
    assert_eq!(fetcher.metadata_size().unwrap().piece_count(), 9);
    let t0 = Instant::now();
    let first = fetcher.next_request(t0, &"qbt").unwrap();
    let request = Message::Extended {
        id: h.m[UT_METADATA],
        payload: MetadataMessage::Request { piece: first.get() }.encode(),
    };
    assert_eq!(
        request.to_vec(),
        b"\x00\x00\x00\x1b\x14\x02d8:msg_typei0e5:piecei0ee"
    );
}

/// Our extension ids (what we put in our handshake's `m`).
const OUR_UT_METADATA: u8 = 3;
const OUR_UT_PEX: u8 = 4;

fn handshake(metadata_size: Option<u64>) -> ExtHandshake {
    ExtHandshake {
        m: [
            (UT_METADATA.to_string(), OUR_UT_METADATA),
            (UT_PEX.to_string(), OUR_UT_PEX),
        ]
        .into(),
        metadata_size,
        ..ExtHandshake::default()
    }
}

/// Moves every queued byte from `from` to `to`.
fn pump(now: Instant, from: &mut PeerSession, to: &mut PeerSession) {
    while let Some(chunk) = from.poll_transmit() {
        to.handle_bytes(now, &chunk).unwrap();
    }
}

#[test]
fn a_magnet_leecher_fetches_metadata_from_a_seed_and_they_exchange_pex() {
    let torrent =
        Metainfo::from_bytes(&read_fixture("ubuntu-21.04-desktop-amd64.iso.torrent")).unwrap();
    let info = Bytes::copy_from_slice(torrent.info_bytes());
    let features = Features {
        fast: true,
        extension_protocol: true,
        dht: false,
    };
    let t0 = Instant::now();
    let mut now = t0;
    // The leecher knows only the info-hash; the seed has the metadata.
    let mut leech = PeerSession::new(now, SessionConfig::default(), features, None);
    let mut seed = PeerSession::new(now, SessionConfig::default(), features, None);
    let server = MetadataServer::new(info.clone()).unwrap();
    let mut fetcher = MetadataFetcher::new(torrent.info_hash(), FetcherConfig::default());
    let seed_addr = SocketAddr::from(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 6881));
    let leech_addr = SocketAddr::from(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 3), 6882));
    let mut leech_pex = PexState::new(seed_addr);
    let mut seed_pex = PexState::new(leech_addr);

    leech.send_ext_handshake(now, &handshake(None));
    seed.send_ext_handshake(now, &handshake(Some(u64::from(server.size().get()))));
    pump(now, &mut leech, &mut seed);
    pump(now, &mut seed, &mut leech);

    let mut complete = None;
    let mut pex_seen = Vec::new();
    for _ in 0..1000 {
        now += Duration::from_millis(5);
        // The leecher's side.
        while let Some(ev) = leech.poll_event() {
            match ev {
                PeerEvent::ExtHandshake(h) => {
                    fetcher
                        .add_peer(seed_addr, h.metadata_size.unwrap())
                        .unwrap();
                }
                PeerEvent::Extended {
                    id: OUR_UT_METADATA,
                    payload,
                } => {
                    let msg = MetadataMessage::decode(&payload).unwrap();
                    fetcher.handle_message(now, &seed_addr, &msg);
                }
                PeerEvent::Extended {
                    id: OUR_UT_PEX,
                    payload,
                } => {
                    pex_seen.push(leech_pex.handle_message(now, &payload).unwrap());
                }
                other => panic!("leecher got {other:?}"),
            }
        }
        while let Some(ev) = fetcher.poll_event() {
            match ev {
                FetchEvent::Complete(bytes) => complete = Some(bytes),
                other => panic!("fetch event {other:?}"),
            }
        }
        if complete.is_none() {
            let id = leech.peer_extension_id(UT_METADATA).unwrap();
            while let Some(piece) = fetcher.next_request(now, &seed_addr) {
                let payload = MetadataMessage::Request { piece: piece.get() }.encode();
                leech.send_extended(now, id, payload);
            }
        }
        // The seed's side: serve metadata, and tell the leecher about two other peers once.
        while let Some(ev) = seed.poll_event() {
            match ev {
                PeerEvent::ExtHandshake(_) => {}
                PeerEvent::Extended {
                    id: OUR_UT_METADATA,
                    payload,
                } => {
                    let answer = server.respond(&MetadataMessage::decode(&payload).unwrap());
                    let id = seed.peer_extension_id(UT_METADATA).unwrap();
                    seed.send_extended(now, id, answer.unwrap().encode());
                }
                other => panic!("seed got {other:?}"),
            }
        }
        let others = BTreeMap::from([
            (leech_addr, PexFlags(0)),
            (
                SocketAddr::from(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 7), 7000)),
                PexFlags(PexFlags::SEED),
            ),
        ]);
        if let Some(msg) = seed_pex.poll_message(now, others) {
            let id = seed.peer_extension_id(UT_PEX).unwrap();
            seed.send_extended(now, id, Bytes::from(msg.encode()));
        }
        pump(now, &mut leech, &mut seed);
        pump(now, &mut seed, &mut leech);
        if complete.is_some() && !pex_seen.is_empty() {
            break;
        }
    }
    assert!(
        complete.as_ref() == Some(&info),
        "metadata fetched and verified"
    );
    assert_eq!(info.len().div_ceil(16384), 14);
    // The leecher's own address is never sent back to it.
    assert_eq!(
        pex_seen,
        [PexMessage {
            added: vec![PexPeer {
                addr: SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 7), 7000),
                flags: PexFlags(PexFlags::SEED),
            }],
            ..PexMessage::default()
        }]
    );
    assert!(now - t0 < Duration::from_secs(1));
}
