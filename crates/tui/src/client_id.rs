//! Names the client software behind a peer id.
//!
//! Peers identify themselves twice: by the conventional prefix of their 20-byte peer id
//! (Azureus style `-qB4520-`, Shadow style `S58B-----`, Mainline style `M7-4-3--`) and,
//! when they speak BEP 10, by the `v` string of their extension handshake. The `v` string is
//! more precise, so it wins when present. Both come from the peer and are cleaned before
//! display. No crate covers this table, so it is written out here.

use shoal_core::PeerId;

use crate::format::clean;

/// Columns a client label may take at most.
const MAX_LABEL: usize = 40;

/// A decoded client: its name and, when the id encodes one, its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientId {
    pub name: String,
    pub version: Option<String>,
}

impl ClientId {
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// What to show for a peer: its BEP 10 `v` string when it sent a printable one, else the
/// client decoded from its peer id, else `unknown`.
pub fn client_label(peer_id: &PeerId, v: Option<&str>) -> String {
    if let Some(v) = v.map(|v| clean(v, MAX_LABEL)) {
        let v = v.trim();
        if !v.is_empty() {
            return v.to_owned();
        }
    }
    decode(&peer_id.0).map_or_else(|| "unknown".to_owned(), |c| c.label())
}

/// Decodes the client from a peer id's prefix.
pub fn decode(id: &[u8; 20]) -> Option<ClientId> {
    azureus(id).or_else(|| mainline(id)).or_else(|| shadow(id))
}

/// Two-letter Azureus-style codes.
const AZUREUS: &[(&[u8; 2], &str)] = &[
    (b"A~", "Ares"),
    (b"AG", "Ares"),
    (b"AR", "Arctic Torrent"),
    (b"AT", "Artemis"),
    (b"AZ", "Vuze"),
    (b"BB", "BitBuddy"),
    (b"BC", "BitComet"),
    (b"BF", "Bitflu"),
    (b"BI", "BiglyBT"),
    (b"BT", "BitTorrent"),
    (b"BW", "BitWombat"),
    (b"CD", "Enhanced CTorrent"),
    (b"DE", "Deluge"),
    (b"FW", "FrostWire"),
    (b"HL", "Halite"),
    (b"KG", "KGet"),
    (b"KT", "KTorrent"),
    (b"LP", "Lphant"),
    (b"LT", "libtorrent"),
    (b"lt", "libTorrent"), // rakshasa's, under rtorrent
    (b"LW", "LimeWire"),
    (b"ML", "MLDonkey"),
    (b"MO", "MonoTorrent"),
    (b"PD", "Pando"),
    (b"qB", "qBittorrent"),
    (b"QD", "QQDownload"),
    (b"SD", "Thunder"),
    (b"SH", "shoal"),
    (b"SP", "BitSpirit"),
    (b"SZ", "Shareaza"),
    (b"TL", "Tribler"),
    (b"TR", "Transmission"),
    (b"TT", "TuoTu"),
    (b"UM", "µTorrent Mac"),
    (b"UT", "µTorrent"),
    (b"UW", "µTorrent Web"),
    (b"WW", "WebTorrent"),
    (b"XL", "Xunlei"),
];

/// `-XXvvvv-`: a two-character client code and four version characters.
fn azureus(id: &[u8; 20]) -> Option<ClientId> {
    let [b'-', c0, c1, v0, v1, v2, v3, b'-', ..] = *id else {
        return None;
    };
    if !(c0.is_ascii_graphic() && c1.is_ascii_graphic()) {
        return None;
    }
    let code = [c0, c1];
    let version = [v0, v1, v2, v3];
    let Some((_, name)) = AZUREUS.iter().find(|(c, _)| **c == code) else {
        let shown = clean(&String::from_utf8_lossy(&id[..8]), 8);
        return Some(ClientId {
            name: format!("unknown {shown}"),
            version: None,
        });
    };
    Some(ClientId {
        name: (*name).to_owned(),
        version: azureus_version(&code, version),
    })
}

fn azureus_version(code: &[u8; 2], v: [u8; 4]) -> Option<String> {
    let d = |b: u8| base36(b);
    match code {
        // 2.94 is `2940`; from 4.0 on, `4060` is 4.0.6. A trailing `Z` marks a dev build.
        b"TR" => {
            let (major, minor, patch) = (d(v[0])?, d(v[1])?, d(v[2])?);
            let dev = if v[3] == b'Z' { "+" } else { "" };
            if major >= 4 {
                Some(format!("{major}.{minor}.{patch}{dev}"))
            } else {
                Some(format!("{major}.{minor}{patch}{dev}"))
            }
        }
        // Three version characters, then the release type (`B` beta, else stable).
        b"UT" | b"UM" | b"UW" => {
            let (major, minor, patch) = (d(v[0])?, d(v[1])?, d(v[2])?);
            let beta = if v[3] == b'B' { " beta" } else { "" };
            Some(format!("{major}.{minor}.{patch}{beta}"))
        }
        // `0155` is 1.55.
        b"BC" => {
            let major = d(v[0])? * 10 + d(v[1])?;
            Some(format!("{major}.{}{}", d(v[2])?, d(v[3])?))
        }
        // Most clients write one base-36 digit per part (libtorrent's `20A0` is 2.0.10); a
        // fourth part of 0 is left out.
        _ => {
            let parts = [d(v[0])?, d(v[1])?, d(v[2])?, d(v[3])?];
            let mut s = format!("{}.{}.{}", parts[0], parts[1], parts[2]);
            if parts[3] != 0 {
                s.push_str(&format!(".{}", parts[3]));
            }
            Some(s)
        }
    }
}

fn base36(b: u8) -> Option<u32> {
    char::from(b).to_digit(36)
}

/// `M7-4-3--` (and `Q` for Queen Bee): dash-separated decimal parts in the first 8 bytes.
fn mainline(id: &[u8; 20]) -> Option<ClientId> {
    let name = match id[0] {
        b'M' => "BitTorrent",
        b'Q' => "Queen Bee",
        _ => return None,
    };
    // The version fills bytes 1..8 up to the trailing dashes (at least one).
    let head = &id[1..8];
    let len = head.iter().rposition(|&b| b != b'-').map_or(0, |i| i + 1);
    if len == head.len() {
        return None;
    }
    let parts: Vec<&[u8]> = head[..len].split(|&b| b == b'-').collect();
    let well_formed = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    if !well_formed {
        return None;
    }
    let version: Vec<String> = parts
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    Some(ClientId {
        name: name.to_owned(),
        version: Some(version.join(".")),
    })
}

/// Shadow style: one client character, up to five version characters padded with `-`, then
/// `---`. Version characters count 0-9, A-Z (10-35), a-z (36-61), `.` (62), `-` (63).
fn shadow(id: &[u8; 20]) -> Option<ClientId> {
    let name = match id[0] {
        b'A' => "ABC",
        b'O' => "Osprey Permaseed",
        b'Q' => "BTQueue",
        b'R' => "Tribler",
        b'S' => "Shadow",
        b'T' => "BitTornado",
        b'U' => "UPnP NAT Bit Torrent",
        _ => return None,
    };
    if &id[6..9] != b"---" {
        return None;
    }
    let digits: Vec<u32> = id[1..6]
        .iter()
        .take_while(|&&b| b != b'-')
        .map(|&b| shadow_digit(b))
        .collect::<Option<_>>()?;
    if digits.is_empty() {
        return None;
    }
    let version: Vec<String> = digits.iter().map(u32::to_string).collect();
    Some(ClientId {
        name: name.to_owned(),
        version: Some(version.join(".")),
    })
}

fn shadow_digit(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'A'..=b'Z' => Some(u32::from(b - b'A') + 10),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 36),
        b'.' => Some(62),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &[u8]) -> PeerId {
        let mut b = [b'x'; 20];
        b[..prefix.len()].copy_from_slice(prefix);
        PeerId(b)
    }

    fn label(prefix: &[u8]) -> String {
        client_label(&id(prefix), None)
    }

    #[test]
    fn azureus_style() {
        assert_eq!(label(b"-qB4520-"), "qBittorrent 4.5.2");
        assert_eq!(label(b"-TR3000-"), "Transmission 3.00");
        assert_eq!(label(b"-TR4060-"), "Transmission 4.0.6");
        assert_eq!(label(b"-TR300Z-"), "Transmission 3.00+");
        assert_eq!(label(b"-lt0D80-"), "libTorrent 0.13.8");
        assert_eq!(label(b"-LT20A0-"), "libtorrent 2.0.10");
        assert_eq!(label(b"-SH0100-"), "shoal 0.1.0");
        assert_eq!(label(PeerId::PREFIX), "shoal 0.1.0");
        assert_eq!(label(b"-UT355S-"), "µTorrent 3.5.5");
        assert_eq!(label(b"-UT360B-"), "µTorrent 3.6.0 beta");
        assert_eq!(label(b"-AR1234-"), "Arctic Torrent 1.2.3.4");
        assert_eq!(label(b"-AZ5770-"), "Vuze 5.7.7");
        assert_eq!(label(b"-BC0155-"), "BitComet 1.55");
    }

    #[test]
    fn unknown_azureus_code_and_bad_version() {
        assert_eq!(label(b"-ZZ1000-"), "unknown -ZZ1000-");
        // A known client whose version is not digits: the name alone.
        assert_eq!(label(b"-qB4.5.-"), "qBittorrent");
    }

    #[test]
    fn mainline_and_shadow_style() {
        assert_eq!(label(b"M7-4-3--"), "BitTorrent 7.4.3");
        assert_eq!(label(b"M4-20-8-"), "BitTorrent 4.20.8");
        assert_eq!(label(b"S58B-----"), "Shadow 5.8.11");
        assert_eq!(label(b"T03I-----"), "BitTornado 0.3.18");
        // Random bytes that only start like a style are not decoded.
        assert_eq!(label(b"M7-4x3--"), "unknown");
        assert_eq!(label(b"S58B--x--"), "unknown");
    }

    #[test]
    fn garbage_is_unknown() {
        assert_eq!(client_label(&PeerId([0; 20]), None), "unknown");
        assert_eq!(client_label(&PeerId([0xff; 20]), None), "unknown");
        let mut odd = [0u8; 20];
        odd[..8].copy_from_slice(b"-\x1b[2J00-");
        assert_eq!(client_label(&PeerId(odd), None), "unknown");
    }

    #[test]
    fn v_string_wins_and_is_cleaned() {
        let p = id(b"-qB4520-");
        assert_eq!(
            client_label(&p, Some("qBittorrent/4.5.2")),
            "qBittorrent/4.5.2"
        );
        assert_eq!(client_label(&p, Some("\x1b]0;pwned\x07")), "]0;pwned");
        assert_eq!(client_label(&p, Some("  \n")), "qBittorrent 4.5.2");
        let long = "x".repeat(500);
        assert_eq!(client_label(&p, Some(&long)).chars().count(), MAX_LABEL);
    }
}
