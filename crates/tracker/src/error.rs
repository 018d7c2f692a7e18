//! One error type for the whole crate, shaped by what the caller does next.

use thiserror::Error;

/// What a caller should do about a [`TrackerError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorAction {
    /// This tracker is down or broken right now: move on to the next URL of the tracker list
    /// (BEP 12) and come back to this one on the next round.
    TryNextTracker,
    /// Nothing is wrong with the tracker; a local resource failed. Retry the same tracker after
    /// the back-off of [`crate::proto::AnnounceSchedule`].
    RetryLater,
    /// A person has to see this: the tracker refused us with a reason, or the URL or request is
    /// unusable. The announce round still moves on to the next tracker.
    ReportToUser,
}

/// Why an announce or scrape did not produce a reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrackerError {
    /// The URL cannot be used: bad syntax, unsupported scheme, no host or port.
    #[error("unusable tracker URL {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    /// The announce URL does not follow the BEP 48 convention, so there is no scrape URL.
    #[error("tracker has no scrape endpoint")]
    ScrapeUnsupported,
    /// The request itself is invalid (for example too many hashes for one UDP scrape).
    #[error("invalid tracker request: {0}")]
    InvalidRequest(&'static str),
    /// Name resolution, connection or transfer failed.
    #[error("tracker unreachable: {0}")]
    Unreachable(String),
    /// No complete reply arrived within the time limit (or the UDP retransmissions ran out).
    #[error("tracker did not answer in time")]
    Timeout,
    /// An HTTP status other than success, without a bencoded failure reason in the body.
    #[error("tracker answered with HTTP status {0}")]
    HttpStatus(u16),
    /// The reply arrived but cannot be understood.
    #[error("malformed tracker reply: {0}")]
    Malformed(#[from] ReplyError),
    /// The tracker answered with a failure reason (HTTP) or an error packet (UDP).
    #[error("tracker refused the request: {0}")]
    Refused(String),
    /// A local socket could not be set up (no free port, no address family support).
    #[error("local network error: {0}")]
    LocalIo(String),
}

impl TrackerError {
    /// The action this error calls for.
    pub fn action(&self) -> ErrorAction {
        match self {
            TrackerError::Unreachable(_)
            | TrackerError::Timeout
            | TrackerError::HttpStatus(_)
            | TrackerError::Malformed(_) => ErrorAction::TryNextTracker,
            TrackerError::LocalIo(_) => ErrorAction::RetryLater,
            TrackerError::BadUrl { .. }
            | TrackerError::ScrapeUnsupported
            | TrackerError::InvalidRequest(_)
            | TrackerError::Refused(_) => ErrorAction::ReportToUser,
        }
    }
}

/// What is wrong with a reply (HTTP body or UDP datagram).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplyError {
    /// The body is larger than the configured cap; it was not read to the end.
    #[error("reply larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The body is not valid bencode.
    #[error("not bencode: {0}")]
    Bencode(#[from] shoal_bencode::DecodeError),
    /// The body is bencode but not a dictionary.
    #[error("reply is not a dictionary")]
    NotADict,
    /// A required key is absent.
    #[error("reply lacks the key `{0}`")]
    MissingField(&'static str),
    /// A key has the wrong type or a value out of range.
    #[error("key `{0}` has the wrong type or an out-of-range value")]
    BadField(&'static str),
    /// A compact peer string whose length is not a whole number of entries.
    #[error("`{key}` is {len} bytes, not a multiple of {stride}")]
    BadPeersLength {
        key: &'static str,
        len: usize,
        stride: usize,
    },
    /// A UDP datagram shorter than its fixed header.
    #[error("datagram of {got} bytes, need at least {need}")]
    Truncated { need: usize, got: usize },
    /// A UDP datagram with an action we did not ask for.
    #[error("unexpected UDP action {got}, expected {expected}")]
    UnexpectedAction { expected: u32, got: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_variant() {
        assert_eq!(TrackerError::Timeout.action(), ErrorAction::TryNextTracker);
        assert_eq!(
            TrackerError::Malformed(ReplyError::NotADict).action(),
            ErrorAction::TryNextTracker
        );
        assert_eq!(
            TrackerError::LocalIo("x".into()).action(),
            ErrorAction::RetryLater
        );
        assert_eq!(
            TrackerError::Refused("no".into()).action(),
            ErrorAction::ReportToUser
        );
    }

    #[test]
    fn messages_name_the_problem() {
        let e = TrackerError::Malformed(ReplyError::BadPeersLength {
            key: "peers",
            len: 7,
            stride: 6,
        });
        assert_eq!(
            e.to_string(),
            "malformed tracker reply: `peers` is 7 bytes, not a multiple of 6"
        );
    }
}
