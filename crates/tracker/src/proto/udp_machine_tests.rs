//! The machine on a virtual clock: `at(s)` is `s` seconds after an arbitrary origin.

use super::*;
use crate::proto::udp_packet::fake_tracker::*;
use crate::proto::{Event, ScrapeStats};
use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_core::{InfoHashV1, PeerId};
use std::net::SocketAddr;

struct Clock(Instant);
impl Clock {
    fn at(&self, secs: u64) -> Instant {
        self.0 + Duration::from_secs(secs)
    }
}

fn machine(config: UdpConfig) -> (UdpTrackerMachine<StdRng>, Clock) {
    (
        UdpTrackerMachine::new(config, StdRng::seed_from_u64(1)),
        Clock(Instant::now()),
    )
}

fn req() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash::v1(InfoHashV1([3; 20])),
        peer_id: PeerId([4; 20]),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 10,
        event: Event::Started,
        numwant: None,
        key: 1,
        tracker_id: None,
        no_peer_id: false,
    }
}

/// Transaction id of a request datagram (same offset for connect, announce and scrape).
fn tid(datagram: &[u8]) -> u32 {
    u32::from_be_bytes(datagram[12..16].try_into().unwrap())
}
fn action(datagram: &[u8]) -> u32 {
    u32::from_be_bytes(datagram[8..12].try_into().unwrap())
}
fn conn_id(datagram: &[u8]) -> u64 {
    u64::from_be_bytes(datagram[0..8].try_into().unwrap())
}

fn one_transmit<R: rand::Rng>(m: &mut UdpTrackerMachine<R>) -> Vec<u8> {
    let d = m.poll_transmit().expect("a datagram to send");
    assert!(m.poll_transmit().is_none(), "exactly one datagram");
    d
}

/// Drives a connect: returns the first request datagram sent after it.
fn connect<R: rand::Rng>(m: &mut UdpTrackerMachine<R>, now: Instant, id: u64) -> Vec<u8> {
    let c = one_transmit(m);
    assert_eq!(conn_id(&c), packet::PROTOCOL_ID, "a connect request");
    assert_eq!(
        m.handle_datagram(now, &connect_reply(tid(&c), id)),
        DatagramOutcome::Accepted
    );
    m.poll_transmit()
        .expect("the request follows the connect reply")
}

#[test]
fn connect_then_announce() {
    let (mut m, c) = machine(UdpConfig::default());
    let id = m.announce(c.at(0), req());
    let a = connect(&mut m, c.at(1), 0xabcd);
    assert_eq!(action(&a), packet::ACTION_ANNOUNCE);
    assert_eq!(conn_id(&a), 0xabcd);
    assert_eq!(m.poll_timeout(), Some(c.at(16)));
    let peer: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    m.handle_datagram(c.at(2), &announce_reply(tid(&a), 1800, 1, 2, &[peer]));
    match m.poll_event() {
        Some(UdpEvent::Announced { request, response }) => {
            assert_eq!(request, id);
            assert_eq!(response.peers, vec![peer]);
            assert_eq!(response.interval, Duration::from_secs(1800));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.poll_timeout(), None);
    assert_eq!(m.in_flight(), 0);
}

#[test]
fn connect_retransmits_with_bep15_backoff_then_gives_up() {
    let (mut m, c) = machine(UdpConfig::default());
    let id = m.announce(c.at(0), req());
    let first = one_transmit(&mut m);
    // BEP 15 "connect times out": 0, 15, 45, 105, ... each wait doubling up to 15 * 2^8.
    let mut expected = 0;
    for n in 0..=8u32 {
        expected += 15 * (1 << n);
        assert_eq!(
            m.poll_timeout(),
            Some(c.at(expected)),
            "deadline of attempt {n}"
        );
        m.handle_timeout(c.at(expected - 1));
        assert!(m.poll_transmit().is_none(), "nothing before the deadline");
        m.handle_timeout(c.at(expected));
        if n < 8 {
            let again = one_transmit(&mut m);
            assert_eq!(again, first, "same connect request, same transaction id");
        }
    }
    assert_eq!(expected, 7665);
    assert_eq!(
        m.poll_event(),
        Some(UdpEvent::Failed {
            request: id,
            error: TrackerError::Timeout
        })
    );
    assert!(m.poll_transmit().is_none());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn shortened_base_for_tests_and_engines() {
    let config = UdpConfig {
        retransmit_base: Duration::from_millis(100),
        max_retransmit_exponent: 2,
        ..UdpConfig::default()
    };
    let (mut m, c) = machine(config);
    m.announce(c.at(0), req());
    let ms = |n| c.at(0) + Duration::from_millis(n);
    let mut sends = 0;
    while let Some(t) = m.poll_timeout() {
        while m.poll_transmit().is_some() {
            sends += 1;
        }
        assert!(t <= ms(700));
        m.handle_timeout(t);
    }
    assert_eq!(sends, 3, "sent at 0, 100 and 300 ms; failed at 700 ms");
    assert!(matches!(
        m.poll_event(),
        Some(UdpEvent::Failed {
            error: TrackerError::Timeout,
            ..
        })
    ));
}

#[test]
fn announce_retransmits_and_reconnects_when_the_id_expires() {
    let (mut m, c) = machine(UdpConfig::default());
    m.announce(c.at(0), req());
    let a = connect(&mut m, c.at(1), 77);
    // Sent at 1: retransmit at 16 (n=1) and 46 (n=2) with the same id.
    m.handle_timeout(c.at(16));
    assert_eq!(one_transmit(&mut m), a);
    assert_eq!(m.poll_timeout(), Some(c.at(46)));
    m.handle_timeout(c.at(46));
    assert_eq!(one_transmit(&mut m), a);
    assert_eq!(m.poll_timeout(), Some(c.at(106)));
    // At 106 the id (received at 1) is older than 60 s: reconnect, with n=3 (120 s).
    m.handle_timeout(c.at(106));
    let reconnect = one_transmit(&mut m);
    assert_eq!(action(&reconnect), packet::ACTION_CONNECT);
    assert_eq!(m.poll_timeout(), Some(c.at(226)));
    m.handle_timeout(c.at(226));
    assert_eq!(one_transmit(&mut m), reconnect);
    assert_eq!(m.poll_timeout(), Some(c.at(466)));
    // The new id is used for the same transaction.
    m.handle_datagram(c.at(300), &connect_reply(tid(&reconnect), 78));
    let b = one_transmit(&mut m);
    assert_eq!(conn_id(&b), 78);
    assert_eq!(tid(&b), tid(&a));
}

#[test]
fn connection_id_is_reused_for_a_minute() {
    let (mut m, c) = machine(UdpConfig::default());
    m.announce(c.at(0), req());
    let a = connect(&mut m, c.at(0), 5);
    m.handle_datagram(c.at(1), &announce_reply(tid(&a), 60, 0, 0, &[]));
    assert!(m.poll_event().is_some());
    m.announce(c.at(59), req());
    let b = one_transmit(&mut m);
    assert_eq!((action(&b), conn_id(&b)), (packet::ACTION_ANNOUNCE, 5));
    m.handle_datagram(c.at(59), &announce_reply(tid(&b), 60, 0, 0, &[]));
    m.announce(c.at(60), req());
    assert_eq!(
        action(&one_transmit(&mut m)),
        packet::ACTION_CONNECT,
        "expired at 60 s"
    );
}

#[test]
fn error_replies_fail_the_transaction() {
    let (mut m, c) = machine(UdpConfig::default());
    let id = m.announce(c.at(0), req());
    let a = connect(&mut m, c.at(0), 5);
    m.handle_datagram(c.at(1), &error_reply(tid(&a), "torrent not registered"));
    assert_eq!(
        m.poll_event(),
        Some(UdpEvent::Failed {
            request: id,
            error: TrackerError::Refused("torrent not registered".into())
        })
    );
    assert_eq!(m.poll_timeout(), None);

    // An error to the connect fails every request waiting for it.
    let (mut m, c) = machine(UdpConfig::default());
    let x = m.announce(c.at(0), req());
    let y = m.scrape(c.at(0), &[req().info_hash]).unwrap();
    let conn = one_transmit(&mut m);
    m.handle_datagram(c.at(1), &error_reply(tid(&conn), "go away"));
    let failed: Vec<_> = std::iter::from_fn(|| m.poll_event()).collect();
    assert_eq!(failed.len(), 2);
    for (e, want) in failed.iter().zip([x, y]) {
        assert!(
            matches!(e, UdpEvent::Failed { request, error: TrackerError::Refused(msg) } if *request == want && msg == "go away")
        );
    }
}

#[test]
fn wrong_or_short_replies_are_ignored() {
    let (mut m, c) = machine(UdpConfig::default());
    m.announce(c.at(0), req());
    let conn = one_transmit(&mut m);
    let wrong = tid(&conn).wrapping_add(1);
    assert_eq!(
        m.handle_datagram(c.at(1), &connect_reply(wrong, 9)),
        DatagramOutcome::Ignored(IgnoreReason::UnknownTransaction(wrong))
    );
    assert!(matches!(
        m.handle_datagram(c.at(1), &[0, 0, 0]),
        DatagramOutcome::Ignored(IgnoreReason::TooShort(_))
    ));
    assert!(m.poll_event().is_none());
    assert!(m.poll_transmit().is_none());
    assert_eq!(
        m.poll_timeout(),
        Some(c.at(15)),
        "still waiting for the real reply"
    );
    assert_eq!(
        m.handle_datagram(c.at(2), &connect_reply(tid(&conn), 9)),
        DatagramOutcome::Accepted
    );
    assert_eq!(conn_id(&one_transmit(&mut m)), 9);
    // A second copy of the connect reply no longer matches anything.
    assert!(matches!(
        m.handle_datagram(c.at(2), &connect_reply(tid(&conn), 10)),
        DatagramOutcome::Ignored(_)
    ));
}

#[test]
fn malformed_reply_to_our_transaction_fails_it() {
    let (mut m, c) = machine(UdpConfig::default());
    let id = m.announce(c.at(0), req());
    let a = connect(&mut m, c.at(0), 1);
    let mut bad = announce_reply(tid(&a), 60, 0, 0, &[]);
    bad.truncate(12);
    m.handle_datagram(c.at(1), &bad);
    assert_eq!(
        m.poll_event(),
        Some(UdpEvent::Failed {
            request: id,
            error: TrackerError::Malformed(ReplyError::Truncated { need: 20, got: 12 })
        })
    );
}

#[test]
fn late_reply_to_an_earlier_send_counts() {
    let (mut m, c) = machine(UdpConfig::default());
    m.announce(c.at(0), req());
    let a = connect(&mut m, c.at(0), 1);
    m.handle_timeout(c.at(15));
    assert_eq!(one_transmit(&mut m), a);
    m.handle_datagram(c.at(16), &announce_reply(tid(&a), 60, 0, 0, &[]));
    assert!(matches!(m.poll_event(), Some(UdpEvent::Announced { .. })));
}

#[test]
fn scrape_shares_the_connection_and_maps_hashes() {
    let (mut m, c) = machine(UdpConfig::default());
    let h1 = InfoHash::v1(InfoHashV1([1; 20]));
    let h2 = InfoHash::v1(InfoHashV1([2; 20]));
    let an = m.announce(c.at(0), req());
    let sc = m.scrape(c.at(0), &[h1, h2]).unwrap();
    let conn = one_transmit(&mut m);
    m.handle_datagram(c.at(1), &connect_reply(tid(&conn), 3));
    let sends: Vec<_> = std::iter::from_fn(|| m.poll_transmit()).collect();
    assert_eq!(sends.len(), 2, "one connect serves both requests");
    let s = sends
        .iter()
        .find(|d| action(d) == packet::ACTION_SCRAPE)
        .unwrap();
    let stats = ScrapeStats {
        complete: 1,
        downloaded: 2,
        incomplete: 3,
    };
    m.handle_datagram(c.at(2), &scrape_reply(tid(s), &[stats]));
    match m.poll_event() {
        Some(UdpEvent::Scraped { request, response }) => {
            assert_eq!(request, sc);
            assert_eq!(
                response.files,
                vec![ScrapeEntry {
                    info_hash: h1,
                    stats
                }]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.in_flight(), 1, "the announce {an:?} is still open");
    assert_ne!(an, sc);
    assert!(m.scrape(c.at(2), &[]).is_err());
    assert!(m.scrape(c.at(2), &[h1; 75]).is_err());
}

#[test]
fn transaction_ids_come_from_the_injected_rng() {
    let run = |seed| {
        let mut m = UdpTrackerMachine::new(UdpConfig::default(), StdRng::seed_from_u64(seed));
        let now = Instant::now();
        m.announce(now, req());
        tid(&one_transmit(&mut m))
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn colliding_transaction_ids_are_stepped() {
    /// An rng that always yields the same bits.
    struct Constant;
    impl rand::RngCore for Constant {
        fn next_u32(&mut self) -> u32 {
            42
        }
        fn next_u64(&mut self) -> u64 {
            42
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(0);
        }
    }
    let mut m = UdpTrackerMachine::new(UdpConfig::default(), Constant);
    let now = Instant::now();
    m.announce(now, req());
    m.announce(now, req());
    let conn = one_transmit(&mut m);
    m.handle_datagram(now, &connect_reply(tid(&conn), 1));
    let mut tids: Vec<u32> = std::iter::from_fn(|| m.poll_transmit())
        .map(|d| tid(&d))
        .collect();
    tids.push(tid(&conn));
    tids.sort_unstable();
    tids.dedup();
    assert_eq!(tids.len(), 3, "request, request and connect ids all differ");
}

#[test]
fn cancel_forgets_the_request_and_an_idle_connect() {
    let (mut m, c) = machine(UdpConfig::default());
    let id = m.announce(c.at(0), req());
    let conn = one_transmit(&mut m);
    m.cancel(id);
    assert_eq!(m.in_flight(), 0);
    assert_eq!(m.poll_timeout(), None, "no retransmission for nobody");
    assert!(matches!(
        m.handle_datagram(c.at(1), &connect_reply(tid(&conn), 1)),
        DatagramOutcome::Ignored(_)
    ));
    assert!(m.poll_event().is_none());
}

#[test]
fn absurd_configuration_does_not_overflow_the_clock() {
    let config = UdpConfig {
        retransmit_base: Duration::MAX,
        max_retransmit_exponent: 40,
        connection_id_lifetime: Duration::MAX,
        ..UdpConfig::default()
    };
    let (mut m, c) = machine(config);
    m.announce(c.at(0), req());
    let a = connect(&mut m, c.at(0), 1);
    assert!(m.poll_timeout().is_some_and(|t| t > c.at(0)));
    m.handle_datagram(c.at(1), &announce_reply(tid(&a), 60, 0, 0, &[]));
    assert!(matches!(m.poll_event(), Some(UdpEvent::Announced { .. })));
}
