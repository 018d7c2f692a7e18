//! Borrowed bencode values that remember where they came from.

use crate::encode::OwnedValue;

/// A decoded value, borrowing its bytes from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'a> {
    /// The exact bytes of this value in the input (for the info-hash).
    pub(crate) raw: &'a [u8],
    /// Where `raw` starts in the input.
    pub(crate) offset: usize,
    pub(crate) kind: Kind<'a>,
}

/// The four bencode types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// An integer; `None` when it does not fit in an `i64` (only possible in lenient mode,
    /// where such integers are accepted as libtorrent does and read as absent).
    Int(Option<i64>),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    Dict(Dict<'a>),
}

/// A dictionary in input order. Lenient decoding keeps unsorted and duplicate keys;
/// lookups return the first occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dict<'a> {
    pub(crate) entries: Vec<(&'a [u8], Value<'a>)>,
}

impl<'a> Dict<'a> {
    /// The value of the first entry with `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    /// Entries in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &Value<'a>)> + '_ {
        self.entries.iter().map(|(k, v)| (*k, v))
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> Value<'a> {
    /// The exact encoded bytes of this value as they appear in the input.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// Byte offset of this value in the input.
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn kind(&self) -> &Kind<'a> {
        &self.kind
    }
    /// The integer, when this is an integer that fits in an `i64`.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => i,
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }
    /// The byte string, when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match &self.kind {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match &self.kind {
            Kind::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// Dictionary lookup; `None` when this is not a dictionary or has no such key.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.as_dict().and_then(|d| d.get(key))
    }

    /// An owned copy. Duplicate keys keep their first value; an out-of-range integer is
    /// kept as its raw encoding so that re-encoding preserves it.
    pub fn to_owned_value(&self) -> OwnedValue {
        match &self.kind {
            Kind::Int(Some(i)) => OwnedValue::Int(*i),
            Kind::Int(None) => OwnedValue::Raw(self.raw.to_vec()),
            Kind::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Kind::List(l) => OwnedValue::List(l.iter().map(Value::to_owned_value).collect()),
            Kind::Dict(d) => {
                let mut map = std::collections::BTreeMap::new();
                for (k, v) in d.iter() {
                    map.entry(k.to_vec()).or_insert_with(|| v.to_owned_value());
                }
                OwnedValue::Dict(map)
            }
        }
    }
}
