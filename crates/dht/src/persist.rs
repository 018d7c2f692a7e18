//! The saved routing table: our id and the nodes we knew, for a fast start next time (BEP 5:
//! "the routing table should be saved between invocations").
//!
//! Format: one bencoded dictionary `{"id": <20 bytes>, "nodes": <compact IPv4 nodes>,
//! "nodes6": <compact IPv6 nodes>}`, the same compact encodings as KRPC.

use shoal_bencode::{decode_with, Limits, OwnedValue, Value};

use crate::proto::{Family, NodeId, NodeInfo};

/// Files larger than this are refused unread.
pub const MAX_FILE: usize = 256 * 1024;
/// Nodes kept from a file (more than any routing table holds).
pub const MAX_SAVED_NODES: usize = 4096;

/// What a saved routing table holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedTable {
    pub id: NodeId,
    pub nodes: Vec<NodeInfo>,
}

/// Why a saved table cannot be used (the node then starts without it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SavedTableError {
    #[error("file of {0} bytes is over the size cap")]
    TooLarge(usize),
    #[error("not bencode: {0}")]
    Bencode(#[from] shoal_bencode::DecodeError),
    #[error("missing or malformed {0:?}")]
    Field(&'static str),
}

impl SavedTable {
    pub fn encode(&self) -> Vec<u8> {
        let nodes = &self.nodes[..self.nodes.len().min(MAX_SAVED_NODES)];
        OwnedValue::dict()
            .with(b"id", OwnedValue::bytes(self.id.0.to_vec()))
            .with(
                b"nodes",
                OwnedValue::bytes(crate::proto::encode_nodes(nodes, Family::V4)),
            )
            .with(
                b"nodes6",
                OwnedValue::bytes(crate::proto::encode_nodes(nodes, Family::V6)),
            )
            .encode()
    }

    pub fn decode(data: &[u8]) -> Result<Self, SavedTableError> {
        if data.len() > MAX_FILE {
            return Err(SavedTableError::TooLarge(data.len()));
        }
        let limits = Limits {
            max_depth: 2,
            max_tokens: 16,
            max_input: MAX_FILE,
        };
        let v = decode_with(data, &limits, false)?;
        let id = v
            .get(b"id")
            .and_then(Value::as_bytes)
            .and_then(NodeId::from_bytes)
            .ok_or(SavedTableError::Field("id"))?;
        let mut nodes = Vec::new();
        for (key, family) in [("nodes", Family::V4), ("nodes6", Family::V6)] {
            if let Some(b) = v.get(key.as_bytes()) {
                let b = b.as_bytes().ok_or(SavedTableError::Field(key))?;
                let list = crate::proto::decode_nodes(b, family)
                    .map_err(|_| SavedTableError::Field(key))?;
                nodes.extend(list);
            }
        }
        nodes.truncate(MAX_SAVED_NODES);
        Ok(Self { id, nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let t = SavedTable {
            id: NodeId([3; 20]),
            nodes: vec![
                NodeInfo {
                    id: NodeId([1; 20]),
                    addr: "127.0.0.5:6881".parse().unwrap(),
                },
                NodeInfo {
                    id: NodeId([2; 20]),
                    addr: "[::1]:6882".parse().unwrap(),
                },
            ],
        };
        assert_eq!(SavedTable::decode(&t.encode()).unwrap(), t);
        assert!(SavedTable::decode(b"d2:id3:abce").is_err());
        assert!(SavedTable::decode(b"d2:id20:aaaaaaaaaaaaaaaaaaaa5:nodes3:abce").is_err());
        assert!(SavedTable::decode(&vec![b'x'; MAX_FILE + 1]).is_err());
        assert!(SavedTable::decode(b"garbage").is_err());
    }
}
