//! UDP trackers: a tokio `UdpSocket` driving [`UdpTrackerMachine`].

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_core::InfoHash;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::proto::{
    later, AddressFamily, AnnounceRequest, AnnounceResponse, RequestId, ScrapeResponse, TrackerUrl,
    UdpConfig, UdpEvent, UdpTrackerMachine,
};
use crate::TrackerError;

/// Largest UDP payload; a bigger datagram cannot exist, so the buffer never grows.
const MAX_DATAGRAM: usize = 65_535;

/// One UDP tracker address with a connected socket. Requests run one at a time (`&mut self`);
/// the connection id is kept between them for its minute of life. A call that is dropped
/// before it finishes leaves its request in the machine, where it is retransmitted until it
/// ends and its result is discarded.
#[derive(Debug)]
pub struct UdpTracker {
    socket: UdpSocket,
    machine: UdpTrackerMachine<StdRng>,
    request_timeout: Duration,
    buf: Vec<u8>,
}

impl UdpTracker {
    /// Resolves the tracker's host and connects a socket of the matching family to its
    /// first address. A connected socket only receives datagrams from that address, so the
    /// kernel drops off-path replies before they reach the machine.
    pub async fn connect(
        url: &TrackerUrl,
        config: UdpConfig,
        request_timeout: Duration,
    ) -> Result<Self, TrackerError> {
        let (host, port) = url.host_port().ok_or_else(|| TrackerError::BadUrl {
            url: url.as_str().to_string(),
            reason: "no host or port",
        })?;
        // `Url` keeps IPv6 literals in brackets; the resolver wants them bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let resolve = tokio::net::lookup_host((host, port));
        let addr = tokio::time::timeout(request_timeout, resolve)
            .await
            .map_err(|_| TrackerError::Timeout)?
            .map_err(|e| TrackerError::Unreachable(format!("cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| TrackerError::Unreachable(format!("{host} has no address")))?;
        Self::connect_addr(addr, config, request_timeout).await
    }

    /// Connects to a known address.
    pub async fn connect_addr(
        addr: SocketAddr,
        mut config: UdpConfig,
        request_timeout: Duration,
    ) -> Result<Self, TrackerError> {
        let local: SocketAddr = if addr.is_ipv4() {
            config.family = AddressFamily::V4;
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            config.family = AddressFamily::V6;
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let local_err = |e: std::io::Error| TrackerError::LocalIo(e.to_string());
        let socket = UdpSocket::bind(local).await.map_err(local_err)?;
        socket.connect(addr).await.map_err(local_err)?;
        Ok(Self {
            socket,
            machine: UdpTrackerMachine::new(config, StdRng::from_os_rng()),
            request_timeout,
            buf: vec![0; MAX_DATAGRAM],
        })
    }

    pub async fn announce(
        &mut self,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        let id = self
            .machine
            .announce(Instant::now().into_std(), req.clone());
        match self.run(id).await? {
            UdpEvent::Announced { response, .. } => Ok(response),
            UdpEvent::Failed { error, .. } => Err(error),
            UdpEvent::Scraped { .. } => Err(mismatch()),
        }
    }

    pub async fn scrape(&mut self, hashes: &[InfoHash]) -> Result<ScrapeResponse, TrackerError> {
        let id = self.machine.scrape(Instant::now().into_std(), hashes)?;
        match self.run(id).await? {
            UdpEvent::Scraped { response, .. } => Ok(response),
            UdpEvent::Failed { error, .. } => Err(error),
            UdpEvent::Announced { .. } => Err(mismatch()),
        }
    }

    /// Sends, receives and waits until the machine reports on `id` or the request's time
    /// runs out (then the request is cancelled in the machine).
    async fn run(&mut self, id: RequestId) -> Result<UdpEvent, TrackerError> {
        let give_up = Instant::from_std(later(Instant::now().into_std(), self.request_timeout));
        loop {
            while let Some(datagram) = self.machine.poll_transmit() {
                if let Err(e) = self.socket.send(&datagram).await {
                    self.machine.cancel(id);
                    return Err(TrackerError::Unreachable(e.to_string()));
                }
            }
            while let Some(event) = self.machine.poll_event() {
                if event.request() == id {
                    return Ok(event);
                }
                // Events of requests abandoned earlier carry no one's answer.
            }
            let wake = self
                .machine
                .poll_timeout()
                .map_or(give_up, |t| Instant::from_std(t).min(give_up));
            tokio::select! {
                received = self.socket.recv(&mut self.buf) => match received {
                    Ok(n) => {
                        let data = self.buf.get(..n).unwrap_or_default();
                        self.machine.handle_datagram(Instant::now().into_std(), data);
                    }
                    // On a connected socket an ICMP "port unreachable" shows up here.
                    Err(e) => {
                        self.machine.cancel(id);
                        return Err(TrackerError::Unreachable(e.to_string()));
                    }
                },
                () = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= give_up {
                        self.machine.cancel(id);
                        return Err(TrackerError::Timeout);
                    }
                    self.machine.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }
}

/// The machine answered an announce with a scrape result or the reverse: it keys events by
/// request id, so this cannot happen; reported rather than panicking.
fn mismatch() -> TrackerError {
    TrackerError::Unreachable("internal: reply kind does not match the request".into())
}
