//! Decoding errors, each with the byte offset where it was found.

use std::fmt;

/// What went wrong. The first group are hard errors (the input is not bencode); the second
/// group are only reported in strict mode (the input is bencode but not canonical).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input ended inside a value.
    UnexpectedEof,
    /// A digit was required (integer body, string length, or a dictionary key).
    ExpectedDigit,
    /// A string length was not followed by ':'.
    ExpectedColon,
    /// A value was required but the byte cannot start one.
    ExpectedValue,
    /// An integer or string length does not fit in 64 bits.
    Overflow,
    /// Lists and dictionaries nest deeper than [`crate::Limits::max_depth`].
    DepthExceeded,
    /// More values than [`crate::Limits::max_tokens`], or input/string larger than allowed.
    LimitExceeded,
    /// Strict: a dictionary key sorts before the previous one.
    UnsortedKey,
    /// Strict: a dictionary key repeats the previous one.
    DuplicateKey,
    /// Strict: an integer or string length has a leading zero.
    LeadingZero,
    /// Strict: `i-0e`.
    NegativeZero,
    /// Strict: bytes follow the top-level value.
    TrailingBytes,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::UnexpectedEof => "unexpected end of input",
            ErrorKind::ExpectedDigit => "expected a digit",
            ErrorKind::ExpectedColon => "expected ':' after a string length",
            ErrorKind::ExpectedValue => "expected a value (i, l, d or a string length)",
            ErrorKind::Overflow => "number too large",
            ErrorKind::DepthExceeded => "nesting too deep",
            ErrorKind::LimitExceeded => "size or item limit exceeded",
            ErrorKind::UnsortedKey => "dictionary keys not sorted",
            ErrorKind::DuplicateKey => "duplicate dictionary key",
            ErrorKind::LeadingZero => "leading zero in a number",
            ErrorKind::NegativeZero => "negative zero",
            ErrorKind::TrailingBytes => "trailing bytes after the value",
        }
    }

    /// True for the kinds only strict mode reports.
    pub fn is_strictness(self) -> bool {
        matches!(
            self,
            ErrorKind::UnsortedKey
                | ErrorKind::DuplicateKey
                | ErrorKind::LeadingZero
                | ErrorKind::NegativeZero
                | ErrorKind::TrailingBytes
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A decoding failure: the input is malformed (or, in strict mode, not canonical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid bencoding at byte {offset}: {kind}")]
pub struct DecodeError {
    pub kind: ErrorKind,
    pub offset: usize,
}

impl DecodeError {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}
