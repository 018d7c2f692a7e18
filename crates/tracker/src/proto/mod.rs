//! The tracker protocols without I/O: bytes and time in, bytes, URLs and decisions out.
//! Nothing here touches a socket, a clock or a global RNG.

mod http_reply;
mod http_url;
mod peers;
mod schedule;
mod tiers;
mod types;
mod udp_machine;
pub mod udp_packet;

pub use http_reply::{parse_announce_reply, parse_scrape_reply};
pub use http_url::{announce_url, encode_bytes, scrape_request_url, TrackerKind, TrackerUrl};
pub use schedule::{AnnounceSchedule, ScheduleConfig};
pub use tiers::TrackerList;
pub use types::{
    AnnounceRequest, AnnounceResponse, Event, ReplyLimits, ScrapeEntry, ScrapeResponse,
    ScrapeStats, MAX_SCRAPE_HASHES,
};
pub use udp_machine::{
    DatagramOutcome, IgnoreReason, RequestId, UdpConfig, UdpEvent, UdpTrackerMachine,
};
pub use udp_packet::AddressFamily;

pub(crate) use types::later;
