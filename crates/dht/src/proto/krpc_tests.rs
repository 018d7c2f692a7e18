//! Codec tests: captured packets round-trip byte for byte; the BEP 5 examples decode;
//! malformed input fails with the right reply decision; proptests for totality.

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/rqbit")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn captured_packets_round_trip_byte_for_byte() {
    for name in [
        "find_node_request.bin",
        "get_peers_request_0.bin",
        "get_peers_request_1.bin",
        "find_node_response_1.bin",
        "find_node_response_2.bin",
        "find_node_response_3.bin",
    ] {
        let bytes = fixture(name);
        let msg = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(msg.encode(), bytes, "{name}");
    }
}

#[test]
fn captured_packets_have_the_expected_contents() {
    let m = decode(&fixture("find_node_request.bin")).unwrap();
    assert_eq!(m.transaction, [0, 5]);
    let Body::Query(q) = &m.body else {
        panic!("not a query")
    };
    assert!(matches!(q.method, Method::FindNode { target, want: None } if target == q.id));

    let m = decode(&fixture("get_peers_request_0.bin")).unwrap();
    let Body::Query(Query {
        method: Method::GetPeers { info_hash, .. },
        ..
    }) = m.body
    else {
        panic!("not get_peers")
    };
    // The info-hash of ubuntu-21.04-live-server-amd64.iso.torrent (fixtures/rqbit/EXPECTED.tsv).
    assert_eq!(
        info_hash.to_hex(),
        "cab507494d02ebb1178b38f2e9d7be299c86b862"
    );

    let m = decode(&fixture("find_node_response_1.bin")).unwrap();
    assert_eq!(m.version.as_deref(), Some(&b"JB\0\0"[..]));
    let Body::Response(r) = &m.body else {
        panic!("not a response")
    };
    assert_eq!(r.nodes.as_ref().map(Vec::len), Some(8));

    let m = decode(&fixture("find_node_response_2.bin")).unwrap();
    assert!(m.ip.is_some(), "BEP 42 ip field kept");
    let Body::Response(r) = &m.body else {
        panic!("not a response")
    };
    assert_eq!(r.nodes.as_ref().map(Vec::len), Some(16));
}

#[test]
fn bep5_examples_decode() {
    let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    let m = decode(ping).unwrap();
    assert_eq!(m.encode(), ping);
    let announce = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
    let m = decode(announce).unwrap();
    assert_eq!(m.encode(), announce);
    let Body::Query(Query {
        method:
            Method::AnnouncePeer {
                port,
                implied_port,
                token,
                ..
            },
        ..
    }) = m.body
    else {
        panic!("not announce_peer")
    };
    assert_eq!(
        (port, implied_port, &token[..]),
        (6881, Some(true), &b"aoeusnth"[..])
    );
    let error = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
    let m = decode(error).unwrap();
    assert_eq!(m.encode(), error);
    assert!(matches!(m.body, Body::Error(ErrorReply { code: 201, .. })));
}

#[test]
fn malformed_queries_get_the_right_reply_decision() {
    // Unknown method with a transaction id: 204.
    let f = decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:zzzz1:t2:aa1:y1:qe").unwrap_err();
    assert_eq!(f.reply_code(), Some(ErrorCode::MethodUnknown));
    // Short id: 203.
    let f = decode(b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe").unwrap_err();
    assert_eq!(f.error, crate::KrpcError::BadValue("id"));
    assert_eq!(f.reply_code(), Some(ErrorCode::Protocol));
    // Bad port without implied_port: 203.
    let f = decode(b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe").unwrap_err();
    assert_eq!(f.error, crate::KrpcError::BadValue("port"));
    // No transaction id: dropped.
    let f = decode(b"d1:ad2:id3:abce1:q4:ping1:y1:qe").unwrap_err();
    assert_eq!(f.reply_code(), None);
    // A broken response is never answered.
    let f = decode(b"d1:rd2:id3:abce1:t2:aa1:y1:re").unwrap_err();
    assert_eq!(f.reply_code(), None);
    // Not bencode, too large, too deep: dropped.
    assert_eq!(decode(b"hello").unwrap_err().reply_code(), None);
    assert!(matches!(
        decode(&vec![b'l'; MAX_DATAGRAM + 1]).unwrap_err().error,
        crate::KrpcError::TooLarge(_)
    ));
    assert!(decode(b"d1:ad1:xlllleeeee1:q4:ping1:t2:aa1:y1:qe").is_err());
    // A nodes string that is not whole entries.
    assert!(decode(b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:aa1:y1:re").is_err());
}

#[test]
fn odd_values_entries_are_skipped_not_fatal() {
    let m =
        decode(b"d1:rd2:id20:abcdefghij01234567896:valuesl6:axje.u3:bad6:idhtnmee1:t2:aa1:y1:re")
            .unwrap();
    let Body::Response(r) = m.body else {
        panic!("not a response")
    };
    assert_eq!(r.values.map(|v| v.len()), Some(2));
}

fn arb_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}

fn arb_addr() -> impl Strategy<Value = std::net::SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| (ip, p).into()),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| {
            // Mapped IPv4 addresses encode as IPv4; keep the family unambiguous.
            let mut ip = ip;
            ip[0] |= 0x20;
            (ip, p).into()
        }),
    ]
}

fn arb_node(v6: bool) -> impl Strategy<Value = NodeInfo> {
    (arb_id(), arb_addr()).prop_filter_map("family", move |(id, addr)| {
        (addr.is_ipv6() == v6).then_some(NodeInfo { id, addr })
    })
}

fn arb_want() -> impl Strategy<Value = Option<Want>> {
    proptest::option::of((any::<bool>(), any::<bool>()).prop_map(|(n4, n6)| Want { n4, n6 }))
}

fn arb_body() -> impl Strategy<Value = Body> {
    let bytes = |max| proptest::collection::vec(any::<u8>(), 0..max);
    prop_oneof![
        arb_id().prop_map(|id| Body::Query(Query {
            id,
            method: Method::Ping
        })),
        (arb_id(), arb_id(), arb_want()).prop_map(|(id, target, want)| Body::Query(Query {
            id,
            method: Method::FindNode { target, want }
        })),
        (arb_id(), arb_id(), arb_want()).prop_map(|(id, info_hash, want)| Body::Query(Query {
            id,
            method: Method::GetPeers { info_hash, want }
        })),
        (
            arb_id(),
            arb_id(),
            any::<u16>(),
            proptest::option::of(any::<bool>()),
            bytes(MAX_TOKEN_LEN)
        )
            .prop_map(
                |(id, info_hash, port, implied_port, token)| Body::Query(Query {
                    id,
                    method: Method::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token
                    }
                })
            ),
        (
            arb_id(),
            proptest::option::of(proptest::collection::vec(arb_node(false), 0..8)),
            proptest::option::of(proptest::collection::vec(arb_node(true), 0..8)),
            proptest::option::of(proptest::collection::vec(arb_addr(), 0..20)),
            proptest::option::of(bytes(MAX_TOKEN_LEN)),
        )
            .prop_map(
                |(id, nodes, nodes6, values, token)| Body::Response(Response {
                    id,
                    nodes,
                    nodes6,
                    values,
                    token
                })
            ),
        (any::<i64>(), bytes(100)).prop_map(|(code, text)| Body::Error(ErrorReply { code, text })),
    ]
}

proptest! {
    #[test]
    fn decode_never_panics_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let _ = decode(&data);
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(
        idx in 0usize..6, pos in any::<proptest::sample::Index>(), byte in any::<u8>(), cut in any::<proptest::sample::Index>()
    ) {
        let names = ["find_node_request.bin", "get_peers_request_0.bin", "get_peers_request_1.bin",
            "find_node_response_1.bin", "find_node_response_2.bin", "find_node_response_3.bin"];
        let mut data = fixture(names[idx]);
        let i = pos.index(data.len());
        data[i] = byte;
        let _ = decode(&data);
        data.truncate(cut.index(data.len()));
        let _ = decode(&data);
    }

    #[test]
    fn encode_then_decode_is_identity(
        transaction in proptest::collection::vec(any::<u8>(), 0..=MAX_TID_LEN),
        version in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=16)),
        ip in proptest::option::of(arb_addr()),
        read_only in any::<bool>(),
        body in arb_body(),
    ) {
        let m = Message { transaction, version, ip, read_only, body };
        let bytes = m.encode();
        prop_assume!(bytes.len() <= MAX_DATAGRAM);
        let back = decode(&bytes).unwrap();
        prop_assert_eq!(back, m);
    }
}
