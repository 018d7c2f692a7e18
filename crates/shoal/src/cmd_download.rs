//! `shoal download` and `shoal seed`: arguments, and starting the torrents in one session.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use shoal_engine::{AddTorrent, Session, SessionConfig, TorrentSource, TorrentStats};

use crate::discovery;
use crate::human;
use crate::runner::{RunConfig, Runner};

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The .torrent files or magnet links to download (several run in one session).
    #[arg(required = true, value_name = "FILE.torrent|MAGNET")]
    pub torrents: Vec<PathBuf>,
    /// Directory to download into.
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
    /// Accept incoming peers on this address (port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:6881")]
    pub listen: SocketAddr,
    /// Dial this peer directly. Repeatable; works with or without trackers.
    #[arg(long = "peer", value_name = "ADDR:PORT")]
    pub peers: Vec<SocketAddr>,
    /// Connections at most.
    #[arg(long, value_name = "N", default_value_t = 80)]
    pub max_peers: usize,
    /// Do not announce to the torrent's trackers.
    #[arg(long)]
    pub no_trackers: bool,
    /// Plain progress lines instead of the dashboard.
    #[arg(long)]
    pub no_tui: bool,
    /// Keep running as a seed after the download completes.
    #[arg(long)]
    pub seed: bool,
    /// Do not use the DHT.
    #[arg(long)]
    pub no_dht: bool,
    /// Join the DHT through this node (HOST:PORT). Repeatable [default: the public routers].
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// UDP port of the DHT node [default: the listen port's number].
    #[arg(long, value_name = "PORT")]
    pub dht_port: Option<u16>,
    /// Download only these files (indices as `shoal info` lists them from 0: `0,2,5-7`).
    #[arg(long, value_name = "LIST")]
    pub files: Option<String>,
    #[command(flatten)]
    pub seeding: SeedLimits,
    /// Where resume data is kept [default: $XDG_STATE_HOME/shoal or ~/.local/state/shoal].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seconds between progress lines when output is not a terminal.
    #[arg(long, value_name = "SECS", default_value_t = 5, hide = true)]
    pub progress_every: u64,
    /// At exit, write the final statistics (totals, hash failures, bans, connected peers) to
    /// this file as JSON. For tests and scripts.
    #[arg(long, value_name = "PATH", hide = true)]
    pub stats_json: Option<PathBuf>,
}

/// When to stop seeding, and global rate limits (shared by `download` and `seed`).
#[derive(Debug, Args, Clone)]
pub struct SeedLimits {
    /// Stop seeding once uploaded bytes reach R times the torrent's size.
    #[arg(long, value_name = "R")]
    pub seed_ratio: Option<f64>,
    /// Stop seeding after this long (e.g. 90s, 30m, 2h, 1h30m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub seed_time: Option<Duration>,
    /// Global upload limit in bytes per second (e.g. 500K, 2M).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub upload_limit: Option<u64>,
    /// Global download limit in bytes per second (e.g. 500K, 2M).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub download_limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The .torrent file to seed.
    pub torrent: PathBuf,
    /// The directory that holds the torrent's data (as `download -o` would have made it).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub data: PathBuf,
    /// Accept incoming peers on this address (port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:6881")]
    pub listen: SocketAddr,
    /// Dial this peer and upload to it. Repeatable.
    #[arg(long = "peer", value_name = "ADDR:PORT")]
    pub peers: Vec<SocketAddr>,
    /// Connections at most.
    #[arg(long, value_name = "N", default_value_t = 80)]
    pub max_peers: usize,
    /// Do not announce to the torrent's trackers.
    #[arg(long)]
    pub no_trackers: bool,
    /// Plain progress lines instead of the dashboard.
    #[arg(long)]
    pub no_tui: bool,
    /// Do not use the DHT.
    #[arg(long)]
    pub no_dht: bool,
    /// Join the DHT through this node (HOST:PORT). Repeatable [default: the public routers].
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// UDP port of the DHT node [default: the listen port's number].
    #[arg(long, value_name = "PORT")]
    pub dht_port: Option<u16>,
    #[command(flatten)]
    pub seeding: SeedLimits,
    /// Where resume data is kept (see `download`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seconds between progress lines when output is not a terminal.
    #[arg(long, value_name = "SECS", default_value_t = 5, hide = true)]
    pub progress_every: u64,
    /// At exit, write the final statistics as JSON (see `download`).
    #[arg(long, value_name = "PATH", hide = true)]
    pub stats_json: Option<PathBuf>,
}

impl SeedArgs {
    /// `seed` is a download into the data directory that keeps seeding.
    pub fn as_download(&self) -> DownloadArgs {
        DownloadArgs {
            torrents: vec![self.torrent.clone()],
            output: self.data.clone(),
            listen: self.listen,
            peers: self.peers.clone(),
            max_peers: self.max_peers,
            no_trackers: self.no_trackers,
            no_tui: self.no_tui,
            seed: true,
            no_dht: self.no_dht,
            dht_bootstrap: self.dht_bootstrap.clone(),
            dht_port: self.dht_port,
            files: None,
            seeding: self.seeding.clone(),
            state_dir: self.state_dir.clone(),
            progress_every: self.progress_every,
            stats_json: self.stats_json.clone(),
        }
    }
}

/// `$XDG_STATE_HOME/shoal`, else `~/.local/state/shoal`.
fn default_state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("shoal"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/shoal"))
}

fn parse_rate(s: &str) -> Result<u64, String> {
    human::parse_bytes(s)
        .filter(|r| *r > 0)
        .ok_or_else(|| format!("'{s}' is not a rate like 500K or 2M"))
}

/// `90s`, `30m`, `2h`, `1h30m`, `45` (seconds).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration like 90s, 30m, 2h or 1h30m");
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        total = total
            .checked_add(n.checked_mul(unit).ok_or_else(bad)?)
            .ok_or_else(bad)?;
    }
    if !num.is_empty() {
        total = total
            .checked_add(num.parse::<u64>().map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    if total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

pub fn run(args: &DownloadArgs, out: &mut dyn Write, terminal: bool) -> anyhow::Result<i32> {
    let mut metas = Vec::new();
    for path in &args.torrents {
        metas.push(discovery::load_source(path)?);
    }
    let files = match (&args.files, metas.as_slice()) {
        (Some(list), [TorrentSource::Metainfo(one)]) => {
            Some(parse_file_list(list, one.files().len())?)
        }
        (Some(_), [TorrentSource::Magnet(_)]) => {
            bail!("--files needs a .torrent file (a magnet link selects files with so=)")
        }
        (Some(_), _) => bail!("--files works with one torrent at a time"),
        (None, _) => None,
    };
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(download(args, metas, files, out, terminal))
}

async fn download(
    args: &DownloadArgs,
    metas: Vec<TorrentSource>,
    files: Option<Vec<bool>>,
    out: &mut dyn Write,
    terminal: bool,
) -> anyhow::Result<i32> {
    let mut config = SessionConfig {
        listen: Some(args.listen),
        upload_limit: args.seeding.upload_limit,
        download_limit: args.seeding.download_limit,
        state_dir: args.state_dir.clone().or_else(default_state_dir),
        dht: discovery::dht_config(args.no_dht, &args.dht_bootstrap, args.dht_port).await?,
        ..SessionConfig::default()
    };
    config.swarm.max_peers = args.max_peers;
    // Listening on one address means being that address: dial from it too.
    let listen_ip = args.listen.ip();
    config.handshake.local_ip = (!listen_ip.is_unspecified()).then_some(listen_ip);
    let mut runner = Runner::new(Session::start(config).await?);
    runner.set_limits(args.seeding.upload_limit, args.seeding.download_limit);
    for meta in metas {
        let add = AddTorrent {
            source: meta,
            download_dir: args.output.clone(),
            peers: args.peers.clone(),
            use_trackers: !args.no_trackers,
            files: files.clone(),
        };
        runner.add(add).await?;
    }
    let cfg = RunConfig {
        tui: terminal && !args.no_tui,
        terminal,
        progress_every: Duration::from_secs(args.progress_every.max(1)),
        keep_seeding: args.seed,
        seed_ratio: args.seeding.seed_ratio,
        seed_time: args.seeding.seed_time,
        download_dir: args.output.clone(),
        use_trackers: !args.no_trackers,
    };
    let (code, last) = runner.run(&cfg, out).await?;
    if let (Some(path), Some(last)) = (&args.stats_json, last) {
        write_stats_json(path, &last, code)?;
    }
    Ok(code)
}

/// Writes the final statistics as one JSON object, through a temporary file and a rename so a
/// reader never sees half of it. `peers` holds only the connections still open at the end:
/// byte counts of peers that left earlier are in the totals, not per peer.
fn write_stats_json(
    path: &std::path::Path,
    s: &TorrentStats,
    exit_code: i32,
) -> anyhow::Result<()> {
    let peers: Vec<serde_json::Value> = s
        .peers
        .iter()
        .map(|p| {
            serde_json::json!({
                "addr": p.addr.to_string(),
                "client": p.client,
                "source": p.source.label(),
                "outgoing": p.outgoing,
                "downloaded": p.downloaded,
                "uploaded": p.uploaded,
                "hash_strikes": p.hash_strikes,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "name": s.name,
        "info_hash": s.info_hash_hex,
        "exit_code": exit_code,
        "have_all": s.pieces_have == s.pieces_total,
        "total_length": s.total_length,
        "have_bytes": s.have_bytes,
        "pieces_have": s.pieces_have,
        "pieces_total": s.pieces_total,
        "downloaded": s.downloaded,
        "uploaded": s.uploaded,
        "wasted": s.wasted,
        "hash_failures": s.hash_failures,
        "banned": s.banned,
        "known_addrs": s.known_addrs,
        "message": s.message,
        "peers": peers,
    });
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, doc.to_string())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// `0,2,5-7` over `count` files.
fn parse_file_list(list: &str, count: usize) -> anyhow::Result<Vec<bool>> {
    let mut wanted = vec![false; count];
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) else {
            bail!("--files: '{part}' is not an index or a range");
        };
        if a > b || b >= count {
            bail!("--files: '{part}' is outside 0-{}", count.saturating_sub(1));
        }
        for w in &mut wanted[a..=b] {
            *w = true;
        }
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5x").is_err());
        assert_eq!(parse_rate("2M"), Ok(2 << 20));
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn file_lists() {
        assert_eq!(
            parse_file_list("0,2-3", 5).unwrap(),
            vec![true, false, true, true, false]
        );
        assert!(parse_file_list("5", 5).is_err());
        assert!(parse_file_list("3-1", 5).is_err());
        assert!(parse_file_list("x", 5).is_err());
    }
}
