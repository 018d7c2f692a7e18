//! Any input, two ways:
//! 1. the frame decoder never panics, and every frame it accepts re-encodes to exactly the bytes
//!    it was decoded from (nothing is silently normalised or lost);
//! 2. a `PeerSession` (features, metadata and chunking chosen by the first bytes) fed the rest in
//!    chunks, on a virtual clock, while its owner answers every event the way an engine would,
//!    never panics, and a closed session stays closed.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use shoal_core::Bitfield;
use shoal_wire::{
    decode, ExtHandshake, Features, Message, PeerEvent, PeerSession, PieceGeometry, SessionConfig,
};

fuzz_target!(|data: &[u8]| {
    frames_round_trip(data);
    session(data);
});

fn frames_round_trip(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((msg, used))) = decode(rest) {
        let (frame, tail) = rest.split_at(used);
        assert_eq!(msg.to_vec(), frame, "accepted frame re-encodes identically");
        assert_eq!(msg.encoded_len(), used);
        if let Message::Extended { id: 0, payload } = &msg {
            if let Ok(h) = ExtHandshake::decode(payload) {
                // Whatever we accept, we can send back and read again.
                assert_eq!(ExtHandshake::decode(&h.encode()), Ok(h));
            }
        }
        rest = tail;
    }
}

fn session(data: &[u8]) {
    let [ctl, chunk, body @ ..] = data else {
        return;
    };
    let features = Features {
        fast: ctl & 1 != 0,
        extension_protocol: ctl & 2 != 0,
        dht: ctl & 4 != 0,
    };
    // Ten 2 KiB pieces, the last one short, so in-range and out-of-range values both occur.
    let geometry = PieceGeometry::new(9 * 2048 + 700, 2048).expect("valid geometry");
    let ours = if ctl & 16 != 0 {
        Bitfield::full(geometry.piece_count())
    } else {
        Bitfield::new(geometry.piece_count())
    };
    let known_from_start = ctl & 8 != 0;
    let config = SessionConfig {
        max_request_len: 4096,
        ..SessionConfig::default()
    };
    let t0 = Instant::now();
    let mut now = t0;
    let mut s = PeerSession::new(
        now,
        config,
        features,
        known_from_start.then_some((geometry, &ours)),
    );
    let chunk = usize::from(*chunk % 64) + 1;
    for (i, piece) in body.chunks(chunk).enumerate() {
        now += Duration::from_millis(u64::from(ctl >> 5) * 700);
        let result = s.handle_bytes(now, piece);
        if result.is_err() {
            assert!(s.closed().is_some());
            assert_eq!(
                s.handle_bytes(now, b"\0\0\0\0"),
                result,
                "closed sessions stay closed"
            );
            assert_eq!(s.poll_timeout(), None);
        }
        if i == 2 && !known_from_start {
            let _ = s.set_geometry(geometry);
        }
        while let Some(event) = s.poll_event() {
            match event {
                PeerEvent::Request(block) => {
                    if i % 2 == 0 {
                        let _ =
                            s.send_piece(now, block, Bytes::from(vec![0u8; block.len as usize]));
                    } else {
                        let _ = s.refuse_request(now, block);
                    }
                }
                PeerEvent::Unchoked | PeerEvent::Bitfield(_) | PeerEvent::Have(_) => {
                    s.send_interested(now);
                    s.unchoke(now);
                    if let Some(g) = s.geometry().copied() {
                        if let Some(block) = g.piece(i as u32 % 12).and_then(|p| {
                            g.block(
                                shoal_wire::BlockSpec {
                                    index: p.get(),
                                    begin: 0,
                                    length: 1024,
                                },
                                4096,
                            )
                        }) {
                            let _ = s.request(now, block);
                            if i % 3 == 0 {
                                let _ = s.cancel(now, block);
                            }
                        }
                    }
                }
                PeerEvent::Interested => s.choke(now),
                _ => {}
            }
        }
        while s.poll_transmit().is_some() {}
        if let Some(deadline) = s.poll_timeout() {
            if deadline <= now {
                let _ = s.handle_timeout(now);
            }
        }
    }
}
