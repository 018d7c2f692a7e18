//! Tracker URLs: validation, HTTP announce and scrape query strings (BEP 3, 23, 48).
//!
//! Query strings are built by hand instead of through `url::Url::query_pairs_mut`: the
//! info-hash and peer id are raw bytes, not text, and form encoding would both reject them as
//! non-UTF-8 and turn spaces into `+`, which trackers read differently.

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
use shoal_core::InfoHash;
use url::Url;

use super::types::AnnounceRequest;
use crate::TrackerError;

/// RFC 3986 "unreserved" characters stay as they are; every other byte becomes `%XX`.
const QUERY_BYTES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Which protocol a tracker URL speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackerKind {
    Http,
    Https,
    /// BEP 15.
    Udp,
}

/// A tracker URL that has a supported scheme, a host, and (for UDP) a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrackerUrl {
    url: Url,
    kind: TrackerKind,
}

impl TrackerUrl {
    /// Validates an announce URL from a .torrent, a magnet link or the user.
    pub fn parse(s: &str) -> Result<Self, TrackerError> {
        let bad = |reason| TrackerError::BadUrl {
            url: s.chars().take(200).collect(),
            reason,
        };
        let url = Url::parse(s.trim()).map_err(|_| bad("not a URL"))?;
        let kind = match url.scheme() {
            "http" => TrackerKind::Http,
            "https" => TrackerKind::Https,
            "udp" => TrackerKind::Udp,
            _ => return Err(bad("unsupported scheme (want http, https or udp)")),
        };
        match url.host_str() {
            Some(h) if !h.is_empty() => {}
            _ => return Err(bad("no host")),
        }
        if kind == TrackerKind::Udp && url.port().is_none() {
            return Err(bad("UDP tracker URL without a port"));
        }
        Ok(Self { url, kind })
    }

    pub fn kind(&self) -> TrackerKind {
        self.kind
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// Host and port to send UDP datagrams to (the scheme's default port for HTTP).
    pub fn host_port(&self) -> Option<(&str, u16)> {
        Some((self.url.host_str()?, self.url.port_or_known_default()?))
    }

    /// Where to scrape this tracker. A UDP tracker scrapes at its own address; an HTTP
    /// tracker only when the last path element starts with `announce` (BEP 48), which
    /// becomes `scrape`. `None` means the tracker cannot be scraped.
    pub fn scrape_url(&self) -> Option<TrackerUrl> {
        if self.kind == TrackerKind::Udp {
            return Some(self.clone());
        }
        let path = self.url.path();
        let slash = path.rfind('/')?;
        let (dir, last) = path.split_at(slash + 1);
        let rest = last.strip_prefix("announce")?;
        let mut url = self.url.clone();
        url.set_path(&format!("{dir}scrape{rest}"));
        Some(Self {
            url,
            kind: self.kind,
        })
    }
}

impl std::fmt::Display for TrackerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `%XX`-encodes raw bytes for a query value.
pub fn encode_bytes(bytes: &[u8]) -> String {
    percent_encode(bytes, QUERY_BYTES).to_string()
}

/// The tracker URL without its fragment, ready for `key=value` pairs to be appended: ends in
/// `?` when it had no query, in `&` when it had one (a passkey, say), unchanged when the query
/// is empty or already ends in `&`.
fn query_base(tracker: &TrackerUrl) -> String {
    let mut url = tracker.url.clone();
    url.set_fragment(None);
    let mut s = String::from(url.as_str());
    match url.query() {
        None => s.push('?'),
        Some(q) if q.is_empty() || q.ends_with('&') => {}
        Some(_) => s.push('&'),
    }
    s
}

/// The full HTTP announce URL for `req` (BEP 3, with `compact=1` from BEP 23 and `key` from
/// BEP 7).
pub fn announce_url(tracker: &TrackerUrl, req: &AnnounceRequest) -> String {
    use std::fmt::Write;
    let mut s = query_base(tracker);
    // Writing into a String cannot fail; the results are ignored on purpose.
    let _ = write!(
        s,
        "info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1",
        encode_bytes(&req.info_hash.wire_id()),
        encode_bytes(&req.peer_id.0),
        req.port,
        req.uploaded,
        req.downloaded,
        req.left,
    );
    if let Some(event) = req.event.http_name() {
        let _ = write!(s, "&event={event}");
    }
    if let Some(n) = req.numwant {
        let _ = write!(s, "&numwant={n}");
    }
    let _ = write!(s, "&key={:08X}", req.key);
    if let Some(id) = &req.tracker_id {
        let _ = write!(s, "&trackerid={}", encode_bytes(id));
    }
    if req.no_peer_id {
        s.push_str("&no_peer_id=1");
    }
    s
}

/// The HTTP scrape URL for `hashes` (BEP 48): one `info_hash` pair per torrent.
pub fn scrape_request_url(scrape: &TrackerUrl, hashes: &[InfoHash]) -> String {
    let mut s = query_base(scrape);
    for (i, h) in hashes.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str("info_hash=");
        s.push_str(&encode_bytes(&h.wire_id()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Event;
    use shoal_core::{InfoHashV1, PeerId};

    fn req() -> AnnounceRequest {
        let mut hash = [0u8; 20];
        for (i, b) in hash.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(13).wrapping_add(0x2d);
        }
        AnnounceRequest {
            info_hash: InfoHash::v1(InfoHashV1(hash)),
            peer_id: PeerId(*b"-SH0100-ab c~d.e_f\x00\xff"),
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: Event::Started,
            numwant: Some(50),
            key: 0xdead_beef,
            tracker_id: None,
            no_peer_id: false,
        }
    }

    fn url(s: &str) -> TrackerUrl {
        TrackerUrl::parse(s).unwrap()
    }

    #[test]
    fn raw_bytes_are_percent_encoded_exactly() {
        assert_eq!(
            encode_bytes(&[0x00, 0xff, b' ', b'+', b'%']),
            "%00%FF%20%2B%25"
        );
        assert_eq!(encode_bytes(b"aZ09-._~"), "aZ09-._~");
        let all: Vec<u8> = (0..=255).collect();
        let enc = encode_bytes(&all);
        let back: Vec<u8> = percent_encoding::percent_decode_str(&enc).collect();
        assert_eq!(back, all);
    }

    #[test]
    fn announce_url_has_every_parameter() {
        let got = announce_url(&url("http://t.example:8080/announce"), &req());
        assert_eq!(
            got,
            "http://t.example:8080/announce?\
             info_hash=-%3AGTan%7B%88%95%A2%AF%BC%C9%D6%E3%F0%FD%0A%17%24\
             &peer_id=-SH0100-ab%20c~d.e_f%00%FF\
             &port=6881&uploaded=1&downloaded=2&left=3&compact=1\
             &event=started&numwant=50&key=DEADBEEF"
        );
    }

    #[test]
    fn optional_parameters() {
        let mut r = req();
        r.event = Event::None;
        r.numwant = None;
        r.tracker_id = Some(b"x y".to_vec());
        r.no_peer_id = true;
        let got = announce_url(&url("https://t.example/a"), &r);
        assert!(!got.contains("event="));
        assert!(!got.contains("numwant="));
        assert!(got.ends_with("&key=DEADBEEF&trackerid=x%20y&no_peer_id=1"));
        for (e, name) in [(Event::Completed, "completed"), (Event::Stopped, "stopped")] {
            r.event = e;
            assert!(announce_url(&url("http://t/a"), &r).contains(&format!("&event={name}&")));
        }
    }

    #[test]
    fn existing_query_is_kept_and_joined_with_ampersand() {
        let r = req();
        let got = announce_url(&url("http://t.example/announce?passkey=abc#frag"), &r);
        assert!(got.starts_with("http://t.example/announce?passkey=abc&info_hash="));
        assert!(!got.contains('#'));
        let got = announce_url(&url("http://t.example/announce?"), &r);
        assert!(got.starts_with("http://t.example/announce?info_hash="));
        let got = announce_url(&url("http://t.example/announce?a=1&"), &r);
        assert!(got.starts_with("http://t.example/announce?a=1&info_hash="));
    }

    #[test]
    fn url_validation() {
        assert_eq!(url("udp://t.example:6969").kind(), TrackerKind::Udp);
        assert_eq!(url("HTTPS://t.example/announce").kind(), TrackerKind::Https);
        for bad in [
            "udp://t.example/announce",
            "wss://t.example/announce",
            "not a url",
            "http://:80/announce",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(TrackerUrl::parse(bad), Err(TrackerError::BadUrl { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            url("udp://t.example:6969/announce").host_port(),
            Some(("t.example", 6969))
        );
        assert_eq!(
            url("http://t.example/a").host_port(),
            Some(("t.example", 80))
        );
    }

    #[test]
    fn scrape_url_follows_bep48() {
        let s = |a: &str| url(a).scrape_url().map(|u| u.as_str().to_string());
        assert_eq!(s("http://t/announce").as_deref(), Some("http://t/scrape"));
        assert_eq!(
            s("http://t/x/announce.php?pk=1").as_deref(),
            Some("http://t/x/scrape.php?pk=1")
        );
        assert_eq!(s("http://t/announce/x"), None);
        assert_eq!(
            s("http://t/a/announce2").as_deref(),
            Some("http://t/a/scrape2")
        );
        assert_eq!(s("http://t/x/ann"), None);
        assert_eq!(s("http://t/"), None);
        assert_eq!(
            s("udp://t:80/announce").as_deref(),
            Some("udp://t:80/announce")
        );
    }

    #[test]
    fn scrape_request_repeats_info_hash() {
        let a = InfoHash::v1(InfoHashV1([0x41; 20]));
        let b = InfoHash::v1(InfoHashV1([0xff; 20]));
        let got = scrape_request_url(&url("http://t/scrape?pk=1"), &[a, b]);
        assert_eq!(
            got,
            format!(
                "http://t/scrape?pk=1&info_hash={}&info_hash={}",
                "A".repeat(20),
                "%FF".repeat(20)
            )
        );
    }
}
