//! Decoding KRPC datagrams: size cap first, then bencode under tight limits, then fields.

use shoal_bencode::{decode_with, Dict, Limits, Value};

use crate::error::KrpcError;
use crate::proto::compact::{decode_nodes, parse_peer, Family};
use crate::proto::id::NodeId;
use crate::proto::krpc::{
    Body, ErrorCode, ErrorReply, Message, Method, Query, Response, Want, MAX_DATAGRAM,
    MAX_ERROR_TEXT, MAX_TID_LEN, MAX_TOKEN_LEN, MAX_VERSION_LEN,
};

/// Bencode limits for one datagram. The deepest legal message is 3 levels (message → `a` →
/// `want` list); the token count bounds a `values` list in a full-size datagram (8 bytes per
/// compact IPv4 peer: at most ~190 of them).
const LIMITS: Limits = Limits {
    max_depth: 4,
    max_tokens: 256,
    max_input: MAX_DATAGRAM,
};

/// A datagram that did not decode, with what was learnt before it failed (enough to decide
/// whether, and how, to answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeFailure {
    pub error: KrpcError,
    /// The transaction id, if one was found (and within [`MAX_TID_LEN`]).
    pub transaction: Option<Vec<u8>>,
    /// Whether the message said it was a query (`y` = `q`).
    pub query: bool,
}

impl DecodeFailure {
    /// The KRPC error code to answer with, or `None` to drop the datagram silently. Only
    /// queries with a transaction id get an answer: replying to broken responses or errors
    /// would let two nodes (or a forger and a victim) bounce errors forever.
    pub fn reply_code(&self) -> Option<ErrorCode> {
        if !self.query || self.transaction.is_none() {
            return None;
        }
        Some(match self.error {
            KrpcError::UnknownMethod(_) => ErrorCode::MethodUnknown,
            _ => ErrorCode::Protocol,
        })
    }
}

/// Decodes one datagram. Lenient about bencode canonical form (unsorted keys are accepted,
/// trailing bytes ignored) and unknown keys; strict about the types, lengths and ranges of
/// every field shoal uses.
pub fn decode(data: &[u8]) -> Result<Message, DecodeFailure> {
    let fail = |error| DecodeFailure {
        error,
        transaction: None,
        query: false,
    };
    if data.len() > MAX_DATAGRAM {
        return Err(fail(KrpcError::TooLarge(data.len())));
    }
    let value = decode_with(data, &LIMITS, false).map_err(|e| fail(e.into()))?;
    let top = value.as_dict().ok_or_else(|| fail(KrpcError::NotADict))?;
    let transaction = top
        .get(b"t")
        .and_then(Value::as_bytes)
        .filter(|t| t.len() <= MAX_TID_LEN)
        .map(<[u8]>::to_vec);
    let y = top.get(b"y").and_then(Value::as_bytes);
    let query = y == Some(b"q");
    let with_context = |error| DecodeFailure {
        error,
        transaction: transaction.clone(),
        query,
    };
    let body = match y {
        Some(b"q") => Body::Query(decode_query(top).map_err(with_context)?),
        Some(b"r") => Body::Response(decode_response(top).map_err(with_context)?),
        Some(b"e") => Body::Error(decode_error(top).map_err(with_context)?),
        Some(_) => return Err(with_context(KrpcError::UnknownType)),
        None => return Err(with_context(KrpcError::MissingKey("y"))),
    };
    let Some(transaction) = transaction.clone() else {
        let e = if top.get(b"t").is_some() {
            KrpcError::BadValue("t")
        } else {
            KrpcError::MissingKey("t")
        };
        return Err(with_context(e));
    };
    let version = match top.get(b"v") {
        None => None,
        Some(v) => Some(
            v.as_bytes()
                .filter(|v| v.len() <= MAX_VERSION_LEN)
                .ok_or_else(|| with_context(KrpcError::BadValue("v")))?
                .to_vec(),
        ),
    };
    // A malformed `ip` is advisory data: ignore it rather than lose the message.
    let ip = top
        .get(b"ip")
        .and_then(Value::as_bytes)
        .and_then(parse_peer);
    let read_only = top.get(b"ro").and_then(Value::as_int) == Some(1);
    Ok(Message {
        transaction,
        version,
        ip,
        read_only,
        body,
    })
}

fn id_field(d: &Dict<'_>, key: &'static str) -> Result<NodeId, KrpcError> {
    let v = d.get(key.as_bytes()).ok_or(KrpcError::MissingKey(key))?;
    v.as_bytes()
        .and_then(NodeId::from_bytes)
        .ok_or(KrpcError::BadValue(key))
}

fn want_field(d: &Dict<'_>) -> Result<Option<Want>, KrpcError> {
    let Some(v) = d.get(b"want") else {
        return Ok(None);
    };
    let list = v.as_list().ok_or(KrpcError::BadValue("want"))?;
    let mut w = Want::default();
    for item in list {
        // BEP 32: unknown strings are ignored.
        match item.as_bytes() {
            Some(b"n4") => w.n4 = true,
            Some(b"n6") => w.n6 = true,
            _ => {}
        }
    }
    Ok(Some(w))
}

fn decode_query(top: &Dict<'_>) -> Result<Query, KrpcError> {
    let name = top
        .get(b"q")
        .ok_or(KrpcError::MissingKey("q"))?
        .as_bytes()
        .ok_or(KrpcError::BadValue("q"))?;
    let a = top
        .get(b"a")
        .ok_or(KrpcError::MissingKey("a"))?
        .as_dict()
        .ok_or(KrpcError::BadValue("a"))?;
    let id = id_field(a, "id")?;
    let method = match name {
        b"ping" => Method::Ping,
        b"find_node" => Method::FindNode {
            target: id_field(a, "target")?,
            want: want_field(a)?,
        },
        b"get_peers" => Method::GetPeers {
            info_hash: id_field(a, "info_hash")?,
            want: want_field(a)?,
        },
        b"announce_peer" => decode_announce(a)?,
        other => {
            let shown = other.get(..32).unwrap_or(other);
            return Err(KrpcError::UnknownMethod(
                String::from_utf8_lossy(shown).into_owned(),
            ));
        }
    };
    Ok(Query { id, method })
}

fn decode_announce(a: &Dict<'_>) -> Result<Method, KrpcError> {
    let info_hash = id_field(a, "info_hash")?;
    let implied_port = match a.get(b"implied_port") {
        None => None,
        Some(v) => Some(v.as_int().ok_or(KrpcError::BadValue("implied_port"))? != 0),
    };
    let raw_port = a
        .get(b"port")
        .map(|v| v.as_int().ok_or(KrpcError::BadValue("port")))
        .transpose()?;
    let port = match (raw_port, implied_port) {
        (Some(p), _) if (0..=65535).contains(&p) => u16::try_from(p).unwrap_or(0),
        // With implied_port the argument is ignored, so a missing or odd one is harmless.
        (_, Some(true)) => 0,
        (Some(_), _) => return Err(KrpcError::BadValue("port")),
        (None, _) => return Err(KrpcError::MissingKey("port")),
    };
    let token = a
        .get(b"token")
        .ok_or(KrpcError::MissingKey("token"))?
        .as_bytes()
        .filter(|t| t.len() <= MAX_TOKEN_LEN)
        .ok_or(KrpcError::BadValue("token"))?
        .to_vec();
    Ok(Method::AnnouncePeer {
        info_hash,
        port,
        implied_port,
        token,
    })
}

fn decode_response(top: &Dict<'_>) -> Result<Response, KrpcError> {
    let r = top
        .get(b"r")
        .ok_or(KrpcError::MissingKey("r"))?
        .as_dict()
        .ok_or(KrpcError::BadValue("r"))?;
    let id = id_field(r, "id")?;
    let nodes_of = |key: &'static str, family| -> Result<_, KrpcError> {
        r.get(key.as_bytes())
            .map(|v| {
                let b = v.as_bytes().ok_or(KrpcError::BadValue(key))?;
                decode_nodes(b, family)
            })
            .transpose()
    };
    let nodes = nodes_of("nodes", Family::V4)?;
    let nodes6 = nodes_of("nodes6", Family::V6)?;
    let token = r
        .get(b"token")
        .map(|v| {
            v.as_bytes()
                .filter(|t| t.len() <= MAX_TOKEN_LEN)
                .map(<[u8]>::to_vec)
                .ok_or(KrpcError::BadValue("token"))
        })
        .transpose()?;
    let values = r
        .get(b"values")
        .map(|v| {
            let list = v.as_list().ok_or(KrpcError::BadValue("values"))?;
            // Entries that are not 6 or 18 bytes are skipped, as other clients do: one bad
            // peer should not cost the whole reply.
            Ok::<_, KrpcError>(
                list.iter()
                    .filter_map(|e| e.as_bytes().and_then(parse_peer))
                    .collect::<Vec<_>>(),
            )
        })
        .transpose()?;
    Ok(Response {
        id,
        nodes,
        nodes6,
        values,
        token,
    })
}

fn decode_error(top: &Dict<'_>) -> Result<ErrorReply, KrpcError> {
    let e = top
        .get(b"e")
        .ok_or(KrpcError::MissingKey("e"))?
        .as_list()
        .ok_or(KrpcError::BadValue("e"))?;
    let code = e
        .first()
        .and_then(Value::as_int)
        .ok_or(KrpcError::BadValue("e"))?;
    let text = e.get(1).and_then(Value::as_bytes).unwrap_or_default();
    Ok(ErrorReply {
        code,
        text: text.get(..MAX_ERROR_TEXT).unwrap_or(text).to_vec(),
    })
}
