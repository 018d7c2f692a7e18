//! The ut_pex message (BEP 11): peers the sender connected to and disconnected from since its
//! previous message, in compact form.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use shoal_bencode::{Limits, OwnedValue, Value};

use crate::codec::MAX_EXTENDED_LEN;
use crate::ext_action::ExtAction;

/// Name of the extension in the BEP 10 handshake's `m` dictionary.
pub const UT_PEX: &str = "ut_pex";

/// Entries read per list. A minute's worth of connection churn fits easily (BEP 11 asks
/// senders for at most 50 added), and an initial message listing a large peer set is cut
/// rather than refused; the rest is not even parsed, so a long list costs nothing.
pub const MAX_DECODE_ENTRIES: usize = 200;

/// Compact entry sizes: address and port, big-endian.
const V4_LEN: usize = 6;
const V6_LEN: usize = 18;

/// Six keys of byte strings; the limits only have to bound junk around them.
const LIMITS: Limits = Limits {
    max_depth: 8,
    max_tokens: 1024,
    max_input: MAX_EXTENDED_LEN as usize,
};

/// The per-peer flag byte of `added.f` / `added6.f` (BEP 11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// Prefers encryption.
    pub const ENCRYPTION: u8 = 0x01;
    /// Seed or upload-only.
    pub const SEED: u8 = 0x02;
    /// Supports uTP.
    pub const UTP: u8 = 0x04;
    /// Announced ut_holepunch.
    pub const HOLEPUNCH: u8 = 0x08;
    /// We connected out to it, so it accepts incoming connections.
    pub const REACHABLE: u8 = 0x10;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// One added contact and its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PexPeer<A> {
    pub addr: A,
    pub flags: PexFlags,
}

/// A decoded or to-be-encoded ut_pex message. Lists keep wire order; entries with port 0 are
/// dropped on decode (nobody can be reached there).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMessage {
    pub added: Vec<PexPeer<SocketAddrV4>>,
    pub added6: Vec<PexPeer<SocketAddrV6>>,
    pub dropped: Vec<SocketAddrV4>,
    pub dropped6: Vec<SocketAddrV6>,
}

/// Why a ut_pex message was refused. [`PexError::action`] says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PexError {
    /// Not a bencoded dictionary.
    #[error("ut_pex message is not a bencoded dictionary: {0}")]
    NotADict(String),
    /// None of `added`, `added6`, `dropped`, `dropped6` is present (BEP 11: at least one must be).
    #[error("ut_pex message has no peer list")]
    Empty,
    /// A list is not a byte string.
    #[error("ut_pex `{0}` is not a byte string")]
    BadField(&'static str),
    /// A list whose length is not a whole number of compact entries.
    #[error("ut_pex `{field}` is {len} bytes, not a multiple of {entry}")]
    BadCompactLength {
        field: &'static str,
        len: usize,
        entry: usize,
    },
    /// The peer sent this message too soon after its previous one (BEP 11: at most one a
    /// minute).
    #[error("ut_pex message {0:?} after the previous one")]
    TooFrequent(std::time::Duration),
}

impl PexError {
    /// PEX is advice: a broken list costs us nothing once dropped, and a message too many is
    /// merely ignored. Only a payload that is not bencode at all shows a peer that cannot
    /// speak the protocol.
    pub fn action(&self) -> ExtAction {
        match self {
            PexError::NotADict(_) => ExtAction::Disconnect,
            _ => ExtAction::IgnoreMessage,
        }
    }
}

impl PexMessage {
    /// Parses the payload of an extended message that arrived on our ut_pex id. At most
    /// [`MAX_DECODE_ENTRIES`] entries per list are read; a flags string whose length does not
    /// match its list is ignored (every flag reads as 0).
    pub fn decode(payload: &[u8]) -> Result<Self, PexError> {
        let value = shoal_bencode::decode_with(payload, &LIMITS, false)
            .map_err(|e| PexError::NotADict(e.to_string()))?;
        let Some(dict) = value.as_dict() else {
            return Err(PexError::NotADict("not a dictionary".into()));
        };
        if ["added", "added6", "dropped", "dropped6"]
            .iter()
            .all(|k| dict.get(k.as_bytes()).is_none())
        {
            return Err(PexError::Empty);
        }
        let list = |field: &'static str, entry: usize| -> Result<&[u8], PexError> {
            let Some(v) = dict.get(field.as_bytes()) else {
                return Ok(&[]);
            };
            let bytes = v.as_bytes().ok_or(PexError::BadField(field))?;
            if bytes.len() % entry != 0 {
                return Err(PexError::BadCompactLength {
                    field,
                    len: bytes.len(),
                    entry,
                });
            }
            Ok(bytes)
        };
        // Flags are optional and advisory: unusable ones are dropped, not fatal.
        let flags = |field: &'static str, entries: usize| -> &[u8] {
            dict.get(field.as_bytes())
                .and_then(Value::as_bytes)
                .filter(|f| f.len() == entries)
                .unwrap_or(&[])
        };
        let added = list("added", V4_LEN)?;
        let added6 = list("added6", V6_LEN)?;
        let dropped = list("dropped", V4_LEN)?;
        let dropped6 = list("dropped6", V6_LEN)?;
        let added_f = flags("added.f", added.len() / V4_LEN);
        let added6_f = flags("added6.f", added6.len() / V6_LEN);
        Ok(PexMessage {
            added: with_flags(added, V4_LEN, added_f, v4),
            added6: with_flags(added6, V6_LEN, added6_f, v6),
            dropped: compact(dropped, V4_LEN, v4),
            dropped6: compact(dropped6, V6_LEN, v6),
        })
    }

    /// The payload to send on the peer's ut_pex id. All six keys are always present (as
    /// libtorrent does), so even a message with empty lists is valid.
    pub fn encode(&self) -> Vec<u8> {
        let mut added = Vec::with_capacity(self.added.len() * V4_LEN);
        let mut added_f = Vec::with_capacity(self.added.len());
        for p in &self.added {
            added.extend_from_slice(&p.addr.ip().octets());
            added.extend_from_slice(&p.addr.port().to_be_bytes());
            added_f.push(p.flags.0);
        }
        let mut added6 = Vec::with_capacity(self.added6.len() * V6_LEN);
        let mut added6_f = Vec::with_capacity(self.added6.len());
        for p in &self.added6 {
            added6.extend_from_slice(&p.addr.ip().octets());
            added6.extend_from_slice(&p.addr.port().to_be_bytes());
            added6_f.push(p.flags.0);
        }
        let mut dropped = Vec::with_capacity(self.dropped.len() * V4_LEN);
        for a in &self.dropped {
            dropped.extend_from_slice(&a.ip().octets());
            dropped.extend_from_slice(&a.port().to_be_bytes());
        }
        let mut dropped6 = Vec::with_capacity(self.dropped6.len() * V6_LEN);
        for a in &self.dropped6 {
            dropped6.extend_from_slice(&a.ip().octets());
            dropped6.extend_from_slice(&a.port().to_be_bytes());
        }
        OwnedValue::dict()
            .with(b"added", OwnedValue::bytes(added))
            .with(b"added.f", OwnedValue::bytes(added_f))
            .with(b"added6", OwnedValue::bytes(added6))
            .with(b"added6.f", OwnedValue::bytes(added6_f))
            .with(b"dropped", OwnedValue::bytes(dropped))
            .with(b"dropped6", OwnedValue::bytes(dropped6))
            .encode()
    }

    /// True when no list has an entry.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.added6.is_empty()
            && self.dropped.is_empty()
            && self.dropped6.is_empty()
    }
}

fn v4(e: &[u8]) -> Option<SocketAddrV4> {
    let ip: [u8; 4] = e.get(..4)?.try_into().ok()?;
    let port = u16::from_be_bytes(e.get(4..6)?.try_into().ok()?);
    (port != 0).then(|| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

fn v6(e: &[u8]) -> Option<SocketAddrV6> {
    let ip: [u8; 16] = e.get(..16)?.try_into().ok()?;
    let port = u16::from_be_bytes(e.get(16..18)?.try_into().ok()?);
    (port != 0).then(|| SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
}

/// The first [`MAX_DECODE_ENTRIES`] entries of a compact list.
fn compact<A>(bytes: &[u8], entry: usize, parse: fn(&[u8]) -> Option<A>) -> Vec<A> {
    bytes
        .chunks_exact(entry)
        .take(MAX_DECODE_ENTRIES)
        .filter_map(parse)
        .collect()
}

/// Like [`compact`], pairing each entry with its flag byte (0 when `flags` is empty).
fn with_flags<A>(
    bytes: &[u8],
    entry: usize,
    flags: &[u8],
    parse: fn(&[u8]) -> Option<A>,
) -> Vec<PexPeer<A>> {
    bytes
        .chunks_exact(entry)
        .take(MAX_DECODE_ENTRIES)
        .enumerate()
        .filter_map(|(i, e)| {
            Some(PexPeer {
                addr: parse(e)?,
                flags: PexFlags(flags.get(i).copied().unwrap_or(0)),
            })
        })
        .collect()
}
