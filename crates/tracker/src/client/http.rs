//! HTTP(S) trackers over reqwest with rustls.

use shoal_core::InfoHash;

use super::ClientConfig;
use crate::proto::{
    announce_url, parse_announce_reply, parse_scrape_reply, scrape_request_url, AnnounceRequest,
    AnnounceResponse, ReplyLimits, ScrapeResponse, TrackerUrl,
};
use crate::{ReplyError, TrackerError};

/// Redirects followed; trackers move, but a chain longer than this is a loop or a trap.
const MAX_REDIRECTS: usize = 3;

/// An HTTP client for tracker requests: time limits, capped bodies, no cookies.
#[derive(Clone, Debug)]
pub struct HttpTracker {
    client: reqwest::Client,
    limits: ReplyLimits,
}

impl HttpTracker {
    pub fn new(config: &ClientConfig) -> Result<Self, TrackerError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            // No idle connections kept: announces are minutes apart, and trackers such as
            // opentracker close the connection after each reply, so a pooled connection is
            // usually dead when reused and the request fails with a reset.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| TrackerError::LocalIo(error_chain(&e)))?;
        Ok(Self {
            client,
            limits: config.limits,
        })
    }

    pub async fn announce(
        &self,
        url: &TrackerUrl,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        let (status, body) = self.get(&announce_url(url, req)).await?;
        let parsed = parse_announce_reply(&body, &self.limits);
        check_status(status, parsed)
    }

    pub async fn scrape(
        &self,
        url: &TrackerUrl,
        hashes: &[InfoHash],
    ) -> Result<ScrapeResponse, TrackerError> {
        super::check_scrape_size(hashes)?;
        let scrape = url.scrape_url().ok_or(TrackerError::ScrapeUnsupported)?;
        let (status, body) = self.get(&scrape_request_url(&scrape, hashes)).await?;
        let parsed = parse_scrape_reply(&body, hashes, &self.limits);
        check_status(status, parsed)
    }

    /// GETs `url` and reads the body, refusing it once it passes the size cap (before it is
    /// read whole when the server declares its length).
    async fn get(&self, url: &str) -> Result<(reqwest::StatusCode, Vec<u8>), TrackerError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| TrackerError::BadUrl {
            url: String::new(),
            reason: "announce URL does not parse",
        })?;
        let mut resp = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(request_error)?;
        let status = resp.status();
        let max = self.limits.max_bytes;
        let too_large = || TrackerError::Malformed(ReplyError::TooLarge { limit: max });
        if resp
            .content_length()
            .is_some_and(|len| len > u64::try_from(max).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(request_error)? {
            if body.len().saturating_add(chunk.len()) > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

/// A non-success status is reported as such, unless the body carries a failure reason,
/// which says more.
fn check_status<T>(
    status: reqwest::StatusCode,
    parsed: Result<T, TrackerError>,
) -> Result<T, TrackerError> {
    if status.is_success() {
        return parsed;
    }
    match parsed {
        Err(refused @ TrackerError::Refused(_)) => Err(refused),
        _ => Err(TrackerError::HttpStatus(status.as_u16())),
    }
}

fn request_error(e: reqwest::Error) -> TrackerError {
    if e.is_timeout() {
        return TrackerError::Timeout;
    }
    // The URL may hold a private passkey; keep it out of messages that reach logs and screens.
    TrackerError::Unreachable(error_chain(&e.without_url()))
}

/// The error and its sources, joined: reqwest's top-level message alone rarely says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
