//! opentracker on its own loopback address, HTTP and UDP on one port.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use percent_encoding::{percent_encode, NON_ALPHANUMERIC};
use shoal_core::ids::to_hex;
use tempfile::TempDir;

use crate::net::{accepts_tcp, free_port, next_loopback, poll_until};
use crate::process::Proc;
use crate::{http, KitError};

const NAME: &str = "opentracker";
const START_TIMEOUT: Duration = Duration::from_secs(10);
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Port the whitelist probe announces; nothing listens there, so a client that got the probe
/// peer from the tracker in the instant before it was removed fails to connect at once.
const PROBE_PORT: u16 = 1;

/// A running opentracker.
///
/// Started as root, opentracker chroots into its state dir and switches to `nobody`; that
/// change of user clears `PR_SET_PDEATHSIG`, so this one child relies on [`Drop`] alone
/// to be stopped.
///
/// Debian's build is whitelist-only: announces for hashes not passed to
/// [`Opentracker::whitelist`] are refused with a failure reason. Its announce interval is
/// about 30 minutes, so clients announce once per test; it lists the announcing peer itself.
pub struct Opentracker {
    proc: Proc,
    addr: SocketAddr,
    /// State dir (opentracker chroots here when run as root); holds the whitelist.
    dir: TempDir,
    whitelisted: Mutex<BTreeSet<[u8; 20]>>,
}

impl Opentracker {
    /// Starts opentracker on a fresh 127.0.0.x address and a free port.
    pub fn start() -> Result<Self, KitError> {
        Self::start_on(next_loopback())
    }

    /// Starts opentracker on `ip` and a free port.
    pub fn start_on(ip: Ipv4Addr) -> Result<Self, KitError> {
        let dir = tempfile::Builder::new()
            .prefix("shoal-opentracker")
            .tempdir()
            .map_err(|e| KitError::io("creating a temp dir", e))?;
        // Run as root, opentracker chroots into the dir and drops to `nobody`, who must still
        // be able to read the whitelist on SIGHUP.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| KitError::io("opening the opentracker dir to nobody", e))?;
        let whitelist = dir.path().join("whitelist");
        write_world_readable(&whitelist, "")?;
        let port = free_port(ip)?;

        let mut cmd = Command::new(NAME);
        cmd.arg("-i")
            .arg(ip.to_string())
            .arg("-p")
            .arg(port.to_string())
            .arg("-P")
            .arg(port.to_string())
            .arg("-d")
            .arg(dir.path())
            // Relative to -d: after the chroot only that path exists.
            .arg("-w")
            .arg("whitelist");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.arg("-u").arg("nobody");
        }
        let proc = Proc::spawn(NAME, cmd, &dir.path().join("opentracker.log"))?;
        let addr = SocketAddr::from((ip, port));
        poll_until(
            "opentracker to listen",
            START_TIMEOUT,
            Duration::from_millis(20),
            || {
                proc.check_alive()?;
                Ok(accepts_tcp(addr).then_some(()))
            },
        )?;
        Ok(Self {
            proc,
            addr,
            dir,
            whitelisted: Mutex::new(BTreeSet::new()),
        })
    }

    /// Where it listens (TCP for HTTP, UDP for BEP 15; same port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn http_announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }
    pub fn udp_announce_url(&self) -> String {
        format!("udp://{}/announce", self.addr)
    }
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
    pub fn is_alive(&self) -> bool {
        self.proc.check_alive().is_ok()
    }

    /// Adds info-hashes to the whitelist, reloads it (SIGHUP to this tracker's PID) and
    /// returns once an announce for each new hash is accepted.
    ///
    /// Each check announces a probe peer (port 1) and removes it again with a
    /// `stopped` announce; a `stopped` announce alone is not a check, because opentracker
    /// accepts it even for hashes it does not serve.
    pub fn whitelist(&self, info_hashes: &[[u8; 20]]) -> Result<(), KitError> {
        let mut set = self.whitelisted.lock().unwrap_or_else(|p| p.into_inner());
        let new: Vec<[u8; 20]> = info_hashes
            .iter()
            .filter(|h| !set.contains(*h))
            .copied()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        set.extend(new.iter().copied());
        let text: String = set.iter().map(|h| format!("{}\n", to_hex(h))).collect();
        write_world_readable(&self.whitelist_path(), &text)?;
        self.proc.send_signal(libc::SIGHUP)?;
        for hash in &new {
            poll_until(
                "opentracker to accept a whitelisted hash",
                RELOAD_TIMEOUT,
                Duration::from_millis(20),
                || {
                    self.proc.check_alive()?;
                    self.probe(hash)
                },
            )?;
        }
        Ok(())
    }

    fn whitelist_path(&self) -> PathBuf {
        self.dir.path().join("whitelist")
    }

    /// `Some(())` once an announce for `hash` is accepted (the probe is withdrawn again).
    fn probe(&self, hash: &[u8; 20]) -> Result<Option<()>, KitError> {
        let accepted = self.announce(hash, "started")?;
        if accepted {
            self.announce(hash, "stopped")?;
        }
        Ok(accepted.then_some(()))
    }

    fn announce(&self, hash: &[u8; 20], event: &str) -> Result<bool, KitError> {
        let path = format!(
            "/announce?info_hash={}&peer_id=-SHOALPROBE-00000000&port={PROBE_PORT}&uploaded=0\
             &downloaded=0&left=0&compact=1&numwant=0&event={event}",
            percent_encode(hash, NON_ALPHANUMERIC)
        );
        let reply = http::request(self.addr, "GET", &path, &[], b"")?;
        let root = shoal_bencode::decode(&reply.body).map_err(|e| KitError::Protocol {
            client: NAME,
            detail: format!("announce reply: {e}"),
        })?;
        Ok(reply.status == 200 && root.get(b"failure reason").is_none())
    }
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        self.proc.stop();
    }
}

fn write_world_readable(path: &std::path::Path, text: &str) -> Result<(), KitError> {
    let ctx = || format!("writing {}", path.display());
    std::fs::write(path, text).map_err(|e| KitError::io(ctx(), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| KitError::io(ctx(), e))
}
