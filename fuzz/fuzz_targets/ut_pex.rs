//! Any input, two ways:
//! 1. as a ut_pex payload: decoding never panics, lists are capped, and whatever decodes
//!    re-encodes to a payload that decodes to the same message;
//! 2. as a script of connected-peer sets and clock steps for a `PexState`: every message it
//!    produces obeys BEP 11 (a minute apart, at most 50 added and 50 dropped, no duplicates,
//!    only real changes, never the peer itself), and incoming payloads never panic.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use shoal_wire::ut_pex::{
    MAX_ADDED_PER_MESSAGE, MAX_DECODE_ENTRIES, MAX_DROPPED_PER_MESSAGE, PEX_INTERVAL,
};
use shoal_wire::{PexFlags, PexMessage, PexState};

fuzz_target!(|data: &[u8]| {
    codec(data);
    state(data);
});

fn codec(data: &[u8]) {
    if let Ok(msg) = PexMessage::decode(data) {
        assert!(msg.added.len() <= MAX_DECODE_ENTRIES);
        assert!(msg.added6.len() <= MAX_DECODE_ENTRIES);
        assert!(msg.dropped.len() <= MAX_DECODE_ENTRIES);
        assert!(msg.dropped6.len() <= MAX_DECODE_ENTRIES);
        assert!(msg.added.iter().all(|p| p.addr.port() != 0));
        assert_eq!(PexMessage::decode(&msg.encode()), Ok(msg));
    }
}

fn addr(i: u8) -> SocketAddr {
    if i % 4 == 0 {
        SocketAddrV6::new(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 1, u16::from(i)), 6881, 0, 0).into()
    } else {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, i / 64, i), u16::from(i) + 1).into()
    }
}

fn state(script: &[u8]) {
    let remote = addr(5);
    let mut st = PexState::new(remote);
    let t0 = Instant::now();
    let mut now = t0;
    let mut last_sent: Option<Instant> = None;
    let mut believed: BTreeSet<SocketAddr> = BTreeSet::new();
    let mut connected: BTreeMap<SocketAddr, PexFlags> = BTreeMap::new();
    let mut chunks = script.chunks(3);
    while let Some(&[op, a, b]) = chunks.next() {
        match op % 4 {
            0 => {
                // Connect or disconnect a block of peers.
                for i in a..a.saturating_add(b % 40) {
                    if op & 4 == 0 {
                        connected.insert(addr(i), PexFlags(i));
                    } else {
                        connected.remove(&addr(i));
                    }
                }
            }
            1 => now += Duration::from_secs(u64::from(a) + u64::from(b) * 60),
            2 => {
                let _ = st.handle_message(now, &script[script.len().min(usize::from(a))..]);
            }
            _ => {
                let Some(m) = st.poll_message(now, connected.iter().map(|(a, f)| (*a, *f))) else {
                    continue;
                };
                assert!(!m.is_empty());
                if let Some(t) = last_sent {
                    assert!(now.duration_since(t) >= PEX_INTERVAL);
                }
                last_sent = Some(now);
                let added: Vec<SocketAddr> = m
                    .added
                    .iter()
                    .map(|p| p.addr.into())
                    .chain(m.added6.iter().map(|p| p.addr.into()))
                    .collect();
                let dropped: Vec<SocketAddr> = m
                    .dropped
                    .iter()
                    .map(|&a| a.into())
                    .chain(m.dropped6.iter().map(|&a| a.into()))
                    .collect();
                assert!(added.len() <= MAX_ADDED_PER_MESSAGE);
                assert!(dropped.len() <= MAX_DROPPED_PER_MESSAGE);
                for a in &added {
                    assert!(*a != remote);
                    assert!(connected.contains_key(a) && believed.insert(*a));
                }
                for d in &dropped {
                    assert!(!connected.contains_key(d) && believed.remove(d));
                }
                assert_eq!(st.advertised(), &believed);
                assert_eq!(PexMessage::decode(&m.encode()), Ok(m));
            }
        }
    }
}
