//! Starts a private opentracker on loopback and stops exactly that process on drop.
//!
//! Debian's opentracker is built whitelist-only: the info-hashes a test will use are written
//! to a whitelist file before start. It chroots into its state directory and drops to user
//! `nobody`, so the directory and file must be readable by that user.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "/usr/bin/opentracker";
const WHITELIST: &str = "whitelist";
/// How long the tracker may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Fresh ports tried when another process takes ours between probe and start.
const START_ATTEMPTS: usize = 5;

/// A running opentracker serving HTTP and UDP on one loopback port.
pub struct OpenTracker {
    child: Child,
    port: u16,
    /// Each tracker of a test run gets its own loopback address: tests run in parallel, and
    /// two trackers racing for one free port on 127.0.0.1 would answer each other's clients.
    ip: Ipv4Addr,
    _state: tempfile::TempDir,
}

/// Hands out 127.0.0.100, .101, … to the trackers of this test binary.
fn next_ip() -> Ipv4Addr {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 100;
    Ipv4Addr::new(127, 0, 0, 100 + n)
}

impl OpenTracker {
    /// Starts a tracker that accepts announces for `info_hashes` only.
    pub fn start(info_hashes: &[[u8; 20]]) -> io::Result<Self> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(info_hashes) {
                Ok(t) => return Ok(t),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("opentracker did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://IP:PORT/announce`.
    pub fn http_url(&self) -> String {
        format!("http://{}:{}/announce", self.ip, self.port)
    }

    /// `udp://IP:PORT/announce`.
    pub fn udp_url(&self) -> String {
        format!("udp://{}:{}/announce", self.ip, self.port)
    }

    /// The process id, for tests that check the child is gone.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn try_start(info_hashes: &[[u8; 20]]) -> io::Result<Self> {
        if !Path::new(BINARY).exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{BINARY} is missing (apt-get install opentracker)"),
            ));
        }
        let state = tempfile::tempdir()?;
        fs::set_permissions(state.path(), fs::Permissions::from_mode(0o755))?;
        let list: String = info_hashes.iter().map(|h| hex(h) + "\n").collect();
        let whitelist = state.path().join(WHITELIST);
        fs::write(&whitelist, list)?;
        fs::set_permissions(&whitelist, fs::Permissions::from_mode(0o644))?;
        let log = fs::File::create(state.path().join("opentracker.log"))?;

        let ip = next_ip();
        let port = free_port(ip)?;
        let port_arg = port.to_string();
        let ip_arg = ip.to_string();
        let child = Command::new(BINARY)
            .args(["-i", &ip_arg, "-p", &port_arg, "-P", &port_arg])
            .arg("-d")
            .arg(state.path())
            .args(["-w", WHITELIST, "-u", "nobody"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut tracker = Self {
            child,
            port,
            ip,
            _state: state,
        };
        tracker.wait_until_listening()?;
        if let Some(first) = info_hashes.first() {
            tracker.wait_until_whitelisted(first)?;
        }
        Ok(tracker)
    }

    /// opentracker reads its whitelist on a thread of its own after it starts listening, so
    /// an early announce may be refused. Probes with a real announce (a peer on port 1) until
    /// it is accepted, then withdraws that peer, leaving the swarm empty for the test.
    fn wait_until_whitelisted(&mut self, hash: &[u8; 20]) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.probe_announce(hash, "started")? {
                self.probe_announce(hash, "stopped")?;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "opentracker never loaded its whitelist",
        ))
    }

    /// One plain HTTP/1.0 announce; true when the tracker did not refuse it.
    fn probe_announce(&self, hash: &[u8; 20], event: &str) -> io::Result<bool> {
        use std::io::{Read, Write};
        let escaped: String = hash.iter().map(|b| format!("%{b:02x}")).collect();
        let request = format!(
            "GET /announce?info_hash={escaped}&peer_id=-PROBE-0000000000000&port=1&uploaded=0\
             &downloaded=0&left=0&compact=1&event={event} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.ip
        );
        let mut conn = TcpStream::connect_timeout(
            &SocketAddr::from((self.ip, self.port)),
            Duration::from_millis(500),
        )?;
        conn.set_read_timeout(Some(Duration::from_secs(2)))?;
        conn.write_all(request.as_bytes())?;
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply)?;
        let text = String::from_utf8_lossy(&reply);
        Ok(text.contains("200") && !text.contains("failure reason"))
    }

    /// Polls the TCP port. opentracker binds every socket (UDP too) while it reads its
    /// arguments, before it accepts connections, so an accepted TCP connection means both
    /// are ready.
    fn wait_until_listening(&mut self) -> io::Result<()> {
        let addr = SocketAddr::from((self.ip, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let log = fs::read_to_string(self._state.path().join("opentracker.log"));
                return Err(io::Error::other(format!(
                    "opentracker exited with {status}: {}",
                    log.unwrap_or_default()
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "opentracker did not listen in time",
        ))
    }
}

impl Drop for OpenTracker {
    fn drop(&mut self) {
        // `Child::kill` signals this child's pid only; `wait` reaps it (immediate after SIGKILL).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free for both TCP and UDP right now (another process could still take
/// it before the tracker binds; `start` retries then).
fn free_port(ip: Ipv4Addr) -> io::Result<u16> {
    for _ in 0..20 {
        let tcp = TcpListener::bind((ip, 0))?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no port free for both TCP and UDP"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
