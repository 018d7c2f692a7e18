//! The `Dht` state machine driven by hand on a virtual clock: what it answers, what it
//! refuses, and how much it is willing to send.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_dht::proto::{
    bep42, decode, Body, Config, Dht, ErrorCode, Message, Method, NodeId, NodeState, Query,
    Response, Want, MAINTENANCE_EVERY, MAX_REPLY, MAX_TID_LEN,
};

const MIN: Duration = Duration::from_secs(60);

fn rng() -> StdRng {
    StdRng::seed_from_u64(99)
}

fn new_dht(now: Instant) -> Dht {
    Dht::new(Config::default(), now, &mut rng())
}

fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 9, host], port))
}

fn query(tid: &[u8], id: NodeId, method: Method) -> Vec<u8> {
    Message {
        transaction: tid.to_vec(),
        version: None,
        ip: None,
        read_only: false,
        body: Body::Query(Query { id, method }),
    }
    .encode()
}

/// Everything the node wants to send, decoded.
fn sent(d: &mut Dht) -> Vec<(SocketAddr, Message, usize)> {
    let mut out = Vec::new();
    while let Some((to, bytes)) = d.poll_transmit() {
        let m = decode(&bytes).expect("we send valid KRPC");
        out.push((to, m, bytes.len()));
    }
    out
}

/// What the node sent other than its own queries (the pings that verify newcomers).
fn replies(d: &mut Dht) -> Vec<(SocketAddr, Message, usize)> {
    sent(d)
        .into_iter()
        .filter(|(_, m, _)| !matches!(m.body, Body::Query(_)))
        .collect()
}

fn only_reply(d: &mut Dht) -> (SocketAddr, Message) {
    let mut s = replies(d);
    assert_eq!(s.len(), 1, "{s:?}");
    let (to, m, _) = s.remove(0);
    (to, m)
}

fn response(m: &Message) -> &Response {
    match &m.body {
        Body::Response(r) => r,
        other => panic!("not a response: {other:?}"),
    }
}

fn error_code(m: &Message) -> i64 {
    match &m.body {
        Body::Error(e) => e.code,
        other => panic!("not an error: {other:?}"),
    }
}

fn get_token(d: &mut Dht, now: Instant, from: SocketAddr, ih: NodeId) -> Vec<u8> {
    let q = query(
        b"gp",
        NodeId([7; 20]),
        Method::GetPeers {
            info_hash: ih,
            want: None,
        },
    );
    d.handle_datagram(now, from, &q);
    let (_, m) = only_reply(d);
    response(&m)
        .token
        .clone()
        .expect("get_peers replies carry a token")
}

fn announce(
    d: &mut Dht,
    now: Instant,
    from: SocketAddr,
    ih: NodeId,
    token: Vec<u8>,
    port: u16,
) -> Message {
    let q = query(
        b"an",
        NodeId([7; 20]),
        Method::AnnouncePeer {
            info_hash: ih,
            port,
            implied_port: None,
            token,
        },
    );
    d.handle_datagram(now, from, &q);
    only_reply(d).1
}

#[test]
fn answers_ping_with_its_id_and_the_querier_address() {
    let t0 = Instant::now();
    let mut d = new_dht(t0);
    let from = addr(1, 4000);
    d.handle_datagram(t0, from, &query(b"xy", NodeId([1; 20]), Method::Ping));
    let (to, m) = only_reply(&mut d);
    assert_eq!(to, from);
    assert_eq!(m.transaction, b"xy");
    assert_eq!(m.ip, Some(from), "BEP 42 ip field");
    assert_eq!(response(&m).id, d.id());
    // The querier is now in the routing table, unproven, and is asked once to prove itself.
    assert_eq!(d.routing_table_size(), 1);
    d.handle_datagram(t0, from, &query(b"x2", NodeId([1; 20]), Method::Ping));
    let s = sent(&mut d);
    assert_eq!(s.len(), 1, "a second query brings only a reply: {s:?}");
}

#[test]
fn a_newcomer_is_pinged_once_and_handed_out_only_after_it_answers() {
    let t0 = Instant::now();
    let mut d = new_dht(t0);
    let newcomer = addr(60, 4000);
    let newcomer_id = NodeId([0x61; 20]);
    d.handle_datagram(t0, newcomer, &query(b"q1", newcomer_id, Method::Ping));
    let s = sent(&mut d);
    assert_eq!(s.len(), 2, "reply first, then one ping: {s:?}");
    assert!(matches!(s[0].1.body, Body::Response(_)));
    let Body::Query(Query {
        method: Method::Ping,
        ..
    }) = &s[1].1.body
    else {
        panic!("not a ping: {:?}", s[1]);
    };
    assert_eq!(s[1].0, newcomer);
    // Until it answers, nobody is told about it.
    let find = query(
        b"f",
        NodeId([2; 20]),
        Method::FindNode {
            target: newcomer_id,
            want: None,
        },
    );
    d.handle_datagram(t0, addr(61, 1), &find);
    let (_, m) = only_reply(&mut d);
    assert_eq!(response(&m).nodes, Some(vec![]));
    let answer = Message {
        transaction: s[1].1.transaction.clone(),
        version: None,
        ip: None,
        read_only: false,
        body: Body::Response(Response::bare(newcomer_id)),
    };
    d.handle_datagram(t0, newcomer, &answer.encode());
    d.handle_datagram(t0, addr(61, 1), &find);
    let (_, m) = only_reply(&mut d);
    let nodes = response(&m).nodes.clone().unwrap_or_default();
    assert_eq!(nodes.len(), 1);
    assert_eq!((nodes[0].id, nodes[0].addr), (newcomer_id, newcomer));
}

#[test]
fn token_is_accepted_within_ten_minutes_and_refused_after() {
    let t0 = Instant::now();
    let mut d = new_dht(t0);
    let from = addr(2, 5000);
    let ih = NodeId([0xab; 20]);
    let token = get_token(&mut d, t0, from, ih);
    let ok = announce(
        &mut d,
        t0 + 10 * MIN - Duration::from_secs(1),
        from,
        ih,
        token.clone(),
        6881,
    );
    assert_eq!(response(&ok).id, d.id());
    let late = announce(&mut d, t0 + 10 * MIN, from, ih, token.clone(), 6881);
    assert_eq!(error_code(&late), ErrorCode::Protocol as i64);
    // A token is bound to the address it was given to.
    let token = get_token(&mut d, t0 + 11 * MIN, from, ih);
    let other = announce(&mut d, t0 + 11 * MIN, addr(3, 5000), ih, token, 6881);
    assert_eq!(error_code(&other), ErrorCode::Protocol as i64);
}

#[test]
fn announced_peers_are_returned_with_implied_port_honoured_and_expire() {
    let t0 = Instant::now();
    let mut d = new_dht(t0);
    let ih = NodeId([0xcd; 20]);
    let a = addr(4, 7001);
    let token = get_token(&mut d, t0, a, ih);
    announce(&mut d, t0, a, ih, token, 6000);
    let b = addr(5, 7002);
    let token = get_token(&mut d, t0, b, ih);
    let q = query(
        b"an",
        NodeId([8; 20]),
        Method::AnnouncePeer {
            info_hash: ih,
            port: 1,
            implied_port: Some(true),
            token,
        },
    );
    d.handle_datagram(t0, b, &q);
    response(&only_reply(&mut d).1);
    let q = query(
        b"gp",
        NodeId([9; 20]),
        Method::GetPeers {
            info_hash: ih,
            want: None,
        },
    );
    d.handle_datagram(t0 + MIN, addr(6, 1), &q);
    let (_, m) = only_reply(&mut d);
    let mut values = response(&m).values.clone().unwrap_or_default();
    values.sort();
    assert_eq!(values, vec![addr(4, 6000), b]);
    // Thirty minutes after the announce they are gone.
    d.handle_datagram(t0 + 30 * MIN, addr(6, 1), &q);
    let (_, m) = only_reply(&mut d);
    assert_eq!(response(&m).values, None);
}

#[test]
fn queries_beyond_the_per_ip_rate_are_dropped() {
    let t0 = Instant::now();
    let mut d = new_dht(t0);
    let from = addr(7, 1000);
    for i in 0..30u8 {
        d.handle_datagram(t0, from, &query(&[i], NodeId([1; 20]), Method::Ping));
    }
    assert_eq!(replies(&mut d).len(), 10, "the burst");
    assert_eq!(d.stats().rate_limited, 20);
    // Another IP is unaffected; the same IP gets 5 more a second later.
    d.handle_datagram(
        t0,
        addr(8, 1000),
        &query(b"o", NodeId([2; 20]), Method::Ping),
    );
    assert_eq!(replies(&mut d).len(), 1);
    for i in 0..30u8 {
        d.handle_datagram(
            t0 + Duration::from_secs(1),
            from,
            &query(&[i], NodeId([1; 20]), Method::Ping),
        );
    }
    assert_eq!(replies(&mut d).len(), 5);
}

/// Fills the store with `n` peers for `ih`, each announced from its own address `mk(i)`.
fn fill_store(d: &mut Dht, now: Instant, ih: NodeId, n: u8, mk: impl Fn(u8) -> SocketAddr) {
    for i in 0..n {
        let from = mk(i);
        let token = get_token(d, now, from, ih);
        let m = announce(d, now, from, ih, token, 3000);
        response(&m);
    }
}

/// The largest get_peers reply anyone can ask for: the longest transaction id, both families.
fn greedy_get_peers(ih: NodeId) -> Vec<u8> {
    Message {
        transaction: vec![0xaa; MAX_TID_LEN],
        version: None,
        ip: None,
        read_only: false,
        body: Body::Query(Query {
            id: NodeId([3; 20]),
            method: Method::GetPeers {
                info_hash: ih,
                want: Some(Want { n4: true, n6: true }),
            },
        }),
    }
    .encode()
}

#[test]
fn replies_never_exceed_the_size_cap_however_many_peers_are_stored() {
    let t0 = Instant::now();
    let ih = NodeId([0xee; 20]);
    // IPv4: a hundred peers (the per-hash cap) fit in one reply of at most 1024 bytes.
    let mut d = new_dht(t0);
    fill_store(&mut d, t0, ih, 100, |i| {
        SocketAddr::from(([127, 0, 10, i], 2000))
    });
    assert_eq!(d.stats().stored_peers, 100);
    let q = greedy_get_peers(ih);
    d.handle_datagram(t0, addr(200, 9), &q);
    let s = replies(&mut d);
    assert_eq!(s.len(), 1);
    assert!(s[0].2 <= MAX_REPLY, "reply of {} bytes", s[0].2);

    // IPv6 peers take 21 bytes each: a hundred do not fit, so values are cut to what does.
    // (In-memory unique-local addresses: nothing is sent anywhere.)
    let v6 = |i: u8| {
        SocketAddr::new(
            std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(i) + 1).into(),
            2000,
        )
    };
    let cfg = Config {
        family: shoal_dht::proto::Family::V6,
        ..Config::default()
    };
    let mut d = Dht::new(cfg, t0, &mut rng());
    fill_store(&mut d, t0, ih, 100, v6);
    d.handle_datagram(t0, v6(200), &q);
    let s = replies(&mut d);
    assert_eq!(s.len(), 1);
    let (_, m, len) = &s[0];
    assert!(*len <= MAX_REPLY, "reply of {len} bytes");
    let values = response(m).values.clone().unwrap_or_default();
    assert!(
        values.len() < 100,
        "values were cut to fit: {}",
        values.len()
    );
    assert!(
        *len > MAX_REPLY - 21 - MAX_TID_LEN,
        "but the room is used: {len} bytes"
    );
    // The query was about 130 bytes: the reply is bounded by the cap, never by the store.
    assert!(q.len() < 160);
}

#[test]
fn malformed_queries_get_krpc_errors_and_other_junk_gets_nothing() {
    let t0 = Instant::now();
    let mut d = new_dht(t0);
    let from = addr(9, 1);
    d.handle_datagram(
        t0,
        from,
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:zzzz1:t2:aa1:y1:qe",
    );
    let (_, m) = only_reply(&mut d);
    assert_eq!(
        (m.transaction.as_slice(), error_code(&m)),
        (&b"aa"[..], 204)
    );
    d.handle_datagram(t0, from, b"d1:ad2:id2:abe1:q4:ping1:t2:bb1:y1:qe");
    let (_, m) = only_reply(&mut d);
    assert_eq!(error_code(&m), 203);
    for junk in [
        &b"hello"[..],
        b"d1:rd2:id2:abe1:t2:aa1:y1:re",
        b"d1:eli201e1:x1:t2:aa1:y1:ee",
        b"d1:t2:aa1:y1:ze",
        b"",
    ] {
        d.handle_datagram(t0, from, junk);
        assert!(sent(&mut d).is_empty(), "{junk:?}");
    }
    // A well-formed response we never asked for is dropped too.
    let unsolicited = Message {
        transaction: vec![0, 1],
        version: None,
        ip: None,
        read_only: false,
        body: Body::Response(Response::bare(NodeId([5; 20]))),
    };
    d.handle_datagram(t0, from, &unsolicited.encode());
    assert!(sent(&mut d).is_empty());
    assert_eq!(d.stats().unsolicited, 1);
    // So is a query from port 0 (an answer could not be delivered anywhere useful).
    d.handle_datagram(t0, addr(9, 0), &query(b"z", NodeId([1; 20]), Method::Ping));
    assert!(sent(&mut d).is_empty());
}

#[test]
fn answers_must_come_from_the_address_queried() {
    let t0 = Instant::now();
    let mut d = new_dht(t0);
    let boot = addr(20, 6881);
    d.bootstrap(t0, &[boot]);
    let s = sent(&mut d);
    assert_eq!(s.len(), 1);
    let (to, q, _) = &s[0];
    assert_eq!(*to, boot);
    let r = Message {
        transaction: q.transaction.clone(),
        version: None,
        ip: None,
        read_only: false,
        body: Body::Response(Response::bare(NodeId([0x11; 20]))),
    }
    .encode();
    d.handle_datagram(t0, addr(21, 6881), &r);
    assert_eq!(d.routing_table_size(), 0, "forged source refused");
    d.handle_datagram(t0, boot, &r);
    assert_eq!(d.routing_table_size(), 1);
    // The bootstrap lookup had nobody else to ask: it is done.
    assert!(matches!(
        d.poll_event(),
        Some(shoal_dht::proto::DhtEvent::LookupDone { .. })
    ));
}

/// Answers query `q` (sent to `to`) as a node with id `id` and no other contacts.
fn answer(d: &mut Dht, now: Instant, to: SocketAddr, q: &Message, id: NodeId) {
    let r = Message {
        transaction: q.transaction.clone(),
        version: None,
        ip: None,
        read_only: false,
        body: Body::Response(Response::bare(id)),
    };
    d.handle_datagram(now, to, &r.encode());
}

fn id_of(a: SocketAddr) -> NodeId {
    let mut id = [0x40; 20];
    if let SocketAddr::V4(v4) = a {
        id[..4].copy_from_slice(&v4.ip().octets());
    }
    NodeId(id)
}

#[test]
fn stale_buckets_are_refreshed_and_silent_nodes_go_bad() {
    let t0 = Instant::now();
    let mut r = rng();
    let mut d = new_dht(t0);
    let boots: Vec<SocketAddr> = (0..8).map(|i| addr(30 + i, 6881)).collect();
    d.bootstrap(t0, &boots);
    // The first three are asked (alpha = 3); each answer lets the lookup ask the next.
    let mut now = t0;
    loop {
        let batch = sent(&mut d);
        if batch.is_empty() {
            break;
        }
        for (to, q, _) in batch {
            answer(&mut d, now, to, &q, id_of(to));
        }
        now += Duration::from_millis(10);
    }
    assert_eq!(d.routing_table_size(), 8);
    let good = |d: &Dht, at| {
        boots
            .iter()
            .filter(|a| {
                d.routing_table().get(&id_of(**a)).map(|e| e.state(at)) == Some(NodeState::Good)
            })
            .count()
    };
    assert_eq!(good(&d, now), 8);
    // Nobody answers from now on. For fifteen minutes the node has no reason to send anything.
    let mut first_refresh = None;
    let mut pings = 0;
    while now < t0 + 20 * MIN {
        now += Duration::from_secs(1);
        d.handle_timeout(now, &mut r);
        for (_, m, _) in sent(&mut d) {
            let Body::Query(q) = m.body else { continue };
            assert!(
                now >= t0 + 15 * MIN,
                "quiet while every node is good: {q:?}"
            );
            match q.method {
                Method::FindNode { .. } => first_refresh = first_refresh.or(Some(now)),
                Method::Ping => pings += 1,
                _ => {}
            }
        }
    }
    let first = first_refresh.expect("a refresh lookup");
    assert!(first < t0 + 15 * MIN + MAINTENANCE_EVERY + Duration::from_secs(1));
    assert!(pings > 0, "questionable nodes were pinged");
    // Two unanswered queries each: every node is bad now.
    let bad = boots
        .iter()
        .filter(|a| {
            d.routing_table().get(&id_of(**a)).map(|e| e.state(now)) == Some(NodeState::Bad)
        })
        .count();
    assert_eq!(bad, 8);
}

#[test]
fn a_small_table_keeps_looking_for_neighbours_with_backoff() {
    let t0 = Instant::now();
    let mut r = rng();
    let mut d = new_dht(t0);
    let boot = addr(45, 6881);
    d.bootstrap(t0, &[boot]);
    let mut now = t0;
    let mut self_lookups = Vec::new();
    while now < t0 + 3 * MIN {
        for (to, m, _) in sent(&mut d) {
            if let Body::Query(q) = &m.body {
                if matches!(q.method, Method::FindNode { target, .. } if target == d.id()) {
                    self_lookups.push(now);
                }
            }
            answer(&mut d, now, to, &m, id_of(to));
        }
        now += Duration::from_secs(1);
        d.handle_timeout(now, &mut r);
    }
    assert_eq!(d.routing_table_size(), 1);
    // The bootstrap, then again after 5, 10, 20, 40, 80 s... (maintenance runs every 5 s).
    assert!(self_lookups.len() >= 5, "{self_lookups:?}");
    let gaps: Vec<u64> = self_lookups
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0]),
        "backing off: {gaps:?}"
    );
    assert!(gaps.last().is_some_and(|g| *g >= 40), "{gaps:?}");
}

#[test]
fn a_node_answering_with_our_own_id_is_not_a_result() {
    let t0 = Instant::now();
    let mut d = new_dht(t0);
    let mirror = addr(46, 6881);
    d.bootstrap(t0, &[mirror]);
    let (_, q, _) = sent(&mut d).remove(0);
    let own = d.id();
    answer(&mut d, t0, mirror, &q, own);
    assert_eq!(d.routing_table_size(), 0);
    let Some(shoal_dht::proto::DhtEvent::LookupDone { closest, .. }) = d.poll_event() else {
        panic!("the lookup ends: nobody else to ask")
    };
    assert!(closest.is_empty());
}

#[test]
fn bep42_ids_and_enforcement() {
    let t0 = Instant::now();
    let public: std::net::IpAddr = "124.31.75.21".parse().unwrap();
    let d = Dht::new(
        Config {
            external_ip: Some(public),
            ..Config::default()
        },
        t0,
        &mut rng(),
    );
    assert!(bep42::is_valid_for(&d.id(), public));

    let mut d = Dht::new(
        Config {
            enforce_bep42: true,
            ..Config::default()
        },
        t0,
        &mut rng(),
    );
    // A public node whose id does not match its address is answered but not admitted.
    let stranger = SocketAddr::from(([124, 31, 75, 21], 6881));
    d.handle_datagram(t0, stranger, &query(b"a", NodeId([1; 20]), Method::Ping));
    assert_eq!(replies(&mut d).len(), 1);
    assert_eq!(d.routing_table_size(), 0);
    let valid = bep42::id_for_ip(stranger.ip(), &mut rng());
    d.handle_datagram(t0, stranger, &query(b"b", valid, Method::Ping));
    assert_eq!(d.routing_table_size(), 1);
    // Loopback nodes are exempt whatever their id.
    d.handle_datagram(t0, addr(40, 1), &query(b"c", NodeId([2; 20]), Method::Ping));
    assert_eq!(d.routing_table_size(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random datagrams never panic the node; at most one small reply goes back (plus, for
    /// a well-formed query from a new node, one ping), and only to the sender.
    #[test]
    fn random_datagrams_are_safe(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let t0 = Instant::now();
        let mut d = new_dht(t0);
        let from = addr(50, 1234);
        d.handle_datagram(t0, from, &data);
        let out = sent(&mut d);
        prop_assert!(out.len() <= 2);
        let replies = out.iter().filter(|(_, m, _)| !matches!(m.body, Body::Query(_))).count();
        prop_assert!(replies <= 1);
        for (to, m, len) in out {
            prop_assert_eq!(to, from);
            prop_assert!(len <= MAX_REPLY);
            if let Body::Query(q) = m.body {
                prop_assert_eq!(q.method, Method::Ping);
            }
        }
    }

    /// Mutated valid queries: same guarantees, and anything answered is a response or error
    /// carrying the query's transaction id.
    #[test]
    fn mutated_queries_are_safe(
        which in 0usize..4, pos in any::<proptest::sample::Index>(), byte in any::<u8>()
    ) {
        let t0 = Instant::now();
        let mut d = new_dht(t0);
        let id = NodeId([4; 20]);
        let ih = NodeId([5; 20]);
        let methods = [
            Method::Ping,
            Method::FindNode { target: ih, want: Some(Want { n4: true, n6: true }) },
            Method::GetPeers { info_hash: ih, want: None },
            Method::AnnouncePeer { info_hash: ih, port: 9, implied_port: Some(false), token: b"tok".to_vec() },
        ];
        let mut q = query(b"tt", id, methods[which].clone());
        let i = pos.index(q.len());
        q[i] = byte;
        let from = addr(51, 1234);
        d.handle_datagram(t0, from, &q);
        let out = sent(&mut d);
        prop_assert!(out.len() <= 2);
        for (to, m, len) in out {
            prop_assert_eq!(to, from);
            prop_assert!(len <= MAX_REPLY);
            match m.body {
                Body::Query(q) => prop_assert_eq!(q.method, Method::Ping),
                _ => prop_assert!(m.transaction.len() <= MAX_TID_LEN),
            }
        }
    }
}
