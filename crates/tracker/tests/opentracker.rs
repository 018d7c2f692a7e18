//! Announce and scrape against a real opentracker on loopback, over HTTP and over UDP.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use shoal_core::{InfoHash, InfoHashV1, PeerId};
use shoal_tracker::client::{ClientConfig, TrackerClient};
use shoal_tracker::proto::{AnnounceRequest, Event, ScrapeStats, TrackerUrl, UdpConfig};
use shoal_tracker::{ErrorAction, ReplyError, TrackerError};
use support::opentracker::OpenTracker;

/// Bound on each test body, so a stuck tracker fails the test instead of hanging it.
const TEST_LIMIT: Duration = Duration::from_secs(30);

fn client() -> TrackerClient {
    TrackerClient::new(ClientConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        udp: UdpConfig {
            retransmit_base: Duration::from_millis(500),
            max_retransmit_exponent: 3,
            ..UdpConfig::default()
        },
        ..ClientConfig::default()
    })
    .unwrap()
}

fn request(hash: [u8; 20], who: u8, port: u16, left: u64) -> AnnounceRequest {
    let mut id = *b"-SH0100-000000000000";
    id[19] = b'a' + who;
    AnnounceRequest {
        info_hash: InfoHash::v1(InfoHashV1(hash)),
        peer_id: PeerId(id),
        port,
        uploaded: 0,
        downloaded: 0,
        left,
        event: Event::Started,
        numwant: Some(50),
        key: 0x1000 + u32::from(who),
        tracker_id: None,
        no_peer_id: false,
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A seeder announces, then a leecher: the leecher's reply lists the seeder, and a scrape
/// counts one of each.
async fn two_peers_then_scrape(url: &TrackerUrl, hash: [u8; 20]) {
    let c = client();
    let seeder = c.announce(url, &request(hash, 0, 41001, 0)).await.unwrap();
    assert!(seeder.interval >= Duration::from_secs(60), "{seeder:?}");

    let leecher = c
        .announce(url, &request(hash, 1, 41002, 1000))
        .await
        .unwrap();
    assert!(
        leecher.peers.contains(&local(41001)),
        "the second announce sees the first peer: {:?}",
        leecher.peers
    );
    assert_eq!(leecher.complete, Some(1), "{leecher:?}");
    assert_eq!(leecher.incomplete, Some(1), "{leecher:?}");

    let info_hash = InfoHash::v1(InfoHashV1(hash));
    let scrape = c.scrape(url, &[info_hash]).await.unwrap();
    let stats = scrape
        .get(&info_hash)
        .expect("the tracker reports the torrent");
    assert_eq!((stats.complete, stats.incomplete), (1, 1), "{stats:?}");

    // Leaving the swarm takes the seeder off the tracker's list.
    let mut stop = request(hash, 0, 41001, 0);
    stop.event = Event::Stopped;
    c.announce(url, &stop).await.unwrap();
    let after = c.scrape(url, &[info_hash]).await.unwrap().get(&info_hash);
    assert_eq!(after.map(|s| (s.complete, s.incomplete)), Some((0, 1)));
}

#[tokio::test]
async fn http_announce_and_scrape() {
    let hash = [0x11; 20];
    let tracker = OpenTracker::start(&[hash]).unwrap();
    let url = TrackerUrl::parse(&tracker.http_url()).unwrap();
    tokio::time::timeout(TEST_LIMIT, two_peers_then_scrape(&url, hash))
        .await
        .expect("within the time limit");
}

#[tokio::test]
async fn udp_announce_and_scrape() {
    let hash = [0x22; 20];
    let tracker = OpenTracker::start(&[hash]).unwrap();
    let url = TrackerUrl::parse(&tracker.udp_url()).unwrap();
    tokio::time::timeout(TEST_LIMIT, two_peers_then_scrape(&url, hash))
        .await
        .expect("within the time limit");
}

/// Over HTTP opentracker names the reason. Over UDP it answers a torrent outside its
/// whitelist with a bare 8-byte announce header, which BEP 15 tells clients to reject (an
/// announce reply is at least 20 bytes): a malformed reply, so the next tracker is tried.
#[tokio::test]
async fn unlisted_torrent_is_refused() {
    let tracker = OpenTracker::start(&[[0x33; 20]]).unwrap();
    let c = client();
    let unlisted = request([0x44; 20], 0, 41003, 0);
    let http = TrackerUrl::parse(&tracker.http_url()).unwrap();
    let udp = TrackerUrl::parse(&tracker.udp_url()).unwrap();
    let (http, udp) = tokio::time::timeout(TEST_LIMIT, async {
        (
            c.announce(&http, &unlisted).await,
            c.announce(&udp, &unlisted).await,
        )
    })
    .await
    .expect("within the time limit");
    match http {
        Err(e @ TrackerError::Refused(_)) => assert_eq!(e.action(), ErrorAction::ReportToUser),
        other => panic!("http: expected a refusal, got {other:?}"),
    }
    let e = udp.unwrap_err();
    assert_eq!(
        e,
        TrackerError::Malformed(ReplyError::Truncated { need: 20, got: 8 })
    );
    assert_eq!(e.action(), ErrorAction::TryNextTracker);
}

#[tokio::test]
async fn scrape_of_unknown_torrent_reports_nothing_or_zeros() {
    let hash = [0x55; 20];
    let tracker = OpenTracker::start(&[hash]).unwrap();
    let c = client();
    let info_hash = InfoHash::v1(InfoHashV1(hash));
    for url in [tracker.http_url(), tracker.udp_url()] {
        let url = TrackerUrl::parse(&url).unwrap();
        let r = tokio::time::timeout(TEST_LIMIT, c.scrape(&url, &[info_hash]))
            .await
            .expect("within the time limit")
            .unwrap();
        // BEP 48 omits unknown torrents; BEP 15 answers zeros in their place.
        let stats = r.get(&info_hash).unwrap_or_default();
        assert_eq!(stats, ScrapeStats::default(), "{url}");
    }
}

#[test]
fn tracker_process_is_gone_after_drop() {
    let tracker = OpenTracker::start(&[[0x66; 20]]).unwrap();
    let pid = tracker.pid();
    assert!(tracker.port() > 0);
    drop(tracker);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} reaped"
    );
}
