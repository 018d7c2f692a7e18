//! Magnet links: BEP 9 (`xt=urn:btih:`, `dn`, `tr`, `x.pe`), BEP 19 web seeds (`ws`),
//! BEP 53 file selection (`so`), BEP 52's `xt=urn:btmh:` for v2 torrents, and libtorrent's
//! `dht=host:port` bootstrap hint.
//!
//! A magnet link is typed or pasted by a user but written by anyone, so the parser is strict
//! where a mistake would silently change *which torrent* is fetched and lenient everywhere else,
//! the way libtorrent is:
//!
//! * The info-hash must be exactly 40 hex or 32 base32 characters (v1), or `1220` plus 64 hex
//!   characters (a SHA-256 multihash, v2); anything else is an error, and a link with no
//!   BitTorrent `xt` at all is an error.
//! * A malformed percent-escape in any parameter we use is an error: it means the link was
//!   truncated or mangled, and guessing would fetch the wrong thing. (The `percent-encoding`
//!   crate passes malformed escapes through unchanged, so decoding is done here.)
//! * Everything optional is best-effort: unknown keys, peers that are not `ip:port`, DHT nodes
//!   without a port and `so` entries that are not indices are skipped.
//! * Nothing is allocated from a number in the link: `so` indices above
//!   [`MAX_SELECT_INDEX`] are ignored, and the whole link is capped at [`MAX_MAGNET_LEN`].
//!
//! Keys compare ASCII case-insensitively. `tr.N` (BEP 9's numbered form) puts trackers with the
//! same `N` in one tier; every plain `tr` is its own tier; tiers keep the order in which they
//! first appear. [`Magnet::to_uri`] writes single-tracker tiers as plain `tr` and larger tiers
//! as `tr.N`, so tiers survive a round trip and readers that ignore the number still see every
//! tracker.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::ids::{InfoHash, InfoHashV1, InfoHashV2};

/// Longest magnet link accepted, in bytes. Real links with dozens of trackers are a few KiB.
pub const MAX_MAGNET_LEN: usize = 1 << 20;

/// Largest file index `so=` may select; larger ones are ignored, so a selection never takes
/// more than 1 MiB however the link is written.
pub const MAX_SELECT_INDEX: u32 = (1 << 20) - 1;

/// Why a magnet link cannot be used. All of them: report to the user, add nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    #[error("not a magnet link (it must start with \"magnet:?\")")]
    NotAMagnet,
    #[error("magnet link is {len} bytes long, more than the {MAX_MAGNET_LEN} accepted")]
    TooLong { len: usize },
    #[error("invalid percent-escape in the '{key}' parameter of the magnet link")]
    InvalidEscape { key: &'static str },
    #[error("invalid info-hash in magnet link: {0}")]
    InvalidInfoHash(&'static str),
    #[error("magnet link has no BitTorrent info-hash (xt=urn:btih:... or xt=urn:btmh:...)")]
    MissingInfoHash,
}

/// A parsed magnet link: enough to find peers and fetch the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The torrent to fetch.
    pub info_hash: InfoHash,
    /// `dn`: a display name until the metadata arrives; never used as a path unsanitised.
    pub name: Option<String>,
    /// Announce URLs, by tier (BEP 12 order).
    pub trackers: Vec<Vec<String>>,
    /// `ws`: web seeds (BEP 19).
    pub web_seeds: Vec<String>,
    /// `x.pe`: peers to contact directly.
    pub peers: Vec<SocketAddr>,
    /// `dht`: DHT nodes to bootstrap from, host (an IP literal without brackets, or a name) and
    /// port.
    pub dht_nodes: Vec<(String, u16)>,
    /// `so` (BEP 53): when present, file `i` is downloaded only if `select_only[i]`; files past
    /// the end are not. `None` means every file. Never present with no file selected.
    pub select_only: Option<Vec<bool>>,
}

impl Magnet {
    /// A link naming only the torrent; fill in the public fields as needed.
    pub fn new(info_hash: InfoHash) -> Self {
        Self {
            info_hash,
            name: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            peers: Vec::new(),
            dht_nodes: Vec::new(),
            select_only: None,
        }
    }

    /// Whether file `file` is wanted according to `so`.
    pub fn is_file_selected(&self, file: usize) -> bool {
        match &self.select_only {
            None => true,
            Some(sel) => sel.get(file).copied().unwrap_or(false),
        }
    }

    /// Parses a `magnet:?` URI.
    pub fn parse(uri: &str) -> Result<Self, MagnetError> {
        if uri.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong { len: uri.len() });
        }
        let query = uri
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("magnet:"))
            .and_then(|_| uri.get(7..))
            .and_then(|rest| rest.strip_prefix('?'))
            .ok_or(MagnetError::NotAMagnet)?;

        let mut p = Parser::default();
        for param in query.split('&') {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let Some(key) = Key::classify(key) else {
                continue;
            };
            let value =
                percent_decode(value).ok_or(MagnetError::InvalidEscape { key: key.name() })?;
            p.handle(key, &value)?;
        }
        p.finish()
    }

    /// Writes the link back as a URI that [`Magnet::parse`] reads to an equal `Magnet`
    /// (given trackers, web seeds, names and hosts that are non-empty, and no empty tiers).
    pub fn to_uri(&self) -> String {
        let mut params: Vec<String> = Vec::new();
        if let Some(v1) = self.info_hash.get_v1() {
            params.push(format!("xt=urn:btih:{}", v1.to_hex()));
        }
        if let Some(v2) = self.info_hash.get_v2() {
            params.push(format!("xt=urn:btmh:1220{}", v2.to_hex()));
        }
        if let Some(name) = &self.name {
            params.push(format!("dn={}", encode(name)));
        }
        for (tier_pos, tier) in self.trackers.iter().enumerate() {
            for url in tier {
                if tier.len() == 1 {
                    params.push(format!("tr={}", encode(url)));
                } else {
                    params.push(format!("tr.{tier_pos}={}", encode(url)));
                }
            }
        }
        for ws in &self.web_seeds {
            params.push(format!("ws={}", encode(ws)));
        }
        for peer in &self.peers {
            params.push(format!("x.pe={}", encode(&peer.to_string())));
        }
        for (host, port) in &self.dht_nodes {
            // Brackets keep the port separable from an IPv6 literal (and protect a host that
            // itself starts with '[').
            let node = if host.contains(':') || host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            params.push(format!("dht={}", encode(&node)));
        }
        if let Some(sel) = &self.select_only {
            let ranges = selection_ranges(sel);
            if !ranges.is_empty() {
                params.push(format!("so={ranges}"));
            }
        }
        format!("magnet:?{}", params.join("&"))
    }
}

impl FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Self, MagnetError> {
        Self::parse(s)
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

/// The parameters we read.
#[derive(Clone, Copy)]
enum Key {
    Xt,
    Dn,
    /// `tr` or `tr.N`.
    Tr(Option<u64>),
    Ws,
    Peer,
    Dht,
    So,
}

impl Key {
    /// `None` for keys we ignore, including numbered keys whose suffix is not a number
    /// (libtorrent ignores `tr.a` too).
    fn classify(key: &str) -> Option<Self> {
        let (base, suffix) = match key.split_once('.') {
            Some((base, suffix)) => (base, Some(suffix)),
            None => (key, None),
        };
        if base.eq_ignore_ascii_case("x") {
            return suffix
                .filter(|s| s.eq_ignore_ascii_case("pe"))
                .map(|_| Key::Peer);
        }
        let index = match suffix {
            None => None,
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Some(s.parse::<u64>().ok()?)
            }
            Some(_) => return None,
        };
        let is = |name: &str| base.eq_ignore_ascii_case(name);
        Some(if is("xt") {
            Key::Xt
        } else if is("dn") {
            Key::Dn
        } else if is("tr") {
            Key::Tr(index)
        } else if is("ws") {
            Key::Ws
        } else if is("dht") {
            Key::Dht
        } else if is("so") {
            Key::So
        } else {
            return None;
        })
    }

    fn name(self) -> &'static str {
        match self {
            Key::Xt => "xt",
            Key::Dn => "dn",
            Key::Tr(_) => "tr",
            Key::Ws => "ws",
            Key::Peer => "x.pe",
            Key::Dht => "dht",
            Key::So => "so",
        }
    }
}

/// Accumulates parameters in order.
#[derive(Default)]
struct Parser {
    v1: Option<InfoHashV1>,
    v2: Option<InfoHashV2>,
    name: Option<String>,
    trackers: Vec<Vec<String>>,
    /// `N` of `tr.N` → position of its tier in `trackers`.
    tier_of_index: HashMap<u64, usize>,
    web_seeds: Vec<String>,
    peers: Vec<SocketAddr>,
    dht_nodes: Vec<(String, u16)>,
    /// Grows only up to `MAX_SELECT_INDEX + 1` entries.
    select: Vec<bool>,
}

impl Parser {
    fn handle(&mut self, key: Key, value: &[u8]) -> Result<(), MagnetError> {
        match key {
            Key::Xt => self.xt(value)?,
            Key::Dn => {
                if self.name.is_none() && !value.is_empty() {
                    // Only a display hint: a lossy conversion is better than losing it.
                    self.name = Some(String::from_utf8_lossy(value).into_owned());
                }
            }
            Key::Tr(index) => {
                if let Some(url) = non_empty_utf8(value) {
                    self.tracker(index, url);
                }
            }
            Key::Ws => {
                if let Some(url) = non_empty_utf8(value) {
                    self.web_seeds.push(url);
                }
            }
            Key::Peer => {
                if let Some(addr) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<SocketAddr>().ok())
                {
                    self.peers.push(addr);
                }
            }
            Key::Dht => {
                if let Some(node) = std::str::from_utf8(value).ok().and_then(parse_dht_node) {
                    self.dht_nodes.push(node);
                }
            }
            Key::So => {
                if let Ok(s) = std::str::from_utf8(value) {
                    self.select_only(s);
                }
            }
        }
        Ok(())
    }

    /// The first hash of each kind wins; URNs of other networks (`urn:ed2k:`, ...) are ignored.
    fn xt(&mut self, value: &[u8]) -> Result<(), MagnetError> {
        if let Some(h) = strip_prefix_ci(value, b"urn:btih:") {
            let hash = parse_btih(h)?;
            self.v1.get_or_insert(hash);
        } else if let Some(h) = strip_prefix_ci(value, b"urn:btmh:") {
            let hash = parse_btmh(h)?;
            self.v2.get_or_insert(hash);
        }
        Ok(())
    }

    fn tracker(&mut self, index: Option<u64>, url: String) {
        if let Some(n) = index {
            if let Some(tier) = self
                .tier_of_index
                .get(&n)
                .and_then(|&pos| self.trackers.get_mut(pos))
            {
                tier.push(url);
                return;
            }
            self.tier_of_index.insert(n, self.trackers.len());
        }
        self.trackers.push(vec![url]);
    }

    /// BEP 53: comma-separated indices and inclusive ranges `a-b`. A value with any other
    /// character is ignored whole; malformed, inverted or too-large entries are skipped.
    fn select_only(&mut self, value: &str) {
        if !value
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b',')
        {
            return;
        }
        for token in value.split(',') {
            let (first, last) = match token.split_once('-') {
                Some((a, b)) => (parse_select_index(a), parse_select_index(b)),
                None => (parse_select_index(token), parse_select_index(token)),
            };
            let (Some(first), Some(last)) = (first, last) else {
                continue;
            };
            if first > last {
                continue;
            }
            // Both at most MAX_SELECT_INDEX: the resize is bounded.
            let (first, last) = (first as usize, last as usize);
            if self.select.len() <= last {
                self.select.resize(last + 1, false);
            }
            if let Some(range) = self.select.get_mut(first..=last) {
                range.fill(true);
            }
        }
    }

    fn finish(self) -> Result<Magnet, MagnetError> {
        let info_hash =
            InfoHash::from_parts(self.v1, self.v2).ok_or(MagnetError::MissingInfoHash)?;
        let select_only = self.select.contains(&true).then_some(self.select);
        Ok(Magnet {
            info_hash,
            name: self.name,
            trackers: self.trackers,
            web_seeds: self.web_seeds,
            peers: self.peers,
            dht_nodes: self.dht_nodes,
            select_only,
        })
    }
}

fn non_empty_utf8(value: &[u8]) -> Option<String> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Digits only (no sign, no second `-`), at most [`MAX_SELECT_INDEX`].
fn parse_select_index(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|&i| i <= MAX_SELECT_INDEX)
}

/// `host:port`, split at the last colon; `[v6]:port` loses its brackets. Port 0 and empty
/// hosts are skipped.
fn parse_dht_node(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|&p| p != 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

fn parse_btih(h: &[u8]) -> Result<InfoHashV1, MagnetError> {
    const BAD: MagnetError =
        MagnetError::InvalidInfoHash("btih must be 40 hex or 32 base32 characters");
    match h.len() {
        40 => std::str::from_utf8(h)
            .ok()
            .and_then(InfoHashV1::from_hex)
            .ok_or(BAD),
        32 => data_encoding::BASE32_NOPAD
            .decode(&h.to_ascii_uppercase())
            .ok()
            .and_then(|bytes| <[u8; 20]>::try_from(bytes).ok())
            .map(InfoHashV1)
            .ok_or(BAD),
        _ => Err(BAD),
    }
}

/// A multihash: `12` (SHA-256) `20` (32 bytes) and the digest, all in hex.
fn parse_btmh(h: &[u8]) -> Result<InfoHashV2, MagnetError> {
    if h.len() != 68 {
        return Err(MagnetError::InvalidInfoHash(
            "btmh must be 1220 followed by 64 hex characters",
        ));
    }
    let (prefix, digest) = h.split_at(4);
    if !prefix.eq_ignore_ascii_case(b"1220") {
        return Err(MagnetError::InvalidInfoHash(
            "btmh is not a SHA-256 multihash (prefix 1220)",
        ));
    }
    std::str::from_utf8(digest)
        .ok()
        .and_then(InfoHashV2::from_hex)
        .ok_or(MagnetError::InvalidInfoHash(
            "btmh digest is not 64 hex characters",
        ))
}

fn strip_prefix_ci<'a>(value: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| value.get(prefix.len()..))
        .flatten()
}

/// Strict `application/x-www-form-urlencoded` decoding (`%XX` and `+` for space); `None` on a
/// `%` not followed by two hex digits. Written here because the `percent-encoding` crate
/// deliberately passes malformed escapes through.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = |at: usize| bytes.get(at).and_then(|&d| char::from(d).to_digit(16));
                let (hi, lo) = (hex(i + 1)?, hex(i + 2)?);
                // Two hex digits: at most 255.
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Everything but unreserved characters is escaped; `:` and `/` are left readable (RFC 3986
/// allows them in a query), so `tr=udp://host:port/announce` reads naturally.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'/');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, VALUE).to_string()
}

/// `0,2,4,6-8` for the selected indices.
fn selection_ranges(sel: &[bool]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sel.len() {
        if !sel.get(i).copied().unwrap_or(false) {
            i += 1;
            continue;
        }
        let start = i;
        while sel.get(i + 1).copied().unwrap_or(false) {
            i += 1;
        }
        parts.push(if start == i {
            start.to_string()
        } else {
            format!("{start}-{i}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

    const HEX: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

    #[test]
    fn minimal_and_scheme() {
        let m = Magnet::parse(&format!("MAGNET:?xt=urn:BTIH:{}", HEX.to_uppercase())).unwrap();
        assert_eq!(m, Magnet::new(InfoHash::v1(InfoHashV1([0xcd; 20]))));
        assert_eq!(Magnet::parse("http://x"), Err(MagnetError::NotAMagnet));
        assert_eq!(Magnet::parse("magnet:xt=1"), Err(MagnetError::NotAMagnet));
        assert_eq!(Magnet::parse("magnet:?"), Err(MagnetError::MissingInfoHash));
        let long = format!(
            "magnet:?xt=urn:btih:{HEX}&dn={}",
            "a".repeat(MAX_MAGNET_LEN)
        );
        assert!(matches!(
            Magnet::parse(&long),
            Err(MagnetError::TooLong { .. })
        ));
    }

    #[test]
    fn escapes() {
        assert_eq!(percent_decode("a%20b+c%2B"), Some(b"a b c+".to_vec()));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%g0"), None);
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=%E2%9C%93+ok")).unwrap();
        assert_eq!(m.name.as_deref(), Some("\u{2713} ok"));
        // Unknown keys are not decoded, so their escapes do not matter.
        assert!(Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&foo=%zz")).is_ok());
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&x.pe=%zz")),
            Err(MagnetError::InvalidEscape { key: "x.pe" })
        );
    }

    #[test]
    fn tiers_from_numbered_trackers() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&tr.2=a&tr=b&tr.1=c&tr.2=d&tr.x=e&tr.=f&tr=&tr.1=g"
        ))
        .unwrap();
        assert_eq!(m.trackers, [vec!["a", "d"], vec!["b"], vec!["c", "g"]]);
        let uri = m.to_uri();
        assert!(uri.contains("tr=b"), "{uri}");
        assert_eq!(Magnet::parse(&uri).unwrap(), m);
    }

    #[test]
    fn to_uri_shape() {
        let mut m = Magnet::new(InfoHash::hybrid(
            InfoHashV1([0xab; 20]),
            InfoHashV2([1; 32]),
        ));
        m.name = Some("a b&c".into());
        m.trackers = vec![vec!["udp://t.example:80/announce".into()]];
        m.peers = vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 43))];
        m.dht_nodes = vec![("::1".into(), 6881), ("router.example".into(), 6881)];
        m.select_only = Some(vec![true, false, true, true, true, false, true]);
        assert_eq!(
            m.to_uri(),
            format!(
                "magnet:?xt=urn:btih:{}&xt=urn:btmh:1220{}&dn=a%20b%26c\
                 &tr=udp://t.example:80/announce&x.pe=127.0.0.1:43\
                 &dht=%5B::1%5D:6881&dht=router.example:6881&so=0,2-4,6",
                "ab".repeat(20),
                "01".repeat(32)
            )
        );
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        assert!(m.is_file_selected(3));
        assert!(!m.is_file_selected(5));
        assert!(!m.is_file_selected(70));
    }

    #[test]
    fn select_only_caps_indices() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&so=1048575,1048576,0-4294967296,99999999999999999999"
        ))
        .unwrap();
        let sel = m.select_only.unwrap();
        assert_eq!(sel.len(), MAX_SELECT_INDEX as usize + 1);
        assert_eq!(sel.iter().filter(|&&b| b).count(), 1);
    }

    fn arb_hash() -> impl Strategy<Value = InfoHash> {
        (
            proptest::option::of(any::<[u8; 20]>()),
            proptest::option::of(any::<[u8; 32]>()),
            any::<[u8; 20]>(),
        )
            .prop_map(|(v1, v2, fallback)| {
                InfoHash::from_parts(v1.map(InfoHashV1), v2.map(InfoHashV2))
                    .unwrap_or(InfoHash::v1(InfoHashV1(fallback)))
            })
    }

    fn arb_peer() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::from((Ipv4Addr::from(ip), port))),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
            }),
        ]
    }

    fn arb_selection() -> impl Strategy<Value = Option<Vec<bool>>> {
        proptest::option::of(proptest::collection::vec(any::<bool>(), 0..40)).prop_map(|s| {
            s.map(|mut v| {
                v.push(true);
                v
            })
        })
    }

    fn arb_magnet() -> impl Strategy<Value = Magnet> {
        let text = "\\PC{1,20}";
        (
            arb_hash(),
            proptest::option::of(text),
            proptest::collection::vec(proptest::collection::vec(text, 1..4), 0..4),
            proptest::collection::vec(text, 0..3),
            proptest::collection::vec(arb_peer(), 0..3),
            proptest::collection::vec((text, 1u16..), 0..3),
            arb_selection(),
        )
            .prop_map(
                |(info_hash, name, trackers, web_seeds, peers, dht_nodes, select_only)| Magnet {
                    info_hash,
                    name,
                    trackers,
                    web_seeds,
                    peers,
                    dht_nodes,
                    select_only,
                },
            )
    }

    proptest! {
        #[test]
        fn to_uri_round_trips(m in arb_magnet()) {
            let uri = m.to_uri();
            prop_assert_eq!(Magnet::parse(&uri), Ok(m));
        }

        #[test]
        fn parse_never_panics(s in "magnet:\\?[a-z.=&%0-9:/+\\[\\]-]{0,80}") {
            let _ = Magnet::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_any_text(s in any::<String>()) {
            let _ = Magnet::parse(&format!("magnet:?{s}"));
        }
    }
}
