//! rtorrent 0.9.8 (libtorrent-rakshasa) with an rc file, driven by XML-RPC over SCGI.
//!
//! rtorrent refuses a torrent without any tracker ("Could not find any trackers" in its
//! log, while the XML-RPC call still returns 0), so the launcher checks for one up front and
//! then waits for the torrent to appear in the download list. It can be told to dial a peer
//! (`add_peer`). It has no uTP. The rc file is imported with `-o import=FILE` because options
//! that contain commas cannot go through `-o` directly. It takes a second or two to exit
//! after SIGTERM (it sends `stopped` announces first).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shoal_core::ids::InfoHashV1;
use tempfile::TempDir;

use crate::client::{AddMode, PeerStatus, RefClient, TorrentStatus};
use crate::net::{client_home, poll_until, Home};
use crate::process::Proc;
use crate::torrent::TorrentFile;
use crate::xmlrpc::{call, XmlValue};
use crate::KitError;

const NAME: &str = "rtorrent";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Loading is asynchronous; the torrent shows up in the download list shortly after.
const ADD_TIMEOUT: Duration = Duration::from_secs(15);

/// Settings for [`RtorrentClient::start_with`].
#[derive(Clone, Debug, Default)]
pub struct RtorrentOptions {
    /// The peer address to use; a fresh one when `None`.
    pub ip: Option<Ipv4Addr>,
    /// Extra rc lines, e.g. `protocol.encryption.set = allow_incoming,try_outgoing,enable_retry`.
    pub rc_lines: Vec<String>,
}

/// An rtorrent on its own 127.0.0.x address, SCGI on 127.0.0.1.
pub struct RtorrentClient {
    proc: Proc,
    peer_addr: SocketAddr,
    scgi_addr: SocketAddr,
    log: PathBuf,
    _dir: TempDir,
}

impl RtorrentClient {
    pub fn start() -> Result<Self, KitError> {
        Self::start_with(RtorrentOptions::default())
    }

    pub fn start_with(opts: RtorrentOptions) -> Result<Self, KitError> {
        let Home {
            dir,
            ip,
            peer_port,
            control_port: scgi_port,
        } = client_home("rtorrent", opts.ip)?;
        let session = dir.path().join("session");
        let downloads = dir.path().join("downloads");
        for d in [&session, &downloads] {
            std::fs::create_dir_all(d)
                .map_err(|e| KitError::io(format!("creating {}", d.display()), e))?;
        }
        let log = dir.path().join("rtorrent.log");
        let mut rc = format!(
            "network.bind_address.set = {ip}\n\
             network.local_address.set = {ip}\n\
             network.port_range.set = {peer_port}-{peer_port}\n\
             network.port_random.set = no\n\
             network.scgi.open_port = 127.0.0.1:{scgi_port}\n\
             dht.mode.set = disable\n\
             protocol.pex.set = no\n\
             trackers.use_udp.set = yes\n\
             system.daemon.set = true\n\
             session.path.set = {}\n\
             directory.default.set = {}\n\
             log.open_file = \"main\", {}\n\
             log.add_output = \"info\", \"main\"\n",
            KitError::utf8_path(NAME, &session)?,
            KitError::utf8_path(NAME, &downloads)?,
            KitError::utf8_path(NAME, &log)?,
        );
        for line in &opts.rc_lines {
            rc.push_str(line);
            rc.push('\n');
        }
        let rc_path = dir.path().join("rtorrent.rc");
        std::fs::write(&rc_path, rc).map_err(|e| KitError::io("writing rtorrent.rc", e))?;

        let mut cmd = Command::new("rtorrent");
        cmd.arg("-n")
            .arg("-o")
            .arg(format!("import={}", KitError::utf8_path(NAME, &rc_path)?));
        let proc = Proc::spawn(NAME, cmd, &dir.path().join("rtorrent.out"))?;
        let client = Self {
            proc,
            peer_addr: SocketAddr::from((ip, peer_port)),
            scgi_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, scgi_port)),
            log,
            _dir: dir,
        };
        poll_until(
            "rtorrent SCGI",
            START_TIMEOUT,
            Duration::from_millis(50),
            || {
                client.proc.check_alive()?;
                Ok(client.call("system.client_version", &[]).ok())
            },
        )?;
        Ok(client)
    }

    /// Calls an XML-RPC method; a fault becomes [`KitError::Rejected`].
    pub fn call(&self, method: &str, params: &[XmlValue]) -> Result<XmlValue, KitError> {
        call(NAME, self.scgi_addr, method, params)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    fn load(
        &self,
        method: &str,
        data: XmlValue,
        save_path: &Path,
        hash: &str,
    ) -> Result<(), KitError> {
        // A command string run on the new download; the quotes keep spaces in paths.
        let dir = format!(
            "d.directory.set=\"{}\"",
            KitError::utf8_path(NAME, save_path)?
        );
        self.call(
            method,
            &[XmlValue::Str(String::new()), data, XmlValue::Str(dir)],
        )?;
        poll_until(
            "rtorrent to list the added torrent",
            ADD_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.proc.check_alive()?;
                let list = self.call("download_list", &[])?;
                let found = list
                    .as_array()
                    .unwrap_or_default()
                    .iter()
                    .any(|h| h.as_str().is_some_and(|h| h.eq_ignore_ascii_case(hash)));
                Ok(found.then_some(()))
            },
        )
        .map_err(|e| match e {
            KitError::Timeout { .. } => KitError::Rejected {
                client: NAME,
                detail: format!(
                    "torrent not loaded; log:\n{}",
                    crate::process::tail(&self.log, 2048)
                ),
            },
            other => other,
        })
    }
}

impl RefClient for RtorrentClient {
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
        _mode: AddMode,
    ) -> Result<(), KitError> {
        if torrent.trackers().is_empty() {
            return Err(KitError::Unsupported {
                client: NAME,
                what: "torrents without a tracker",
            });
        }
        // rtorrent hash-checks existing data of every new torrent; there is no switch to skip it.
        let hash = torrent.info_hash().to_hex().to_uppercase();
        self.load(
            "load.raw_start_verbose",
            XmlValue::Bytes(torrent.bytes().to_vec()),
            save_path,
            &hash,
        )
    }

    fn add_magnet(
        &self,
        magnet: &str,
        info_hash: InfoHashV1,
        save_path: &Path,
    ) -> Result<(), KitError> {
        let hash = info_hash.to_hex().to_uppercase();
        self.load(
            "load.start_verbose",
            XmlValue::Str(magnet.into()),
            save_path,
            &hash,
        )
    }

    fn status(&self, info_hash: InfoHashV1) -> Result<TorrentStatus, KitError> {
        let hash = info_hash.to_hex().to_uppercase();
        // One multicall, so every field comes from the same moment: separate calls raced
        // with the end of a hash check (bytes read mid-check, then "complete").
        let fields = [
            "d.hash=",
            "d.size_bytes=",
            "d.completed_bytes=",
            "d.complete=",
            "d.hashing=",
            "d.is_hash_checked=",
            "d.up.total=",
            "d.down.total=",
        ];
        let mut params = vec![XmlValue::Str(String::new()), XmlValue::Str("main".into())];
        params.extend(fields.iter().map(|f| XmlValue::Str((*f).into())));
        let rows = self.call("d.multicall2", &params)?;
        let row = rows
            .as_array()
            .unwrap_or_default()
            .iter()
            .filter_map(XmlValue::as_array)
            .find(|r| r.first().and_then(XmlValue::as_str) == Some(hash.as_str()))
            .ok_or_else(|| KitError::Rejected {
                client: NAME,
                detail: format!("no torrent {hash}"),
            })?;
        let u = |i: usize| {
            row.get(i)
                .and_then(XmlValue::as_int)
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0)
        };
        let (wanted, done) = (u(1), u(2));
        let peers = self.call(
            "p.multicall",
            &[
                XmlValue::Str(hash.clone()),
                XmlValue::Str(String::new()),
                XmlValue::Str("p.address=".into()),
                XmlValue::Str("p.port=".into()),
                XmlValue::Str("p.client_version=".into()),
                XmlValue::Str("p.down_total=".into()),
                XmlValue::Str("p.up_total=".into()),
                XmlValue::Str("p.completed_percent=".into()),
            ],
        )?;
        let peers = peers
            .as_array()
            .unwrap_or_default()
            .iter()
            .filter_map(parse_peer)
            .collect();
        Ok(TorrentStatus {
            done,
            wanted,
            complete: wanted > 0 && done == wanted && u(3) == 1 && u(4) == 0 && u(5) == 1,
            uploaded: Some(u(6)),
            downloaded: Some(u(7)),
            peers,
            // d.message holds tracker complaints too; rtorrent has no separate local error.
            error: None,
        })
    }

    fn connect_peer(&self, info_hash: InfoHashV1, addr: SocketAddr) -> Result<(), KitError> {
        let hash = info_hash.to_hex().to_uppercase();
        self.call(
            "add_peer",
            &[XmlValue::Str(hash), XmlValue::Str(addr.to_string())],
        )
        .map(drop)
    }

    fn check_alive(&self) -> Result<(), KitError> {
        self.proc.check_alive()
    }
}

fn parse_peer(row: &XmlValue) -> Option<PeerStatus> {
    let row = row.as_array()?;
    let ip = row.first()?.as_str()?.parse().ok()?;
    let port = u16::try_from(row.get(1)?.as_int()?).ok()?;
    let uint = |i: usize| {
        row.get(i)
            .and_then(XmlValue::as_int)
            .and_then(|v| u64::try_from(v).ok())
    };
    Some(PeerStatus {
        addr: SocketAddr::new(ip, port),
        client: row
            .get(2)
            .and_then(XmlValue::as_str)
            .unwrap_or("")
            .to_string(),
        downloaded: uint(3),
        uploaded: uint(4),
        is_seed: uint(5).map(|p| p >= 100),
    })
}
