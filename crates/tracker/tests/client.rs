//! The tokio clients against scripted loopback servers: time limits, size caps, status codes
//! and the exact bytes on the wire.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use shoal_core::{InfoHash, InfoHashV1, PeerId};
use shoal_tracker::client::{ClientConfig, TrackerClient, UdpTracker};
use shoal_tracker::proto::{
    announce_url, AnnounceRequest, Event, ReplyLimits, TrackerUrl, UdpConfig,
};
use shoal_tracker::{ErrorAction, ReplyError, TrackerError};

const TEST_LIMIT: Duration = Duration::from_secs(20);

fn config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_millis(1500),
        limits: ReplyLimits {
            max_bytes: 64 * 1024,
            max_peers: 100,
        },
        ..ClientConfig::default()
    }
}

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash::v1(InfoHashV1([
            0x00, 0xff, b' ', b'%', b'&', b'=', b'+', b'?', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ])),
        peer_id: PeerId(*b"-SH0100-\x00\xffabcdefghij"),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 5,
        event: Event::Started,
        numwant: None,
        key: 7,
        tracker_id: None,
        no_peer_id: false,
    }
}

/// Serves one HTTP connection with `reply` (raw bytes, headers included) and sends the
/// request head it read back over the channel. `None` accepts and never answers.
fn http_server(reply: Option<Vec<u8>>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        stream.set_read_timeout(Some(TEST_LIMIT)).ok();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        match reply {
            Some(reply) => {
                let _ = stream.write_all(&reply);
            }
            // Hold the connection open until the client gives up and closes it.
            None => {
                let _ = stream.read(&mut byte);
            }
        }
    });
    (format!("http://127.0.0.1:{port}/announce?pk=s3cret"), rx)
}

fn reply(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

async fn announce(url: &str) -> Result<shoal_tracker::proto::AnnounceResponse, TrackerError> {
    let client = TrackerClient::new(config()).unwrap();
    let url = TrackerUrl::parse(url).unwrap();
    tokio::time::timeout(TEST_LIMIT, client.announce(&url, &request()))
        .await
        .expect("the client's own limits end the call")
}

#[tokio::test]
async fn http_request_carries_the_exact_encoded_bytes() {
    let body = b"d8:intervali900e5:peers6:\x7f\x00\x00\x01\x1a\xe1e";
    let (url, head) = http_server(Some(reply("200 OK", body)));
    let r = announce(&url).await.unwrap();
    assert_eq!(r.peers, vec!["127.0.0.1:6881".parse().unwrap()]);
    let head = head.recv().unwrap();
    // The request target is the announce URL from `/announce` on, byte for byte: the client
    // must not re-encode what the proto layer encoded.
    let full = announce_url(&TrackerUrl::parse(&url).unwrap(), &request());
    let path = &full[full.find("/announce").unwrap()..];
    assert!(
        head.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
        "{head}\nwant {path}"
    );
    assert!(
        path.contains("?pk=s3cret&info_hash=%00%FF%20%25%26%3D%2B%3F%01%02"),
        "{path}"
    );
    assert!(
        path.contains("&peer_id=-SH0100-%00%FFabcdefghij&"),
        "{path}"
    );
}

#[tokio::test]
async fn oversized_body_is_cut_off_while_streaming() {
    // No Content-Length: the cap must hold while the body streams in.
    let mut r = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nd8:intervali900e5:peers".to_vec();
    r.extend(format!("{}:", 600_000).into_bytes());
    r.extend(vec![1u8; 600_000]);
    let (url, _head) = http_server(Some(r));
    let e = announce(&url).await.unwrap_err();
    assert_eq!(
        e,
        TrackerError::Malformed(ReplyError::TooLarge { limit: 64 * 1024 })
    );
    assert_eq!(e.action(), ErrorAction::TryNextTracker);
}

#[tokio::test]
async fn declared_oversized_body_is_refused_before_reading() {
    let r = b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\nd".to_vec();
    let (url, _head) = http_server(Some(r));
    assert_eq!(
        announce(&url).await,
        Err(TrackerError::Malformed(ReplyError::TooLarge {
            limit: 64 * 1024
        }))
    );
}

#[tokio::test]
async fn silent_http_tracker_times_out() {
    let (url, _head) = http_server(None);
    let e = announce(&url).await.unwrap_err();
    assert_eq!(e, TrackerError::Timeout);
    assert_eq!(e.action(), ErrorAction::TryNextTracker);
}

#[tokio::test]
async fn http_status_and_failure_reason() {
    let (url, _h) = http_server(Some(reply(
        "500 Internal Server Error",
        b"<html>oops</html>",
    )));
    assert_eq!(announce(&url).await, Err(TrackerError::HttpStatus(500)));
    let (url, _h) = http_server(Some(reply("403 Forbidden", b"d14:failure reason6:bannede")));
    assert_eq!(
        announce(&url).await,
        Err(TrackerError::Refused("banned".into()))
    );
    let (url, _h) = http_server(Some(reply("200 OK", b"<html>")));
    assert!(matches!(
        announce(&url).await,
        Err(TrackerError::Malformed(ReplyError::Bencode(_)))
    ));
}

#[tokio::test]
async fn closed_ports_are_unreachable() {
    let port = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    for url in [
        format!("http://127.0.0.1:{port}/announce"),
        format!("udp://127.0.0.1:{port}"),
    ] {
        match announce(&url).await {
            Err(e @ TrackerError::Unreachable(_)) => {
                assert_eq!(e.action(), ErrorAction::TryNextTracker)
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn error_messages_do_not_leak_the_passkey() {
    let (url, _head) = http_server(Some(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nd".to_vec(),
    ));
    let e = announce(&url).await.unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[tokio::test]
async fn silent_udp_tracker_gets_bep15_retransmissions_then_timeout() {
    let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = server.local_addr().unwrap();
    let udp = UdpConfig {
        retransmit_base: Duration::from_millis(50),
        max_retransmit_exponent: 2,
        ..UdpConfig::default()
    };
    let mut tracker = UdpTracker::connect_addr(addr, udp, Duration::from_secs(10))
        .await
        .unwrap();
    let result = tokio::time::timeout(TEST_LIMIT, tracker.announce(&request()))
        .await
        .unwrap();
    assert_eq!(
        result,
        Err(TrackerError::Timeout),
        "machine gave up after 50+100+200 ms"
    );
    // Attempts n = 0, 1, 2: three identical connect requests, then nothing.
    server.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while let Ok(n) = server.recv(&mut buf) {
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|d| d.len() == 16 && d == &got[0]));
}

#[tokio::test]
async fn udp_request_timeout_bounds_the_whole_exchange() {
    let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = server.local_addr().unwrap();
    // The BEP 15 schedule would retry for two hours; the request limit ends it first.
    let mut tracker =
        UdpTracker::connect_addr(addr, UdpConfig::default(), Duration::from_millis(200))
            .await
            .unwrap();
    let result = tokio::time::timeout(TEST_LIMIT, tracker.announce(&request()))
        .await
        .unwrap();
    assert_eq!(result, Err(TrackerError::Timeout));
}
