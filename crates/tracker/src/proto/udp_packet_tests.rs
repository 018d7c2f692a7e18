use super::fake_tracker::*;
use super::*;
use crate::proto::Event;
use shoal_core::{InfoHashV1, PeerId};
use std::net::SocketAddr;

const FIXTURE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/rqbit/udp-tracker-announce-response.bin"
));

fn req() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash::v1(InfoHashV1([0xaa; 20])),
        peer_id: PeerId([0xbb; 20]),
        port: 0x1ae1,
        uploaded: 3,
        downloaded: 1,
        left: 2,
        event: Event::Stopped,
        numwant: None,
        key: 0x0102_0304,
        tracker_id: Some(b"ignored over udp".to_vec()),
        no_peer_id: true,
    }
}

#[test]
fn rqbit_announce_fixture() {
    assert_eq!(
        peek_header(FIXTURE).unwrap(),
        (ACTION_ANNOUNCE, 0xe594_dd14)
    );
    let r = parse_announce(FIXTURE, AddressFamily::V4, &ReplyLimits::default()).unwrap();
    assert_eq!(r.interval, Duration::from_secs(1652));
    assert_eq!(r.incomplete, Some(257));
    assert_eq!(r.complete, Some(3341));
    assert_eq!(r.peers.len(), 200);
    assert_eq!(
        r.peers[0],
        "46.0.63.105:6881".parse::<SocketAddr>().unwrap()
    );
    assert!(r.peers.iter().all(|p| p.is_ipv4()));
    // Read as a v6 reply, the same 1200 peer bytes are 66 whole entries.
    let r6 = parse_announce(FIXTURE, AddressFamily::V6, &ReplyLimits::default()).unwrap();
    assert!(r6.peers.len() <= 66 && r6.peers.iter().all(|p| p.is_ipv6()));
    let capped = parse_announce(
        FIXTURE,
        AddressFamily::V4,
        &ReplyLimits {
            max_bytes: 0,
            max_peers: 10,
        },
    );
    assert_eq!(capped.unwrap().peers.len(), 10);
}

#[test]
fn connect_request_layout() {
    let p = encode_connect(0x1122_3344);
    assert_eq!(
        p,
        [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]
    );
}

#[test]
fn announce_request_layout() {
    let p = encode_announce(0x0102_0304_0506_0708, 9, &req());
    assert_eq!(p.len(), 98);
    assert_eq!(&p[0..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&p[8..16], &[0, 0, 0, 1, 0, 0, 0, 9]);
    assert_eq!(&p[16..36], &[0xaa; 20]);
    assert_eq!(&p[36..56], &[0xbb; 20]);
    assert_eq!(&p[56..64], &1u64.to_be_bytes(), "downloaded");
    assert_eq!(&p[64..72], &2u64.to_be_bytes(), "left");
    assert_eq!(&p[72..80], &3u64.to_be_bytes(), "uploaded");
    assert_eq!(&p[80..84], &3u32.to_be_bytes(), "stopped");
    assert_eq!(&p[84..88], &[0; 4], "ip");
    assert_eq!(&p[88..92], &[1, 2, 3, 4], "key");
    assert_eq!(&p[92..96], &[0xff; 4], "num_want -1");
    assert_eq!(&p[96..98], &[0x1a, 0xe1]);
    let mut r = req();
    r.numwant = Some(u32::MAX);
    assert_eq!(&encode_announce(0, 0, &r)[92..96], &i32::MAX.to_be_bytes());
    for (e, code) in [
        (Event::None, 0u32),
        (Event::Completed, 1),
        (Event::Started, 2),
    ] {
        r.event = e;
        assert_eq!(&encode_announce(0, 0, &r)[80..84], &code.to_be_bytes());
    }
}

#[test]
fn scrape_request_and_reply() {
    let a = InfoHash::v1(InfoHashV1([1; 20]));
    let b = InfoHash::v1(InfoHashV1([2; 20]));
    let p = encode_scrape(7, 8, &[a, b]);
    assert_eq!(p.len(), 56);
    assert_eq!(&p[8..12], &ACTION_SCRAPE.to_be_bytes());
    assert_eq!(&p[36..56], &[2; 20]);
    let s1 = ScrapeStats {
        complete: 1,
        downloaded: 2,
        incomplete: 3,
    };
    let s2 = ScrapeStats {
        complete: 4,
        downloaded: 5,
        incomplete: 6,
    };
    let mut reply = scrape_reply(8, &[s1, s2]);
    reply.extend_from_slice(&[9; 5]);
    assert_eq!(parse_scrape(&reply, 2).unwrap(), vec![s1, s2]);
    assert_eq!(
        parse_scrape(&reply, 1).unwrap(),
        vec![s1],
        "never more than asked for"
    );
}

#[test]
fn ipv6_announce_reply() {
    let peers: Vec<SocketAddr> = vec![
        "[::1]:6881".parse().unwrap(),
        "[2001:db8::7]:1".parse().unwrap(),
    ];
    let reply = announce_reply(5, 60, 1, 2, &peers);
    assert_eq!(reply.len(), 20 + 36);
    let r = parse_announce(&reply, AddressFamily::V6, &ReplyLimits::default()).unwrap();
    assert_eq!(r.peers, peers);
}

#[test]
fn error_and_short_replies() {
    let e = error_reply(4, "unknown torrent\n");
    assert_eq!(peek_header(&e).unwrap(), (ACTION_ERROR, 4));
    assert_eq!(parse_error(&e).unwrap(), "unknown torrent ");
    assert_eq!(
        peek_header(&[0; 7]),
        Err(ReplyError::Truncated { need: 8, got: 7 })
    );
    assert_eq!(
        parse_connect(&[0; 12]),
        Err(ReplyError::Truncated { need: 16, got: 12 })
    );
    assert_eq!(
        parse_announce(
            &announce_reply(1, 1, 1, 1, &[])[..19],
            AddressFamily::V4,
            &ReplyLimits::default()
        ),
        Err(ReplyError::Truncated { need: 20, got: 19 })
    );
    assert_eq!(
        parse_connect(&e),
        Err(ReplyError::UnexpectedAction {
            expected: ACTION_CONNECT,
            got: ACTION_ERROR
        })
    );
    assert_eq!(parse_connect(&connect_reply(1, 0xdead)).unwrap(), 0xdead);
}

proptest::proptest! {
    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = peek_header(&data);
        let _ = parse_connect(&data);
        let _ = parse_announce(&data, AddressFamily::V6, &ReplyLimits::default());
        let _ = parse_scrape(&data, 74);
        let _ = parse_error(&data);
    }
}
