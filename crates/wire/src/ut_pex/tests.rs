//! Tests of the ut_pex codec and of [`PexState`] on a virtual clock.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::ExtAction;

fn v4(last: u8, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, last), port)
}
fn v6(last: u16, port: u16) -> SocketAddrV6 {
    SocketAddrV6::new(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, last), port, 0, 0)
}

// ----- codec -----

#[test]
fn known_encoding() {
    let msg = PexMessage {
        added: vec![PexPeer {
            addr: v4(1, 6881),
            flags: PexFlags(PexFlags::SEED | PexFlags::REACHABLE),
        }],
        added6: vec![],
        dropped: vec![v4(2, 0x0102)],
        dropped6: vec![v6(1, 80)],
    };
    let mut expected = b"d5:added6:\x7f\x00\x00\x01\x1a\xe17:added.f1:\x12".to_vec();
    expected.extend_from_slice(
        b"6:added60:8:added6.f0:7:dropped6:\x7f\x00\x00\x02\x01\x028:dropped618:",
    );
    expected.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    expected.extend_from_slice(b"\x00\x50e");
    assert_eq!(msg.encode(), expected);
    assert_eq!(PexMessage::decode(&expected), Ok(msg));
}

#[test]
fn a_message_from_another_client_decodes() {
    // Only `added` and `dropped`, no flags, keys in canonical order: the minimal form.
    let payload = b"d5:added12:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x1a\xe27:dropped0:e";
    let msg = PexMessage::decode(payload).unwrap();
    assert_eq!(
        msg.added,
        [
            PexPeer {
                addr: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 6881),
                flags: PexFlags(0)
            },
            PexPeer {
                addr: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 6882),
                flags: PexFlags(0)
            },
        ]
    );
    assert!(msg.added6.is_empty() && msg.dropped.is_empty() && msg.dropped6.is_empty());
}

fn arb_v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), 1u16..).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
}
fn arb_v6() -> impl Strategy<Value = SocketAddrV6> {
    (any::<[u8; 16]>(), 1u16..).prop_map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0))
}

fn arb_pex() -> impl Strategy<Value = PexMessage> {
    let n = 0..60usize;
    (
        proptest::collection::vec((arb_v4(), any::<u8>()), n.clone()),
        proptest::collection::vec((arb_v6(), any::<u8>()), n.clone()),
        proptest::collection::vec(arb_v4(), n.clone()),
        proptest::collection::vec(arb_v6(), n),
    )
        .prop_map(|(a, a6, d, d6)| PexMessage {
            added: a
                .into_iter()
                .map(|(addr, f)| PexPeer {
                    addr,
                    flags: PexFlags(f),
                })
                .collect(),
            added6: a6
                .into_iter()
                .map(|(addr, f)| PexPeer {
                    addr,
                    flags: PexFlags(f),
                })
                .collect(),
            dropped: d,
            dropped6: d6,
        })
}

proptest! {
    #[test]
    fn messages_round_trip(msg in arb_pex()) {
        let wire = msg.encode();
        prop_assert!(shoal_bencode::check_strict(&wire).is_ok(), "canonical bencode");
        prop_assert_eq!(PexMessage::decode(&wire), Ok(msg));
    }

    #[test]
    fn arbitrary_payloads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(msg) = PexMessage::decode(&data) {
            prop_assert!(msg.added.len() <= MAX_DECODE_ENTRIES);
            prop_assert_eq!(PexMessage::decode(&msg.encode()), Ok(msg));
        }
    }

    /// Fields of arbitrary bytes inside a well-formed dictionary: decoded or refused, and
    /// whatever decodes survives a round trip.
    #[test]
    fn arbitrary_fields_never_panic(
        added in proptest::collection::vec(any::<u8>(), 0..80),
        flags in proptest::collection::vec(any::<u8>(), 0..20),
        added6 in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let d = shoal_bencode::OwnedValue::dict()
            .with(b"added", shoal_bencode::OwnedValue::bytes(added))
            .with(b"added.f", shoal_bencode::OwnedValue::bytes(flags))
            .with(b"added6", shoal_bencode::OwnedValue::bytes(added6))
            .encode();
        if let Ok(msg) = PexMessage::decode(&d) {
            prop_assert_eq!(PexMessage::decode(&msg.encode()), Ok(msg));
        }
    }
}

#[test]
fn lists_are_cut_at_the_cap() {
    let msg = PexMessage {
        added: (0..250u16)
            .map(|i| PexPeer {
                addr: v4(1, i + 1),
                flags: PexFlags(1),
            })
            .collect(),
        added6: (0..201u16)
            .map(|i| PexPeer {
                addr: v6(1, i + 1),
                flags: PexFlags(2),
            })
            .collect(),
        dropped: (0..300u16).map(|i| v4(2, i + 1)).collect(),
        dropped6: (0..200u16).map(|i| v6(2, i + 1)).collect(),
    };
    let got = PexMessage::decode(&msg.encode()).unwrap();
    assert_eq!(got.added, msg.added[..MAX_DECODE_ENTRIES]);
    assert_eq!(got.added6, msg.added6[..MAX_DECODE_ENTRIES]);
    assert_eq!(got.dropped, msg.dropped[..MAX_DECODE_ENTRIES]);
    assert_eq!(got.dropped6, msg.dropped6);
    // The flags still line up with their entries after the cut.
    assert!(got.added.iter().all(|p| p.flags == PexFlags(1)));
}

#[test]
fn flags_of_the_wrong_length_are_ignored() {
    let entry = b"\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x1a\xe1";
    for bad_flags in [&b""[..], b"\x02", b"\x02\x02\x02"] {
        let mut payload = b"d5:added12:".to_vec();
        payload.extend_from_slice(entry);
        payload.extend_from_slice(format!("7:added.f{}:", bad_flags.len()).as_bytes());
        payload.extend_from_slice(bad_flags);
        payload.push(b'e');
        let msg = PexMessage::decode(&payload).unwrap();
        assert_eq!(msg.added.len(), 2);
        assert!(
            msg.added.iter().all(|p| p.flags == PexFlags(0)),
            "{bad_flags:?}"
        );
    }
    // Flags that are not a string are ignored too.
    let msg = PexMessage::decode(b"d5:added6:\x7f\x00\x00\x01\x1a\xe17:added.fi2ee").unwrap();
    assert_eq!(msg.added[0].flags, PexFlags(0));
}

#[test]
fn port_zero_entries_are_skipped() {
    let msg = PexMessage::decode(
        b"d5:added12:\x7f\x00\x00\x01\x00\x00\x7f\x00\x00\x02\x1a\xe17:added.f2:\x01\x02e",
    )
    .unwrap();
    assert_eq!(
        msg.added,
        [PexPeer {
            addr: v4(2, 6881),
            flags: PexFlags(2)
        }]
    );
}

#[test]
fn malformed_messages_are_errors() {
    for bad in [&b""[..], b"le", b"i3e", b"d5:added", b"\xff"] {
        let err = PexMessage::decode(bad).unwrap_err();
        assert!(matches!(err, PexError::NotADict(_)), "{err:?}");
        assert_eq!(err.action(), ExtAction::Disconnect);
    }
    let cases: &[(&[u8], PexError)] = &[
        (b"de", PexError::Empty),
        (b"d7:added.f0:1:xi1ee", PexError::Empty),
        (b"d5:addedi1ee", PexError::BadField("added")),
        (b"d6:added6le7:dropped0:e", PexError::BadField("added6")),
        (b"d7:droppedd1:ai1eee", PexError::BadField("dropped")),
        (b"d8:dropped6i0ee", PexError::BadField("dropped6")),
        (
            b"d5:added7:\x7f\x00\x00\x01\x1a\xe1\x00e",
            PexError::BadCompactLength {
                field: "added",
                len: 7,
                entry: 6,
            },
        ),
        (
            b"d6:added66:\x7f\x00\x00\x01\x1a\xe1e",
            PexError::BadCompactLength {
                field: "added6",
                len: 6,
                entry: 18,
            },
        ),
        (
            b"d7:dropped5:\x7f\x00\x00\x01\x1ae",
            PexError::BadCompactLength {
                field: "dropped",
                len: 5,
                entry: 6,
            },
        ),
    ];
    for (payload, expected) in cases {
        assert_eq!(
            PexMessage::decode(payload).as_ref(),
            Err(expected),
            "{payload:?}"
        );
        assert_eq!(expected.action(), ExtAction::IgnoreMessage);
    }
}

// ----- PexState -----

fn set(addrs: &[SocketAddr]) -> Vec<(SocketAddr, PexFlags)> {
    addrs
        .iter()
        .map(|&a| (a, PexFlags(PexFlags::UTP)))
        .collect()
}

#[test]
fn diffs_follow_the_connected_set_once_a_minute() {
    let remote: SocketAddr = v4(99, 1000).into();
    let a: SocketAddr = v4(1, 1).into();
    let b: SocketAddr = v4(2, 2).into();
    let c: SocketAddr = v6(3, 3).into();
    let d: SocketAddr = v4(4, 4).into();
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut st = PexState::new(remote);
    assert_eq!(st.poll_timeout(), None, "the first message may go at once");

    // The peer itself is never listed to it.
    let m = st.poll_message(at(0), set(&[a, b, remote])).unwrap();
    assert_eq!(
        m.added,
        [
            PexPeer {
                addr: v4(1, 1),
                flags: PexFlags(4)
            },
            PexPeer {
                addr: v4(2, 2),
                flags: PexFlags(4)
            }
        ]
    );
    assert!(m.added6.is_empty() && m.dropped.is_empty() && m.dropped6.is_empty());
    assert_eq!(st.poll_timeout(), Some(at(60)));

    // Too soon: nothing, and nothing is forgotten.
    assert_eq!(st.poll_message(at(30), set(&[a, c])), None);
    assert_eq!(st.poll_message(at(59), set(&[a, c])), None);
    let m = st.poll_message(at(60), set(&[a, c])).unwrap();
    assert_eq!(
        m.added6,
        [PexPeer {
            addr: v6(3, 3),
            flags: PexFlags(4)
        }]
    );
    assert_eq!(m.dropped, [v4(2, 2)]);
    assert!(m.added.is_empty() && m.dropped6.is_empty());

    // D connects and leaves between two messages: never mentioned.
    let _ = st.poll_message(at(70), set(&[a, c, d]));
    let m = st.poll_message(at(120), set(&[c])).unwrap();
    assert_eq!(
        m,
        PexMessage {
            dropped: vec![v4(1, 1)],
            ..Default::default()
        }
    );
    assert_eq!(st.advertised(), &BTreeSet::from([c]));

    // Nothing changed: no message, and the clock does not restart.
    assert_eq!(st.poll_message(at(200), set(&[c])), None);
    assert_eq!(st.poll_timeout(), Some(at(180)));
    let m = st.poll_message(at(201), set(&[])).unwrap();
    assert_eq!(m.dropped6, [v6(3, 3)]);
}

#[test]
fn at_most_fifty_added_and_fifty_dropped_per_message() {
    let t0 = Instant::now();
    let mut st = PexState::new(v4(99, 1).into());
    let many: Vec<SocketAddr> = (1..=70u16)
        .map(|i| v4(1, i).into())
        .chain((1..=50u16).map(|i| v6(1, i).into()))
        .collect();
    let mut added = Vec::new();
    for (k, expect) in [(0u64, 50usize), (1, 50), (2, 20)] {
        let m = st
            .poll_message(t0 + Duration::from_secs(60 * k), set(&many))
            .unwrap();
        assert_eq!(m.added.len() + m.added6.len(), expect);
        added.extend(m.added.iter().map(|p| SocketAddr::from(p.addr)));
        added.extend(m.added6.iter().map(|p| SocketAddr::from(p.addr)));
    }
    let unique: BTreeSet<_> = added.iter().collect();
    assert_eq!((added.len(), unique.len()), (120, 120));
    assert_eq!(st.advertised().len(), 120);
    for (k, expect) in [(3u64, 50usize), (4, 50), (5, 20)] {
        let m = st
            .poll_message(t0 + Duration::from_secs(60 * k), set(&[]))
            .unwrap();
        assert_eq!(m.dropped.len() + m.dropped6.len(), expect);
        assert!(m.added.is_empty() && m.added6.is_empty());
    }
    assert!(st.advertised().is_empty());
}

#[test]
fn ipv6_scope_and_flow_info_do_not_make_a_new_contact() {
    let t0 = Instant::now();
    let mut st = PexState::new(v4(99, 1).into());
    let scoped = SocketAddr::V6(SocketAddrV6::new(*v6(5, 5).ip(), 5, 7, 3));
    let m = st.poll_message(t0, set(&[scoped])).unwrap();
    assert_eq!(m.added6[0].addr, v6(5, 5));
    let plain = SocketAddr::V6(v6(5, 5));
    assert_eq!(
        st.poll_message(t0 + Duration::from_secs(60), set(&[plain])),
        None
    );
}

#[test]
fn incoming_messages_are_rate_limited() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut st = PexState::new(v4(99, 1).into());
    let payload = PexMessage {
        added: vec![PexPeer {
            addr: v4(1, 1),
            flags: PexFlags(0),
        }],
        ..Default::default()
    }
    .encode();
    assert!(st.handle_message(at(0), &payload).is_ok());
    let err = st.handle_message(at(20), &payload).unwrap_err();
    assert_eq!(err, PexError::TooFrequent(Duration::from_secs(20)));
    assert_eq!(err.action(), ExtAction::IgnoreMessage);
    // A refused message does not restart the clock; a malformed one is not counted.
    assert!(st.handle_message(at(49), &payload).is_err());
    assert_eq!(st.handle_message(at(50), b"de"), Err(PexError::Empty));
    assert!(st.handle_message(at(50), &payload).is_ok());
    assert!(st.handle_message(at(100), &payload).is_ok());
}

proptest! {
    /// Any sequence of connected sets at any times: each message obeys BEP 11 (no duplicates,
    /// nothing added and dropped at once, only real changes, at most 50 each way, a minute
    /// apart), and once the set stops changing the peer ends up knowing exactly it.
    #[test]
    fn messages_always_obey_bep11(
        steps in proptest::collection::vec(
            (0u64..90, proptest::collection::btree_set(0u16..120, 0..80)),
            1..12,
        ),
    ) {
        let addr = |i: u16| -> SocketAddr {
            if i % 3 == 0 { v6(i, 1).into() } else { v4((i % 250) as u8, i + 1).into() }
        };
        let t0 = Instant::now();
        let mut now = t0;
        let mut st = PexState::new(addr(999));
        let mut last_sent: Option<Instant> = None;
        let mut believed: BTreeSet<SocketAddr> = BTreeSet::new();
        let mut current: BTreeMap<SocketAddr, PexFlags> = BTreeMap::new();
        let mut check = |st: &mut PexState, now: Instant, current: &BTreeMap<SocketAddr, PexFlags>| -> Result<(), TestCaseError> {
            let Some(m) = st.poll_message(now, current.iter().map(|(a, f)| (*a, *f))) else {
                return Ok(());
            };
            prop_assert!(!m.is_empty());
            if let Some(t) = last_sent {
                prop_assert!(now.duration_since(t) >= PEX_INTERVAL);
            }
            last_sent = Some(now);
            let added: Vec<SocketAddr> = m.added.iter().map(|p| p.addr.into())
                .chain(m.added6.iter().map(|p| p.addr.into())).collect();
            let dropped: Vec<SocketAddr> = m.dropped.iter().map(|&a| a.into())
                .chain(m.dropped6.iter().map(|&a| a.into())).collect();
            prop_assert!(added.len() <= MAX_ADDED_PER_MESSAGE);
            prop_assert!(dropped.len() <= MAX_DROPPED_PER_MESSAGE);
            for a in &added {
                prop_assert!(current.contains_key(a) && believed.insert(*a), "bad add {}", a);
            }
            for d in &dropped {
                prop_assert!(!current.contains_key(d) && believed.remove(d), "bad drop {}", d);
            }
            prop_assert_eq!(st.advertised(), &believed);
            Ok(())
        };
        for (dt, ids) in steps {
            now += Duration::from_secs(dt);
            current = ids.iter().map(|&i| (addr(i), PexFlags((i % 32) as u8))).collect();
            check(&mut st, now, &current)?;
        }
        // Stable from here on: at most three more minutes (120 contacts, 50 a message).
        for _ in 0..4 {
            now += PEX_INTERVAL;
            check(&mut st, now, &current)?;
        }
        prop_assert_eq!(believed, current.keys().copied().collect::<BTreeSet<_>>());
    }
}
