//! The BEP 10 extension handshake: the bencoded dictionary in extended message 0.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use shoal_bencode::{Limits, OwnedValue, Value};

use crate::error::WireError;

/// Extended message id of the extension handshake itself (BEP 10).
pub const EXT_HANDSHAKE_ID: u8 = 0;

/// At most this many entries of `m` are kept. Ids are one byte, so no peer can use more than
/// 255 extensions at once; anything past that is padding meant to cost us memory.
pub const MAX_EXTENSIONS: usize = 255;

/// `v` is for display only; longer client names are cut to this many bytes.
pub const MAX_CLIENT_NAME: usize = 128;

/// The handshake is small (a few hundred bytes in practice) but may carry unknown keys we must
/// skip, nested however the sender likes; these limits bound the parse of a 1 MiB payload.
const LIMITS: Limits = Limits {
    max_depth: 32,
    max_tokens: 16 * 1024,
    max_input: 1 << 20,
};

/// A BEP 10 extension handshake. Every field is optional on the wire; a field of the wrong type
/// or out of range is treated as absent (BEP 10: unknown or unusable items are ignored), and
/// unknown keys are dropped. Only a payload that is not a dictionary is an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// Extension name -> the id the *sender* wants to receive that extension's messages on.
    /// 0 means "disabled" (BEP 10: later handshakes change the map additively).
    pub m: BTreeMap<String, u8>,
    /// Client name and version, for display.
    pub v: Option<String>,
    /// How many outstanding requests the sender queues without dropping.
    pub reqq: Option<u32>,
    /// The sender's TCP listen port.
    pub p: Option<u16>,
    /// Our address as the sender sees it.
    pub yourip: Option<IpAddr>,
    /// The sender's own IPv4 address, if it has one.
    pub ipv4: Option<Ipv4Addr>,
    /// The sender's own IPv6 address, if it has one.
    pub ipv6: Option<Ipv6Addr>,
    /// BEP 9: size of the info dictionary in bytes.
    pub metadata_size: Option<u64>,
    /// BEP 21: the sender only uploads (a seed or partial seed).
    pub upload_only: Option<bool>,
}

impl ExtHandshake {
    /// Parses the payload of extended message 0 (after the extended id byte).
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let value = shoal_bencode::decode_with(payload, &LIMITS, false)
            .map_err(|e| WireError::BadExtHandshake(e.to_string()))?;
        let Some(dict) = value.as_dict() else {
            return Err(WireError::BadExtHandshake("not a dictionary".into()));
        };
        let int = |key: &[u8]| dict.get(key).and_then(Value::as_int);
        let bytes = |key: &[u8]| dict.get(key).and_then(Value::as_bytes);

        let mut m = BTreeMap::new();
        if let Some(entries) = dict.get(b"m").and_then(Value::as_dict) {
            for (name, id) in entries.iter() {
                if m.len() == MAX_EXTENSIONS {
                    break;
                }
                let (Ok(name), Some(Ok(id))) =
                    (std::str::from_utf8(name), id.as_int().map(u8::try_from))
                else {
                    continue;
                };
                m.insert(name.to_owned(), id);
            }
        }
        Ok(ExtHandshake {
            m,
            v: bytes(b"v").map(client_name),
            reqq: int(b"reqq").and_then(|n| u32::try_from(n).ok()),
            p: int(b"p")
                .and_then(|n| u16::try_from(n).ok())
                .filter(|&p| p != 0),
            yourip: bytes(b"yourip").and_then(ip_from_bytes),
            ipv4: bytes(b"ipv4")
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(Ipv4Addr::from),
            ipv6: bytes(b"ipv6")
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(Ipv6Addr::from),
            metadata_size: int(b"metadata_size").and_then(|n| u64::try_from(n).ok()),
            upload_only: int(b"upload_only").map(|n| n != 0),
        })
    }

    /// The bencoded dictionary (canonical key order), to send as extended message 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = OwnedValue::dict();
        for (name, id) in &self.m {
            m.insert(name.as_bytes(), OwnedValue::int(i64::from(*id)));
        }
        let mut d = OwnedValue::dict().with(b"m", m);
        if let Some(v) = &self.v {
            d.insert(b"v", OwnedValue::bytes(v.as_bytes()));
        }
        if let Some(reqq) = self.reqq {
            d.insert(b"reqq", OwnedValue::int(i64::from(reqq)));
        }
        if let Some(p) = self.p {
            d.insert(b"p", OwnedValue::int(i64::from(p)));
        }
        if let Some(ip) = self.yourip {
            let compact = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            d.insert(b"yourip", OwnedValue::bytes(compact));
        }
        if let Some(v4) = self.ipv4 {
            d.insert(b"ipv4", OwnedValue::bytes(v4.octets()));
        }
        if let Some(v6) = self.ipv6 {
            d.insert(b"ipv6", OwnedValue::bytes(v6.octets()));
        }
        if let Some(size) = self.metadata_size {
            // Sizes past i64::MAX cannot be bencoded; no info dictionary is that large.
            d.insert(
                b"metadata_size",
                OwnedValue::int(i64::try_from(size).unwrap_or(i64::MAX)),
            );
        }
        if let Some(upload_only) = self.upload_only {
            d.insert(b"upload_only", OwnedValue::int(i64::from(upload_only)));
        }
        d.encode()
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| IpAddr::from(Ipv4Addr::from(a))),
        16 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| IpAddr::from(Ipv6Addr::from(a))),
        _ => None,
    }
}

/// Lossy UTF-8, cut to [`MAX_CLIENT_NAME`] bytes on a character boundary.
fn client_name(raw: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(raw).into_owned();
    if s.len() > MAX_CLIENT_NAME {
        let mut cut = MAX_CLIENT_NAME;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep10_example_decodes() {
        let payload = b"d1:md11:LT_metadatai1e6:ut_pexi2ee1:pi6881e1:v13:\xc2\xb5Torrent 1.2e";
        let h = ExtHandshake::decode(payload).unwrap();
        assert_eq!(h.m.get("LT_metadata"), Some(&1));
        assert_eq!(h.m.get("ut_pex"), Some(&2));
        assert_eq!(h.p, Some(6881));
        assert_eq!(h.v.as_deref(), Some("\u{b5}Torrent 1.2"));
        assert_eq!(ExtHandshake::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn full_round_trip() {
        let h = ExtHandshake {
            m: [("ut_metadata".to_string(), 3), ("ut_pex".to_string(), 0)].into(),
            v: Some("shoal 0.1.0".into()),
            reqq: Some(500),
            p: Some(51413),
            yourip: Some(IpAddr::from(Ipv6Addr::LOCALHOST)),
            ipv4: Some(Ipv4Addr::LOCALHOST),
            ipv6: Some(Ipv6Addr::LOCALHOST),
            metadata_size: Some(123_456),
            upload_only: Some(true),
        };
        assert_eq!(ExtHandshake::decode(&h.encode()).unwrap(), h);
        assert_eq!(
            ExtHandshake::decode(&ExtHandshake::default().encode()).unwrap(),
            Default::default()
        );
    }

    #[test]
    fn unusable_fields_are_ignored() {
        let payload = b"d1:md1:ai300e1:bi-1e1:c3:xyz1:di7ee1:pi0e4:reqqi-5e6:yourip3:abc\
                        13:metadata_sizei-1e4:ipv43:abce";
        let h = ExtHandshake::decode(payload).unwrap();
        assert_eq!(h.m, [("d".to_string(), 7)].into());
        assert_eq!(
            (h.p, h.reqq, h.yourip, h.metadata_size),
            (None, None, None, None)
        );
        assert_eq!(h.ipv4, None);
    }

    #[test]
    fn non_dictionaries_are_errors() {
        for bad in [&b"li1ee"[..], b"", b"d1:m", b"i5e"] {
            assert!(matches!(
                ExtHandshake::decode(bad),
                Err(WireError::BadExtHandshake(_))
            ));
        }
    }

    #[test]
    fn long_client_names_are_cut_on_char_boundaries() {
        let name = "é".repeat(100);
        let payload = format!("d1:v{}:{}e", name.len(), name);
        let v = ExtHandshake::decode(payload.as_bytes()).unwrap().v.unwrap();
        assert_eq!(v.len(), MAX_CLIENT_NAME);
        assert!(v.chars().all(|c| c == 'é'));
    }
}
