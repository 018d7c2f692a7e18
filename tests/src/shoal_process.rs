//! `shoal download` as a real child process: started with its own loopback address, watched
//! through its progress lines, stopped by PID.
//!
//! Interop tests run the released binary rather than the library so that what they prove is
//! what a user runs: argument parsing, the runtime, signal handling and the exit code are all
//! part of the test. The child is kept unreaped until we stop it, so its PID always names
//! our process; it is never looked up by name.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tempfile::TempDir;

use crate::shoal_bin::shoal_bin;

/// Grace period between SIGTERM and SIGKILL when a test drops a running shoal.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// After SIGKILL the kernel reaps at once; this only guards against a stuck process.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How much of shoal's stderr a failure message quotes.
const LOG_TAIL: usize = 6000;

/// What to download and how.
#[derive(Clone, Debug)]
pub struct Download {
    pub torrent: PathBuf,
    pub output: PathBuf,
    /// The address shoal listens on and dials from; one per shoal process.
    pub ip: Ipv4Addr,
    /// The listening port; 0 lets the system pick.
    pub port: u16,
    /// Where shoal keeps resume data; a fresh folder of the process when `None`.
    pub state_dir: Option<PathBuf>,
    /// Peers given with `--peer`.
    pub peers: Vec<SocketAddr>,
    /// Pass `--no-trackers`.
    pub no_trackers: bool,
    /// DHT bootstrap nodes (`--dht-bootstrap`, loopback only); empty: `--no-dht`, so a test
    /// never joins the DHT through the public routers.
    pub dht_bootstrap: Vec<SocketAddr>,
    /// More arguments, appended last.
    pub extra: Vec<String>,
}

impl Download {
    pub fn new(torrent: &Path, output: &Path, ip: Ipv4Addr) -> Self {
        Self {
            torrent: torrent.to_path_buf(),
            output: output.to_path_buf(),
            ip,
            port: 0,
            state_dir: None,
            peers: Vec::new(),
            no_trackers: false,
            dht_bootstrap: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Turns the DHT on, joining through `node` (which must be on loopback).
    pub fn dht_bootstrap(mut self, node: SocketAddr) -> Self {
        assert!(
            node.ip().is_loopback(),
            "DHT node {node} is not on loopback"
        );
        self.dht_bootstrap.push(node);
        self
    }

    pub fn peer(mut self, addr: SocketAddr) -> Self {
        self.peers.push(addr);
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_path_buf());
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra.push(arg.into());
        self
    }

    pub fn no_trackers(mut self) -> Self {
        self.no_trackers = true;
        self
    }
}

/// The final statistics shoal writes with `--stats-json` (see `cmd_download.rs`).
#[derive(Clone, Debug, Deserialize)]
pub struct FinalStats {
    pub exit_code: i32,
    pub have_all: bool,
    pub total_length: u64,
    pub have_bytes: u64,
    pub pieces_have: u32,
    pub pieces_total: u32,
    /// Payload bytes received in this run.
    pub downloaded: u64,
    pub uploaded: u64,
    pub wasted: u64,
    pub hash_failures: u64,
    /// Banned IPs.
    pub banned: usize,
    pub message: Option<String>,
    /// Connections still open at the end.
    pub peers: Vec<FinalPeer>,
}

/// One connection in [`FinalStats`].
#[derive(Clone, Debug, Deserialize)]
pub struct FinalPeer {
    pub addr: SocketAddr,
    pub client: Option<String>,
    /// Where shoal learnt of the peer: "tracker", "dht", "pex", "incoming" or "manual".
    #[serde(default)]
    pub source: String,
    /// shoal dialled it.
    #[serde(default)]
    pub outgoing: bool,
    pub downloaded: u64,
    pub uploaded: u64,
    pub hash_strikes: u32,
}

/// The percentage on a progress line (`downloading  42.0% 10 MiB/25 MiB ...`).
pub fn progress_percent(line: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|w| w.strip_suffix('%'))
        .and_then(|p| p.parse().ok())
}

/// How a shoal process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl From<ExitStatus> for Exit {
    fn from(s: ExitStatus) -> Self {
        match (s.code(), s.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(sig)) => Exit::Signal(sig),
            (None, None) => Exit::Code(-1),
        }
    }
}

/// A running `shoal download`; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct ShoalProcess {
    /// `None` once reaped.
    child: Option<Child>,
    pid: u32,
    exit: Option<Exit>,
    /// Progress lines read from stdout so far.
    lines: Arc<Mutex<Vec<String>>>,
    ip: Ipv4Addr,
    /// Holds stderr's log and the stats file.
    dir: TempDir,
}

impl ShoalProcess {
    /// Starts `shoal download` with progress lines every second, engine logs on stderr (kept
    /// in a log for failure messages), `--stats-json`, and `--state-dir` in a temp folder
    /// unless the test names one.
    pub fn start(d: &Download) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("shoal-proc").tempdir()?;
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
        let mut cmd = Command::new(shoal_bin());
        cmd.arg("download")
            .arg(&d.torrent)
            .arg("--output")
            .arg(&d.output)
            .arg("--listen")
            .arg(SocketAddr::from((d.ip, d.port)).to_string())
            .args(["--no-tui", "--progress-every", "1"])
            .arg("--stats-json")
            .arg(dir.path().join("stats.json"))
            // Never the user's own state folder.
            .arg("--state-dir")
            .arg(
                d.state_dir
                    .clone()
                    .unwrap_or_else(|| dir.path().join("state")),
            );
        for p in &d.peers {
            cmd.arg("--peer").arg(p.to_string());
        }
        if d.dht_bootstrap.is_empty() {
            cmd.arg("--no-dht");
        }
        for n in &d.dht_bootstrap {
            cmd.arg("--dht-bootstrap").arg(n.to_string());
        }
        if d.no_trackers {
            cmd.arg("--no-trackers");
        }
        cmd.args(&d.extra);
        // SHOAL_TEST_LOG (e.g. `debug`) turns up shoal's logging for a failing test.
        let log = std::env::var("SHOAL_TEST_LOG").unwrap_or_else(|_| "info".to_string());
        cmd.env("SHOAL_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // SAFETY: prctl is async-signal-safe and touches no parent memory. The child is
        // killed if the thread that started it dies without running our Drop (a test
        // aborted), so no shoal outlives its test for long.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id();
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let lines = Arc::clone(&lines);
            // Ends at EOF, which comes when the process exits.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        Ok(Self {
            child: Some(child),
            pid,
            exit: None,
            lines,
            ip: d.ip,
            dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// Stdout so far (progress lines and the final "complete" line).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The end of stderr (engine logs).
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read(self.dir.path().join("stderr.log")).unwrap_or_default();
        let start = text.len().saturating_sub(LOG_TAIL);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// Everything a failure message should show.
    pub fn diagnostics(&self) -> String {
        format!(
            "shoal pid {} on {} ended {:?}\n--- stdout ---\n{}\n--- stderr (tail) ---\n{}",
            self.pid,
            self.ip,
            self.exit,
            self.stdout_lines().join("\n"),
            self.stderr_tail()
        )
    }

    /// Polls for the exit, at most `timeout`; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.try_exit() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_exit(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.exit = Some(status.into());
                self.child = None;
            }
        }
        self.exit
    }

    /// Waits (at most `timeout`) for a stdout line that satisfies `pred`; gives up early if
    /// the process exits.
    pub fn wait_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        loop {
            let exited = self.try_exit().is_some();
            {
                let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(l) = lines[seen..].iter().find(|l| pred(l)) {
                    return Some(l.clone());
                }
                seen = lines.len();
            }
            if exited || Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` to the process if it has not been reaped (the PID is still ours then).
    pub fn signal(&mut self, sig: libc::c_int) -> bool {
        if self.try_exit().is_some() || self.child.is_none() {
            return false;
        }
        send(self.pid, sig)
    }

    /// Waits for a successful exit (code 0) within `timeout` and returns the final stats.
    /// The error text carries the diagnostics.
    pub fn finish(&mut self, timeout: Duration) -> Result<FinalStats, String> {
        match self.wait_exit(timeout) {
            Some(Exit::Code(0)) => self.final_stats(),
            Some(other) => Err(format!("exited with {other:?}\n{}", self.diagnostics())),
            None => Err(format!(
                "did not finish within {timeout:?}\n{}",
                self.diagnostics()
            )),
        }
    }

    /// The stats file shoal wrote at exit.
    pub fn final_stats(&self) -> Result<FinalStats, String> {
        let path = self.dir.path().join("stats.json");
        let text = std::fs::read(&path)
            .map_err(|e| format!("no stats file: {e}\n{}", self.diagnostics()))?;
        serde_json::from_slice(&text)
            .map_err(|e| format!("bad stats file: {e}\n{}", self.diagnostics()))
    }

    /// SIGTERM, a bounded wait, then SIGKILL. Idempotent.
    pub fn stop(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        send(self.pid, libc::SIGTERM);
        let status = wait_reaped(&mut child, STOP_GRACE).or_else(|| {
            send(self.pid, libc::SIGKILL);
            wait_reaped(&mut child, KILL_WAIT)
        });
        self.exit = status.map(Exit::from);
        if status.is_none() {
            eprintln!("shoal pid {} did not exit after SIGKILL", self.pid);
        }
    }
}

impl Drop for ShoalProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `sig` to our own child `pid`.
pub(crate) fn send(pid: u32, sig: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) on the PID of our own child, which is not reaped yet (callers hold the
    // `Child`), so the PID cannot have been reused.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Waits up to `timeout` for `child` to exit and reaps it.
pub(crate) fn wait_reaped(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
