//! Bencode for shoal: a decoder that keeps the exact bytes of every value, and a canonical encoder.
//!
//! # Why the decoder is written here and not taken from bendy
//!
//! A BitTorrent client has to read bencode that is *not* canonical: many .torrent files in the
//! wild have unsorted dictionary keys, and the info-hash is the SHA-1 of the info dictionary
//! *exactly as it appears in the file*. bendy's decoder always enforces canonical order (it
//! refuses such files), and several of its errors carry no byte offset. So [`decode`] is a small
//! hand-written recursive-descent parser that
//!
//! * borrows from the input and records the byte span of every value ([`Value::raw`]),
//! * enforces [`Limits`] (nesting depth, token count, input and string sizes) before allocating,
//! * reports every error with the byte offset where it was found, and
//! * in strict mode ([`decode_with`] with `strict = true`, or [`check_strict`]) also rejects
//!   what canonical bencode forbids: unsorted or duplicate keys, `i-0e`, leading zeros, and
//!   trailing bytes (BEP 52 requires this for v2 info dictionaries).
//!
//! Encoding goes through bendy ([`OwnedValue`] implements `bendy::encoding::ToBencode`), whose
//! encoder both writes and checks canonical form. The one thing it cannot do is splice bytes
//! that are already encoded (an info dictionary must be kept byte-exact, sorted or not), so
//! [`OwnedValue::Raw`] values are copied verbatim around bendy's output. The test suite also uses
//! bendy's strict decoder as an oracle for this crate's strict mode.

mod decode;
mod encode;
mod error;
mod value;

pub use decode::{check_strict, decode, decode_prefix, decode_with, Limits};
pub use encode::OwnedValue;
pub use error::{DecodeError, ErrorKind};
pub use value::{Dict, Kind, Value};
