//! Tests of the ut_metadata codec, server and fetcher. The fetcher runs against scripted
//! peers in a small in-memory harness: every request goes through the codec, is answered by a
//! [`MetadataServer`] (or a scripted liar), and comes back through the codec.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use shoal_core::metainfo::Metainfo;
use shoal_core::{InfoHash, InfoHashV1, InfoHashV2};

use super::*;
use crate::ExtAction;

// ----- codec -----

#[test]
fn bep9_examples() {
    let req = Bytes::from_static(b"d8:msg_typei0e5:piecei0ee");
    assert_eq!(
        MetadataMessage::decode(&req),
        Ok(MetadataMessage::Request { piece: 0 })
    );
    assert_eq!(MetadataMessage::Request { piece: 0 }.encode(), req);

    let mut data = b"d8:msg_typei1e5:piecei0e10:total_sizei34256ee".to_vec();
    data.extend(std::iter::repeat_n(b'x', 16384));
    let msg = MetadataMessage::decode(&Bytes::from(data.clone())).unwrap();
    assert_eq!(
        msg,
        MetadataMessage::Data {
            piece: 0,
            total_size: 34256,
            data: Bytes::from(vec![b'x'; 16384])
        }
    );
    assert_eq!(msg.encode(), data);

    let rej = Bytes::from_static(b"d8:msg_typei2e5:piecei3ee");
    assert_eq!(
        MetadataMessage::decode(&rej),
        Ok(MetadataMessage::Reject { piece: 3 })
    );
    assert_eq!(MetadataMessage::Reject { piece: 3 }.encode(), rej);
}

#[test]
fn data_shares_the_payload_buffer() {
    let msg = MetadataMessage::Data {
        piece: 1,
        total_size: 20000,
        data: Bytes::from(vec![9u8; 20000 - 16384]),
    };
    let wire = msg.encode();
    let MetadataMessage::Data { data, .. } = MetadataMessage::decode(&wire).unwrap() else {
        panic!("not data");
    };
    assert_eq!(data.as_ptr(), wire[wire.len() - data.len()..].as_ptr());
}

fn arb_metadata_message() -> impl Strategy<Value = MetadataMessage> {
    let data = (1u32..80_000)
        .prop_flat_map(|total| {
            (
                Just(total),
                0..total.div_ceil(METADATA_PIECE_LEN),
                any::<u8>(),
            )
        })
        .prop_map(|(total, piece, fill)| {
            let size = MetadataSize::new(u64::from(total)).unwrap();
            let len = size.piece_len(size.piece(piece).unwrap());
            MetadataMessage::Data {
                piece,
                total_size: total,
                data: Bytes::from(vec![fill; len]),
            }
        });
    prop_oneof![
        (0..MAX_METADATA_PIECES).prop_map(|piece| MetadataMessage::Request { piece }),
        (0..MAX_METADATA_PIECES).prop_map(|piece| MetadataMessage::Reject { piece }),
        data,
    ]
}

proptest! {
    #[test]
    fn messages_round_trip(msg in arb_metadata_message()) {
        let wire = msg.encode();
        prop_assert!(wire.len() <= MAX_MESSAGE_LEN);
        prop_assert_eq!(MetadataMessage::decode(&wire), Ok(msg.clone()));
        // Every strict prefix is an error (a dictionary cut short, or data one byte short),
        // never a panic and never a different message.
        for cut in [0, 1, wire.len() / 2, wire.len() - 1] {
            prop_assert!(MetadataMessage::decode(&wire.slice(..cut)).is_err());
        }
        // So is any extra byte.
        let mut longer = wire.to_vec();
        longer.push(0);
        prop_assert!(MetadataMessage::decode(&Bytes::from(longer)).is_err());
    }

    #[test]
    fn arbitrary_payloads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(msg) = MetadataMessage::decode(&Bytes::from(data)) {
            prop_assert_eq!(MetadataMessage::decode(&msg.encode()), Ok(msg));
        }
    }
}

#[test]
fn malformed_messages_are_errors() {
    use MetadataError as E;
    let with_data = |dict: &str, len: usize| {
        let mut v = dict.as_bytes().to_vec();
        v.resize(v.len() + len, 7);
        Bytes::from(v)
    };
    let cases: Vec<(Bytes, MetadataError)> = vec![
        (
            Bytes::from_static(b"li1ee"),
            E::NotADict("not a dictionary".into()),
        ),
        (Bytes::from_static(b"d5:piecei0ee"), E::BadField("msg_type")),
        (
            Bytes::from_static(b"d8:msg_type1:05:piecei0ee"),
            E::BadField("msg_type"),
        ),
        (Bytes::from_static(b"d8:msg_typei0ee"), E::BadField("piece")),
        (
            Bytes::from_static(b"d8:msg_typei0e5:piecei-1ee"),
            E::BadField("piece"),
        ),
        (
            Bytes::from_static(b"d8:msg_typei0e5:piece1:0e"),
            E::BadField("piece"),
        ),
        (
            Bytes::from_static(b"d8:msg_typei3e5:piecei0ee"),
            E::UnknownType(3),
        ),
        (
            Bytes::from_static(b"d8:msg_typei-1e5:piecei0ee"),
            E::UnknownType(-1),
        ),
        (
            Bytes::from_static(b"d8:msg_typei0e5:piecei1024ee"),
            E::PieceOutOfRange {
                piece: 1024,
                piece_count: MAX_METADATA_PIECES,
            },
        ),
        (
            Bytes::from_static(b"d8:msg_typei2e5:piecei99999999999ee"),
            E::PieceOutOfRange {
                piece: 99_999_999_999,
                piece_count: MAX_METADATA_PIECES,
            },
        ),
        (
            Bytes::from_static(b"d8:msg_typei0e5:piecei0eexyz"),
            E::TrailingBytes(3),
        ),
        (
            with_data("d8:msg_typei1e5:piecei0ee", 10),
            E::BadField("total_size"),
        ),
        (
            with_data("d8:msg_typei1e5:piecei0e10:total_sizei0ee", 0),
            E::SizeOutOfRange(0),
        ),
        (
            with_data("d8:msg_typei1e5:piecei0e10:total_sizei16777217ee", 16384),
            E::SizeOutOfRange(16_777_217),
        ),
        (
            with_data("d8:msg_typei1e5:piecei2e10:total_sizei32768ee", 16384),
            E::PieceOutOfRange {
                piece: 2,
                piece_count: 2,
            },
        ),
        (
            with_data("d8:msg_typei1e5:piecei1e10:total_sizei20000ee", 3615),
            E::BadDataLength {
                piece: 1,
                len: 3615,
                expected: 3616,
            },
        ),
        (
            with_data("d8:msg_typei1e5:piecei0e10:total_sizei20000ee", 16385),
            E::BadDataLength {
                piece: 0,
                len: 16385,
                expected: 16384,
            },
        ),
    ];
    for bad in [&b""[..], b"d", b"d8:msg_type", b"i1e", b"\xff"] {
        let err = MetadataMessage::decode(&Bytes::copy_from_slice(bad)).unwrap_err();
        assert!(matches!(err, E::NotADict(_)), "{err:?}");
        assert_eq!(err.action(), ExtAction::Disconnect);
    }
    let huge = with_data(
        "d8:msg_typei1e5:piecei0e10:total_sizei99999999ee",
        16384 + 1024,
    );
    assert_eq!(
        MetadataMessage::decode(&huge),
        Err(E::TooLarge {
            len: huge.len(),
            cap: MAX_MESSAGE_LEN
        })
    );
    for (payload, expected) in cases {
        let got = MetadataMessage::decode(&payload);
        assert_eq!(
            got,
            Err(expected.clone()),
            "{:?}",
            String::from_utf8_lossy(&payload)
        );
        let action = if matches!(expected, E::UnknownType(_)) {
            ExtAction::IgnoreMessage
        } else {
            ExtAction::Disconnect
        };
        assert_eq!(expected.action(), action);
    }
}

#[test]
fn sizes_and_pieces() {
    assert!(MetadataSize::new(0).is_err());
    assert!(MetadataSize::new(u64::from(MAX_METADATA_SIZE) + 1).is_err());
    assert!(MetadataSize::new(u64::MAX).is_err());
    let max = MetadataSize::new(u64::from(MAX_METADATA_SIZE)).unwrap();
    assert_eq!(max.piece_count(), MAX_METADATA_PIECES);
    let one = MetadataSize::new(1).unwrap();
    assert_eq!(
        (one.piece_count(), one.piece_len(one.piece(0).unwrap())),
        (1, 1)
    );
    let s = MetadataSize::new(2 * 16384 + 5).unwrap();
    assert_eq!(s.piece_count(), 3);
    let lens: Vec<usize> = s.pieces().map(|p| s.piece_len(p)).collect();
    assert_eq!(lens, [16384, 16384, 5]);
    assert_eq!(s.piece(3), None);
    let exact = MetadataSize::new(2 * 16384).unwrap();
    assert_eq!(exact.piece_count(), 2);
    assert_eq!(exact.piece_len(exact.piece(1).unwrap()), 16384);
}

// ----- server -----

#[test]
fn server_answers_every_piece_and_rejects_the_rest() {
    let info: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let server = MetadataServer::new(Bytes::from(info.clone())).unwrap();
    assert_eq!(server.size().get(), 40_000);
    let mut joined = Vec::new();
    for piece in 0..3 {
        let MetadataMessage::Data {
            piece: p,
            total_size,
            data,
        } = server.answer(piece)
        else {
            panic!("piece {piece} not served");
        };
        assert_eq!((p, total_size), (piece, 40_000));
        // What we send is what a peer accepts.
        let wire = MetadataMessage::Data {
            piece,
            total_size,
            data: data.clone(),
        }
        .encode();
        assert!(MetadataMessage::decode(&wire).is_ok());
        joined.extend_from_slice(&data);
    }
    assert_eq!(joined, info);
    for piece in [3, 1023, u32::MAX] {
        assert_eq!(server.answer(piece), MetadataMessage::Reject { piece });
    }
    assert_eq!(
        server.respond(&MetadataMessage::Request { piece: 9 }),
        Some(MetadataMessage::Reject { piece: 9 })
    );
    assert_eq!(server.respond(&MetadataMessage::Reject { piece: 0 }), None);
    assert!(MetadataServer::new(Bytes::new()).is_err());
    assert!(MetadataServer::new(Bytes::from(vec![0u8; MAX_METADATA_SIZE as usize + 1])).is_err());
}

// ----- fetcher harness -----

fn fixture_info() -> (Bytes, InfoHash) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/rqbit/ubuntu-21.04-live-server-amd64.iso.torrent"
    );
    let m = Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap();
    (Bytes::copy_from_slice(m.info_bytes()), m.info_hash())
}

/// How a scripted peer answers requests.
#[derive(Clone, Debug)]
enum Peer {
    Honest,
    /// Flips a byte in the listed pieces; honest otherwise.
    Corrupts(Vec<u32>),
    /// Serves garbage of the right length for the size it announced (not the real one).
    WrongSize(u32),
    /// Rejects every request.
    Rejects,
    /// Never answers.
    Silent,
}

struct Sim {
    fetcher: MetadataFetcher<u8>,
    server: MetadataServer,
    peers: BTreeMap<u8, Peer>,
    /// Requests sent and not answered yet, in order.
    wire: VecDeque<(u8, MetadataPiece)>,
    /// Every request ever made, with the round it was made in.
    log: Vec<(u8, u32, usize)>,
    /// Data the fetcher accepted: (peer, piece).
    delivered: Vec<(u8, u32)>,
    events: Vec<FetchEvent<u8>>,
    now: Instant,
}

impl Sim {
    fn new(info: &Bytes, hash: InfoHash) -> Self {
        Sim {
            fetcher: MetadataFetcher::new(hash, FetcherConfig::default()),
            server: MetadataServer::new(info.clone()).unwrap(),
            peers: BTreeMap::new(),
            wire: VecDeque::new(),
            log: Vec::new(),
            delivered: Vec::new(),
            events: Vec::new(),
            now: Instant::now(),
        }
    }

    fn add(&mut self, id: u8, peer: Peer) {
        let size = match peer {
            Peer::WrongSize(size) => size,
            _ => self.server.size().get(),
        };
        self.fetcher.add_peer(id, u64::from(size)).unwrap();
        self.peers.insert(id, peer);
    }

    /// Round-robin over peers until nobody gets another request.
    fn request_all(&mut self) {
        loop {
            let mut any = false;
            let ids: Vec<u8> = self.peers.keys().copied().collect();
            for id in ids {
                if let Some(piece) = self.fetcher.next_request(self.now, &id) {
                    // The request goes through the codec like on a real connection.
                    let wire = MetadataMessage::Request { piece: piece.get() }.encode();
                    assert_eq!(
                        MetadataMessage::decode(&wire),
                        Ok(MetadataMessage::Request { piece: piece.get() })
                    );
                    self.log.push((id, piece.get(), self.fetcher.round()));
                    self.wire.push_back((id, piece));
                    any = true;
                }
            }
            if !any {
                return;
            }
        }
    }

    fn answer(&self, id: u8, piece: u32) -> Option<MetadataMessage> {
        let honest = self.server.answer(piece);
        Some(match self.peers.get(&id)? {
            Peer::Honest => honest,
            Peer::Corrupts(bad) => match honest {
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                } if bad.contains(&piece) => {
                    let mut v = data.to_vec();
                    v[0] ^= 0xff;
                    MetadataMessage::Data {
                        piece,
                        total_size,
                        data: Bytes::from(v),
                    }
                }
                other => other,
            },
            Peer::WrongSize(size) => {
                let s = MetadataSize::new(u64::from(*size)).unwrap();
                let len = s.piece_len(s.piece(piece)?);
                MetadataMessage::Data {
                    piece,
                    total_size: *size,
                    data: Bytes::from(vec![0; len]),
                }
            }
            Peer::Rejects => MetadataMessage::Reject { piece },
            Peer::Silent => return None,
        })
    }

    /// Delivers answers in order (or in the order `pick` chooses) until nothing moves.
    fn run(&mut self, mut pick: impl FnMut(usize) -> usize) {
        self.request_all();
        let mut waiting = VecDeque::new();
        while !self.wire.is_empty() {
            let i = pick(self.wire.len()) % self.wire.len();
            let Some((id, piece)) = self.wire.remove(i) else {
                break;
            };
            self.now += Duration::from_millis(10);
            match self.answer(id, piece.get()) {
                Some(msg) => {
                    let decoded = MetadataMessage::decode(&msg.encode()).unwrap();
                    let outcome = self.fetcher.handle_message(self.now, &id, &decoded);
                    if outcome == Some(MessageOutcome::Data(DataOutcome::Accepted)) {
                        self.delivered.push((id, piece.get()));
                    }
                }
                None => waiting.push_back((id, piece)),
            }
            self.events
                .extend(std::iter::from_fn(|| self.fetcher.poll_event()));
            self.request_all();
        }
        self.wire = waiting;
    }

    fn complete(&self) -> Option<&Bytes> {
        self.events.iter().find_map(|e| match e {
            FetchEvent::Complete(b) => Some(b),
            _ => None,
        })
    }

    fn bad_peers(&self) -> Vec<(u8, BadPeerReason)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                FetchEvent::BadPeer { peer, reason } => Some((*peer, *reason)),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn three_honest_peers_share_the_work() {
    let (info, hash) = fixture_info();
    assert_eq!(
        info.len().div_ceil(16384),
        6,
        "fixture has 6 metadata pieces"
    );
    let mut sim = Sim::new(&info, hash);
    for id in 1..=3 {
        sim.add(id, Peer::Honest);
    }
    sim.run(|_| 0);
    assert!(
        sim.complete() == Some(&info),
        "not complete with the right bytes"
    );
    assert_eq!(sim.events.len(), 1);
    assert!(sim.fetcher.is_complete());
    // Six pieces, three peers, each asked for two different pieces.
    assert_eq!(sim.log.len(), 6);
    for id in 1..=3 {
        assert_eq!(sim.log.iter().filter(|(p, ..)| *p == id).count(), 2);
    }
    // After completion every input is ignored.
    assert_eq!(sim.fetcher.next_request(sim.now, &1), None);
    assert_eq!(
        sim.fetcher
            .handle_data(sim.now, &1, 0, info.len() as u32, info.slice(..16384)),
        DataOutcome::Unrequested
    );
}

#[test]
fn a_wrong_piece_is_refetched_elsewhere_and_its_sender_reported() {
    let (info, hash) = fixture_info();
    let mut sim = Sim::new(&info, hash);
    // Peer 2 is asked for piece 1 in the first round (round-robin: 1 gets 0, 2 gets 1, ...).
    sim.add(1, Peer::Honest);
    sim.add(2, Peer::Corrupts(vec![1]));
    sim.add(3, Peer::Honest);
    sim.run(|_| 0);
    assert!(sim.log.contains(&(2, 1, 1)), "{:?}", sim.log);
    assert!(
        sim.complete() == Some(&info),
        "not complete with the right bytes"
    );
    assert_eq!(
        sim.events.first(),
        Some(&FetchEvent::VerifyFailed { round: 1 })
    );
    assert_eq!(sim.bad_peers(), [(2, BadPeerReason::WrongData)]);
    assert!(matches!(sim.events.last(), Some(FetchEvent::Complete(_))));
    // Piece 1 was fetched again in round 2, from an honest peer.
    assert!(sim
        .log
        .iter()
        .any(|&(p, piece, round)| piece == 1 && round == 2 && p != 2));
    // No peer is ever asked twice for the same piece.
    let mut seen = sim
        .log
        .iter()
        .map(|&(p, piece, _)| (p, piece))
        .collect::<Vec<_>>();
    seen.sort_unstable();
    let before = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), before);
}

#[test]
fn a_liar_on_every_piece_is_outvoted_by_later_copies() {
    let (info, hash) = fixture_info();
    let mut sim = Sim::new(&info, hash);
    sim.add(1, Peer::Corrupts((0..6).collect()));
    sim.add(2, Peer::Honest);
    sim.add(3, Peer::Corrupts(vec![4]));
    sim.run(|_| 0);
    assert!(
        sim.complete() == Some(&info),
        "not complete with the right bytes"
    );
    let mut expected = vec![(1, BadPeerReason::WrongData)];
    if sim.delivered.contains(&(3, 4)) {
        expected.push((3, BadPeerReason::WrongData));
    }
    assert_eq!(sim.bad_peers(), expected);
}

#[test]
fn a_rejecting_peer_is_not_asked_again_and_not_blamed() {
    let (info, hash) = fixture_info();
    let mut sim = Sim::new(&info, hash);
    sim.add(1, Peer::Honest);
    sim.add(2, Peer::Rejects);
    sim.add(3, Peer::Honest);
    sim.run(|_| 0);
    assert!(
        sim.complete() == Some(&info),
        "not complete with the right bytes"
    );
    assert_eq!(sim.bad_peers(), []);
    let rejected: Vec<u32> = sim
        .log
        .iter()
        .filter(|(p, ..)| *p == 2)
        .map(|&(_, piece, _)| piece)
        .collect();
    assert!(!rejected.is_empty());
    for piece in rejected {
        assert_eq!(
            sim.log
                .iter()
                .filter(|&&(p, q, _)| p == 2 && q == piece)
                .count(),
            1
        );
        assert!(sim.log.iter().any(|&(p, q, _)| p != 2 && q == piece));
    }
}

#[test]
fn a_reject_lasts_only_for_the_backoff() {
    let (info, hash) = fixture_info();
    let config = FetcherConfig {
        max_requests_per_peer: 1,
        ..FetcherConfig::default()
    };
    let mut f = MetadataFetcher::new(hash, config.clone());
    let t0 = Instant::now();
    f.add_peer(1u8, info.len() as u64).unwrap();
    // The peer refuses every piece, one at a time, a second apart.
    for piece in 0..6 {
        let now = t0 + Duration::from_secs(piece.into());
        assert_eq!(f.next_request(now, &1).map(|p| p.get()), Some(piece));
        assert_eq!(f.handle_reject(now, &1, piece), RejectOutcome::Noted);
    }
    let last = t0 + Duration::from_secs(5);
    assert_eq!(f.next_request(last, &1), None);
    assert_eq!(f.poll_timeout(), Some(t0 + config.reject_backoff));
    let almost = t0 + config.reject_backoff - Duration::from_millis(1);
    f.handle_timeout(almost);
    assert_eq!(f.next_request(almost, &1), None);
    f.handle_timeout(t0 + config.reject_backoff);
    assert_eq!(
        f.next_request(t0 + config.reject_backoff, &1)
            .map(|p| p.get()),
        Some(0)
    );
}

#[test]
fn reject_and_data_for_unrequested_pieces_are_ignored() {
    let (info, hash) = fixture_info();
    let size = info.len() as u32;
    let mut f = MetadataFetcher::new(hash, FetcherConfig::default());
    let t0 = Instant::now();
    f.add_peer(1u8, u64::from(size)).unwrap();
    assert_eq!(f.handle_reject(t0, &1, 0), RejectOutcome::Unrequested);
    assert_eq!(
        f.handle_data(t0, &1, 0, size, info.slice(..16384)),
        DataOutcome::Unrequested
    );
    assert_eq!(
        f.handle_data(t0, &9, 0, size, info.slice(..16384)),
        DataOutcome::Unrequested
    );
    let piece = f.next_request(t0, &1).unwrap();
    assert_eq!(piece.get(), 0);
    // A total_size other than the one announced, or a piece of the wrong length: the peer
    // contradicts itself.
    assert_eq!(
        f.handle_data(t0, &1, 0, size + 1, info.slice(..16384)),
        DataOutcome::Inconsistent
    );
    assert_eq!(
        f.handle_data(t0, &1, 0, size, info.slice(..100)),
        DataOutcome::Inconsistent
    );
    assert_eq!(
        f.handle_data(t0, &1, 99, size, info.slice(..16384)),
        DataOutcome::Inconsistent
    );
    assert_eq!(
        f.handle_data(t0, &1, 0, size, info.slice(..16384)),
        DataOutcome::Accepted
    );
    // Answered once; a second copy is unrequested.
    assert_eq!(
        f.handle_data(t0, &1, 0, size, info.slice(..16384)),
        DataOutcome::Unrequested
    );
    assert_eq!(f.progress(), (1, 6));
}

#[test]
fn a_peer_leaving_mid_fetch_hands_its_requests_back() {
    let (info, hash) = fixture_info();
    let mut sim = Sim::new(&info, hash);
    sim.add(1, Peer::Honest);
    sim.add(2, Peer::Honest);
    sim.add(3, Peer::Silent);
    sim.run(|_| 0);
    assert!(
        sim.complete().is_none(),
        "two pieces wait on the silent peer"
    );
    let held: Vec<u32> = sim.wire.iter().map(|(_, p)| p.get()).collect();
    assert_eq!(held.len(), 2);
    assert_eq!(sim.fetcher.progress(), (4, 6));
    sim.fetcher.remove_peer(&3);
    sim.peers.remove(&3);
    sim.wire.clear();
    sim.run(|_| 0);
    assert!(
        sim.complete() == Some(&info),
        "not complete with the right bytes"
    );
    for piece in held {
        assert!(sim.log.iter().any(|&(p, q, _)| p != 3 && q == piece));
    }
    assert_eq!(sim.bad_peers(), []);
}

#[test]
fn a_silent_peer_times_out_and_its_pieces_move() {
    let (info, hash) = fixture_info();
    let mut sim = Sim::new(&info, hash);
    sim.add(1, Peer::Silent);
    sim.add(2, Peer::Honest);
    sim.run(|_| 0);
    assert!(sim.complete().is_none());
    let sent = sim.now;
    let deadline = sim.fetcher.poll_timeout().unwrap();
    assert!(deadline > sent && deadline <= sent + FetcherConfig::default().request_timeout);
    // Just before the deadline nothing moves; at it, the pieces go to peer 2.
    sim.now = deadline - Duration::from_millis(1);
    sim.fetcher.handle_timeout(sim.now);
    assert_eq!(sim.fetcher.next_request(sim.now, &2), None);
    sim.now = deadline;
    sim.fetcher.handle_timeout(sim.now);
    sim.wire.clear();
    sim.run(|_| 0);
    assert!(
        sim.complete() == Some(&info),
        "not complete with the right bytes"
    );
    // The silent peer was not given more work while its requests were out.
    assert_eq!(sim.log.iter().filter(|(p, ..)| *p == 1).count(), 3);
}

#[test]
fn metadata_size_over_the_cap_is_refused() {
    let (_, hash) = fixture_info();
    let mut f = MetadataFetcher::new(hash, FetcherConfig::default());
    let over = u64::from(MAX_METADATA_SIZE) + 1;
    assert_eq!(
        f.add_peer(1u8, over),
        Err(MetadataError::SizeOutOfRange(over as i64))
    );
    assert_eq!(f.add_peer(2u8, 0), Err(MetadataError::SizeOutOfRange(0)));
    assert_eq!(f.next_request(Instant::now(), &1), None);
    assert_eq!(f.metadata_size(), None);
    assert_eq!(f.add_peer(3u8, u64::from(MAX_METADATA_SIZE)), Ok(()));
    assert_eq!(
        f.metadata_size().map(MetadataSize::get),
        Some(MAX_METADATA_SIZE)
    );
}

#[test]
fn a_lying_metadata_size_cannot_block_the_fetch() {
    let (info, hash) = fixture_info();
    let mut sim = Sim::new(&info, hash);
    // The liar is first, so its size is tried first.
    sim.add(1, Peer::WrongSize(info.len() as u32 + 100));
    assert_eq!(
        sim.fetcher.metadata_size().map(MetadataSize::get),
        Some(info.len() as u32 + 100)
    );
    sim.add(2, Peer::Honest);
    sim.add(3, Peer::Honest);
    sim.run(|_| 0);
    assert!(
        sim.complete() == Some(&info),
        "not complete with the right bytes"
    );
    assert_eq!(sim.bad_peers(), [(1, BadPeerReason::WrongSize)]);
}

#[test]
fn a_lone_liar_stalls_without_blame_until_an_honest_peer_comes() {
    let (info, hash) = fixture_info();
    let mut sim = Sim::new(&info, hash);
    sim.add(1, Peer::Corrupts(vec![5]));
    sim.run(|_| 0);
    assert!(sim.complete().is_none());
    assert_eq!(sim.events, [FetchEvent::VerifyFailed { round: 1 }]);
    assert_eq!(
        sim.fetcher.next_request(sim.now, &1),
        None,
        "it sent every piece already"
    );
    sim.add(2, Peer::Honest);
    sim.run(|_| 0);
    assert!(
        sim.complete() == Some(&info),
        "not complete with the right bytes"
    );
    assert_eq!(sim.bad_peers(), [(1, BadPeerReason::WrongData)]);
}

#[test]
fn v2_and_hybrid_hashes_are_checked() {
    let (info, v1) = fixture_info();
    let v2 = InfoHashV2::of_info_bytes(&info);
    for hash in [InfoHash::v2(v2), InfoHash::hybrid(v1.get_v1().unwrap(), v2)] {
        let mut sim = Sim::new(&info, hash);
        sim.add(1, Peer::Honest);
        sim.run(|_| 0);
        assert!(
            sim.complete() == Some(&info),
            "not complete with the right bytes"
        );
    }
    // A hybrid hash whose v2 half names other bytes never completes.
    let wrong = InfoHash::hybrid(v1.get_v1().unwrap(), InfoHashV2::of_info_bytes(b"other"));
    let mut sim = Sim::new(&info, wrong);
    sim.add(1, Peer::Honest);
    sim.run(|_| 0);
    assert!(sim.complete().is_none());
}

#[test]
fn a_peer_re_announcing_another_size_starts_over() {
    let (info, hash) = fixture_info();
    let size = info.len() as u64;
    let mut f = MetadataFetcher::new(hash, FetcherConfig::default());
    let t0 = Instant::now();
    f.add_peer(1u8, size).unwrap();
    assert!(f.next_request(t0, &1).is_some());
    f.add_peer(1u8, size).unwrap(); // same size: nothing changes
    assert_eq!(f.next_request(t0, &1).map(|p| p.get()), Some(1));
    f.add_peer(1u8, size + 1).unwrap();
    assert_eq!(
        f.metadata_size().map(|s| u64::from(s.get())),
        Some(size + 1)
    );
    assert_eq!(f.next_request(t0, &1).map(|p| p.get()), Some(0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any mix of honest peers (at least one), liars on some pieces, rejecters and a silent
    /// peer, with answers delivered in any order: the fetch completes with the right bytes,
    /// and exactly the liars whose lies were delivered are reported.
    #[test]
    fn any_crowd_with_an_honest_peer_completes(
        liars in proptest::collection::vec(proptest::collection::vec(0u32..6, 1..4), 0..3),
        honest in 1usize..3,
        rejecters in 0usize..2,
        silent in any::<bool>(),
        order in proptest::collection::vec(any::<usize>(), 64),
    ) {
        let (info, hash) = fixture_info();
        let mut sim = Sim::new(&info, hash);
        let mut id = 0u8;
        // Liars first, so they get work in the first round.
        for bad in &liars {
            id += 1;
            sim.add(id, Peer::Corrupts(bad.clone()));
        }
        for _ in 0..rejecters {
            id += 1;
            sim.add(id, Peer::Rejects);
        }
        if silent {
            id += 1;
            sim.add(id, Peer::Silent);
        }
        for _ in 0..honest {
            id += 1;
            sim.add(id, Peer::Honest);
        }
        let mut k = 0;
        sim.run(|_| { k += 1; order[k % order.len()] });
        // Only a silent peer can hold pieces back, until its requests time out. It takes at
        // most `max_requests_per_peer` of them, so this ends.
        for _ in 0..=FetcherConfig::default().max_requests_per_peer {
            if sim.complete().is_some() {
                break;
            }
            prop_assert!(silent);
            sim.now += FetcherConfig::default().request_timeout;
            sim.fetcher.handle_timeout(sim.now);
            sim.wire.clear();
            sim.run(|_| 0);
        }
        prop_assert!(sim.complete() == Some(&info), "events {:?}", sim.events.len());
        let liar_ids: Vec<u8> = (1..=liars.len() as u8).collect();
        for (peer, reason) in sim.bad_peers() {
            prop_assert!(liar_ids.contains(&peer), "honest peer {} reported", peer);
            prop_assert_eq!(reason, BadPeerReason::WrongData);
        }
        // A liar is reported exactly when one of its lies reached the fetcher.
        let delivered_lie = |p: u8| {
            let bad = &liars[usize::from(p) - 1];
            sim.delivered.iter().any(|&(q, piece)| q == p && bad.contains(&piece))
        };
        let reported: Vec<u8> = sim.bad_peers().iter().map(|(p, _)| *p).collect();
        for &p in &liar_ids {
            prop_assert_eq!(reported.contains(&p), delivered_lie(p), "peer {}", p);
        }
    }
}

#[test]
fn fixture_info_hash_is_what_the_fetcher_checks() {
    let (info, hash) = fixture_info();
    assert_eq!(Some(InfoHashV1::of_info_bytes(&info)), hash.get_v1());
}
