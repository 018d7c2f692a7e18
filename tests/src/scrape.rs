//! Asking a local tracker how many seeds it knows for a torrent (HTTP scrape, BEP 48).
//!
//! Tracker tests must know that the reference seeder's announce reached the tracker before
//! shoal announces: opentracker's interval is half an hour, so shoal gets one peer list per
//! test and a list without the seeder would never be followed by another. A scrape is the
//! one question that does not itself add a peer to the swarm.
//!
//! Written by hand (one HTTP/1.0 GET to a loopback tracker, a capped reply) because the only
//! HTTP client in the workspace is async and this needs a dozen lines.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use shoal_core::ids::InfoHashV1;

/// Scrape replies for one torrent are a few dozen bytes; anything beyond this is refused.
const MAX_REPLY: u64 = 64 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Seeds (`complete`) the tracker at `addr` lists for `info_hash`; 0 if it lists none.
pub fn seeds(addr: SocketAddr, info_hash: InfoHashV1) -> Result<u64, String> {
    let escaped: String = info_hash.0.iter().map(|b| format!("%{b:02X}")).collect();
    let request = format!("GET /scrape?info_hash={escaped} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|e| format!("sending a scrape to {addr}: {e}"))?;
    let mut reply = Vec::new();
    stream
        .take(MAX_REPLY)
        .read_to_end(&mut reply)
        .map_err(|e| format!("reading the scrape reply from {addr}: {e}"))?;
    let body_at = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("scrape reply without a header end: {reply:?}"))?;
    let body = reply.get(body_at + 4..).unwrap_or_default();
    let root = shoal_bencode::decode(body).map_err(|e| format!("scrape reply: {e}"))?;
    let entry = root.get(b"files").and_then(|files| files.get(&info_hash.0));
    Ok(entry
        .and_then(|e| e.get(b"complete"))
        .and_then(|c| c.as_int())
        .and_then(|c| u64::try_from(c).ok())
        .unwrap_or(0))
}
