//! BEP 15 datagrams: request encoders and reply parsers.
//!
//! Parsing is split in two steps because a client must match the transaction id before it
//! trusts anything else in a datagram: [`peek_header`] reads action and transaction id, then
//! the parser for the expected action reads the rest. Replies may be longer than the layout
//! (BEP 15: "do not expect packets to be exactly of a certain size"), so only whole entries
//! are read and extra bytes are ignored.

use std::time::Duration;

use shoal_core::InfoHash;

use super::peers::{push_compact, V4_STRIDE, V6_STRIDE};
use super::types::{display_text, AnnounceRequest, AnnounceResponse, ReplyLimits, ScrapeStats};
use crate::ReplyError;

/// The magic constant that opens a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Action codes.
pub const ACTION_CONNECT: u32 = 0;
pub const ACTION_ANNOUNCE: u32 = 1;
pub const ACTION_SCRAPE: u32 = 2;
pub const ACTION_ERROR: u32 = 3;

/// Bytes of a connect reply and of the fixed part of an announce reply.
const CONNECT_REPLY_LEN: usize = 16;
const ANNOUNCE_REPLY_HEADER: usize = 20;
const HEADER_LEN: usize = 8;
const SCRAPE_ENTRY: usize = 12;

/// The address family of the tracker, which fixes the peer stride of announce replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressFamily {
    V4,
    V6,
}

impl AddressFamily {
    fn stride(self) -> usize {
        match self {
            AddressFamily::V4 => V4_STRIDE,
            AddressFamily::V6 => V6_STRIDE,
        }
    }
}

/// A connect request (16 bytes).
pub fn encode_connect(transaction_id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    out.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out
}

/// An announce request (98 bytes). The IP field is always 0: BEP 7 discourages naming an
/// address, and it cannot hold an IPv6 one anyway.
pub fn encode_announce(connection_id: u64, transaction_id: u32, req: &AnnounceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(98);
    out.extend_from_slice(&connection_id.to_be_bytes());
    out.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out.extend_from_slice(&req.info_hash.wire_id());
    out.extend_from_slice(&req.peer_id.0);
    out.extend_from_slice(&req.downloaded.to_be_bytes());
    out.extend_from_slice(&req.left.to_be_bytes());
    out.extend_from_slice(&req.uploaded.to_be_bytes());
    out.extend_from_slice(&req.event.udp_code().to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&req.key.to_be_bytes());
    let numwant: i32 = req
        .numwant
        .map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX));
    out.extend_from_slice(&numwant.to_be_bytes());
    out.extend_from_slice(&req.port.to_be_bytes());
    out
}

/// A scrape request for `hashes` (the caller keeps it to [`super::MAX_SCRAPE_HASHES`]).
pub fn encode_scrape(connection_id: u64, transaction_id: u32, hashes: &[InfoHash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 20 * hashes.len());
    out.extend_from_slice(&connection_id.to_be_bytes());
    out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    for h in hashes {
        out.extend_from_slice(&h.wire_id());
    }
    out
}

/// Action and transaction id of any reply.
pub fn peek_header(data: &[u8]) -> Result<(u32, u32), ReplyError> {
    match (be_u32(data, 0), be_u32(data, 4)) {
        (Some(action), Some(tid)) => Ok((action, tid)),
        _ => Err(truncated(HEADER_LEN, data)),
    }
}

/// The connection id of a connect reply.
pub fn parse_connect(data: &[u8]) -> Result<u64, ReplyError> {
    expect_action(data, ACTION_CONNECT)?;
    be_u64(data, 8).ok_or_else(|| truncated(CONNECT_REPLY_LEN, data))
}

/// An announce reply; `family` is that of the tracker's address.
pub fn parse_announce(
    data: &[u8],
    family: AddressFamily,
    limits: &ReplyLimits,
) -> Result<AnnounceResponse, ReplyError> {
    expect_action(data, ACTION_ANNOUNCE)?;
    let (Some(interval), Some(leechers), Some(seeders), Some(peer_bytes)) = (
        be_u32(data, 8),
        be_u32(data, 12),
        be_u32(data, 16),
        data.get(ANNOUNCE_REPLY_HEADER..),
    ) else {
        return Err(truncated(ANNOUNCE_REPLY_HEADER, data));
    };
    let stride = family.stride();
    // At most what the datagram holds, at most the cap: both bound the allocation.
    let mut peers = Vec::with_capacity((peer_bytes.len() / stride).min(limits.max_peers));
    push_compact(peer_bytes, stride, limits.max_peers, &mut peers);
    Ok(AnnounceResponse {
        interval: Duration::from_secs(u64::from(interval)),
        min_interval: None,
        tracker_id: None,
        complete: Some(seeders),
        incomplete: Some(leechers),
        warning: None,
        peers,
    })
}

/// The counters of a scrape reply, one per requested hash in request order; `requested`
/// bounds how many are read.
pub fn parse_scrape(data: &[u8], requested: usize) -> Result<Vec<ScrapeStats>, ReplyError> {
    expect_action(data, ACTION_SCRAPE)?;
    let body = data.get(HEADER_LEN..).unwrap_or_default();
    Ok(body
        .chunks_exact(SCRAPE_ENTRY)
        .take(requested)
        .filter_map(|c| {
            Some(ScrapeStats {
                complete: be_u32(c, 0)?,
                downloaded: be_u32(c, 4)?,
                incomplete: be_u32(c, 8)?,
            })
        })
        .collect())
}

/// The message of an error reply.
pub fn parse_error(data: &[u8]) -> Result<String, ReplyError> {
    expect_action(data, ACTION_ERROR)?;
    Ok(display_text(data.get(HEADER_LEN..).unwrap_or_default()))
}

fn expect_action(data: &[u8], expected: u32) -> Result<(), ReplyError> {
    let (got, _) = peek_header(data)?;
    if got == expected {
        Ok(())
    } else {
        Err(ReplyError::UnexpectedAction { expected, got })
    }
}

fn truncated(need: usize, data: &[u8]) -> ReplyError {
    ReplyError::Truncated {
        need,
        got: data.len(),
    }
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn be_u64(data: &[u8], at: usize) -> Option<u64> {
    let bytes = data.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Reply encoders, as a tracker would send them: for tests of the client side.
#[cfg(test)]
pub(crate) mod fake_tracker {
    use super::*;
    use std::net::SocketAddr;

    pub fn connect_reply(tid: u32, connection_id: u64) -> Vec<u8> {
        let mut v = header(ACTION_CONNECT, tid);
        v.extend_from_slice(&connection_id.to_be_bytes());
        v
    }

    pub fn announce_reply(
        tid: u32,
        interval: u32,
        leechers: u32,
        seeders: u32,
        peers: &[SocketAddr],
    ) -> Vec<u8> {
        let mut v = header(ACTION_ANNOUNCE, tid);
        for n in [interval, leechers, seeders] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        for p in peers {
            match p.ip() {
                std::net::IpAddr::V4(ip) => v.extend_from_slice(&ip.octets()),
                std::net::IpAddr::V6(ip) => v.extend_from_slice(&ip.octets()),
            }
            v.extend_from_slice(&p.port().to_be_bytes());
        }
        v
    }

    pub fn scrape_reply(tid: u32, stats: &[ScrapeStats]) -> Vec<u8> {
        let mut v = header(ACTION_SCRAPE, tid);
        for s in stats {
            for n in [s.complete, s.downloaded, s.incomplete] {
                v.extend_from_slice(&n.to_be_bytes());
            }
        }
        v
    }

    pub fn error_reply(tid: u32, message: &str) -> Vec<u8> {
        let mut v = header(ACTION_ERROR, tid);
        v.extend_from_slice(message.as_bytes());
        v
    }

    fn header(action: u32, tid: u32) -> Vec<u8> {
        let mut v = action.to_be_bytes().to_vec();
        v.extend_from_slice(&tid.to_be_bytes());
        v
    }
}

#[cfg(test)]
#[path = "udp_packet_tests.rs"]
mod tests;
