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
    _state: tempfile::TempDir,
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

    /// `http://127.0.0.1:PORT/announce`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    /// `udp://127.0.0.1:PORT/announce`.
    pub fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
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

        let port = free_port()?;
        let port_arg = port.to_string();
        let child = Command::new(BINARY)
            .args(["-i", "127.0.0.1", "-p", &port_arg, "-P", &port_arg])
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
            _state: state,
        };
        tracker.wait_until_listening()?;
        Ok(tracker)
    }

    /// Polls the TCP port. opentracker binds every socket (UDP too) while it reads its
    /// arguments, before it accepts connections, so an accepted TCP connection means both
    /// are ready.
    fn wait_until_listening(&mut self) -> io::Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
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
fn free_port() -> io::Result<u16> {
    for _ in 0..20 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no port free for both TCP and UDP"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
