//! python-libtorrent 2.0.8 behind a line-oriented JSON driver (`scripts/lt_driver.py`).
//!
//! libtorrent is the most useful reference: it can be told to dial a peer, reports exact
//! per-peer byte counts, and can form a private DHT on loopback. The driver script is
//! embedded in the crate and written to the client's temp dir, so tests in other crates do
//! not depend on where this crate's sources live.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use shoal_core::ids::InfoHashV1;
use tempfile::TempDir;

use crate::client::{AddMode, PeerStatus, RefClient, TorrentStatus};
use crate::net::{free_port, next_loopback};
use crate::process::Proc;
use crate::torrent::TorrentFile;
use crate::KitError;

const NAME: &str = "libtorrent";
/// Debian's interpreter: a `python3` earlier on PATH may lack the bindings.
const PYTHON: &str = "/usr/bin/python3";
const DRIVER: &str = include_str!("../scripts/lt_driver.py");
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// A command is answered in milliseconds; this bound covers a machine under load.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the exit status once the driver's stdout closed.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// Driver reply lines longer than this are refused.
const MAX_LINE: usize = 4 << 20;

/// Settings for [`LibtorrentClient::start_with`].
#[derive(Clone, Debug, Default)]
pub struct LibtorrentOptions {
    /// The address to use; a fresh one when `None`.
    pub ip: Option<Ipv4Addr>,
    /// Allow uTP. Off by default: libtorrent prefers uTP for outgoing connections and uTP on
    /// loopback is an order of magnitude slower than TCP.
    pub utp: bool,
    /// Turn PEX on for added torrents (off by default).
    pub pex: bool,
    /// Let added torrents use the DHT (see [`LibtorrentClient::enable_dht`]).
    pub dht: bool,
    /// Extra `settings_pack` entries applied when the session is created, e.g.
    /// `"allowed_enc_level"` or `"out_enc_policy"`.
    pub settings: Map<String, Value>,
}

/// The driver's pipes; one command and its reply at a time.
struct DriverIo {
    stdin: ChildStdin,
    /// Lines from the driver's stdout, read by a thread that ends at EOF.
    lines: mpsc::Receiver<String>,
}

/// A python-libtorrent session on its own 127.0.0.x address.
pub struct LibtorrentClient {
    proc: Proc,
    io: Mutex<DriverIo>,
    addr: SocketAddr,
    opts: LibtorrentOptions,
    /// Holds the driver script and the log; removed after the process stopped.
    _dir: TempDir,
}

impl LibtorrentClient {
    /// Starts a session with the default (loopback-only, TCP-only) settings.
    pub fn start() -> Result<Self, KitError> {
        Self::start_with(LibtorrentOptions::default())
    }

    pub fn start_with(opts: LibtorrentOptions) -> Result<Self, KitError> {
        let dir = tempfile::Builder::new()
            .prefix("shoal-libtorrent")
            .tempdir()
            .map_err(|e| KitError::io("creating a temp dir", e))?;
        let script = dir.path().join("lt_driver.py");
        std::fs::write(&script, DRIVER)
            .map_err(|e| KitError::io("writing the libtorrent driver", e))?;
        let ip = opts.ip.unwrap_or_else(next_loopback);
        let port = free_port(ip)?;
        let config = json!({
            "addr": ip.to_string(),
            "port": port,
            "utp": opts.utp,
            "settings": opts.settings,
        });
        let log = dir.path().join("libtorrent.log");
        let stderr = std::fs::File::create(&log)
            .map_err(|e| KitError::io("creating the libtorrent log", e))?;
        let mut cmd = Command::new(PYTHON);
        cmd.arg(&script).arg(config.to_string());
        let proc = Proc::spawn_with(
            NAME,
            cmd,
            &log,
            Stdio::piped(),
            Stdio::piped(),
            stderr.into(),
        )?;
        let pipes = proc
            .with_child(|c| (c.stdin.take(), c.stdout.take()))
            .unwrap_or((None, None));
        let (Some(stdin), Some(stdout)) = pipes else {
            return Err(KitError::Protocol {
                client: NAME,
                detail: "driver pipes missing".into(),
            });
        };
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("libtorrent-stdout".into())
            .spawn(move || read_lines(stdout, tx))
            .map_err(|e| KitError::io("starting a reader thread", e))?;
        let client = Self {
            proc,
            io: Mutex::new(DriverIo { stdin, lines }),
            addr: SocketAddr::from((ip, port)),
            opts,
            _dir: dir,
        };
        let ready = {
            let io = client.io.lock().unwrap_or_else(|p| p.into_inner());
            client.next_line(&io, START_TIMEOUT, "the driver to start")?
        };
        if ready.get("event").and_then(Value::as_str) != Some("ready") {
            return Err(KitError::Exited {
                client: NAME,
                status: format!("driver did not start: {ready}"),
                log_tail: client.proc.log_tail(),
            });
        }
        Ok(client)
    }

    /// Sends one command and returns its reply object; `{"ok": false}` becomes `Rejected`.
    pub fn command(&self, cmd: Value) -> Result<Value, KitError> {
        // One lock over the write and the read keeps each reply with its command.
        let mut io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        let line = format!("{cmd}\n");
        if let Err(e) = io
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| io.stdin.flush())
        {
            return Err(self.death_or(KitError::io("writing to the libtorrent driver", e)));
        }
        let reply = self.next_line(&io, COMMAND_TIMEOUT, "a driver reply")?;
        if reply.get("ok").and_then(Value::as_bool) == Some(true) {
            Ok(reply)
        } else {
            let detail = reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error text")
                .to_string();
            Err(KitError::Rejected {
                client: NAME,
                detail: format!("{cmd}: {detail}"),
            })
        }
    }

    fn next_line(&self, io: &DriverIo, timeout: Duration, what: &str) -> Result<Value, KitError> {
        match io.lines.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line).map_err(|e| KitError::Protocol {
                client: NAME,
                detail: format!("{e}: {line:?}"),
            }),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(KitError::timeout(
                format!("libtorrent ({}) {what}", self.addr),
                timeout,
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.death_or(KitError::Protocol {
                client: NAME,
                detail: "driver closed stdout".into(),
            })),
        }
    }

    /// The driver's pipe broke: report how the process ended if it did (a crash), else `other`.
    fn death_or(&self, other: KitError) -> KitError {
        match self.proc.wait_exit(EXIT_WAIT) {
            Some(status) => self.proc.exit_error(status),
            None => other,
        }
    }

    /// Applies `settings_pack` entries to the running session.
    pub fn apply_settings(&self, settings: Map<String, Value>) -> Result<(), KitError> {
        self.command(json!({"cmd": "apply_settings", "settings": settings}))
            .map(drop)
    }

    /// Turns the DHT on with `nodes` (all on loopback) as its only entry points, and the
    /// restrictions that would drop 127.x nodes lifted (INTEROP quirk 9).
    ///
    /// The entry points are added as ordinary nodes (`add_dht_node`), not as
    /// `dht_bootstrap_nodes`: libtorrent never admits a bootstrap "router" into its routing
    /// table, so nodes that only know each other as routers keep empty tables. The DHT
    /// shares the UDP port of [`RefClient::peer_addr`].
    pub fn enable_dht(&self, nodes: &[SocketAddr]) -> Result<(), KitError> {
        if let Some(bad) = nodes.iter().find(|a| !a.ip().is_loopback()) {
            return Err(KitError::Rejected {
                client: NAME,
                detail: format!("DHT node {bad} is not on loopback"),
            });
        }
        let nodes: Vec<String> = nodes.iter().map(ToString::to_string).collect();
        self.command(json!({"cmd": "enable_dht", "nodes": nodes}))
            .map(drop)
    }

    /// Nodes in the DHT routing table.
    pub fn dht_node_count(&self) -> Result<u64, KitError> {
        let r = self.command(json!({"cmd": "dht_status"}))?;
        Ok(r.get("nodes").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Announces the torrent to the DHT now (the next scheduled announce is 15 minutes away).
    pub fn force_dht_announce(&self, info_hash: InfoHashV1) -> Result<(), KitError> {
        self.command(json!({"cmd": "force_dht_announce", "info_hash": info_hash.to_hex()}))
            .map(drop)
    }

    /// Starts a DHT lookup for peers of `info_hash` (no torrent needed). Its results collect
    /// in the driver; read them with [`LibtorrentClient::dht_peers`].
    pub fn dht_get_peers(&self, info_hash: InfoHashV1) -> Result<(), KitError> {
        self.command(json!({"cmd": "dht_get_peers", "info_hash": info_hash.to_hex()}))
            .map(drop)
    }

    /// Every peer the [`LibtorrentClient::dht_get_peers`] lookups for `info_hash` found so far.
    pub fn dht_peers(&self, info_hash: InfoHashV1) -> Result<Vec<SocketAddr>, KitError> {
        let r = self.command(json!({"cmd": "dht_peers", "info_hash": info_hash.to_hex()}))?;
        Ok(r.get("peers")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().filter_map(|p| p.as_str()?.parse().ok()).collect())
            .unwrap_or_default())
    }

    /// Announces to the trackers now.
    pub fn force_reannounce(&self, info_hash: InfoHashV1) -> Result<(), KitError> {
        self.command(json!({"cmd": "force_reannounce", "info_hash": info_hash.to_hex()}))
            .map(drop)
    }

    pub fn remove_torrent(&self, info_hash: InfoHashV1) -> Result<(), KitError> {
        self.command(json!({"cmd": "remove", "info_hash": info_hash.to_hex()}))
            .map(drop)
    }

    /// The log file (alerts, one per line).
    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    fn torrent_flags(&self, mode: AddMode) -> Value {
        json!({
            "pex": self.opts.pex,
            "dht": self.opts.dht,
            "lsd": false,
            "seed_mode": mode == AddMode::SeedUnchecked,
        })
    }
}

impl RefClient for LibtorrentClient {
    fn name(&self) -> &'static str {
        NAME
    }
    fn peer_addr(&self) -> SocketAddr {
        self.addr
    }
    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn add_torrent(
        &self,
        torrent: &TorrentFile,
        save_path: &Path,
        mode: AddMode,
    ) -> Result<(), KitError> {
        let mut cmd = self.torrent_flags(mode);
        cmd["cmd"] = json!("add");
        cmd["torrent"] = json!(path_str(torrent.path())?);
        cmd["save_path"] = json!(path_str(save_path)?);
        self.command(cmd).map(drop)
    }

    fn add_magnet(
        &self,
        magnet: &str,
        _info_hash: InfoHashV1,
        save_path: &Path,
    ) -> Result<(), KitError> {
        let mut cmd = self.torrent_flags(AddMode::Download);
        cmd["cmd"] = json!("add_magnet");
        cmd["uri"] = json!(magnet);
        cmd["save_path"] = json!(path_str(save_path)?);
        self.command(cmd).map(drop)
    }

    fn status(&self, info_hash: InfoHashV1) -> Result<TorrentStatus, KitError> {
        let r = self.command(json!({"cmd": "status", "info_hash": info_hash.to_hex()}))?;
        Ok(parse_status(&r))
    }

    fn connect_peer(&self, info_hash: InfoHashV1, addr: SocketAddr) -> Result<(), KitError> {
        self.command(json!({
            "cmd": "connect_peer",
            "info_hash": info_hash.to_hex(),
            "ip": addr.ip().to_string(),
            "port": addr.port(),
        }))
        .map(drop)
    }

    fn check_alive(&self) -> Result<(), KitError> {
        self.proc.check_alive()
    }
}

impl Drop for LibtorrentClient {
    fn drop(&mut self) {
        // Ask politely first: the driver exits at once on "quit" (or on EOF).
        if self.proc.check_alive().is_ok() {
            let _ = self.command(json!({"cmd": "quit"}));
            let _ = self.proc.wait_exit(Duration::from_secs(2));
        }
        self.proc.stop();
    }
}

fn path_str(p: &Path) -> Result<&str, KitError> {
    KitError::utf8_path(NAME, p)
}

fn read_lines(stdout: std::process::ChildStdout, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = String::new();
        match Read::by_ref(&mut reader)
            .take(MAX_LINE as u64)
            .read_line(&mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

fn parse_status(r: &Value) -> TorrentStatus {
    let u = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
    let b = |k: &str| r.get(k).and_then(Value::as_bool).unwrap_or(false);
    let state = r.get("state").and_then(Value::as_str).unwrap_or("");
    let peers = r
        .get("peers")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(parse_peer).collect())
        .unwrap_or_default();
    let error = r
        .get("error")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    let (done, wanted) = (u("total_wanted_done"), u("total_wanted"));
    TorrentStatus {
        done,
        wanted,
        complete: b("has_metadata") && done == wanted && matches!(state, "finished" | "seeding"),
        uploaded: Some(u("total_payload_upload")),
        downloaded: Some(u("total_payload_download")),
        peers,
        error,
    }
}

fn parse_peer(p: &Value) -> Option<PeerStatus> {
    let ip = p.get("ip")?.as_str()?.parse().ok()?;
    let port = u16::try_from(p.get("port")?.as_u64()?).ok()?;
    Some(PeerStatus {
        addr: SocketAddr::new(ip, port),
        client: p
            .get("client")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        downloaded: p.get("total_download").and_then(Value::as_u64),
        uploaded: p.get("total_upload").and_then(Value::as_u64),
        is_seed: p.get("seed").and_then(Value::as_bool),
    })
}
