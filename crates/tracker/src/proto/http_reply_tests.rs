use super::*;
use shoal_core::InfoHashV1;

fn parse(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    parse_announce_reply(body, &ReplyLimits::default())
}

fn malformed(body: &[u8]) -> ReplyError {
    match parse(body) {
        Err(TrackerError::Malformed(e)) => e,
        other => panic!("expected a malformed-reply error, got {other:?}"),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// `len:bytes` as bencode.
fn bstr(b: &[u8]) -> Vec<u8> {
    let mut v = format!("{}:", b.len()).into_bytes();
    v.extend_from_slice(b);
    v
}

#[test]
fn compact_reply_with_every_field() {
    let mut body =
        b"d8:completei5e10:incompletei7e8:intervali1800e12:min intervali900e5:peers".to_vec();
    body.extend(bstr(&[127, 0, 0, 1, 0x1a, 0xe1, 10, 1, 2, 3, 0x1a, 0xe2]));
    body.extend(b"10:tracker id3:abc15:warning message8:be nice\x1be");
    let r = parse(&body).unwrap();
    assert_eq!(r.interval, Duration::from_secs(1800));
    assert_eq!(r.min_interval, Some(Duration::from_secs(900)));
    assert_eq!(r.complete, Some(5));
    assert_eq!(r.incomplete, Some(7));
    assert_eq!(r.tracker_id.as_deref(), Some(&b"abc"[..]));
    // The escape character is blanked so the text cannot drive a terminal.
    assert_eq!(r.warning.as_deref(), Some("be nice "));
    assert_eq!(r.peers, vec![sa("127.0.0.1:6881"), sa("10.1.2.3:6882")]);
}

#[test]
fn dictionary_peers_and_peers6() {
    let mut body = b"d8:intervali60e5:peersl".to_vec();
    body.extend(b"d2:ip9:127.0.0.27:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881ee");
    body.extend(b"d2:ip3:::14:porti6882ee");
    body.extend(b"d2:ip15:tracker.example4:porti1ee");
    body.extend(b"e6:peers6");
    let mut v6 = [0u8; 18];
    v6[0] = 0x20;
    v6[1] = 0x01;
    v6[15] = 5;
    v6[16] = 0x1a;
    v6[17] = 0xe3;
    body.extend(bstr(&v6));
    body.push(b'e');
    let r = parse(&body).unwrap();
    assert_eq!(
        r.peers,
        vec![sa("127.0.0.2:6881"), sa("[::1]:6882"), sa("[2001::5]:6883")],
        "host names are skipped, the v6 list is appended"
    );
    assert_eq!(r.complete, None);
}

#[test]
fn failure_reason_is_a_refusal() {
    let e = parse(b"d14:failure reason22:torrent not registerede").unwrap_err();
    assert_eq!(e, TrackerError::Refused("torrent not registered".into()));
    assert_eq!(e.action(), crate::ErrorAction::ReportToUser);
}

#[test]
fn trailing_newline_is_tolerated() {
    assert!(parse(b"d8:intervali60e5:peers0:e\n").is_ok());
}

#[test]
fn malformed_replies_say_what_is_wrong() {
    assert!(matches!(malformed(b"d8:interval"), ReplyError::Bencode(_)));
    assert!(matches!(malformed(b"<html>"), ReplyError::Bencode(_)));
    assert_eq!(malformed(b"li1ee"), ReplyError::NotADict);
    assert_eq!(
        malformed(b"d5:peers0:e"),
        ReplyError::MissingField("interval")
    );
    assert_eq!(
        malformed(b"d8:intervali-1ee"),
        ReplyError::BadField("interval")
    );
    assert_eq!(
        malformed(b"d8:interval2:60e"),
        ReplyError::BadField("interval")
    );
    assert_eq!(
        malformed(b"d8:intervali60e5:peers7:abcdefge"),
        ReplyError::BadPeersLength {
            key: "peers",
            len: 7,
            stride: 6
        }
    );
    assert_eq!(
        malformed(b"d8:intervali60e6:peers66:abcdefe"),
        ReplyError::BadPeersLength {
            key: "peers6",
            len: 6,
            stride: 18
        }
    );
    assert_eq!(
        malformed(b"d8:intervali60e5:peersi3ee"),
        ReplyError::BadField("peers")
    );
    assert_eq!(
        malformed(b"d8:intervali60e5:peersli1eee"),
        ReplyError::BadField("peers")
    );
    assert_eq!(
        malformed(b"d8:intervali60e5:peersld2:ip9:127.0.0.14:porti70000eeee"),
        ReplyError::BadField("port")
    );
    assert_eq!(
        malformed(b"d8:intervali60e8:completei-3ee"),
        ReplyError::BadField("complete")
    );
    assert_eq!(
        malformed(b"d8:intervali60e10:tracker idi1ee"),
        ReplyError::BadField("tracker id")
    );
}

#[test]
fn caps_on_size_and_peer_count() {
    let limits = ReplyLimits {
        max_bytes: 64,
        max_peers: 2,
    };
    let mut body = b"d8:intervali60e5:peers".to_vec();
    body.extend(bstr(&[1u8; 18]));
    body.push(b'e');
    let r = parse_announce_reply(&body, &limits).unwrap();
    assert_eq!(r.peers.len(), 2);
    let big = vec![b' '; 65];
    assert_eq!(
        parse_announce_reply(&big, &limits),
        Err(TrackerError::Malformed(ReplyError::TooLarge { limit: 64 }))
    );
}

#[test]
fn default_caps_keep_2000_peers() {
    let mut body = b"d8:intervali60e5:peers".to_vec();
    body.extend(bstr(&[7u8; 6 * 2500]));
    body.push(b'e');
    assert_eq!(parse(&body).unwrap().peers.len(), 2000);
}

#[test]
fn scrape_reply_from_bep48() {
    let x = InfoHash::v1(InfoHashV1([b'x'; 20]));
    let y = InfoHash::v1(InfoHashV1([b'y'; 20]));
    let z = InfoHash::v1(InfoHashV1([b'z'; 20]));
    // The example of BEP 48 with the `e` that closes the first entry, which its text drops.
    let body =
        b"d5:filesd20:xxxxxxxxxxxxxxxxxxxxd8:completei11e10:downloadedi13772e10:incompletei19ee\
20:yyyyyyyyyyyyyyyyyyyyd8:completei21e10:downloadedi206e10:incompletei20eeee";
    let r = parse_scrape_reply(body, &[y, z, x], &ReplyLimits::default()).unwrap();
    assert_eq!(r.files.len(), 2, "z is unknown to the tracker");
    assert_eq!(r.files[0].info_hash, y);
    assert_eq!(
        r.get(&x),
        Some(ScrapeStats {
            complete: 11,
            downloaded: 13772,
            incomplete: 19
        })
    );
    assert_eq!(
        r.get(&y),
        Some(ScrapeStats {
            complete: 21,
            downloaded: 206,
            incomplete: 20
        })
    );
}

#[test]
fn scrape_errors() {
    let x = InfoHash::v1(InfoHashV1([b'x'; 20]));
    let l = ReplyLimits::default();
    assert_eq!(
        parse_scrape_reply(b"de", &[x], &l),
        Err(TrackerError::Malformed(ReplyError::MissingField("files")))
    );
    assert_eq!(
        parse_scrape_reply(b"d5:filesd20:xxxxxxxxxxxxxxxxxxxxi1eee", &[x], &l),
        Err(TrackerError::Malformed(ReplyError::BadField("files")))
    );
    assert_eq!(
        parse_scrape_reply(b"d14:failure reason4:nopee", &[x], &l),
        Err(TrackerError::Refused("nope".into()))
    );
}

proptest::proptest! {
    /// Arbitrary bytes never panic and never yield more peers than the cap.
    #[test]
    fn arbitrary_bodies_are_safe(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let limits = ReplyLimits { max_bytes: 1024, max_peers: 3 };
        if let Ok(r) = parse_announce_reply(&body, &limits) {
            proptest::prop_assert!(r.peers.len() <= 3);
        }
        let _ = parse_scrape_reply(&body, &[], &limits);
    }
}

proptest::proptest! {
    /// A compact list of any length is either whole entries, each kept (up to the cap), or a
    /// length error; never a panic or a partial read.
    #[test]
    fn compact_peers_of_any_length(peers in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let mut body = b"d8:intervali60e5:peers".to_vec();
        body.extend(bstr(&peers));
        body.push(b'e');
        match parse(&body) {
            Ok(r) => {
                proptest::prop_assert_eq!(peers.len() % 6, 0);
                let nonzero_ports = peers.chunks_exact(6).filter(|c| c[4] != 0 || c[5] != 0).count();
                proptest::prop_assert_eq!(r.peers.len(), nonzero_ports);
            }
            Err(e) => proptest::prop_assert_eq!(
                e,
                TrackerError::Malformed(ReplyError::BadPeersLength { key: "peers", len: peers.len(), stride: 6 })
            ),
        }
    }
}
