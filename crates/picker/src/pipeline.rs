//! How many requests to keep in flight to one peer.
//!
//! A peer can only send what we have asked for, so the queue must cover the round trip (the
//! bandwidth-delay product) plus some slack for rate jitter, or the link idles between our
//! requests. Too deep a queue strands many blocks on a peer that then chokes us or stalls.

use std::time::Duration;

use crate::BLOCK_LEN;

/// Fewest requests kept in flight, so a new or slow peer can still show what it can do. Some
/// clients answer requests in batches every 500 ms (Transmission), so a shallow queue would
/// cap such a peer at a few dozen KiB/s until its measured rate caught up.
pub const MIN_PIPELINE: usize = 16;
/// Most requests kept in flight to one peer (a common default for `reqq`).
pub const MAX_PIPELINE: usize = 250;
/// Transfer time queued beyond one round trip.
pub const PIPELINE_WINDOW: Duration = Duration::from_secs(1);

/// Requests to keep in flight to a peer sending us `rate_bytes_per_sec`, with round-trip time
/// `rtt` (pass a fixed guess, e.g. 100 ms, when unmeasured): enough blocks for `rtt` plus
/// [`PIPELINE_WINDOW`] of transfer, at least [`MIN_PIPELINE`], at most [`MAX_PIPELINE`] and at
/// most the peer's advertised `reqq` (BEP 10), which is peer-controlled and therefore only
/// ever lowers the result.
pub fn pipeline_depth(rate_bytes_per_sec: u64, rtt: Duration, peer_reqq: Option<u32>) -> usize {
    let window_ms = rtt.saturating_add(PIPELINE_WINDOW).as_millis();
    let bytes = u128::from(rate_bytes_per_sec).saturating_mul(window_ms) / 1000;
    let blocks = usize::try_from(bytes.div_ceil(u128::from(BLOCK_LEN))).unwrap_or(MAX_PIPELINE);
    let cap = peer_reqq.map_or(MAX_PIPELINE, |q| {
        usize::try_from(q)
            .unwrap_or(MAX_PIPELINE)
            .clamp(1, MAX_PIPELINE)
    });
    blocks.clamp(MIN_PIPELINE, MAX_PIPELINE).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(100);

    #[test]
    fn sized_to_rate_and_latency() {
        // Idle or new peer: the floor.
        assert_eq!(pipeline_depth(0, RTT, None), MIN_PIPELINE);
        // 1 MiB/s over 1.1 s = 70.4 blocks of 16 KiB.
        assert_eq!(pipeline_depth(1 << 20, RTT, None), 71);
        // A longer round trip needs a deeper queue at the same rate.
        assert_eq!(
            pipeline_depth(1 << 20, Duration::from_millis(500), None),
            96
        );
        // 100 MiB/s would need thousands: capped.
        assert_eq!(pipeline_depth(100 << 20, RTT, None), MAX_PIPELINE);
    }

    #[test]
    fn peer_reqq_only_lowers() {
        assert_eq!(pipeline_depth(1 << 20, RTT, Some(32)), 32);
        assert_eq!(pipeline_depth(1 << 20, RTT, Some(100_000)), 71);
        assert_eq!(
            pipeline_depth(1 << 20, RTT, Some(0)),
            1,
            "a zero reqq still allows one request"
        );
        assert_eq!(
            pipeline_depth(0, RTT, Some(2)),
            2,
            "reqq below the floor wins"
        );
    }

    #[test]
    fn absurd_inputs_do_not_overflow() {
        assert_eq!(pipeline_depth(u64::MAX, Duration::MAX, None), MAX_PIPELINE);
    }
}
