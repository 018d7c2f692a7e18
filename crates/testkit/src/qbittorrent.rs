//! qbittorrent-nox 4.5.2 (libtorrent-rasterbar 2.0.8 inside) with a pre-written
//! `qBittorrent.conf`, driven over its Web API v2.
//!
//! The configuration must exist before the first start: with defaults, qBittorrent waits at
//! a legal notice, looks up public DHT routers, joins the LSD multicast group and fetches a
//! GeoIP database. It logs "Failed to find the configured network address to listen on"
//! for a 127.0.0.x other than 127.0.0.1 (the address is not listed on `lo`) and then listens
//! on it anyway. It takes a couple of seconds to exit after SIGTERM.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use shoal_core::ids::InfoHashV1;
use tempfile::TempDir;

use crate::client::{AddMode, PeerStatus, RefClient, TorrentStatus};
use crate::http::{self, multipart, Part};
use crate::net::{accepts_tcp, client_home, poll_until, Home};
use crate::process::Proc;
use crate::torrent::TorrentFile;
use crate::KitError;

const NAME: &str = "qbittorrent";
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Adding is asynchronous; the torrent shows up in the list shortly after.
const ADD_TIMEOUT: Duration = Duration::from_secs(15);

/// Settings for [`QbittorrentClient::start_with`].
#[derive(Clone, Debug, Default)]
pub struct QbittorrentOptions {
    /// The peer address to use; a fresh one when `None`.
    pub ip: Option<Ipv4Addr>,
    /// Allow uTP (`Session\BTProtocol=Both`); TCP only by default.
    pub utp: bool,
    /// Extra lines for the `[BitTorrent]` section, e.g. `("Session\\Encryption", "1")`.
    pub bittorrent: Vec<(String, String)>,
}

/// A qbittorrent-nox on its own 127.0.0.x address, Web UI on 127.0.0.1.
pub struct QbittorrentClient {
    proc: Proc,
    peer_addr: SocketAddr,
    web_addr: SocketAddr,
    profile: PathBuf,
    _dir: TempDir,
}

impl QbittorrentClient {
    pub fn start() -> Result<Self, KitError> {
        Self::start_with(QbittorrentOptions::default())
    }

    pub fn start_with(opts: QbittorrentOptions) -> Result<Self, KitError> {
        let Home {
            dir,
            ip,
            peer_port,
            control_port: web_port,
        } = client_home("qbittorrent", opts.ip)?;
        let profile = dir.path().join("profile");
        let conf_dir = profile.join("qBittorrent").join("config");
        let downloads = dir.path().join("downloads");
        for d in [&conf_dir, &downloads] {
            std::fs::create_dir_all(d)
                .map_err(|e| KitError::io(format!("creating {}", d.display()), e))?;
        }
        let conf = config_text(ip, peer_port, web_port, &downloads, &opts)?;
        std::fs::write(conf_dir.join("qBittorrent.conf"), conf)
            .map_err(|e| KitError::io("writing qBittorrent.conf", e))?;

        let mut cmd = Command::new("qbittorrent-nox");
        cmd.arg(format!(
            "--profile={}",
            KitError::utf8_path(NAME, &profile)?
        ));
        let proc = Proc::spawn(NAME, cmd, &dir.path().join("qbittorrent-nox.log"))?;
        let client = Self {
            proc,
            peer_addr: SocketAddr::from((ip, peer_port)),
            web_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, web_port)),
            profile,
            _dir: dir,
        };
        poll_until(
            "qbittorrent Web API",
            START_TIMEOUT,
            Duration::from_millis(100),
            || {
                client.proc.check_alive()?;
                let up = client.get("/api/v2/app/version").is_ok() && accepts_tcp(client.peer_addr);
                Ok(up.then_some(()))
            },
        )?;
        Ok(client)
    }

    /// GET on the Web API; any status but 200 is an error.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, KitError> {
        let reply = http::request(self.web_addr, "GET", path, &[], b"")?;
        if reply.status != 200 {
            return Err(KitError::Rejected {
                client: NAME,
                detail: format!("GET {path}: HTTP {} {}", reply.status, reply.body_text()),
            });
        }
        Ok(reply.body)
    }

    fn get_json(&self, path: &str) -> Result<Value, KitError> {
        let body = self.get(path)?;
        serde_json::from_slice(&body).map_err(|e| KitError::Protocol {
            client: NAME,
            detail: format!("GET {path}: {e}"),
        })
    }

    pub fn web_addr(&self) -> SocketAddr {
        self.web_addr
    }

    /// qBittorrent's own log (the process's stdout holds little).
    pub fn log_path(&self) -> PathBuf {
        self.profile.join("qBittorrent/data/logs/qbittorrent.log")
    }

    fn add<'a>(
        &self,
        mut fields: Vec<(&'a str, Part<'a>)>,
        save_path: &'a Path,
        info_hash: InfoHashV1,
    ) -> Result<(), KitError> {
        fields.push((
            "savepath",
            Part::Text(KitError::utf8_path(NAME, save_path)?),
        ));
        fields.push(("paused", Part::Text("false")));
        fields.push(("autoTMM", Part::Text("false")));
        fields.push(("contentLayout", Part::Text("Original")));
        let (content_type, body) = multipart(&fields);
        let reply = http::request(
            self.web_addr,
            "POST",
            "/api/v2/torrents/add",
            &[("Content-Type", &content_type)],
            &body,
        )?;
        let text = reply.body_text();
        if reply.status != 200 || text.trim() != "Ok." {
            return Err(KitError::Rejected {
                client: NAME,
                detail: format!("torrents/add: HTTP {} {text}", reply.status),
            });
        }
        poll_until(
            "qbittorrent to list the added torrent",
            ADD_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.proc.check_alive()?;
                Ok(self.info(info_hash)?.map(drop))
            },
        )
    }

    fn info(&self, info_hash: InfoHashV1) -> Result<Option<Value>, KitError> {
        let v = self.get_json(&format!(
            "/api/v2/torrents/info?hashes={}",
            info_hash.to_hex()
        ))?;
        Ok(v.as_array().and_then(|a| a.first()).cloned())
    }
}

impl RefClient for QbittorrentClient {
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
        let skip = if mode == AddMode::SeedUnchecked {
            "true"
        } else {
            "false"
        };
        let fields = vec![
            ("torrents", Part::File("t.torrent", torrent.bytes())),
            ("skip_checking", Part::Text(skip)),
        ];
        self.add(fields, save_path, torrent.info_hash())
    }

    fn add_magnet(
        &self,
        magnet: &str,
        info_hash: InfoHashV1,
        save_path: &Path,
    ) -> Result<(), KitError> {
        self.add(vec![("urls", Part::Text(magnet))], save_path, info_hash)
    }

    fn status(&self, info_hash: InfoHashV1) -> Result<TorrentStatus, KitError> {
        let hash = info_hash.to_hex();
        let t = self.info(info_hash)?.ok_or_else(|| KitError::Rejected {
            client: NAME,
            detail: format!("no torrent {hash}"),
        })?;
        let peers = self.get_json(&format!("/api/v2/sync/torrentPeers?hash={hash}&rid=0"))?;
        Ok(parse_status(&t, &peers))
    }

    fn check_alive(&self) -> Result<(), KitError> {
        self.proc.check_alive()
    }
}

fn config_text(
    ip: Ipv4Addr,
    peer_port: u16,
    web_port: u16,
    downloads: &Path,
    opts: &QbittorrentOptions,
) -> Result<String, KitError> {
    let downloads = KitError::utf8_path(NAME, downloads)?;
    let protocol = if opts.utp { "Both" } else { "TCP" };
    let mut extra = String::new();
    for (k, v) in &opts.bittorrent {
        extra.push_str(&format!("{k}={v}\n"));
    }
    Ok(format!(
        "[LegalNotice]\n\
         Accepted=true\n\
         \n\
         [BitTorrent]\n\
         Session\\DHTEnabled=false\n\
         Session\\LSDEnabled=false\n\
         Session\\PeXEnabled=false\n\
         Session\\Interface=lo\n\
         Session\\InterfaceName=lo\n\
         Session\\InterfaceAddress={ip}\n\
         Session\\Port={peer_port}\n\
         Session\\BTProtocol={protocol}\n\
         Session\\QueueingSystemEnabled=false\n\
         Session\\IgnoreLimitsOnLAN=false\n\
         Session\\DefaultSavePath={downloads}\n\
         Session\\TempPathEnabled=false\n\
         {extra}\
         \n\
         [Network]\n\
         PortForwardingEnabled=false\n\
         \n\
         [Preferences]\n\
         Connection\\ResolvePeerCountries=false\n\
         General\\Locale=en\n\
         WebUI\\Enabled=true\n\
         WebUI\\Address=127.0.0.1\n\
         WebUI\\Port={web_port}\n\
         WebUI\\UseUPnP=false\n\
         WebUI\\LocalHostAuth=false\n\
         WebUI\\CSRFProtection=false\n\
         WebUI\\ClickjackingProtection=false\n\
         WebUI\\HostHeaderValidation=false\n"
    ))
}

fn parse_status(t: &Value, peers: &Value) -> TorrentStatus {
    let u = |k: &str| t.get(k).and_then(Value::as_u64).unwrap_or(0);
    let state = t.get("state").and_then(Value::as_str).unwrap_or("");
    let wanted = u("size");
    let left = u("amount_left");
    let seeding = matches!(
        state,
        "uploading" | "stalledUP" | "forcedUP" | "queuedUP" | "pausedUP"
    );
    let error = matches!(state, "error" | "missingFiles").then(|| state.to_string());
    let peers = peers
        .get("peers")
        .and_then(Value::as_object)
        .map(|ps| ps.values().filter_map(parse_peer).collect())
        .unwrap_or_default();
    TorrentStatus {
        done: wanted.saturating_sub(left),
        wanted,
        complete: wanted > 0 && left == 0 && seeding,
        uploaded: t.get("uploaded").and_then(Value::as_u64),
        downloaded: t.get("downloaded").and_then(Value::as_u64),
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
        downloaded: p.get("downloaded").and_then(Value::as_u64),
        uploaded: p.get("uploaded").and_then(Value::as_u64),
        is_seed: p.get("progress").and_then(Value::as_f64).map(|x| x >= 1.0),
    })
}
