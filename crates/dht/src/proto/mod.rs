//! The DHT without I/O: datagrams and time in, datagrams, events and deadlines out.
//! Nothing here touches a socket, a clock or a global RNG.

pub mod bep42;
mod client;
mod compact;
mod config;
mod dht;
mod id;
mod krpc;
mod krpc_decode;
mod lookup;
mod rate;
mod routing;
mod server;
mod store;
mod token;

pub use compact::{canonical, decode_nodes, encode_nodes, is_usable, Family, NodeInfo};
pub use config::{Config, DhtEvent, DhtStats};
pub use dht::{Dht, MAINTENANCE_EVERY};
pub use id::{Distance, NodeId, ID_LEN};
pub use krpc::{
    Body, ErrorCode, ErrorReply, Message, Method, Query, Response, Want, MAX_DATAGRAM, MAX_REPLY,
    MAX_TID_LEN, MAX_TOKEN_LEN,
};
pub use krpc_decode::{decode, DecodeFailure};
pub use lookup::{LookupId, ALPHA, MAX_PEERS_PER_LOOKUP};
pub use rate::RateLimit;
pub use routing::{
    Contact, Entry, InsertOutcome, Maintenance, NodeState, RoutingTable, GOOD_FOR, K, REFRESH_AFTER,
};
pub use store::{MAX_HASHES, MAX_PEERS_PER_HASH, PEER_TTL};
pub use token::ROTATE_EVERY;

#[cfg(test)]
mod krpc_tests;
#[cfg(test)]
mod routing_tests;
