//! aria2c 1.36 with RPC on 127.0.0.1, driven over JSON-RPC.
//!
//! aria2 has no way to be told to dial a peer (no option, no RPC method): it learns peers
//! from trackers (or the DHT) and accepts incoming connections, so shoal dials it. It opens
//! its peer listening socket only once a BitTorrent download is active. With RPC on it does
//! not exit when done. It speaks UDP trackers only with its DHT on ([`Aria2Options::udp_trackers`]).
//! It has no uTP. A magnet link is a metadata download followed by a second download
//! (`followedBy`); [`Aria2Client::status`](RefClient::status) follows the chain.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use data_encoding::BASE64;
use serde_json::{json, Value};
use shoal_core::ids::InfoHashV1;
use tempfile::TempDir;

use crate::client::{AddMode, PeerStatus, RefClient, TorrentStatus};
use crate::net::{client_home, poll_until, Home};
use crate::process::Proc;
use crate::torrent::TorrentFile;
use crate::{http, KitError};

const NAME: &str = "aria2";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// A magnet's follow-up download appears once the metadata arrived.
const FOLLOW_LIMIT: usize = 4;

/// Settings for [`Aria2Client::start_with`].
#[derive(Clone, Debug, Default)]
pub struct Aria2Options {
    /// The peer address to use; a fresh one when `None`.
    pub ip: Option<Ipv4Addr>,
    /// Turn the DHT on (no entry point, empty routing table file) because aria2 speaks UDP
    /// trackers only then. Its DHT socket listens on the peer address's port.
    pub udp_trackers: bool,
    /// Extra command-line options, e.g. `--bt-require-crypto=true`.
    pub args: Vec<String>,
}

/// An aria2c on its own 127.0.0.x address, RPC on 127.0.0.1.
pub struct Aria2Client {
    proc: Proc,
    peer_addr: SocketAddr,
    rpc_addr: SocketAddr,
    /// Info-hash (hex) to the gid aria2 gave the download.
    gids: Mutex<HashMap<String, String>>,
    _dir: TempDir,
}

impl Aria2Client {
    pub fn start() -> Result<Self, KitError> {
        Self::start_with(Aria2Options::default())
    }

    pub fn start_with(opts: Aria2Options) -> Result<Self, KitError> {
        let Home {
            dir,
            ip,
            peer_port,
            control_port: rpc_port,
        } = client_home("aria2", opts.ip)?;
        let path = |name: &str| {
            let p = dir.path().join(name);
            KitError::utf8_path(NAME, &p).map(str::to_string)
        };
        let mut cmd = Command::new("aria2c");
        cmd.args([
            "--no-conf=true",
            &format!("--enable-dht={}", opts.udp_trackers),
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--async-dns=false",
            &format!("--interface={ip}"),
            &format!("--listen-port={peer_port}"),
            &format!("--dht-listen-port={peer_port}"),
            &format!("--dht-file-path={}", path("dht.dat")?),
            "--enable-rpc=true",
            "--rpc-listen-all=false",
            &format!("--rpc-listen-port={rpc_port}"),
            &format!("--dir={}", path("downloads")?),
            &format!("--log={}", path("aria2.log")?),
            "--log-level=info",
            "--console-log-level=warn",
            "--summary-interval=0",
            "--file-allocation=none",
            "--seed-ratio=0.0",
            "--bt-stop-timeout=0",
            "--auto-save-interval=0",
            // aria2's own safety net: it stops if the test binary is gone.
            &format!("--stop-with-process={}", std::process::id()),
        ]);
        cmd.args(&opts.args);
        let proc = Proc::spawn(NAME, cmd, &dir.path().join("aria2c.out"))?;
        let client = Self {
            proc,
            peer_addr: SocketAddr::from((ip, peer_port)),
            rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, rpc_port)),
            gids: Mutex::new(HashMap::new()),
            _dir: dir,
        };
        poll_until(
            "aria2 RPC",
            START_TIMEOUT,
            Duration::from_millis(50),
            || {
                client.proc.check_alive()?;
                Ok(client.rpc("aria2.getVersion", json!([])).ok())
            },
        )?;
        Ok(client)
    }

    /// Calls a JSON-RPC method and returns its `result`; an `error` becomes `Rejected`.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value, KitError> {
        let body = json!({"jsonrpc": "2.0", "id": "kit", "method": method, "params": params});
        let reply = http::request(
            self.rpc_addr,
            "POST",
            "/jsonrpc",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )?;
        let v: Value = serde_json::from_slice(&reply.body).map_err(|e| KitError::Protocol {
            client: NAME,
            detail: format!("{method}: HTTP {}: {e}", reply.status),
        })?;
        if let Some(err) = v.get("error") {
            return Err(KitError::Rejected {
                client: NAME,
                detail: format!("{method}: {err}"),
            });
        }
        v.get("result").cloned().ok_or_else(|| KitError::Protocol {
            client: NAME,
            detail: format!("{method}: no result in {v}"),
        })
    }

    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    pub fn log_path(&self) -> std::path::PathBuf {
        self._dir.path().join("aria2.log")
    }

    fn remember(&self, info_hash: InfoHashV1, gid: &Value) -> Result<(), KitError> {
        let gid = gid.as_str().ok_or_else(|| KitError::Protocol {
            client: NAME,
            detail: format!("gid is not a string: {gid}"),
        })?;
        self.gids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(info_hash.to_hex(), gid.to_string());
        Ok(())
    }

    /// The download that carries the data: the end of the `followedBy` chain.
    fn data_download(&self, info_hash: InfoHashV1) -> Result<(String, Value), KitError> {
        let hex = info_hash.to_hex();
        let mut gid = self
            .gids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hex)
            .cloned()
            .ok_or_else(|| KitError::Rejected {
                client: NAME,
                detail: format!("no torrent {hex}"),
            })?;
        for _ in 0..FOLLOW_LIMIT {
            let s = self.rpc("aria2.tellStatus", json!([gid]))?;
            let next = s
                .get("followedBy")
                .and_then(Value::as_array)
                .and_then(|f| f.first())
                .and_then(Value::as_str)
                .map(str::to_string);
            match next {
                Some(n) => gid = n,
                None => return Ok((gid, s)),
            }
        }
        Err(KitError::Protocol {
            client: NAME,
            detail: format!("followedBy chain longer than {FOLLOW_LIMIT}"),
        })
    }
}

impl RefClient for Aria2Client {
    fn name(&self) -> &'static str {
        NAME
    }
    fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
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
        let check = mode == AddMode::Seed;
        let options = json!({
            "dir": KitError::utf8_path(NAME, save_path)?,
            "check-integrity": check.to_string(),
            "bt-seed-unverified": (mode == AddMode::SeedUnchecked).to_string(),
        });
        let gid = self.rpc(
            "aria2.addTorrent",
            json!([BASE64.encode(torrent.bytes()), [], options]),
        )?;
        self.remember(torrent.info_hash(), &gid)
    }

    fn add_magnet(
        &self,
        magnet: &str,
        info_hash: InfoHashV1,
        save_path: &Path,
    ) -> Result<(), KitError> {
        let options = json!({"dir": KitError::utf8_path(NAME, save_path)?});
        let gid = self.rpc("aria2.addUri", json!([[magnet], options]))?;
        self.remember(info_hash, &gid)
    }

    fn status(&self, info_hash: InfoHashV1) -> Result<TorrentStatus, KitError> {
        let (gid, s) = self.data_download(info_hash)?;
        // getPeers fails for downloads that are not active; no peers then.
        let peers = self
            .rpc("aria2.getPeers", json!([gid]))
            .unwrap_or(Value::Null);
        Ok(parse_status(&s, &peers))
    }

    fn check_alive(&self) -> Result<(), KitError> {
        self.proc.check_alive()
    }
}

fn parse_status(s: &Value, peers: &Value) -> TorrentStatus {
    // aria2 sends every number as a decimal string.
    let u = |k: &str| {
        s.get(k)
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = s.get("status").and_then(Value::as_str).unwrap_or("");
    let wanted = u("totalLength");
    let done = u("completedLength");
    let checking = s.get("verifiedLength").is_some() || s.get("verifyIntegrityPending").is_some();
    let is_metadata = s
        .get("bittorrent")
        .is_some_and(|bt| bt.get("info").is_none());
    let error = (status == "error").then(|| {
        s.get("errorMessage")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_string()
    });
    let peers = peers
        .as_array()
        .map(|ps| ps.iter().filter_map(parse_peer).collect())
        .unwrap_or_default();
    TorrentStatus {
        done,
        wanted,
        complete: wanted > 0 && done == wanted && !checking && !is_metadata,
        uploaded: Some(u("uploadLength")),
        // completedLength also counts data that was already on disk, so it is not a
        // download count.
        downloaded: None,
        peers,
        error,
    }
}

fn parse_peer(p: &Value) -> Option<PeerStatus> {
    let ip = p.get("ip")?.as_str()?.parse().ok()?;
    let port = p.get("port")?.as_str()?.parse().ok()?;
    Some(PeerStatus {
        addr: SocketAddr::new(ip, port),
        client: p
            .get("peerId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        downloaded: None,
        uploaded: None,
        is_seed: p.get("seeder").and_then(Value::as_str).map(|v| v == "true"),
    })
}
