//! Bencoded HTTP tracker replies: announce (BEP 3, 7, 23) and scrape (BEP 48).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use shoal_bencode::{decode_prefix, Dict, Limits, Value};
use shoal_core::InfoHash;

use super::peers::{push_compact, V4_STRIDE, V6_STRIDE};
use super::types::{
    display_text, AnnounceResponse, ReplyLimits, ScrapeEntry, ScrapeResponse, ScrapeStats,
};
use crate::{ReplyError, TrackerError};

/// Longest tracker id we keep; it is echoed in every later announce URL.
const MAX_TRACKER_ID: usize = 1024;

/// Parses an announce reply. A `failure reason` becomes [`TrackerError::Refused`].
pub fn parse_announce_reply(
    body: &[u8],
    limits: &ReplyLimits,
) -> Result<AnnounceResponse, TrackerError> {
    let value = decode_body(body, limits)?;
    let dict = top_dict(&value)?;
    let interval = seconds(dict, "interval")?.ok_or(ReplyError::MissingField("interval"))?;
    let tracker_id = match dict.get(b"tracker id") {
        None => None,
        Some(v) => match v.as_bytes() {
            Some(b) if b.len() <= MAX_TRACKER_ID => Some(b.to_vec()),
            _ => return Err(ReplyError::BadField("tracker id").into()),
        },
    };
    let warning = match dict.get(b"warning message") {
        None => None,
        Some(v) => Some(display_text(
            v.as_bytes()
                .ok_or(ReplyError::BadField("warning message"))?,
        )),
    };
    let mut peers = Vec::new();
    match dict.get(b"peers") {
        None => {}
        Some(v) => match (v.as_bytes(), v.as_list()) {
            (Some(bytes), _) => push_checked(bytes, "peers", V4_STRIDE, limits, &mut peers)?,
            (_, Some(list)) => push_dict_peers(list, limits.max_peers, &mut peers)?,
            _ => return Err(ReplyError::BadField("peers").into()),
        },
    }
    if let Some(v) = dict.get(b"peers6") {
        let bytes = v.as_bytes().ok_or(ReplyError::BadField("peers6"))?;
        push_checked(bytes, "peers6", V6_STRIDE, limits, &mut peers)?;
    }
    Ok(AnnounceResponse {
        interval,
        min_interval: seconds(dict, "min interval")?,
        tracker_id,
        complete: count(dict, "complete")?,
        incomplete: count(dict, "incomplete")?,
        warning,
        peers,
    })
}

/// Parses a scrape reply, keeping only the torrents in `requested` (in that order).
pub fn parse_scrape_reply(
    body: &[u8],
    requested: &[InfoHash],
    limits: &ReplyLimits,
) -> Result<ScrapeResponse, TrackerError> {
    let value = decode_body(body, limits)?;
    let dict = top_dict(&value)?;
    let files = dict
        .get(b"files")
        .ok_or(ReplyError::MissingField("files"))?
        .as_dict()
        .ok_or(ReplyError::BadField("files"))?;
    let mut out = ScrapeResponse::default();
    for hash in requested {
        let Some(entry) = files.get(&hash.wire_id()) else {
            continue;
        };
        let entry = entry.as_dict().ok_or(ReplyError::BadField("files"))?;
        let stats = ScrapeStats {
            complete: count(entry, "complete")?.unwrap_or(0),
            downloaded: count(entry, "downloaded")?.unwrap_or(0),
            incomplete: count(entry, "incomplete")?.unwrap_or(0),
        };
        out.files.push(ScrapeEntry {
            info_hash: *hash,
            stats,
        });
    }
    Ok(out)
}

/// Size cap, bencode with tight limits (a reply is shallow), then `failure reason`.
fn decode_body<'a>(body: &'a [u8], limits: &ReplyLimits) -> Result<Value<'a>, TrackerError> {
    if body.len() > limits.max_bytes {
        return Err(ReplyError::TooLarge {
            limit: limits.max_bytes,
        }
        .into());
    }
    let bencode_limits = Limits {
        max_depth: 8,
        max_tokens: 200_000,
        max_input: limits.max_bytes,
    };
    // Lenient and prefix-only: some trackers append a newline after the dictionary.
    let (value, _) = decode_prefix(body, &bencode_limits).map_err(ReplyError::from)?;
    if let Some(reason) = value.get(b"failure reason") {
        let text = reason.as_bytes().map(display_text).unwrap_or_default();
        return Err(TrackerError::Refused(text));
    }
    Ok(value)
}

fn top_dict<'v, 'a>(value: &'v Value<'a>) -> Result<&'v Dict<'a>, ReplyError> {
    value.as_dict().ok_or(ReplyError::NotADict)
}

/// An optional non-negative 32-bit integer.
fn count(dict: &Dict<'_>, key: &'static str) -> Result<Option<u32>, ReplyError> {
    match dict.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v
            .as_int()
            .and_then(|i| u32::try_from(i).ok())
            .map(Some)
            .ok_or(ReplyError::BadField(key)),
    }
}

fn seconds(dict: &Dict<'_>, key: &'static str) -> Result<Option<Duration>, ReplyError> {
    Ok(count(dict, key)?.map(|s| Duration::from_secs(u64::from(s))))
}

fn push_checked(
    bytes: &[u8],
    key: &'static str,
    stride: usize,
    limits: &ReplyLimits,
    out: &mut Vec<SocketAddr>,
) -> Result<(), ReplyError> {
    if bytes.len() % stride != 0 {
        return Err(ReplyError::BadPeersLength {
            key,
            len: bytes.len(),
            stride,
        });
    }
    push_compact(bytes, stride, limits.max_peers, out);
    Ok(())
}

/// The original BEP 3 list of `{peer id, ip, port}` dictionaries. Entries whose `ip` is a
/// host name are skipped: resolving names is I/O, and trackers that send them are rare.
fn push_dict_peers(
    list: &[Value<'_>],
    cap: usize,
    out: &mut Vec<SocketAddr>,
) -> Result<(), ReplyError> {
    for entry in list {
        if out.len() >= cap {
            break;
        }
        let entry = entry.as_dict().ok_or(ReplyError::BadField("peers"))?;
        let ip = entry
            .get(b"ip")
            .and_then(Value::as_bytes)
            .ok_or(ReplyError::BadField("ip"))?;
        let port = entry
            .get(b"port")
            .and_then(Value::as_int)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or(ReplyError::BadField("port"))?;
        let parsed = std::str::from_utf8(ip)
            .ok()
            .and_then(|s| s.parse::<IpAddr>().ok());
        if let Some(ip) = parsed {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "http_reply_tests.rs"]
mod tests;
