//! opentracker: HTTP and UDP on one port, whitelist reload by SIGHUP, clean stop.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use shoal_testkit::Opentracker;

fn http_announce(tracker: &Opentracker, hash: &[u8; 20]) -> Vec<u8> {
    let escaped: String = hash.iter().map(|b| format!("%{b:02X}")).collect();
    let mut s = TcpStream::connect_timeout(&tracker.addr(), Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /announce?info_hash={escaped}&peer_id=-XX0000-000000000000&port=6881&uploaded=0\
         &downloaded=0&left=100&compact=1 HTTP/1.0\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    reply
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn whitelist_reload_http_and_udp() {
    let tracker = Opentracker::start().unwrap();
    let pid = tracker.pid();
    assert!(tracker.addr().ip().is_loopback());
    assert_ne!(tracker.addr().ip().to_string(), "127.0.0.1");
    assert!(tracker.http_announce_url().starts_with("http://127.0.0."));
    assert!(tracker.udp_announce_url().starts_with("udp://127.0.0."));

    let hash = [0xAB; 20];
    let refused = http_announce(&tracker, &hash);
    assert!(
        contains(&refused, b"failure reason"),
        "{}",
        String::from_utf8_lossy(&refused)
    );

    tracker.whitelist(&[hash]).unwrap();
    let accepted = http_announce(&tracker, &hash);
    assert!(!contains(&accepted, b"failure reason"));
    // Our announce is the only peer: the whitelist probe withdrew itself.
    assert!(
        contains(&accepted, b"incompletei1e"),
        "{}",
        String::from_utf8_lossy(&accepted)
    );
    assert!(contains(&accepted, b"completei0e"));

    // BEP 15 connect on the same port.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = Vec::new();
    req.extend_from_slice(&0x41727101980u64.to_be_bytes());
    req.extend_from_slice(&0u32.to_be_bytes());
    req.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    udp.send_to(&req, tracker.addr()).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(n, 16);
    assert_eq!(&buf[..8], &[0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);

    // Adding the same hash again is a no-op; a second hash is added to the first.
    tracker.whitelist(&[hash]).unwrap();
    tracker.whitelist(&[[0xCD; 20]]).unwrap();
    assert!(!contains(
        &http_announce(&tracker, &hash),
        b"failure reason"
    ));

    assert!(tracker.is_alive());
    drop(tracker);
    common::assert_not_our_child(pid);
}
