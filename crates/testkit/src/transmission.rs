//! transmission-daemon 3.00 with a fresh config dir, driven over its JSON RPC.
//!
//! Transmission cannot be told to dial a peer, and it never dials 127.x peers it hears of
//! from a tracker ("martian" addresses). It does accept incoming connections, so in a test
//! the other side dials it: shoal, or a libtorrent seeder via [`RefClient::connect_peer`].
//! It unchokes new peers only at its 10 s rechoke, so allow 10-20 s for small transfers, and
//! once a peer at some IP became a seed it drops later connections from that IP: use a
//! fresh address per run. It creates no zero-length files (verify with
//! [`crate::VerifyOptions::ALLOW_MISSING_EMPTY`]).
//!
//! At start-up it `connect()`s a UDP socket towards a public IPv6 address to learn its own
//! address (no packet is sent). Run the test binary under `unshare -n` to rule even that out.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use data_encoding::BASE64;
use serde_json::{json, Map, Value};
use shoal_core::ids::InfoHashV1;
use tempfile::TempDir;

use crate::client::{AddMode, PeerStatus, RefClient, TorrentStatus};
use crate::net::{client_home, poll_until, Home};
use crate::process::Proc;
use crate::torrent::TorrentFile;
use crate::{http, KitError};

const NAME: &str = "transmission";
const START_TIMEOUT: Duration = Duration::from_secs(20);
const SESSION_HEADER: &str = "X-Transmission-Session-Id";

/// Settings for [`TransmissionClient::start_with`].
#[derive(Clone, Debug, Default)]
pub struct TransmissionOptions {
    /// The peer address to use; a fresh one when `None`.
    pub ip: Option<Ipv4Addr>,
    /// Allow uTP (off by default: TCP only).
    pub utp: bool,
    /// Extra or overriding `settings.json` entries, e.g. `"encryption": 2` (required).
    pub settings: Map<String, Value>,
}

/// A transmission-daemon on its own 127.0.0.x address, RPC on 127.0.0.1.
pub struct TransmissionClient {
    proc: Proc,
    peer_addr: SocketAddr,
    rpc_addr: SocketAddr,
    /// The CSRF token of the RPC; refreshed whenever a call is answered with 409.
    session_id: Mutex<String>,
    _dir: TempDir,
}

impl TransmissionClient {
    pub fn start() -> Result<Self, KitError> {
        Self::start_with(TransmissionOptions::default())
    }

    pub fn start_with(opts: TransmissionOptions) -> Result<Self, KitError> {
        let Home {
            dir,
            ip,
            peer_port,
            control_port: rpc_port,
        } = client_home("transmission", opts.ip)?;
        let config = dir.path().join("config");
        let downloads = dir.path().join("downloads");
        for d in [&config, &downloads] {
            std::fs::create_dir_all(d)
                .map_err(|e| KitError::io(format!("creating {}", d.display()), e))?;
        }
        let mut settings = json!({
            "bind-address-ipv4": ip.to_string(),
            "bind-address-ipv6": "::1",
            "peer-port": peer_port,
            "peer-port-random-on-start": false,
            "port-forwarding-enabled": false,
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "blocklist-enabled": false,
            "utp-enabled": opts.utp,
            "rpc-enabled": true,
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc_port,
            "rpc-whitelist-enabled": true,
            "rpc-whitelist": "127.0.0.1",
            "rpc-host-whitelist-enabled": false,
            "rpc-authentication-required": false,
            "download-dir": KitError::utf8_path(NAME, &downloads)?,
            "incomplete-dir": KitError::utf8_path(NAME, &downloads)?,
            "incomplete-dir-enabled": false,
            "watch-dir-enabled": false,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "download-queue-enabled": false,
            "seed-queue-enabled": false,
            "queue-stalled-enabled": false,
            "speed-limit-down-enabled": false,
            "speed-limit-up-enabled": false,
            "alt-speed-enabled": false,
            "start-added-torrents": true,
            "message-level": 2,
        });
        if let Some(obj) = settings.as_object_mut() {
            obj.extend(opts.settings);
        }
        let settings_path = config.join("settings.json");
        std::fs::write(&settings_path, settings.to_string())
            .map_err(|e| KitError::io("writing settings.json", e))?;

        let mut cmd = Command::new("transmission-daemon");
        cmd.arg("-g").arg(&config).arg("-f");
        let proc = Proc::spawn(NAME, cmd, &dir.path().join("transmission.log"))?;
        let client = Self {
            proc,
            peer_addr: SocketAddr::from((ip, peer_port)),
            rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, rpc_port)),
            session_id: Mutex::new(String::new()),
            _dir: dir,
        };
        poll_until(
            "transmission RPC",
            START_TIMEOUT,
            Duration::from_millis(50),
            || {
                client.proc.check_alive()?;
                Ok(client.rpc("session-get", json!({})).ok())
            },
        )?;
        Ok(client)
    }

    /// Calls an RPC method and returns its `arguments`; a `result` other than "success"
    /// becomes [`KitError::Rejected`].
    pub fn rpc(&self, method: &str, arguments: Value) -> Result<Value, KitError> {
        let body = json!({"method": method, "arguments": arguments}).to_string();
        // At most one retry: the first call of a session (or after a restart) gets a 409
        // carrying the token to send.
        for _ in 0..2 {
            let id = self
                .session_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let reply = http::request(
                self.rpc_addr,
                "POST",
                "/transmission/rpc",
                &[(SESSION_HEADER, &id), ("Content-Type", "application/json")],
                body.as_bytes(),
            )?;
            if reply.status == 409 {
                let new_id = reply.header(SESSION_HEADER).unwrap_or_default().to_string();
                *self.session_id.lock().unwrap_or_else(|p| p.into_inner()) = new_id;
                continue;
            }
            if reply.status != 200 {
                return Err(self.protocol(format!("{method}: HTTP {}", reply.status)));
            }
            let v: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| self.protocol(format!("{method}: {e}")))?;
            let result = v.get("result").and_then(Value::as_str).unwrap_or("");
            if result != "success" {
                return Err(KitError::Rejected {
                    client: NAME,
                    detail: format!("{method}: {result}"),
                });
            }
            return Ok(v.get("arguments").cloned().unwrap_or(Value::Null));
        }
        Err(self.protocol(format!("{method}: no session id accepted")))
    }

    fn protocol(&self, detail: String) -> KitError {
        KitError::Protocol {
            client: NAME,
            detail,
        }
    }

    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    fn add(&self, mut args: Value, save_path: &Path) -> Result<(), KitError> {
        args["download-dir"] = json!(KitError::utf8_path(NAME, save_path)?);
        args["paused"] = json!(false);
        let r = self.rpc("torrent-add", args)?;
        if r.get("torrent-duplicate").is_some() {
            return Err(KitError::Rejected {
                client: NAME,
                detail: "torrent already added".into(),
            });
        }
        Ok(())
    }
}

impl RefClient for TransmissionClient {
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
        self.add(
            json!({"metainfo": BASE64.encode(torrent.bytes())}),
            save_path,
        )?;
        if mode != AddMode::Download {
            // Make sure the data found on disk is checked now, not at some later start.
            let hash = torrent.info_hash().to_hex();
            self.rpc("torrent-verify", json!({"ids": [hash]}))?;
        }
        Ok(())
    }

    fn add_magnet(
        &self,
        magnet: &str,
        _info_hash: InfoHashV1,
        save_path: &Path,
    ) -> Result<(), KitError> {
        self.add(json!({"filename": magnet}), save_path)
    }

    fn status(&self, info_hash: InfoHashV1) -> Result<TorrentStatus, KitError> {
        let hash = info_hash.to_hex();
        let r = self.rpc(
            "torrent-get",
            json!({
                "ids": [hash],
                "fields": ["hashString", "status", "error", "errorString", "sizeWhenDone",
                           "leftUntilDone", "haveValid", "metadataPercentComplete",
                           "uploadedEver", "downloadedEver", "peers"],
            }),
        )?;
        let t = r
            .get("torrents")
            .and_then(Value::as_array)
            .and_then(|ts| ts.first())
            .ok_or_else(|| KitError::Rejected {
                client: NAME,
                detail: format!("no torrent {hash}"),
            })?;
        Ok(parse_status(t))
    }

    fn check_alive(&self) -> Result<(), KitError> {
        self.proc.check_alive()
    }
}

fn parse_status(t: &Value) -> TorrentStatus {
    let u = |k: &str| t.get(k).and_then(Value::as_u64).unwrap_or(0);
    let status = u("status");
    let has_metadata = t.get("metadataPercentComplete").and_then(Value::as_f64) == Some(1.0);
    let wanted = u("sizeWhenDone");
    let left = u("leftUntilDone");
    // 1 and 2 are "waiting to check" and "checking"; 0 is stopped (also while a magnet
    // link restarts after its metadata arrived).
    let checking = matches!(status, 1 | 2);
    // error 3 is local (files); 1 and 2 are tracker warnings and errors, not fatal here.
    let error = (u("error") == 3).then(|| {
        t.get("errorString")
            .and_then(Value::as_str)
            .unwrap_or("local error")
            .to_string()
    });
    let peers = t
        .get("peers")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(parse_peer).collect())
        .unwrap_or_default();
    TorrentStatus {
        done: u("haveValid").min(wanted),
        wanted,
        complete: has_metadata && wanted > 0 && left == 0 && !checking && status != 0,
        uploaded: Some(u("uploadedEver")),
        downloaded: Some(u("downloadedEver")),
        peers,
        error,
    }
}

fn parse_peer(p: &Value) -> Option<PeerStatus> {
    let ip = p.get("address")?.as_str()?.parse().ok()?;
    let port = u16::try_from(p.get("port")?.as_u64()?).ok()?;
    Some(PeerStatus {
        addr: SocketAddr::new(ip, port),
        client: p
            .get("clientName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        downloaded: None,
        uploaded: None,
        is_seed: p.get("progress").and_then(Value::as_f64).map(|x| x >= 1.0),
    })
}
