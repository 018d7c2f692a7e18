//! A real BEP 10 handshake (qBittorrent 4.4.0, from rqbit's test corpus, fixtures/rqbit) fed
//! to the decoder split at every possible point.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bytes::Bytes;
use shoal_wire::{decode, ExtHandshake, Features, Message, PeerEvent, PeerSession, SessionConfig};

fn fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/rqbit/extended-handshake.bin"
    );
    std::fs::read(path).expect("fixture present")
}

fn expected() -> ExtHandshake {
    ExtHandshake {
        m: [
            ("lt_donthave", 7),
            ("share_mode", 8),
            ("upload_only", 3),
            ("ut_holepunch", 4),
            ("ut_metadata", 2),
            ("ut_pex", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        v: Some("qBittorrent/4.4.0alpha1".into()),
        reqq: Some(500),
        p: None,
        yourip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
        ipv4: None,
        ipv6: None,
        metadata_size: Some(138_876),
        upload_only: Some(true),
    }
}

fn payload_of(msg: &Message) -> &Bytes {
    match msg {
        Message::Extended { id: 0, payload } => payload,
        other => panic!("not an extension handshake: {other:?}"),
    }
}

#[test]
fn fixture_decodes_at_every_split_point() {
    let wire = fixture();
    assert_eq!(wire.len(), 4 + 0xde);
    for split in 0..=wire.len() {
        let (first, _) = wire.split_at(split);
        if split < wire.len() {
            assert_eq!(decode(first), Ok(None), "split {split}");
        }
        // The reader appends the second part to what it buffered; the frame is then complete.
        let (msg, used) = decode(&wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(ExtHandshake::decode(payload_of(&msg)).unwrap(), expected());
    }
}

#[test]
fn fixture_through_a_session_at_every_split_point() {
    let features = Features {
        fast: true,
        extension_protocol: true,
        dht: false,
    };
    let wire = fixture();
    for split in 0..=wire.len() {
        let t0 = Instant::now();
        let mut s = PeerSession::new(t0, SessionConfig::default(), features, None);
        let (a, b) = wire.split_at(split);
        s.handle_bytes(t0, a).unwrap();
        if split < wire.len() {
            assert_eq!(s.poll_event(), None, "split {split}");
        }
        s.handle_bytes(t0, b).unwrap();
        assert_eq!(
            s.poll_event(),
            Some(PeerEvent::ExtHandshake(expected())),
            "split {split}"
        );
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.peer_extension_id("ut_metadata"), Some(2));
    }
}

#[test]
fn re_encoded_fixture_decodes_to_the_same_value() {
    let (msg, _) = decode(&fixture()).unwrap().unwrap();
    let parsed = ExtHandshake::decode(payload_of(&msg)).unwrap();
    let again = Message::Extended {
        id: 0,
        payload: Bytes::from(parsed.encode()),
    }
    .to_vec();
    let (msg2, used) = decode(&again).unwrap().unwrap();
    assert_eq!(used, again.len());
    assert_eq!(ExtHandshake::decode(payload_of(&msg2)).unwrap(), parsed);
}
