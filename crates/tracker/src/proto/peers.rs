//! Compact peer lists (BEP 23 for IPv4, BEP 7 for IPv6), shared by HTTP and UDP replies.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes per IPv4 entry: address and port.
pub const V4_STRIDE: usize = 6;
/// Bytes per IPv6 entry: address and port.
pub const V6_STRIDE: usize = 18;

/// Appends the entries of a compact list to `out` until `out` holds `cap` peers. Entries with
/// port 0 are dropped: nobody listens there. A trailing partial entry is left to the caller
/// to judge (HTTP rejects it, UDP ignores it), so this reads whole entries only.
pub fn push_compact(bytes: &[u8], stride: usize, cap: usize, out: &mut Vec<SocketAddr>) {
    for chunk in bytes.chunks_exact(stride) {
        if out.len() >= cap {
            return;
        }
        if let Some(addr) = decode_entry(chunk) {
            if addr.port() != 0 {
                out.push(addr);
            }
        }
    }
}

fn decode_entry(chunk: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = chunk.split_at(chunk.len().checked_sub(2)?);
    let port = u16::from_be_bytes(port.try_into().ok()?);
    if let Ok(v4) = <[u8; 4]>::try_from(ip) {
        return Some(SocketAddr::new(Ipv4Addr::from(v4).into(), port));
    }
    let v6 = <[u8; 16]>::try_from(ip).ok()?;
    Some(SocketAddr::new(Ipv6Addr::from(v6).into(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_v4_and_v6_and_caps() {
        let mut out = Vec::new();
        push_compact(
            &[
                127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 0, 1, 2, 3, 4, 0, 80,
            ],
            6,
            10,
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                "127.0.0.1:6881".parse().unwrap(),
                "1.2.3.4:80".parse().unwrap()
            ]
        );
        let mut v6 = [0u8; 18];
        v6[15] = 1;
        v6[16] = 0x1a;
        v6[17] = 0xe2;
        push_compact(&v6, 18, 10, &mut out);
        assert_eq!(out[2], "[::1]:6882".parse().unwrap());
        let mut capped = Vec::new();
        push_compact(&[1u8; 60], 6, 3, &mut capped);
        assert_eq!(capped.len(), 3);
    }
}
