//! Session tests on a virtual clock: every `Instant` is `base + Duration`, nothing sleeps.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use shoal_core::{Bitfield, PieceIndex};

use super::*;
use crate::error::ErrorAction;
use crate::message::{id, BlockSpec};

/// 10 pieces of 32 KiB: two 16 KiB blocks each.
fn geometry() -> PieceGeometry {
    PieceGeometry::new(10 * 32_768, 32_768).unwrap()
}

const FAST: Features = Features {
    fast: true,
    extension_protocol: true,
    dht: false,
};
const PLAIN: Features = Features {
    fast: false,
    extension_protocol: false,
    dht: false,
};

fn at(base: Instant, secs: u64) -> Instant {
    base + Duration::from_secs(secs)
}

fn piece(i: u32) -> PieceIndex {
    geometry().piece(i).unwrap()
}

fn block(p: u32, n: u32) -> BlockRange {
    BlockRange {
        piece: piece(p),
        offset: n * 16_384,
        len: 16_384,
    }
}

fn session(features: Features, ours: &Bitfield, t0: Instant) -> PeerSession {
    PeerSession::new(
        t0,
        SessionConfig::default(),
        features,
        Some((geometry(), ours)),
    )
}

fn empty() -> Bitfield {
    Bitfield::new(10)
}

/// Decodes everything the session queued for sending.
fn sent(s: &mut PeerSession) -> Vec<Message> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = s.poll_transmit() {
        buf.extend_from_slice(&chunk);
    }
    let mut out = Vec::new();
    while let Some(msg) = codec::decode_from(&mut buf).unwrap() {
        out.push(msg);
    }
    assert!(buf.is_empty(), "partial frame queued");
    out
}

fn events(s: &mut PeerSession) -> Vec<PeerEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn feed(s: &mut PeerSession, now: Instant, msgs: &[Message]) -> Result<(), WireError> {
    let mut wire = Vec::new();
    for m in msgs {
        m.encode(&mut wire);
    }
    s.handle_bytes(now, &wire)
}

/// A session whose peer has every piece and has unchoked us; outputs drained.
fn unchoked(features: Features, t0: Instant) -> PeerSession {
    let mut s = session(features, &empty(), t0);
    let all = Message::Bitfield(Bytes::from(Bitfield::full(10).as_bytes().to_vec()));
    feed(&mut s, t0, &[all, Message::Unchoke]).unwrap();
    sent(&mut s);
    events(&mut s);
    s
}

fn data(len: usize, fill: u8) -> Bytes {
    Bytes::from(vec![fill; len])
}

fn piece_msg(b: BlockRange, fill: u8) -> Message {
    Message::Piece {
        index: b.piece.get(),
        begin: b.offset,
        data: data(b.len as usize, fill),
    }
}

// ----- initial messages -----

#[test]
fn first_message_is_our_piece_set() {
    let t0 = Instant::now();
    let mut half = empty();
    half.set(3, true);
    assert_eq!(
        sent(&mut session(FAST, &Bitfield::full(10), t0)),
        [Message::HaveAll]
    );
    assert_eq!(sent(&mut session(FAST, &empty(), t0)), [Message::HaveNone]);
    assert_eq!(sent(&mut session(PLAIN, &empty(), t0)), []);
    assert_eq!(
        sent(&mut session(PLAIN, &Bitfield::full(10), t0)),
        [Message::Bitfield(Bytes::from_static(&[0xff, 0xc0]))]
    );
    assert_eq!(
        sent(&mut session(FAST, &half, t0)),
        [Message::Bitfield(Bytes::from_static(&[0x10, 0x00]))]
    );
    let mut magnet = PeerSession::new(t0, SessionConfig::default(), FAST, None);
    assert_eq!(sent(&mut magnet), [Message::HaveNone]);
}

// ----- timers -----

#[test]
fn keep_alive_after_idle_write() {
    let t0 = Instant::now();
    let mut s = session(PLAIN, &empty(), t0);
    assert_eq!(s.poll_timeout(), Some(at(t0, 60)));
    s.handle_timeout(at(t0, 59)).unwrap();
    assert_eq!(sent(&mut s), []);
    s.handle_timeout(at(t0, 60)).unwrap();
    assert_eq!(sent(&mut s), [Message::KeepAlive]);
    // The next keep-alive is due 60 s after this one, but the silent peer times out first.
    assert_eq!(s.poll_timeout(), Some(at(t0, 120)));
    // Any write restarts the keep-alive clock.
    s.send_interested(at(t0, 100));
    s.handle_bytes(at(t0, 100), &[0, 0, 0, 0]).unwrap();
    assert_eq!(s.poll_timeout(), Some(at(t0, 160)));
}

#[test]
fn silent_peer_times_out_and_session_stays_closed() {
    let t0 = Instant::now();
    let mut s = session(PLAIN, &empty(), t0);
    s.handle_timeout(at(t0, 60)).unwrap();
    assert_eq!(s.poll_timeout(), Some(at(t0, 120)));
    let err = s.handle_timeout(at(t0, 120)).unwrap_err();
    assert_eq!(err, WireError::Timeout(Duration::from_secs(120)));
    assert_eq!(err.action(), ErrorAction::Disconnect);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_bytes(at(t0, 121), &[0, 0, 0, 0]), Err(err.clone()));
    s.send_interested(at(t0, 121));
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.closed(), Some(&err));
}

#[test]
fn partial_frames_count_as_activity_and_timers_are_configurable() {
    let t0 = Instant::now();
    let config = SessionConfig {
        keep_alive_interval: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        ..SessionConfig::default()
    };
    let mut s = PeerSession::new(t0, config, PLAIN, Some((geometry(), &empty())));
    s.handle_timeout(at(t0, 10)).unwrap();
    s.handle_timeout(at(t0, 20)).unwrap();
    assert_eq!(sent(&mut s), [Message::KeepAlive, Message::KeepAlive]);
    // Two bytes of a frame: no message yet, but the peer is alive.
    s.handle_bytes(at(t0, 25), &[0, 0]).unwrap();
    assert_eq!(events(&mut s), []);
    s.handle_timeout(at(t0, 30)).unwrap();
    assert_eq!(sent(&mut s), [Message::KeepAlive]);
    assert_eq!(s.poll_timeout(), Some(at(t0, 40)));
    s.handle_timeout(at(t0, 54)).unwrap();
    assert_eq!(
        s.handle_timeout(at(t0, 55)),
        Err(WireError::Timeout(Duration::from_secs(30)))
    );
}

// ----- our requests -----

#[test]
fn choke_without_fast_drops_requests_and_late_blocks_are_reported() {
    let t0 = Instant::now();
    let mut s = unchoked(PLAIN, t0);
    assert_eq!(s.request(t0, block(1, 0)), RequestOutcome::Sent);
    assert_eq!(s.request(t0, block(1, 1)), RequestOutcome::Sent);
    assert_eq!(
        sent(&mut s),
        [
            Message::Request(block(1, 0).spec()),
            Message::Request(block(1, 1).spec())
        ]
    );

    feed(&mut s, t0, &[Message::Choke]).unwrap();
    assert_eq!(
        events(&mut s),
        [PeerEvent::Choked {
            dropped: vec![block(1, 0), block(1, 1)]
        }]
    );
    assert_eq!(s.outstanding_requests().count(), 0);
    assert_eq!(s.request(t0, block(1, 0)), RequestOutcome::Choked);

    // A block that raced the choke is still usable data, reported as late.
    feed(&mut s, t0, &[piece_msg(block(1, 0), 7)]).unwrap();
    assert_eq!(
        events(&mut s),
        [PeerEvent::LateBlock {
            block: block(1, 0),
            data: data(16_384, 7)
        }]
    );
    assert_eq!(s.stats().late_blocks, 1);
}

#[test]
fn choke_with_fast_keeps_requests_until_reject_or_block() {
    let t0 = Instant::now();
    let mut s = unchoked(FAST, t0);
    s.request(t0, block(2, 0));
    s.request(t0, block(2, 1));
    sent(&mut s);
    feed(&mut s, t0, &[Message::Choke]).unwrap();
    assert_eq!(events(&mut s), [PeerEvent::Choked { dropped: vec![] }]);
    assert_eq!(s.outstanding_requests().count(), 2);

    feed(
        &mut s,
        t0,
        &[
            Message::Reject(block(2, 0).spec()),
            piece_msg(block(2, 1), 1),
        ],
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [
            PeerEvent::Rejected(block(2, 0)),
            PeerEvent::Block {
                block: block(2, 1),
                data: data(16_384, 1)
            }
        ]
    );
    assert_eq!(s.outstanding_requests().count(), 0);
    assert_eq!(s.stats().blocks_received, 1);
}

#[test]
fn block_after_cancel_is_late_then_unrequested() {
    let t0 = Instant::now();
    for features in [PLAIN, FAST] {
        let mut s = unchoked(features, t0);
        s.request(t0, block(0, 0));
        assert_eq!(s.cancel(t0, block(0, 0)), CancelOutcome::Sent);
        assert_eq!(s.cancel(t0, block(0, 0)), CancelOutcome::NotPending);
        assert_eq!(
            sent(&mut s),
            [
                Message::Request(block(0, 0).spec()),
                Message::Cancel(block(0, 0).spec())
            ]
        );
        assert_eq!(s.outstanding_requests().count(), 0);
        // With BEP 6 the cancelled request still awaits its answer, so it cannot be re-sent.
        let expected = if features.fast {
            RequestOutcome::AlreadyPending
        } else {
            RequestOutcome::Sent
        };
        let mut probe = unchoked(features, t0);
        probe.request(t0, block(0, 0));
        probe.cancel(t0, block(0, 0));
        assert_eq!(probe.request(t0, block(0, 0)), expected);

        let late = piece_msg(block(0, 0), 3);
        feed(&mut s, t0, &[late.clone(), late]).unwrap();
        assert_eq!(
            events(&mut s),
            [
                PeerEvent::LateBlock {
                    block: block(0, 0),
                    data: data(16_384, 3)
                },
                PeerEvent::UnrequestedBlock { len: 16_384 },
            ],
            "{features:?}"
        );
        assert_eq!(
            (s.stats().late_blocks, s.stats().unrequested_blocks),
            (1, 1)
        );
    }
}

#[test]
fn fast_reject_after_cancel_is_silent() {
    let t0 = Instant::now();
    let mut s = unchoked(FAST, t0);
    s.request(t0, block(4, 1));
    s.cancel(t0, block(4, 1));
    feed(&mut s, t0, &[Message::Reject(block(4, 1).spec())]).unwrap();
    assert_eq!(events(&mut s), []);
    // Now it can be requested again.
    assert_eq!(s.request(t0, block(4, 1)), RequestOutcome::Sent);
}

#[test]
fn unrequested_blocks_are_counted_then_banned() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_unrequested_blocks: 2,
        ..SessionConfig::default()
    };
    let mut s = PeerSession::new(t0, config, PLAIN, Some((geometry(), &empty())));
    let stray = piece_msg(block(9, 0), 0);
    feed(&mut s, t0, &[stray.clone(), stray.clone()]).unwrap();
    assert_eq!(events(&mut s).len(), 2);
    // A block for an index no torrent piece has is just as unrequested.
    let bogus = Message::Piece {
        index: 999,
        begin: 0,
        data: data(10, 0),
    };
    let err = feed(&mut s, t0, &[bogus]).unwrap_err();
    assert_eq!(err, WireError::TooManyUnrequestedBlocks(3));
    assert_eq!(err.action(), ErrorAction::Ban);
}

#[test]
fn request_outcomes() {
    let t0 = Instant::now();
    let mut s = session(FAST, &empty(), t0);
    let mut some = empty();
    some.set(5, true);
    feed(
        &mut s,
        t0,
        &[Message::Bitfield(Bytes::from(some.as_bytes().to_vec()))],
    )
    .unwrap();
    assert_eq!(s.request(t0, block(4, 0)), RequestOutcome::PeerLacksPiece);
    assert_eq!(s.request(t0, block(5, 0)), RequestOutcome::Choked);
    let bad = BlockRange {
        piece: piece(5),
        offset: 30_000,
        len: 16_384,
    };
    assert_eq!(s.request(t0, bad), RequestOutcome::Invalid);
    // Allowed fast lets us request while choked.
    feed(&mut s, t0, &[Message::AllowedFast(5)]).unwrap();
    assert_eq!(
        s.allowed_fast().iter().copied().collect::<Vec<_>>(),
        [piece(5)]
    );
    assert_eq!(s.request(t0, block(5, 0)), RequestOutcome::Sent);
    assert_eq!(s.request(t0, block(5, 0)), RequestOutcome::AlreadyPending);

    let mut magnet = PeerSession::new(t0, SessionConfig::default(), FAST, None);
    assert_eq!(magnet.request(t0, block(5, 0)), RequestOutcome::NoMetadata);
}

// ----- the peer's requests -----

#[test]
fn peer_requests_while_choked_are_dropped_or_rejected() {
    let t0 = Instant::now();
    let req = Message::Request(block(0, 0).spec());
    let mut plain = session(PLAIN, &Bitfield::full(10), t0);
    sent(&mut plain);
    feed(&mut plain, t0, std::slice::from_ref(&req)).unwrap();
    assert_eq!((events(&mut plain), sent(&mut plain)), (vec![], vec![]));

    let mut fast = session(FAST, &Bitfield::full(10), t0);
    sent(&mut fast);
    feed(&mut fast, t0, std::slice::from_ref(&req)).unwrap();
    assert_eq!(events(&mut fast), []);
    assert_eq!(sent(&mut fast), [Message::Reject(block(0, 0).spec())]);
    assert_eq!(fast.stats().requests_refused, 1);

    // Allowed-fast pieces are served while choked.
    assert_eq!(fast.allow_fast(t0, piece(0)), SendOutcome::Sent);
    feed(&mut fast, t0, &[req]).unwrap();
    assert_eq!(events(&mut fast), [PeerEvent::Request(block(0, 0))]);
    assert_eq!(plain.allow_fast(t0, piece(0)), SendOutcome::NotNegotiated);
}

#[test]
fn serve_cancel_and_refuse() {
    let t0 = Instant::now();
    for features in [PLAIN, FAST] {
        let mut s = session(features, &Bitfield::full(10), t0);
        s.unchoke(t0);
        sent(&mut s);
        let reqs: Vec<Message> = (0..3)
            .map(|n| Message::Request(block(3, n % 2).spec()))
            .collect();
        feed(&mut s, t0, &reqs).unwrap();
        // The duplicate third request is not reported twice.
        assert_eq!(
            events(&mut s),
            [
                PeerEvent::Request(block(3, 0)),
                PeerEvent::Request(block(3, 1))
            ]
        );

        assert_eq!(
            s.send_piece(t0, block(3, 0), data(100, 0)),
            ServeOutcome::WrongLength
        );
        assert_eq!(
            s.send_piece(t0, block(3, 0), data(16_384, 9)),
            ServeOutcome::Sent
        );
        assert_eq!(
            s.send_piece(t0, block(3, 0), data(16_384, 9)),
            ServeOutcome::NotRequested
        );
        assert_eq!(sent(&mut s), [piece_msg(block(3, 0), 9)]);

        feed(&mut s, t0, &[Message::Cancel(block(3, 1).spec())]).unwrap();
        assert_eq!(events(&mut s), [PeerEvent::Cancel(block(3, 1))]);
        let answer: Vec<Message> = if features.fast {
            vec![Message::Reject(block(3, 1).spec())]
        } else {
            vec![]
        };
        assert_eq!(sent(&mut s), answer, "cancel answered exactly once");
        assert_eq!(
            s.send_piece(t0, block(3, 1), data(16_384, 0)),
            ServeOutcome::NotRequested
        );

        feed(&mut s, t0, &[Message::Request(block(7, 0).spec())]).unwrap();
        events(&mut s);
        let expected = if features.fast {
            RefuseOutcome::Rejected
        } else {
            RefuseOutcome::Forgotten
        };
        assert_eq!(s.refuse_request(t0, block(7, 0)), expected);
        assert_eq!(
            s.refuse_request(t0, block(7, 0)),
            RefuseOutcome::NotRequested
        );
        assert_eq!(s.stats().blocks_sent, 1);
    }
}

#[test]
fn our_choke_voids_peer_requests() {
    let t0 = Instant::now();
    let mut s = session(FAST, &Bitfield::full(10), t0);
    s.allow_fast(t0, piece(1));
    s.unchoke(t0);
    feed(
        &mut s,
        t0,
        &[
            Message::Request(block(0, 0).spec()),
            Message::Request(block(1, 0).spec()),
        ],
    )
    .unwrap();
    sent(&mut s);
    s.choke(t0);
    assert_eq!(
        sent(&mut s),
        [Message::Choke, Message::Reject(block(0, 0).spec())]
    );
    assert_eq!(
        s.peer_requests().iter().copied().collect::<Vec<_>>(),
        [block(1, 0)]
    );
    assert_eq!(
        s.send_piece(t0, block(0, 0), data(16_384, 0)),
        ServeOutcome::NotRequested
    );
    assert_eq!(
        s.send_piece(t0, block(1, 0), data(16_384, 0)),
        ServeOutcome::Sent
    );
}

#[test]
fn peer_request_queue_is_capped() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_peer_requests: 3,
        ..SessionConfig::default()
    };
    let mut s = PeerSession::new(t0, config, FAST, Some((geometry(), &Bitfield::full(10))));
    s.unchoke(t0);
    sent(&mut s);
    let reqs: Vec<Message> = (0..5)
        .map(|p| Message::Request(block(p, 0).spec()))
        .collect();
    feed(&mut s, t0, &reqs).unwrap();
    assert_eq!(events(&mut s).len(), 3);
    assert_eq!(
        sent(&mut s),
        [
            Message::Reject(block(3, 0).spec()),
            Message::Reject(block(4, 0).spec())
        ]
    );
}

// ----- malformed input closes the session -----

fn expect_error(features: Features, msgs: &[Message], expected: WireError) {
    let t0 = Instant::now();
    let mut s = session(features, &Bitfield::full(10), t0);
    assert_eq!(feed(&mut s, t0, msgs), Err(expected.clone()), "{msgs:?}");
    assert_eq!(s.closed(), Some(&expected));
}

#[test]
fn out_of_range_indices() {
    let oob = WireError::PieceOutOfRange {
        index: 10,
        piece_count: 10,
    };
    expect_error(PLAIN, &[Message::Have(10)], oob.clone());
    let spec = BlockSpec {
        index: 10,
        begin: 0,
        length: 16_384,
    };
    expect_error(PLAIN, &[Message::Request(spec)], oob.clone());
    expect_error(PLAIN, &[Message::Cancel(spec)], oob.clone());
    expect_error(FAST, &[Message::Suggest(10)], oob.clone());
    expect_error(FAST, &[Message::AllowedFast(10)], oob);
    for (begin, length) in [(16_385, 16_384), (0, 32_768), (0, 0), (u32::MAX, 2)] {
        let spec = BlockSpec {
            index: 0,
            begin,
            length,
        };
        expect_error(
            PLAIN,
            &[Message::Request(spec)],
            WireError::BadBlockRange {
                index: 0,
                begin,
                length,
            },
        );
    }
}

#[test]
fn bad_bitfields() {
    let bits = |b: &'static [u8]| Message::Bitfield(Bytes::from_static(b));
    expect_error(
        PLAIN,
        &[bits(&[0xff])],
        WireError::BitfieldLength {
            got: 1,
            expected: 2,
        },
    );
    expect_error(
        PLAIN,
        &[bits(&[0xff, 0xff, 0])],
        WireError::BitfieldLength {
            got: 3,
            expected: 2,
        },
    );
    expect_error(PLAIN, &[bits(&[0xff, 0xe0])], WireError::BitfieldSpareBits);
    // A late bitfield is still checked.
    expect_error(
        PLAIN,
        &[Message::Interested, bits(&[0xff, 0xe0])],
        WireError::BitfieldSpareBits,
    );
}

#[test]
fn a_late_piece_set_adds_pieces_as_haves() {
    // aria2 sends a bitfield mid-connection instead of several HAVEs, and have-all once
    // complete; neither can take a piece away.
    let t0 = Instant::now();
    let bits = |b: &'static [u8]| Message::Bitfield(Bytes::from_static(b));
    let mut s = session(FAST, &empty(), t0);
    feed(
        &mut s,
        t0,
        &[
            Message::HaveNone,
            Message::Have(1),
            bits(&[0b0110_0000, 0]),
            Message::HaveNone,
        ],
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        vec![
            PeerEvent::Bitfield(Bitfield::new(10)),
            PeerEvent::Have(piece(1)),
            PeerEvent::Have(piece(2)),
        ]
    );
    feed(&mut s, t0, &[Message::Unchoke, Message::HaveAll]).unwrap();
    let haves = events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, PeerEvent::Have(_)))
        .count();
    assert_eq!(haves, 8, "pieces 0 and 3..=9 are new");
    assert!(s.peer_pieces().is_some_and(Bitfield::is_full));
}

#[test]
fn bitfield_may_follow_keep_alive_port_and_extension_handshake() {
    let t0 = Instant::now();
    let mut s = session(FAST, &empty(), t0);
    let ext = Message::Extended {
        id: 0,
        payload: Bytes::from(ExtHandshake::default().encode()),
    };
    feed(
        &mut s,
        t0,
        &[
            Message::KeepAlive,
            ext,
            Message::Port(6881),
            Message::HaveAll,
        ],
    )
    .unwrap();
    let evs = events(&mut s);
    assert_eq!(evs.last(), Some(&PeerEvent::Bitfield(Bitfield::full(10))));
    assert!(s.peer_pieces().is_some_and(Bitfield::is_full));
}

#[test]
fn fast_and_extension_messages_need_negotiation() {
    let spec = block(0, 0).spec();
    let cases = [
        (Message::HaveAll, id::HAVE_ALL),
        (Message::HaveNone, id::HAVE_NONE),
        (Message::Suggest(1), id::SUGGEST),
        (Message::Reject(spec), id::REJECT),
        (Message::AllowedFast(1), id::ALLOWED_FAST),
    ];
    for (msg, msg_id) in cases {
        expect_error(PLAIN, &[msg], WireError::FastNotNegotiated(msg_id));
    }
    let ext = Message::Extended {
        id: 1,
        payload: Bytes::new(),
    };
    expect_error(PLAIN, &[ext], WireError::ExtendedNotNegotiated);
    let bad_hs = Message::Extended {
        id: 0,
        payload: Bytes::from_static(b"i3e"),
    };
    expect_error(
        FAST,
        &[bad_hs],
        WireError::BadExtHandshake("not a dictionary".into()),
    );
}

#[test]
fn codec_errors_close_the_session() {
    let t0 = Instant::now();
    let mut s = session(PLAIN, &empty(), t0);
    let err = s.handle_bytes(t0, &[0xff, 0xff, 0xff, 0xff]).unwrap_err();
    assert!(matches!(
        err,
        WireError::FrameTooLarge { len: u32::MAX, .. }
    ));
    let mut s = session(PLAIN, &empty(), t0);
    assert_eq!(
        s.handle_bytes(t0, &[0, 0, 0, 1, 42]),
        Err(WireError::UnknownMessage(42))
    );
    let mut s = session(PLAIN, &empty(), t0);
    assert_eq!(
        s.handle_bytes(t0, &[0, 0, 0, 6, 4]),
        Err(WireError::BadLength { id: 4, len: 6 })
    );
}

#[test]
fn events_before_an_error_survive_it() {
    let t0 = Instant::now();
    let mut s = session(PLAIN, &empty(), t0);
    let mut wire = Message::Interested.to_vec();
    wire.extend_from_slice(&[0, 0, 0, 1, 99]);
    assert_eq!(
        s.handle_bytes(t0, &wire),
        Err(WireError::UnknownMessage(99))
    );
    assert_eq!(events(&mut s), [PeerEvent::Interested]);
}

// ----- state flags and extensions -----

#[test]
fn state_flags_change_once() {
    let t0 = Instant::now();
    let mut s = session(PLAIN, &empty(), t0);
    let msgs = [
        Message::Interested,
        Message::Interested,
        Message::Unchoke,
        Message::Unchoke,
        Message::NotInterested,
        Message::Choke,
        Message::Choke,
        Message::Have(2),
        Message::Have(2),
    ];
    feed(&mut s, t0, &msgs).unwrap();
    assert_eq!(
        events(&mut s),
        [
            PeerEvent::Interested,
            PeerEvent::Unchoked,
            PeerEvent::NotInterested,
            PeerEvent::Choked { dropped: vec![] },
            PeerEvent::Have(piece(2)),
        ]
    );
    assert!(s.peer_choking() && !s.peer_interested());
    s.send_interested(t0);
    s.send_interested(t0);
    s.unchoke(t0);
    s.choke(t0);
    s.choke(t0);
    assert_eq!(
        sent(&mut s),
        [Message::Interested, Message::Unchoke, Message::Choke]
    );
    assert!(s.am_interested() && s.am_choking());
}

#[test]
fn extension_ids_merge_additively() {
    let t0 = Instant::now();
    let mut s = session(FAST, &empty(), t0);
    let hs = |m: &[(&str, u8)]| {
        let h = ExtHandshake {
            m: m.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Default::default()
        };
        Message::Extended {
            id: 0,
            payload: Bytes::from(h.encode()),
        }
    };
    feed(&mut s, t0, &[hs(&[("ut_metadata", 3), ("ut_pex", 1)])]).unwrap();
    assert_eq!(s.peer_extension_id("ut_metadata"), Some(3));
    feed(&mut s, t0, &[hs(&[("ut_pex", 0), ("lt_donthave", 7)])]).unwrap();
    assert_eq!(s.peer_extension_id("ut_metadata"), Some(3));
    assert_eq!(s.peer_extension_id("ut_pex"), None);
    assert_eq!(s.peer_extension_id("lt_donthave"), Some(7));
    assert_eq!(events(&mut s).len(), 2);

    feed(
        &mut s,
        t0,
        &[Message::Extended {
            id: 3,
            payload: Bytes::from_static(b"xyz"),
        }],
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [PeerEvent::Extended {
            id: 3,
            payload: Bytes::from_static(b"xyz")
        }]
    );
    assert_eq!(
        s.send_extended(t0, 3, Bytes::from_static(b"hi")),
        SendOutcome::Sent
    );
    let too_big = Bytes::from(vec![0; crate::codec::MAX_EXTENDED_LEN as usize + 1]);
    assert_eq!(s.send_extended(t0, 3, too_big), SendOutcome::TooLarge);
    assert_eq!(
        sent(&mut s).last(),
        Some(&Message::Extended {
            id: 3,
            payload: Bytes::from_static(b"hi")
        })
    );
}

// ----- metadata arriving late (magnet links) -----

#[test]
fn pieces_announced_before_metadata_are_validated_later() {
    let t0 = Instant::now();
    let mut s = PeerSession::new(t0, SessionConfig::default(), FAST, None);
    let bits = Message::Bitfield(Bytes::from_static(&[0x80, 0x00]));
    feed(
        &mut s,
        t0,
        &[
            bits,
            Message::Have(9),
            Message::Suggest(3),
            Message::AllowedFast(4),
        ],
    )
    .unwrap();
    assert_eq!(events(&mut s), [], "nothing can be validated yet");
    assert_eq!(s.peer_pieces(), None);
    // A request before metadata cannot be served.
    feed(&mut s, t0, &[Message::Request(block(0, 0).spec())]).unwrap();
    assert_eq!(
        sent(&mut s),
        [Message::HaveNone, Message::Reject(block(0, 0).spec())]
    );

    s.set_geometry(geometry()).unwrap();
    let Some(PeerEvent::Bitfield(b)) = s.poll_event() else {
        panic!("no bitfield event")
    };
    assert_eq!(b.iter_ones().collect::<Vec<_>>(), [0, 9]);
    feed(&mut s, t0, &[Message::Have(5)]).unwrap();
    assert_eq!(events(&mut s), [PeerEvent::Have(piece(5))]);

    let mut bad = PeerSession::new(t0, SessionConfig::default(), PLAIN, None);
    feed(&mut bad, t0, &[Message::Have(12)]).unwrap();
    assert_eq!(
        bad.set_geometry(geometry()),
        Err(WireError::PieceOutOfRange {
            index: 12,
            piece_count: 10
        })
    );
    assert!(bad.closed().is_some());
}

// ----- two sessions back to back -----

/// Moves everything each side queued to the other side.
fn pump(a: &mut PeerSession, b: &mut PeerSession, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(chunk) = a.poll_transmit() {
            b.handle_bytes(now, &chunk).unwrap();
            moved = true;
        }
        while let Some(chunk) = b.poll_transmit() {
            a.handle_bytes(now, &chunk).unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

fn content(block: BlockRange) -> Bytes {
    let seed = (block.piece.get() * 2 + block.offset / 16_384) as u8;
    Bytes::from(
        (0..block.len)
            .map(|i| seed.wrapping_add(i as u8))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn seeder_and_leecher_back_to_back() {
    for features in [PLAIN, FAST] {
        let t0 = Instant::now();
        let mut seed = session(features, &Bitfield::full(10), t0);
        let mut leech = session(features, &empty(), t0);
        if features.extension_protocol {
            let ours = ExtHandshake {
                m: [("ut_pex".to_string(), 2)].into(),
                reqq: Some(500),
                ..Default::default()
            };
            assert_eq!(seed.send_ext_handshake(t0, &ours), SendOutcome::Sent);
        }
        pump(&mut seed, &mut leech, t0);

        let seed_events = events(&mut seed);
        let expected: Vec<PeerEvent> = if features.fast {
            vec![PeerEvent::Bitfield(empty())]
        } else {
            vec![]
        };
        assert_eq!(
            seed_events, expected,
            "have-none only with the fast extension"
        );
        let leech_events = events(&mut leech);
        assert!(
            leech_events.contains(&PeerEvent::Bitfield(Bitfield::full(10))),
            "{features:?}"
        );
        assert_eq!(
            leech.peer_extension_id("ut_pex"),
            features.extension_protocol.then_some(2)
        );
        leech.send_interested(t0);
        pump(&mut seed, &mut leech, t0);
        assert_eq!(events(&mut seed), [PeerEvent::Interested]);
        seed.unchoke(t0);
        pump(&mut seed, &mut leech, t0);
        assert_eq!(events(&mut leech), [PeerEvent::Unchoked]);

        let blocks: Vec<BlockRange> = (0..10).flat_map(|p| [block(p, 0), block(p, 1)]).collect();
        for b in &blocks {
            assert_eq!(leech.request(t0, *b), RequestOutcome::Sent);
        }
        pump(&mut seed, &mut leech, t0);
        for ev in events(&mut seed) {
            let PeerEvent::Request(b) = ev else {
                panic!("unexpected {ev:?}")
            };
            assert_eq!(seed.send_piece(t0, b, content(b)), ServeOutcome::Sent);
        }
        pump(&mut seed, &mut leech, t0);
        let got: Vec<(BlockRange, Bytes)> = events(&mut leech)
            .into_iter()
            .map(|ev| match ev {
                PeerEvent::Block { block, data } => (block, data),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let want: Vec<(BlockRange, Bytes)> = blocks.iter().map(|b| (*b, content(*b))).collect();
        assert_eq!(got, want);
        assert_eq!(leech.outstanding_requests().count(), 0);
        assert_eq!(seed.stats().block_bytes_sent, 10 * 32_768);
        assert_eq!(leech.stats().block_bytes_received, 10 * 32_768);

        leech.have(t0, piece(0));
        pump(&mut seed, &mut leech, t0);
        // The seeder already knew the leecher lacked it; now it is announced.
        assert_eq!(events(&mut seed), [PeerEvent::Have(piece(0))]);
    }
}

// ----- scripted random peers -----

mod scripted {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::strategies::arb_peer_message;

    /// Ten pieces of 2 KiB, 1 KiB blocks: small enough that random indices hit real blocks.
    fn small() -> PieceGeometry {
        PieceGeometry::new(10 * 2048, 2048).unwrap()
    }

    fn small_block(p: u32, n: u32) -> BlockRange {
        BlockRange {
            piece: small().piece(p % 10).unwrap(),
            offset: (n % 2) * 1024,
            len: 1024,
        }
    }

    #[derive(Clone, Debug)]
    enum Step {
        Peer(Message),
        /// Well-formed peer messages about real blocks, so scripts get past the opening.
        PeerBlock(u32, u32),
        PeerRequest(u32, u32),
        PeerCancel(u32, u32),
        PeerUnchoke,
        Request(u32, u32),
        Cancel(u32, u32),
        Serve(u32, u32),
        Refuse(u32, u32),
        Choke,
        Unchoke,
        AllowFast(u32),
        Wait(u64),
        LearnGeometry,
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            2 => arb_peer_message().prop_map(Step::Peer),
            4 => (0u32..10, 0u32..2).prop_map(|(p, n)| Step::PeerBlock(p, n)),
            2 => (0u32..10, 0u32..2).prop_map(|(p, n)| Step::PeerRequest(p, n)),
            1 => (0u32..10, 0u32..2).prop_map(|(p, n)| Step::PeerCancel(p, n)),
            2 => Just(Step::PeerUnchoke),
            3 => (0u32..10, 0u32..2).prop_map(|(p, n)| Step::Request(p, n)),
            1 => (0u32..10, 0u32..2).prop_map(|(p, n)| Step::Cancel(p, n)),
            1 => (0u32..10, 0u32..2).prop_map(|(p, n)| Step::Serve(p, n)),
            1 => (0u32..10, 0u32..2).prop_map(|(p, n)| Step::Refuse(p, n)),
            1 => Just(Step::Choke),
            1 => Just(Step::Unchoke),
            1 => (0u32..10).prop_map(Step::AllowFast),
            1 => (0u64..90).prop_map(Step::Wait),
            1 => Just(Step::LearnGeometry),
        ]
    }

    proptest! {
        /// Whatever a peer sends, in whatever order, mixed with our commands: no panic, the
        /// debug invariants hold after every step, blocks are reported as wanted only if we
        /// requested and did not give them up, and everything we transmit is well-formed.
        #[test]
        fn random_peer_never_breaks_the_session(
            fast in any::<bool>(),
            ext in any::<bool>(),
            metadata_known in any::<bool>(),
            steps in proptest::collection::vec(arb_step(), 1..80),
        ) {
            let features = Features { fast, extension_protocol: ext, dht: false };
            let t0 = Instant::now();
            let ours = Bitfield::full(10);
            let torrent = metadata_known.then(|| (small(), &ours));
            let mut s = PeerSession::new(t0, SessionConfig::default(), features, torrent);
            // The peer opens like a seed would, so later steps can exercise transfers.
            let opening = Message::Bitfield(Bytes::from(ours.as_bytes().to_vec()));
            s.handle_bytes(t0, &opening.to_vec()).expect("valid opening");
            let mut now = t0;
            let mut live: BTreeSet<BlockRange> = BTreeSet::new();
            let mut given_up: BTreeSet<BlockRange> = BTreeSet::new();
            let mut wire = BytesMut::new();

            for step in steps {
                let result = match step {
                    Step::Peer(msg) => s.handle_bytes(now, &msg.to_vec()),
                    Step::PeerBlock(p, n) => {
                        let b = small_block(p, n);
                        let msg = Message::Piece {
                            index: b.piece.get(),
                            begin: b.offset,
                            data: Bytes::from(vec![2u8; 1024]),
                        };
                        s.handle_bytes(now, &msg.to_vec())
                    }
                    Step::PeerRequest(p, n) => {
                        s.handle_bytes(now, &Message::Request(small_block(p, n).spec()).to_vec())
                    }
                    Step::PeerCancel(p, n) => {
                        s.handle_bytes(now, &Message::Cancel(small_block(p, n).spec()).to_vec())
                    }
                    Step::PeerUnchoke => s.handle_bytes(now, &Message::Unchoke.to_vec()),
                    Step::Request(p, n) => {
                        if s.request(now, small_block(p, n)) == RequestOutcome::Sent {
                            live.insert(small_block(p, n));
                        }
                        Ok(())
                    }
                    Step::Cancel(p, n) => {
                        if s.cancel(now, small_block(p, n)) == CancelOutcome::Sent {
                            live.remove(&small_block(p, n));
                            given_up.insert(small_block(p, n));
                        }
                        Ok(())
                    }
                    Step::Serve(p, n) => {
                        s.send_piece(now, small_block(p, n), Bytes::from(vec![1u8; 1024]));
                        Ok(())
                    }
                    Step::Refuse(p, n) => {
                        s.refuse_request(now, small_block(p, n));
                        Ok(())
                    }
                    Step::Choke => {
                        s.choke(now);
                        Ok(())
                    }
                    Step::Unchoke => {
                        s.unchoke(now);
                        Ok(())
                    }
                    Step::AllowFast(p) => {
                        s.allow_fast(now, small().piece(p).unwrap());
                        Ok(())
                    }
                    Step::Wait(secs) => {
                        now += Duration::from_secs(secs);
                        s.handle_timeout(now)
                    }
                    Step::LearnGeometry => s.set_geometry(small()),
                };
                while let Some(ev) = s.poll_event() {
                    match ev {
                        PeerEvent::Block { block, data } => {
                            prop_assert!(live.remove(&block), "unrequested block {:?}", block);
                            prop_assert_eq!(data.len(), block.len as usize);
                        }
                        PeerEvent::LateBlock { block, .. } => {
                            prop_assert!(given_up.contains(&block), "late but never given up");
                        }
                        PeerEvent::Rejected(block) => prop_assert!(live.remove(&block)),
                        PeerEvent::Choked { dropped } => {
                            for b in dropped {
                                prop_assert!(live.remove(&b));
                                given_up.insert(b);
                            }
                        }
                        _ => {}
                    }
                }
                prop_assert_eq!(s.outstanding_requests().collect::<BTreeSet<_>>(), live.clone());
                while let Some(chunk) = s.poll_transmit() {
                    wire.extend_from_slice(&chunk);
                }
                if let Err(e) = result {
                    prop_assert_eq!(s.closed(), Some(&e));
                    prop_assert_eq!(s.poll_timeout(), None);
                    prop_assert_eq!(s.handle_bytes(now, &[0, 0, 0, 0]), Err(e));
                    break;
                }
            }
            while let Some(msg) = codec::decode_from(&mut wire).expect("we only send valid frames") {
                let _ = msg;
            }
            prop_assert!(wire.is_empty());
        }
    }
}
