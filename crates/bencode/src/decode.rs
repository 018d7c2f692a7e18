//! The decoder: recursive descent over a byte slice, check before allocate.

use crate::error::{DecodeError, ErrorKind};
use crate::value::{Dict, Kind, Value};

/// Bounds on what a decode may consume. Every count is checked before anything is allocated
/// for it, so hostile input costs at most these amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting of lists and dictionaries (libtorrent uses 100). Clamped to
    /// [`Limits::DEPTH_CEILING`] because the parser recurses once per level.
    pub max_depth: usize,
    /// Maximum number of values (dictionary keys count too).
    pub max_tokens: usize,
    /// Maximum input length in bytes (strings borrow from the input, so this bounds them too).
    pub max_input: usize,
}

impl Limits {
    /// Hard ceiling on `max_depth`, keeping recursion well inside a thread's stack.
    pub const DEPTH_CEILING: usize = 512;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 100,
            max_tokens: 3_000_000,
            max_input: 64 << 20,
        }
    }
}

/// Decodes the first value of `input` leniently with default limits; trailing bytes are ignored.
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    decode_prefix(input, &Limits::default()).map(|(v, _)| v)
}

/// Decodes the first value; returns it and how many bytes it took. Lenient.
pub fn decode_prefix<'a>(
    input: &'a [u8],
    limits: &Limits,
) -> Result<(Value<'a>, usize), DecodeError> {
    let mut p = Parser::new(input, limits, false)?;
    let v = p.top()?;
    Ok((v, p.pos))
}

/// Decodes `input`. In strict mode the input must be canonical bencode with nothing after it.
pub fn decode_with<'a>(
    input: &'a [u8],
    limits: &Limits,
    strict: bool,
) -> Result<Value<'a>, DecodeError> {
    let mut p = Parser::new(input, limits, strict)?;
    let v = p.top()?;
    if strict && p.pos != input.len() {
        return Err(DecodeError::new(ErrorKind::TrailingBytes, p.pos));
    }
    Ok(v)
}

/// Checks that `input` is exactly one canonical bencoded value (sorted, unique keys; no
/// leading zeros or negative zero; no trailing bytes).
pub fn check_strict(input: &[u8]) -> Result<(), DecodeError> {
    decode_with(input, &Limits::default(), true).map(|_| ())
}

/// Integers of more digits than this are refused even in lenient mode (libtorrent does the
/// same); shorter ones that overflow `i64` are kept as "present but unreadable".
const MAX_INT_DIGITS: usize = 20;

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    tokens: usize,
    max_depth: usize,
    max_tokens: usize,
    strict: bool,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8], limits: &Limits, strict: bool) -> Result<Self, DecodeError> {
        if input.len() > limits.max_input {
            return Err(DecodeError::new(ErrorKind::LimitExceeded, 0));
        }
        Ok(Self {
            input,
            pos: 0,
            tokens: 0,
            max_depth: limits.max_depth.min(Limits::DEPTH_CEILING),
            max_tokens: limits.max_tokens,
            strict,
        })
    }

    fn err<T>(&self, kind: ErrorKind, offset: usize) -> Result<T, DecodeError> {
        Err(DecodeError::new(kind, offset))
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn top(&mut self) -> Result<Value<'a>, DecodeError> {
        // A stray end marker at the top level means the value we wanted never started.
        if self.peek() == Some(b'e') {
            return self.err(ErrorKind::UnexpectedEof, 0);
        }
        self.value(0)
    }

    fn count_token(&mut self, at: usize) -> Result<(), DecodeError> {
        self.tokens += 1;
        if self.tokens > self.max_tokens {
            return self.err(ErrorKind::LimitExceeded, at);
        }
        Ok(())
    }

    fn finish(&self, start: usize, kind: Kind<'a>) -> Value<'a> {
        Value {
            raw: &self.input[start..self.pos],
            offset: start,
            kind,
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        let start = self.pos;
        let Some(b) = self.peek() else {
            return self.err(ErrorKind::UnexpectedEof, start);
        };
        self.count_token(start)?;
        match b {
            b'i' => self.int(),
            b'0'..=b'9' => {
                let s = self.string(false)?;
                Ok(self.finish(start, Kind::Bytes(s)))
            }
            b'l' => self.list(depth),
            b'd' => self.dict(depth),
            _ => self.err(ErrorKind::ExpectedValue, start),
        }
    }

    fn enter(&mut self, depth: usize) -> Result<(), DecodeError> {
        if depth >= self.max_depth {
            return self.err(ErrorKind::DepthExceeded, self.pos);
        }
        self.pos += 1;
        Ok(())
    }

    fn list(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        let start = self.pos;
        self.enter(depth)?;
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None => return self.err(ErrorKind::UnexpectedEof, self.pos),
                Some(b'e') => {
                    self.pos += 1;
                    return Ok(self.finish(start, Kind::List(items)));
                }
                Some(_) => items.push(self.value(depth + 1)?),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        let start = self.pos;
        self.enter(depth)?;
        let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
        loop {
            let key_at = self.pos;
            match self.peek() {
                None => return self.err(ErrorKind::UnexpectedEof, key_at),
                Some(b'e') => {
                    self.pos += 1;
                    return Ok(self.finish(start, Kind::Dict(Dict { entries })));
                }
                Some(b'0'..=b'9') => {}
                Some(_) => return self.err(ErrorKind::ExpectedDigit, key_at),
            }
            self.count_token(key_at)?;
            let key = self.string(true)?;
            if self.strict {
                if let Some((prev, _)) = entries.last() {
                    if key < *prev {
                        return self.err(ErrorKind::UnsortedKey, key_at);
                    }
                    if key == *prev {
                        return self.err(ErrorKind::DuplicateKey, key_at);
                    }
                }
            }
            if self.peek() == Some(b'e') {
                // A key with no value.
                return self.err(ErrorKind::ExpectedValue, self.pos);
            }
            let v = self.value(depth + 1)?;
            entries.push((key, v));
        }
    }

    /// A byte string `<len>:<bytes>`; `pos` is at the first digit.
    fn string(&mut self, is_key: bool) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let mut len: u64 = 0;
        loop {
            match self.peek() {
                // libtorrent reports a key cut short as a missing colon, a value as EOF.
                None if is_key => return self.err(ErrorKind::ExpectedColon, self.pos),
                None => return self.err(ErrorKind::UnexpectedEof, self.pos),
                Some(b':') => break,
                Some(d @ b'0'..=b'9') => {
                    len = match len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(u64::from(d - b'0')))
                        .filter(|l| *l <= i64::MAX as u64)
                    {
                        Some(l) => l,
                        None => return self.err(ErrorKind::Overflow, self.pos),
                    };
                    self.pos += 1;
                }
                Some(_) => return self.err(ErrorKind::ExpectedColon, self.pos),
            }
        }
        let colon = self.pos;
        if self.strict && colon - start > 1 && self.input[start] == b'0' {
            return self.err(ErrorKind::LeadingZero, start);
        }
        let body = colon + 1;
        // Strings borrow from the input, so a length beyond it allocates nothing: it is simply
        // a truncated input.
        if len > (self.input.len() - body) as u64 {
            return self.err(ErrorKind::UnexpectedEof, colon);
        }
        let len = len as usize; // at most the input length
        self.pos = body + len;
        Ok(&self.input[body..body + len])
    }

    /// An integer `i<digits>e`; `pos` is at the `i`.
    fn int(&mut self) -> Result<Value<'a>, DecodeError> {
        let start = self.pos;
        self.pos += 1;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let digits_at = self.pos;
        loop {
            match self.peek() {
                None => return self.err(ErrorKind::UnexpectedEof, self.pos),
                Some(b'e') => break,
                Some(b'0'..=b'9') => self.pos += 1,
                Some(_) => return self.err(ErrorKind::ExpectedDigit, self.pos),
            }
        }
        let end = self.pos;
        let digits = &self.input[digits_at..end];
        if digits.is_empty() {
            return self.err(ErrorKind::ExpectedDigit, end);
        }
        if digits.len() > MAX_INT_DIGITS {
            return self.err(ErrorKind::Overflow, end);
        }
        if self.strict {
            if digits.len() > 1 && digits[0] == b'0' {
                return self.err(ErrorKind::LeadingZero, digits_at);
            }
            if negative && digits == b"0" {
                return self.err(ErrorKind::NegativeZero, start);
            }
        }
        // Accumulate towards the sign so that i64::MIN parses.
        let mut acc: Option<i64> = Some(0);
        for &d in digits {
            let d = i64::from(d - b'0');
            acc = acc.and_then(|a| a.checked_mul(10)).and_then(|a| {
                if negative {
                    a.checked_sub(d)
                } else {
                    a.checked_add(d)
                }
            });
        }
        if acc.is_none() && self.strict {
            return self.err(ErrorKind::Overflow, digits_at);
        }
        self.pos = end + 1;
        Ok(self.finish(start, Kind::Int(acc)))
    }
}
