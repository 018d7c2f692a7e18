//! BEP 42 node-id restriction: the first 21 bits of an id are tied to the node's IP.
//!
//! This makes it expensive to place many nodes next to one info-hash (each needs its own
//! address block). shoal generates its own id this way when it knows its external IP, can
//! check other nodes' ids, and exempts local addresses as the BEP requires.

use std::net::IpAddr;

use rand::Rng;

use crate::proto::id::NodeId;

/// CRC-32C (Castagnoli), bit by bit.
///
/// Written here rather than taken from a crate: BEP 42 hashes at most 8 bytes per id check,
/// so a table-free loop is fast enough, and this keeps the crate's dependency list to what the
/// protocol needs. The BEP's own test vectors check it (see the tests below).
fn crc32c(data: &[u8]) -> u32 {
    const POLY: u32 = 0x82F6_3B78; // reflected Castagnoli polynomial
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The masked, `r`-salted address bytes that BEP 42 hashes: 4 octets for IPv4, the high 8
/// octets for IPv6.
fn masked_ip(ip: IpAddr, r: u8) -> ([u8; 8], usize) {
    const V4_MASK: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];
    const V6_MASK: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];
    let mut out = [0u8; 8];
    let n = match ip {
        IpAddr::V4(v4) => {
            for (o, (b, m)) in out.iter_mut().zip(v4.octets().iter().zip(V4_MASK)) {
                *o = b & m;
            }
            4
        }
        IpAddr::V6(v6) => {
            for (o, (b, m)) in out.iter_mut().zip(v6.octets().iter().zip(V6_MASK)) {
                *o = b & m;
            }
            8
        }
    };
    out[0] |= (r & 0x7) << 5;
    (out, n)
}

fn prefix_crc(ip: IpAddr, r: u8) -> u32 {
    let (bytes, n) = masked_ip(ip, r);
    crc32c(bytes.get(..n).unwrap_or(&bytes))
}

/// A random id that is valid for `ip` under BEP 42.
pub fn id_for_ip(ip: IpAddr, rng: &mut impl Rng) -> NodeId {
    let mut id = NodeId::random(rng);
    let r = id.0[19] & 0x7;
    let crc = prefix_crc(ip, r).to_be_bytes();
    id.0[0] = crc[0];
    id.0[1] = crc[1];
    id.0[2] = (crc[2] & 0xf8) | (id.0[2] & 0x07);
    id
}

/// Whether `id` satisfies BEP 42 for `ip` (the first 21 bits match the hash salted with the
/// low 3 bits of the last byte).
pub fn is_valid_for(id: &NodeId, ip: IpAddr) -> bool {
    let crc = prefix_crc(ip, id.0[19] & 0x7).to_be_bytes();
    id.0[0] == crc[0] && id.0[1] == crc[1] && (id.0[2] & 0xf8) == (crc[2] & 0xf8)
}

/// Addresses BEP 42 exempts from verification: loopback, private and link-local ranges
/// (and their IPv6 counterparts, where nobody can hold a global id anyway).
pub fn is_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || (seg0 & 0xfe00) == 0xfc00 // unique local
                || (seg0 & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Whether a node at `ip` with `id` may be trusted as a storage target when enforcing
/// BEP 42: exempt addresses always pass.
pub fn acceptable(id: &NodeId, ip: IpAddr) -> bool {
    is_exempt(ip) || is_valid_for(id, ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// The table of BEP 42: IP, the random byte (whose low 3 bits are `r`), and the bold
    /// prefix of the example id.
    const VECTORS: [(&str, u8, [u8; 3]); 5] = [
        ("124.31.75.21", 1, [0x5f, 0xbf, 0xbf]),
        ("21.75.31.124", 86, [0x5a, 0x3c, 0xe9]),
        ("65.23.51.170", 22, [0xa5, 0xd4, 0x32]),
        ("84.124.73.14", 65, [0x1b, 0x03, 0x21]),
        ("43.213.53.83", 90, [0xe5, 0x6f, 0x6c]),
    ];

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn bep42_test_vectors() {
        for (ip, rand, prefix) in VECTORS {
            let ip: IpAddr = ip.parse().unwrap();
            let crc = prefix_crc(ip, rand).to_be_bytes();
            assert_eq!(crc[0], prefix[0], "{ip}");
            assert_eq!(crc[1], prefix[1], "{ip}");
            assert_eq!(crc[2] & 0xf8, prefix[2] & 0xf8, "{ip}");
            // The example id from the BEP itself verifies.
            let mut id = NodeId([0x11; 20]);
            id.0[..3].copy_from_slice(&prefix);
            id.0[19] = rand;
            assert!(is_valid_for(&id, ip), "{ip}");
            // ... and stops verifying when the salt in the last byte changes.
            id.0[19] = rand ^ 0x1;
            assert!(!is_valid_for(&id, ip), "{ip}");
        }
    }

    #[test]
    fn generated_ids_verify_for_their_ip_only() {
        let mut rng = StdRng::seed_from_u64(42);
        let a: IpAddr = "124.31.75.21".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..50 {
            let id = id_for_ip(a, &mut rng);
            assert!(is_valid_for(&id, a));
            let id6 = id_for_ip(b, &mut rng);
            assert!(is_valid_for(&id6, b));
        }
        let other: IpAddr = "21.75.31.124".parse().unwrap();
        let id = id_for_ip(a, &mut rng);
        assert!(!is_valid_for(&id, other));
        assert!(!acceptable(&id, other));
    }

    #[test]
    fn local_addresses_are_exempt() {
        for ip in [
            "127.0.0.5",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.4.4",
            "169.254.1.1",
            "::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(acceptable(&NodeId([0; 20]), ip), "{ip}");
        }
        assert!(!is_exempt("124.31.75.21".parse().unwrap()));
    }
}
