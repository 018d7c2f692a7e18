//! ut_pex (BEP 11): peer exchange.
//!
//! - [`PexMessage`]: the codec. Decoding reads at most [`MAX_DECODE_ENTRIES`] entries per
//!   list and ignores a flags string that does not match its list, so the cost of a message
//!   is bounded whatever its size; anything else malformed is an error.
//! - [`PexState`]: per connection, turns "who am I connected to now" into the next message
//!   (a diff, at most 50 added and 50 dropped) and keeps the once-a-minute rule both ways.
//!
//! What to do with the contacts a peer sends (filtering, deduplication across sources,
//! BEP 40 priority) is the swarm's policy, not the wire's: PEX data is untrusted advice.

mod message;
mod state;
#[cfg(test)]
mod tests;

pub use message::{PexError, PexFlags, PexMessage, PexPeer, MAX_DECODE_ENTRIES, UT_PEX};
pub use state::{
    PexState, INBOUND_SLACK, MAX_ADDED_PER_MESSAGE, MAX_DROPPED_PER_MESSAGE, PEX_INTERVAL,
};
