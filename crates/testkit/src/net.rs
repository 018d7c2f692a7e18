//! Loopback addresses and free ports, and the one polling loop every wait goes through.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::KitError;

/// Host numbers handed out in 127.0.0.0/24. 127.0.0.1 stays for RPC and Web UIs, which
/// several programs only accept from there; the rest go to peers and trackers.
const FIRST_HOST: u32 = 2;
const HOST_COUNT: u32 = 253; // 2..=254

static NEXT_HOST: AtomicU32 = AtomicU32::new(u32::MAX);

/// A fresh 127.0.0.x address for one program (or one shoal instance).
///
/// Every program gets its own address because libtorrent refuses a second connection from
/// one IP by default and Transmission remembers peers (and seeds) by IP. Addresses cycle
/// through 127.0.0.2..=127.0.0.254 starting at an offset taken from the process id, so two
/// test binaries running at once rarely share one (ports keep them apart when they do).
pub fn next_loopback() -> Ipv4Addr {
    let start = std::process::id() % HOST_COUNT;
    // The first caller replaces the sentinel with the per-process start; later callers count on.
    let n =
        match NEXT_HOST.compare_exchange(u32::MAX, start + 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => start,
            Err(_) => NEXT_HOST.fetch_add(1, Ordering::SeqCst),
        };
    let host = FIRST_HOST + n % HOST_COUNT;
    Ipv4Addr::new(127, 0, 0, host as u8)
}

/// A port that is free right now for TCP and UDP on `ip`, and for TCP on `[::1]` (Transmission
/// also listens there). It is found by binding port 0 and then checking the others.
///
/// Another process could take the port between this call and the program's bind; the window
/// is small and the failure shows up as the program exiting with a bind error.
pub fn free_port(ip: Ipv4Addr) -> Result<u16, KitError> {
    let mut last_err = None;
    for _ in 0..32 {
        let tcp = TcpListener::bind((ip, 0))
            .map_err(|e| KitError::io(format!("binding a TCP port on {ip}"), e))?;
        let port = tcp
            .local_addr()
            .map_err(|e| KitError::io("reading a bound port", e))?
            .port();
        let udp = UdpSocket::bind((ip, port));
        let v6 = match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
            Ok(l) => Ok(Some(l)),
            // No IPv6 on this machine: nothing can collide there.
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Ok(None),
            Err(e) => Err(e),
        };
        match (udp, v6) {
            (Ok(_), Ok(_)) => return Ok(port),
            (Err(e), _) | (_, Err(e)) => last_err = Some(e),
        }
    }
    Err(KitError::io(
        format!("no port free for both TCP and UDP on {ip}"),
        last_err.unwrap_or_else(|| std::io::Error::other("no attempt made")),
    ))
}

/// Polls `probe` every `every` until it returns `Some`, for at most `timeout`.
///
/// `probe` may also fail, which ends the wait at once (a crashed client will not recover).
pub fn poll_until<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<Option<T>, KitError>,
) -> Result<T, KitError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe()? {
            return Ok(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(KitError::timeout(what, timeout));
        }
        std::thread::sleep(every.min(deadline - now));
    }
}

/// True when something accepts TCP connections at `addr` (one bounded connect attempt).
pub fn accepts_tcp(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// What every launcher starts from: a fresh temp dir for its state, its own 127.0.0.x
/// address (`ip`, else a new one) and a free peer port there, and a free control port (RPC,
/// Web UI, SCGI) on 127.0.0.1.
pub(crate) struct Home {
    pub dir: tempfile::TempDir,
    pub ip: Ipv4Addr,
    pub peer_port: u16,
    pub control_port: u16,
}

pub(crate) fn client_home(name: &str, ip: Option<Ipv4Addr>) -> Result<Home, KitError> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("shoal-{name}"))
        .tempdir()
        .map_err(|e| KitError::io("creating a temp dir", e))?;
    let ip = ip.unwrap_or_else(next_loopback);
    let peer_port = free_port(ip)?;
    let control_port = free_port(Ipv4Addr::LOCALHOST)?;
    Ok(Home {
        dir,
        ip,
        peer_port,
        control_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_loopback_and_distinct() {
        let a = next_loopback();
        let b = next_loopback();
        assert!(a.is_loopback() && b.is_loopback());
        assert_ne!(a, b);
        assert_ne!(a, Ipv4Addr::LOCALHOST);
        assert_ne!(b, Ipv4Addr::LOCALHOST);
    }

    #[test]
    fn free_port_can_be_bound() {
        let ip = next_loopback();
        let port = free_port(ip).unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((ip, port)).unwrap();
        UdpSocket::bind((ip, port)).unwrap();
    }

    #[test]
    fn poll_until_times_out_and_returns_values() {
        let err = poll_until(
            "never",
            Duration::from_millis(30),
            Duration::from_millis(5),
            || Ok::<Option<()>, KitError>(None),
        )
        .unwrap_err();
        assert!(matches!(err, KitError::Timeout { .. }));
        let mut n = 0;
        let v = poll_until(
            "third",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                n += 1;
                Ok((n == 3).then_some(n))
            },
        )
        .unwrap();
        assert_eq!(v, 3);
    }
}
