//! Owned values and canonical encoding (through bendy).

use std::collections::BTreeMap;

use bendy::encoding::{Encoder, SingleItemEncoder, ToBencode};

/// An owned bencode value for building messages and files. Dictionaries are `BTreeMap`s, so
/// keys are always unique and encoded in canonical (byte-wise sorted) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedValue {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<OwnedValue>),
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
    /// Bytes that are already bencoded, emitted verbatim (an info dictionary that must keep
    /// its exact bytes, and so its info-hash). The caller vouches that they are one value.
    Raw(Vec<u8>),
}

impl OwnedValue {
    pub fn int(i: i64) -> Self {
        OwnedValue::Int(i)
    }
    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        OwnedValue::Bytes(b.into())
    }
    /// An empty dictionary.
    pub fn dict() -> Self {
        OwnedValue::Dict(BTreeMap::new())
    }
    /// Inserts into a dictionary; does nothing on other kinds.
    pub fn insert(&mut self, key: &[u8], value: OwnedValue) {
        if let OwnedValue::Dict(map) = self {
            map.insert(key.to_vec(), value);
        }
    }
    /// Builder form of [`OwnedValue::insert`].
    pub fn with(mut self, key: &[u8], value: OwnedValue) -> Self {
        self.insert(key, value);
        self
    }

    fn contains_raw(&self) -> bool {
        match self {
            OwnedValue::Raw(_) => true,
            OwnedValue::List(l) => l.iter().any(OwnedValue::contains_raw),
            OwnedValue::Dict(d) => d.values().any(OwnedValue::contains_raw),
            OwnedValue::Int(_) | OwnedValue::Bytes(_) => false,
        }
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical encoding to `out`. Subtrees without raw parts go through bendy;
    /// containers that hold raw parts are framed here, since bendy cannot splice bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        if !self.contains_raw() {
            let mut enc = Encoder::new().with_max_depth(usize::MAX);
            // bendy only fails on structurally invalid token streams, which an OwnedValue
            // without raw parts cannot produce; fall back to the framing below if it ever does.
            if enc.emit(self).is_ok() {
                if let Ok(bytes) = enc.get_output() {
                    out.extend_from_slice(&bytes);
                    return;
                }
            }
        }
        match self {
            OwnedValue::Raw(b) => out.extend_from_slice(b),
            OwnedValue::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            OwnedValue::Bytes(b) => write_bytes(out, b),
            OwnedValue::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            OwnedValue::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    write_bytes(out, k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

impl ToBencode for OwnedValue {
    const MAX_DEPTH: usize = usize::MAX;

    fn encode(&self, encoder: SingleItemEncoder) -> Result<(), bendy::encoding::Error> {
        match self {
            OwnedValue::Int(i) => encoder.emit_int(*i),
            OwnedValue::Bytes(b) => encoder.emit_bytes(b),
            OwnedValue::List(l) => encoder.emit_list(|e| {
                for v in l {
                    e.emit(v)?;
                }
                Ok(())
            }),
            OwnedValue::Dict(d) => encoder.emit_dict(|mut e| {
                for (k, v) in d {
                    e.emit_pair(k, v)?;
                }
                Ok(())
            }),
            // Never reached through `OwnedValue::encode`, which frames raw parts itself.
            OwnedValue::Raw(_) => Err(bendy::encoding::Error::malformed_content(RawNotSupported)),
        }
    }
}

#[derive(Debug)]
struct RawNotSupported;

impl std::fmt::Display for RawNotSupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("pre-encoded bytes cannot be emitted through bendy")
    }
}

impl std::error::Error for RawNotSupported {}
