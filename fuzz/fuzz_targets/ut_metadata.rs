//! Any input, two ways:
//! 1. as a ut_metadata payload: decoding never panics, whatever decodes re-encodes to a
//!    payload that decodes to the same message, and a server answers its piece sanely;
//! 2. as a script for a `MetadataFetcher` with four peers (0 and 1 honest, 2 and 3 free to lie
//!    about sizes and data, reject, vanish or stall) on a virtual clock: it never panics (its
//!    debug invariants are checked after every input), completes only with the true bytes,
//!    and never reports an honest peer.
#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use shoal_core::{InfoHash, InfoHashV1};
use shoal_wire::ut_metadata::{FetcherConfig, MAX_MESSAGE_LEN};
use shoal_wire::{FetchEvent, MetadataFetcher, MetadataMessage, MetadataPiece, MetadataServer};

/// Three pieces, the last one short.
const INFO_LEN: usize = 2 * 16384 + 1000;

fuzz_target!(|data: &[u8]| {
    codec(data);
    fetcher(data);
});

fn codec(data: &[u8]) {
    let payload = Bytes::copy_from_slice(data);
    if let Ok(msg) = MetadataMessage::decode(&payload) {
        let again = msg.encode();
        assert!(again.len() <= MAX_MESSAGE_LEN);
        assert_eq!(MetadataMessage::decode(&again), Ok(msg.clone()));
        let server = MetadataServer::new(Bytes::from(vec![7u8; INFO_LEN])).expect("valid size");
        match server.answer(msg.piece()) {
            MetadataMessage::Data { piece, data, .. } => {
                assert!(piece < 3);
                assert!(!data.is_empty() && data.len() <= 16384);
            }
            MetadataMessage::Reject { piece } => assert!(piece >= 3),
            MetadataMessage::Request { .. } => panic!("a server never requests"),
        }
    }
}

fn fetcher(script: &[u8]) {
    let info: Vec<u8> = (0..INFO_LEN).map(|i| (i * 31 % 251) as u8).collect();
    let server = MetadataServer::new(Bytes::from(info.clone())).expect("valid size");
    let hash = InfoHash::v1(InfoHashV1::of_info_bytes(&info));
    let config = FetcherConfig {
        max_requests_per_peer: 2,
        ..FetcherConfig::default()
    };
    let mut f = MetadataFetcher::new(hash, config);
    let mut now = Instant::now();
    let mut in_flight: [VecDeque<MetadataPiece>; 4] = Default::default();
    let true_size = INFO_LEN as u64;
    let mut bytes = script.iter().copied();
    while let Some(b) = bytes.next() {
        let peer = b >> 6;
        let liar = peer >= 2;
        let arg = bytes.next().unwrap_or(0);
        match b & 7 {
            0 => {
                let size = match (liar, arg % 4) {
                    (false, _) | (true, 0) => true_size,
                    (true, 1) => true_size + u64::from(arg),
                    (true, 2) => u64::from(arg),
                    (true, _) => u64::MAX - u64::from(arg),
                };
                let _ = f.add_peer(peer, size);
            }
            1 => {
                if let Some(p) = f.next_request(now, &peer) {
                    in_flight[usize::from(peer)].push_back(p);
                }
            }
            2 | 3 => {
                if let Some(p) = in_flight[usize::from(peer)].pop_front() {
                    let mut msg = server.answer(p.get());
                    if liar && b & 1 == 1 {
                        if let MetadataMessage::Data { data, .. } = &mut msg {
                            let mut v = data.to_vec();
                            if let Some(x) = v.get_mut(usize::from(arg) % 1000) {
                                *x ^= arg | 1;
                            }
                            *data = Bytes::from(v);
                        }
                    }
                    f.handle_message(now, &peer, &msg);
                }
            }
            4 => {
                if let Some(p) = in_flight[usize::from(peer)].pop_front() {
                    f.handle_reject(now, &peer, p.get());
                }
            }
            5 => {
                f.remove_peer(&peer);
                in_flight[usize::from(peer)].clear();
            }
            6 => {
                now += Duration::from_secs(u64::from(arg));
                f.handle_timeout(now);
            }
            _ => {
                if liar {
                    // Unsolicited or inconsistent data: any piece, size and length.
                    let len = usize::from(arg) * 97 % 17000;
                    f.handle_data(
                        now,
                        &peer,
                        u32::from(arg % 5),
                        INFO_LEN as u32 + u32::from(arg % 2),
                        Bytes::from(vec![arg; len]),
                    );
                }
            }
        }
        while let Some(ev) = f.poll_event() {
            match ev {
                FetchEvent::Complete(got) => assert_eq!(&got[..], &info[..]),
                FetchEvent::BadPeer { peer, .. } => assert!(peer >= 2, "honest peer {peer} blamed"),
                FetchEvent::VerifyFailed { .. } => {}
            }
        }
    }
}
