//! The keys outside the info dictionary (and the advisory ones inside it): trackers, web
//! seeds, DHT nodes, dates and comments.
//!
//! None of these can make a torrent unusable, so nothing here returns an error: an entry of
//! the wrong type is skipped, as libtorrent does (url_list2/url_list3 in the corpus carry such
//! entries and must load). Only the shape of a value is trusted, never its content, and every
//! list is bounded by the decoder's token limit.

use std::collections::HashSet;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use shoal_bencode::Value;

use crate::ids::InfoHashV1;

/// A DHT bootstrap node named in the .torrent file (BEP 5 `nodes`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DhtNode {
    /// A host name or IP literal, not resolved.
    pub host: String,
    pub port: u16,
}

/// Fields read from the top-level dictionary.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub http_seeds: Vec<String>,
    pub dht_nodes: Vec<DhtNode>,
    pub creation_date: Option<i64>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
}

/// Reads the top-level fields. `multi_file` says whether web seed URLs name a directory
/// (BEP 19: the client appends the torrent name and file paths).
pub(crate) fn read(top: &Value<'_>, multi_file: bool) -> Extras {
    Extras {
        trackers: trackers(top),
        web_seeds: url_list(top.get(b"url-list"), multi_file),
        http_seeds: url_list(top.get(b"httpseeds"), false),
        dht_nodes: dht_nodes(top),
        creation_date: top
            .get(b"creation date")
            .and_then(Value::as_int)
            .filter(|d| *d >= 0),
        comment: text(top, b"comment.utf-8").or_else(|| text(top, b"comment")),
        created_by: text(top, b"created by.utf-8").or_else(|| text(top, b"created by")),
    }
}

/// A human-readable string; invalid UTF-8 is replaced rather than refused. Empty is absent.
fn text(top: &Value<'_>, key: &[u8]) -> Option<String> {
    let b = top.get(key)?.as_bytes()?;
    (!b.is_empty()).then(|| String::from_utf8_lossy(b).into_owned())
}

/// BEP 12 tiers, else the single `announce` URL. URLs are trimmed; empty URLs, empty tiers and
/// repeats of a URL already listed are dropped. Tiers are not shuffled here: that needs a
/// random source and belongs to the tracker client.
fn trackers(top: &Value<'_>) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    let mut tiers = Vec::new();
    if let Some(list) = top.get(b"announce-list").and_then(Value::as_list) {
        for tier in list.iter().filter_map(Value::as_list) {
            let urls: Vec<String> = tier
                .iter()
                .filter_map(tracker_url)
                .filter(|u| seen.insert(u.clone()))
                .collect();
            if !urls.is_empty() {
                tiers.push(urls);
            }
        }
    }
    if tiers.is_empty() {
        if let Some(url) = top.get(b"announce").and_then(tracker_url) {
            tiers.push(vec![url]);
        }
    }
    tiers
}

fn tracker_url(v: &Value<'_>) -> Option<String> {
    let s = v.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// BEP 19 `url-list` (or BEP 17 `httpseeds`): a string or a list of strings. Wrong types and
/// empty strings are skipped, repeats removed, spaces and other unsafe bytes in the path
/// percent-encoded.
fn url_list(v: Option<&Value<'_>>, multi_file: bool) -> Vec<String> {
    let single;
    let items: &[Value<'_>] = match v {
        Some(v) if v.as_bytes().is_some() => {
            single = [v.clone()];
            &single
        }
        Some(v) => v.as_list().unwrap_or(&[]),
        None => &[],
    };
    let mut seen = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for s in items
        .iter()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        let mut url = encode_url_path(s);
        if multi_file && !url.ends_with('/') {
            url.push('/');
        }
        if seen.insert(url.clone()) {
            out.push(url);
        }
    }
    out
}

/// What may stay unescaped in a URL path: RFC 3986 unreserved characters, `/`, and the
/// characters libtorrent leaves alone (`!*()`).
const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'!')
    .remove(b'*')
    .remove(b'(')
    .remove(b')');

/// Characters that may appear anywhere in an already well-formed URL path; if every byte of
/// the path is one of these it is left as it is (so an existing `%20` is not encoded twice).
fn path_is_clean(path: &str) -> bool {
    path.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-_!.~*()%+;?:@=&,$".contains(&b))
}

/// Percent-encodes the path of `url` when it holds bytes that cannot appear in a URL
/// (libtorrent's `maybe_url_encode`); anything that does not look like `scheme://host/path`
/// is returned as it is.
fn encode_url_path(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let after = scheme_end + 3;
    let path_start = url
        .get(after..)
        .and_then(|rest| rest.find('/'))
        .map(|i| after + i);
    let Some(path_start) = path_start else {
        return url.to_owned();
    };
    let (head, path) = url.split_at(path_start);
    if path_is_clean(path) {
        return url.to_owned();
    }
    format!("{head}{}", utf8_percent_encode(path, PATH_KEEP))
}

/// BEP 5 `nodes`: a list of `[host, port]` pairs; malformed pairs are skipped.
fn dht_nodes(top: &Value<'_>) -> Vec<DhtNode> {
    let Some(list) = top.get(b"nodes").and_then(Value::as_list) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|n| {
            let pair = n.as_list()?;
            let host = pair.first()?.as_str()?;
            let port = u16::try_from(pair.get(1)?.as_int()?).ok()?;
            (!host.is_empty()).then(|| DhtNode {
                host: host.to_owned(),
                port,
            })
        })
        .collect()
}

/// BEP 38 `similar`: 20-byte info-hashes; other entries are skipped.
pub(crate) fn similar(v: Option<&Value<'_>>, out: &mut Vec<InfoHashV1>) {
    for item in v.and_then(Value::as_list).unwrap_or(&[]) {
        if let Some(b) = item.as_bytes().and_then(|b| <[u8; 20]>::try_from(b).ok()) {
            out.push(InfoHashV1(b));
        }
    }
}

/// BEP 38 `collections`: names of collections this torrent belongs to.
pub(crate) fn collections(v: Option<&Value<'_>>, out: &mut Vec<String>) {
    for item in v.and_then(Value::as_list).unwrap_or(&[]) {
        if let Some(b) = item.as_bytes() {
            out.push(String::from_utf8_lossy(b).into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_path_encoding() {
        assert_eq!(
            encode_url_path("http://test.com/test file/foo bar"),
            "http://test.com/test%20file/foo%20bar"
        );
        assert_eq!(encode_url_path("http://a.com/x%20y"), "http://a.com/x%20y");
        assert_eq!(encode_url_path("http://a b.com"), "http://a b.com");
        assert_eq!(encode_url_path("not a url"), "not a url");
        assert_eq!(encode_url_path("http://a.com/ä"), "http://a.com/%C3%A4");
    }

    #[test]
    fn trackers_trimmed_and_deduplicated() {
        let input = b"d8:announce3:urx13:announce-listll2:u13: u1e0:l0:el3:u2 eee";
        let v = shoal_bencode::decode(input).expect("valid");
        assert_eq!(
            trackers(&v),
            vec![vec!["u1".to_owned()], vec!["u2".to_owned()]]
        );
        let v = shoal_bencode::decode(b"d8:announce6: \turl e").expect("valid");
        assert_eq!(trackers(&v), vec![vec!["url".to_owned()]]);
    }

    #[test]
    fn nodes_skip_malformed() {
        let input = b"d5:nodesll1:ai1eeli3eel1:bi70000eel1:ci2eeee";
        let v = shoal_bencode::decode(input).expect("valid");
        let hosts: Vec<_> = dht_nodes(&v)
            .into_iter()
            .map(|n| (n.host, n.port))
            .collect();
        assert_eq!(hosts, vec![("a".to_owned(), 1), ("c".to_owned(), 2)]);
    }
}
