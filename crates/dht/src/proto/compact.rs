//! Compact encodings (BEP 5, BEP 32): peers as IP + port, nodes as id + IP + port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::KrpcError;
use crate::proto::id::{NodeId, ID_LEN};

/// Bytes of a compact IPv4 peer (4 address + 2 port).
pub const PEER_V4_LEN: usize = 6;
/// Bytes of a compact IPv6 peer (16 address + 2 port).
pub const PEER_V6_LEN: usize = 18;
/// Bytes of one compact IPv4 node in `nodes`.
pub const NODE_V4_LEN: usize = ID_LEN + PEER_V4_LEN;
/// Bytes of one compact IPv6 node in `nodes6`.
pub const NODE_V6_LEN: usize = ID_LEN + PEER_V6_LEN;

/// A DHT node: its id and the UDP address it answers on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NodeInfo {
    pub id: NodeId,
    pub addr: SocketAddr,
}

/// Address family of a DHT: BEP 32 keeps the IPv4 and IPv6 DHTs apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &SocketAddr) -> Family {
        match addr {
            SocketAddr::V4(_) => Family::V4,
            SocketAddr::V6(_) => Family::V6,
        }
    }
}

/// Maps `::ffff:a.b.c.d` to `a.b.c.d`, so that a dual-stack socket and the compact encodings
/// agree on what an IPv4 address is.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Appends the compact form of `addr`: 6 bytes for IPv4, 18 for IPv6. The address is written
/// as given (callers canonicalise at the socket boundary), so encoding is the exact inverse of
/// [`parse_peer`].
pub fn push_peer(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// The compact form of `addr`.
pub fn peer_bytes(addr: &SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(PEER_V6_LEN);
    push_peer(&mut out, addr);
    out
}

/// Parses a compact peer of 6 or 18 bytes; `None` for any other length.
pub fn parse_peer(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        PEER_V4_LEN => {
            let ip: [u8; 4] = b.get(..4)?.try_into().ok()?;
            let port = u16::from_be_bytes(b.get(4..6)?.try_into().ok()?);
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        PEER_V6_LEN => {
            let ip: [u8; 16] = b.get(..16)?.try_into().ok()?;
            let port = u16::from_be_bytes(b.get(16..18)?.try_into().ok()?);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        _ => None,
    }
}

/// Encodes the nodes of `family` in `nodes` as one compact string (others are skipped).
pub fn encode_nodes(nodes: &[NodeInfo], family: Family) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| Family::of(&n.addr) == family) {
        out.extend_from_slice(&n.id.0);
        push_peer(&mut out, &n.addr);
    }
    out
}

/// Decodes a `nodes` (IPv4) or `nodes6` (IPv6) string. Its length must be a whole number of
/// entries; the caller's message size cap bounds the count.
pub fn decode_nodes(b: &[u8], family: Family) -> Result<Vec<NodeInfo>, KrpcError> {
    let (len, key) = match family {
        Family::V4 => (NODE_V4_LEN, "nodes"),
        Family::V6 => (NODE_V6_LEN, "nodes6"),
    };
    if b.len() % len != 0 {
        return Err(KrpcError::BadValue(key));
    }
    let mut out = Vec::with_capacity(b.len() / len);
    for chunk in b.chunks_exact(len) {
        let (id, addr) = chunk.split_at(ID_LEN);
        let id = NodeId::from_bytes(id).ok_or(KrpcError::BadValue(key))?;
        let addr = parse_peer(addr).ok_or(KrpcError::BadValue(key))?;
        out.push(NodeInfo { id, addr });
    }
    Ok(out)
}

/// Whether a node or peer address can be contacted at all (not port 0, not unspecified,
/// not multicast or broadcast). Addresses that fail this are ignored wherever they appear.
pub fn is_usable(addr: &SocketAddr) -> bool {
    if addr.port() == 0 {
        return false;
    }
    match addr.ip() {
        IpAddr::V4(ip) => !(ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast()),
        IpAddr::V6(ip) => !(ip.is_unspecified() || ip.is_multicast()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_round_trip_in_both_families() {
        for s in ["127.0.0.9:6881", "[::1]:51413"] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(parse_peer(&peer_bytes(&a)), Some(a));
        }
        assert_eq!(parse_peer(&[1, 2, 3]), None);
        let mapped: SocketAddr = "[::ffff:127.0.0.3]:10".parse().unwrap();
        assert_eq!(canonical(mapped), "127.0.0.3:10".parse().unwrap());
    }

    #[test]
    fn nodes_round_trip_and_filter_by_family() {
        let nodes = [
            NodeInfo {
                id: NodeId([1; 20]),
                addr: "127.0.0.2:1000".parse().unwrap(),
            },
            NodeInfo {
                id: NodeId([2; 20]),
                addr: "[::1]:1001".parse().unwrap(),
            },
        ];
        let v4 = encode_nodes(&nodes, Family::V4);
        assert_eq!(v4.len(), NODE_V4_LEN);
        assert_eq!(decode_nodes(&v4, Family::V4).unwrap(), nodes[..1]);
        let v6 = encode_nodes(&nodes, Family::V6);
        assert_eq!(decode_nodes(&v6, Family::V6).unwrap(), nodes[1..]);
        assert!(decode_nodes(&v4[..25], Family::V4).is_err());
    }

    #[test]
    fn unusable_addresses() {
        assert!(!is_usable(&"127.0.0.1:0".parse().unwrap()));
        assert!(!is_usable(&"0.0.0.0:5".parse().unwrap()));
        assert!(!is_usable(&"224.0.0.1:5".parse().unwrap()));
        assert!(is_usable(&"127.0.0.1:5".parse().unwrap()));
    }
}
