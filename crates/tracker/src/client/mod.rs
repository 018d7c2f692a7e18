//! The tokio half: moves the bytes of [`crate::proto`] over HTTP(S) and UDP.

mod http;
mod udp;

use std::time::Duration;

use shoal_core::InfoHash;

use crate::proto::{
    AnnounceRequest, AnnounceResponse, ReplyLimits, ScrapeResponse, TrackerKind, TrackerUrl,
    UdpConfig, MAX_SCRAPE_HASHES,
};
use crate::TrackerError;

pub use http::HttpTracker;
pub use udp::UdpTracker;

/// Time limits and caps for tracker requests.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Limit on establishing a TCP (and TLS) connection to an HTTP tracker.
    pub connect_timeout: Duration,
    /// Limit on a whole exchange: HTTP request to last body byte, or a UDP connect and
    /// request with its retransmissions.
    pub request_timeout: Duration,
    /// Caps on reply size and peer count.
    pub limits: ReplyLimits,
    /// BEP 15 timing; `family` is set from the tracker's resolved address.
    pub udp: UdpConfig,
    /// The HTTP `User-Agent`.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            limits: ReplyLimits::default(),
            udp: UdpConfig::default(),
            user_agent: concat!("shoal/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Announces and scrapes at any tracker URL. Cheap to clone: the HTTP connection pool is
/// shared. UDP exchanges open a fresh socket each time: a connection id lives one minute and
/// announces are half an hour apart, so there is nothing worth keeping between calls
/// (a caller that scrapes often can hold a [`UdpTracker`] itself).
#[derive(Clone, Debug)]
pub struct TrackerClient {
    config: ClientConfig,
    http: HttpTracker,
}

impl TrackerClient {
    pub fn new(config: ClientConfig) -> Result<Self, TrackerError> {
        Ok(Self {
            http: HttpTracker::new(&config)?,
            config,
        })
    }

    /// One announce to one tracker.
    pub async fn announce(
        &self,
        url: &TrackerUrl,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        match url.kind() {
            TrackerKind::Http | TrackerKind::Https => self.http.announce(url, req).await,
            TrackerKind::Udp => self.udp(url).await?.announce(req).await,
        }
    }

    /// One scrape of 1 to [`MAX_SCRAPE_HASHES`] torrents at the tracker announced to at `url`.
    pub async fn scrape(
        &self,
        url: &TrackerUrl,
        hashes: &[InfoHash],
    ) -> Result<ScrapeResponse, TrackerError> {
        check_scrape_size(hashes)?;
        match url.kind() {
            TrackerKind::Http | TrackerKind::Https => self.http.scrape(url, hashes).await,
            TrackerKind::Udp => self.udp(url).await?.scrape(hashes).await,
        }
    }

    async fn udp(&self, url: &TrackerUrl) -> Result<UdpTracker, TrackerError> {
        let udp = UdpConfig {
            limits: self.config.limits,
            ..self.config.udp
        };
        UdpTracker::connect(url, udp, self.config.request_timeout).await
    }
}

pub(crate) fn check_scrape_size(hashes: &[InfoHash]) -> Result<(), TrackerError> {
    if hashes.is_empty() {
        Err(TrackerError::InvalidRequest("scrape of no torrents"))
    } else if hashes.len() > MAX_SCRAPE_HASHES {
        Err(TrackerError::InvalidRequest(
            "more than 74 torrents in one scrape",
        ))
    } else {
        Ok(())
    }
}
