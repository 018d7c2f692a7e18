//! `shoal-bench download`: one libtorrent seeder on loopback, the same torrent downloaded by
//! shoal and by each reference client in turn, several runs each; prints wall time, CPU
//! seconds and peak RSS per client and shoal's ratio to the best of the others.
//!
//! `shoal-bench seed` scores seeders the same way (see `seed.rs`), and `shoal-bench dht`
//! times a magnet link on a loopback DHT, shoal against libtorrent (see `dht.rs`).
//!
//! Everything runs on 127.0.0.x. Clients that are not installed are skipped with a note
//! (rqbit is optional: it is used when `rqbit` is on PATH).

mod dht;
mod measure;
mod seed;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use measure::{cpu_of, median, peak_rss_of, wait_with_usage, Cost};
use shoal_testkit::{
    next_loopback, AddMode, Aria2Client, ContentSpec, LibtorrentClient, QbittorrentClient,
    RefClient, TestContent, TransmissionClient,
};

const USAGE: &str =
    "usage: shoal-bench download|seed|dht [--mib N] [--runs N] [--clients a,b,...] [--shoal PATH]
  clients: shoal, libtorrent, aria2, transmission, qbittorrent, rqbit (default: all)
  dht: a magnet link on a loopback DHT of 8 libtorrent nodes, shoal against libtorrent";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Download,
    Seed,
    Dht,
}

pub(crate) struct Options {
    pub(crate) mode: Mode,
    pub(crate) mib: u64,
    pub(crate) runs: usize,
    pub(crate) clients: Vec<String>,
    pub(crate) shoal: PathBuf,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("download") => Mode::Download,
        Some("seed") => Mode::Seed,
        Some("dht") => Mode::Dht,
        _ => return Err(USAGE.into()),
    };
    let mut o = Options {
        mode,
        // The DHT bench is about finding peers and metadata, not bulk transfer.
        mib: if mode == Mode::Dht { 64 } else { 1024 },
        runs: 3,
        clients: [
            "shoal",
            "libtorrent",
            "aria2",
            "transmission",
            "qbittorrent",
            "rqbit",
        ]
        .map(String::from)
        .to_vec(),
        shoal: default_shoal(),
    };
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--mib" => o.mib = val()?.parse().map_err(|_| "--mib: a number".to_string())?,
            "--runs" => o.runs = val()?.parse().map_err(|_| "--runs: a number".to_string())?,
            "--clients" => o.clients = val()?.split(',').map(String::from).collect(),
            "--shoal" => o.shoal = PathBuf::from(val()?),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(o)
}

fn default_shoal() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .map(|d| d.join("shoal"))
        .unwrap_or_else(|| PathBuf::from("shoal"))
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let result = match opts.mode {
        Mode::Download => run(&opts),
        Mode::Seed => seed::run(&opts),
        Mode::Dht => dht::run(&opts),
    };
    if let Err(e) = result {
        eprintln!("shoal-bench: {e}");
        std::process::exit(1);
    }
}

fn run(opts: &Options) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("shoal-bench")
        .tempdir()
        .map_err(|e| e.to_string())?;
    eprintln!("generating {} MiB of content and its torrent…", opts.mib);
    let content = TestContent::generate(dir.path(), &ContentSpec::single_file(opts.mib << 20))
        .map_err(|e| e.to_string())?;
    let torrent = content.torrent().clone();
    let hash = torrent.info_hash();
    let seeder = LibtorrentClient::start().map_err(|e| e.to_string())?;
    seeder
        .add_torrent(&torrent, content.data_dir(), AddMode::SeedUnchecked)
        .map_err(|e| e.to_string())?;
    seeder
        .wait_complete(hash, Duration::from_secs(600))
        .map_err(|e| e.to_string())?;
    let seed_addr = seeder.peer_addr();
    eprintln!("seeder (libtorrent) on {seed_addr}");

    let mut results: Vec<(String, Vec<Cost>)> = Vec::new();
    for client in &opts.clients {
        let mut costs = Vec::new();
        for run in 0..opts.runs {
            let out = dir.path().join(format!("dl-{client}-{run}"));
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            let cost = match client.as_str() {
                "shoal" => run_shoal(&opts.shoal, torrent.path(), &out, seed_addr),
                "rqbit" => run_rqbit(torrent.path(), &out, seed_addr),
                name => run_reference(name, &seeder, &torrent, &out),
            };
            let _ = std::fs::remove_dir_all(&out);
            match cost {
                Ok(Some(c)) => {
                    eprintln!(
                        "{client} run {}: {:.2} s wall, {:.2} s CPU, {} MiB peak RSS",
                        run + 1,
                        c.wall.as_secs_f64(),
                        c.cpu.as_secs_f64(),
                        c.peak_rss >> 20
                    );
                    costs.push(c);
                }
                Ok(None) => {
                    eprintln!("{client}: not installed, skipped");
                    break;
                }
                Err(e) => {
                    eprintln!("{client} run {}: failed: {e}", run + 1);
                }
            }
        }
        if !costs.is_empty() {
            results.push((client.clone(), costs));
        }
    }
    report(&results, opts.mib, "from one libtorrent seeder");
    Ok(())
}

pub(crate) fn run_shoal(
    bin: &Path,
    torrent: &Path,
    out: &Path,
    seed: std::net::SocketAddr,
) -> Result<Option<Cost>, String> {
    if !bin.exists() {
        return Err(format!(
            "{} missing (cargo build --release -p shoal)",
            bin.display()
        ));
    }
    let ip = next_loopback();
    let t0 = Instant::now();
    let child = Command::new(bin)
        .args(["download", "--no-trackers", "--no-dht", "--listen"])
        .arg(format!("{ip}:0"))
        .arg("--peer")
        .arg(seed.to_string())
        .arg("-o")
        .arg(out)
        .arg(torrent)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (code, cpu, rss) = wait_with_usage(child.id()).ok_or("wait4 failed")?;
    let wall = t0.elapsed();
    if code != 0 {
        return Err(format!("shoal exited with {code}"));
    }
    Ok(Some(Cost {
        wall,
        cpu,
        peak_rss: rss,
    }))
}

fn run_rqbit(
    torrent: &Path,
    out: &Path,
    seed: std::net::SocketAddr,
) -> Result<Option<Cost>, String> {
    let Some(bin) = which("rqbit") else {
        return Ok(None);
    };
    let t0 = Instant::now();
    let child = Command::new(bin)
        // Everything that would reach outside loopback is off.
        .env("RQBIT_TRACKERS_DISABLE", "true")
        .args([
            "--disable-dht",
            "--disable-dht-persistence",
            "--disable-upnp-port-forward",
            "--disable-lsd",
            "--listen-ip",
        ])
        .arg(next_loopback().to_string())
        .args([
            "download",
            "--disable-http-api",
            "--exit-on-finish",
            "--initial-peers",
        ])
        .arg(seed.to_string())
        .arg("-o")
        .arg(out)
        .arg(torrent)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    // Drain stderr on a thread so a chatty log cannot fill the pipe and stall rqbit.
    let mut child = child;
    let stderr = child.stderr.take();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut e) = stderr {
            use std::io::Read;
            let _ = e.read_to_string(&mut text);
        }
        text
    });
    let (code, cpu, rss) = wait_with_usage(child.id()).ok_or("wait4 failed")?;
    let text = log.join().unwrap_or_default();
    if code != 0 {
        let last = text
            .lines()
            .rev()
            .find(|l| l.contains("ERROR") || l.contains("error"));
        return Err(format!("rqbit exited with {code}: {}", last.unwrap_or("")));
    }
    Ok(Some(Cost {
        wall: t0.elapsed(),
        cpu,
        peak_rss: rss,
    }))
}

pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.exists())
}

fn run_reference(
    name: &str,
    seeder: &LibtorrentClient,
    torrent: &shoal_testkit::TorrentFile,
    out: &Path,
) -> Result<Option<Cost>, String> {
    let client: Box<dyn RefClient> = match name {
        "libtorrent" => Box::new(LibtorrentClient::start().map_err(|e| e.to_string())?),
        "aria2" => Box::new(Aria2Client::start().map_err(|e| e.to_string())?),
        "transmission" => Box::new(TransmissionClient::start().map_err(|e| e.to_string())?),
        "qbittorrent" => Box::new(QbittorrentClient::start().map_err(|e| e.to_string())?),
        other => return Err(format!("unknown client {other}")),
    };
    let hash = torrent.info_hash();
    let cpu0 = cpu_of(client.pid()).unwrap_or_default();
    let t0 = Instant::now();
    client
        .add_torrent(torrent, out, AddMode::Download)
        .map_err(|e| e.to_string())?;
    // The seeder dials every leecher: Transmission and aria2 cannot be told to dial.
    seeder
        .connect_peer(torrent.info_hash(), client.peer_addr())
        .map_err(|e| e.to_string())?;
    client
        .wait_complete(hash, Duration::from_secs(600))
        .map_err(|e| e.to_string())?;
    let wall = t0.elapsed();
    let cpu = cpu_of(client.pid())
        .unwrap_or_default()
        .saturating_sub(cpu0);
    let peak_rss = peak_rss_of(client.pid()).unwrap_or(0);
    Ok(Some(Cost {
        wall,
        cpu,
        peak_rss,
    }))
}

pub(crate) fn report(results: &[(String, Vec<Cost>)], mib: u64, title: &str) {
    println!();
    println!("{mib} MiB {title} over loopback (median of runs)");
    println!(
        "{:<14} {:>6} {:>10} {:>12} {:>10} {:>12}",
        "client", "runs", "wall s", "CPU s/GiB", "MiB/s", "peak RSS MiB"
    );
    let gib = mib as f64 / 1024.0;
    let mut rows = Vec::new();
    for (name, costs) in results {
        let wall = median(costs.iter().map(|c| c.wall).collect());
        let cpu = median(costs.iter().map(|c| c.cpu).collect());
        let rss = costs.iter().map(|c| c.peak_rss).max().unwrap_or(0);
        println!(
            "{:<14} {:>6} {:>10.2} {:>12.2} {:>10.1} {:>12}",
            name,
            costs.len(),
            wall.as_secs_f64(),
            cpu.as_secs_f64() / gib,
            mib as f64 / wall.as_secs_f64().max(1e-9),
            rss >> 20
        );
        rows.push((name.clone(), wall, cpu, rss));
    }
    let Some((_, sw, sc, sr)) = rows.iter().find(|r| r.0 == "shoal").cloned() else {
        return;
    };
    let others: Vec<_> = rows.iter().filter(|r| r.0 != "shoal").collect();
    if others.is_empty() {
        return;
    }
    let best_wall = others
        .iter()
        .min_by_key(|r| r.1)
        .map(|r| (r.0.clone(), r.1));
    let best_cpu = others
        .iter()
        .min_by_key(|r| r.2)
        .map(|r| (r.0.clone(), r.2));
    let best_rss = others
        .iter()
        .min_by_key(|r| r.3)
        .map(|r| (r.0.clone(), r.3));
    println!();
    if let Some((n, w)) = best_wall {
        println!(
            "shoal wall time / best other ({n}): {:.2}",
            sw.as_secs_f64() / w.as_secs_f64().max(1e-9)
        );
    }
    if let Some((n, c)) = best_cpu {
        println!(
            "shoal CPU / best other ({n}): {:.2}",
            sc.as_secs_f64() / c.as_secs_f64().max(1e-9)
        );
    }
    if let Some((n, r)) = best_rss {
        println!(
            "shoal peak RSS / best other ({n}): {:.2}",
            sr as f64 / (r as f64).max(1.0)
        );
    }
}
