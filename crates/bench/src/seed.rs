//! `shoal-bench seed`: each client seeds the same data in turn and a fresh libtorrent
//! leecher downloads it; the leecher's wall time is the seeder's score. Also reports how long
//! `shoal seed` takes to check the existing data before it starts serving.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_testkit::{
    free_port, next_loopback, AddMode, Aria2Client, ContentSpec, LibtorrentClient,
    QbittorrentClient, RefClient, TestContent, TorrentFile, TransmissionClient,
};

use crate::measure::{cpu_of, peak_rss_of, Cost};
use crate::{report, which, Options};

pub(crate) fn run(opts: &Options) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("shoal-bench")
        .tempdir()
        .map_err(|e| e.to_string())?;
    eprintln!("generating {} MiB of content and its torrent…", opts.mib);
    let content = TestContent::generate(dir.path(), &ContentSpec::single_file(opts.mib << 20))
        .map_err(|e| e.to_string())?;
    let torrent = content.torrent().clone();
    let mut results = Vec::new();
    for client in &opts.clients {
        let mut costs = Vec::new();
        for run in 0..opts.runs {
            let cost = match client.as_str() {
                "shoal" => seed_with_shoal(opts, &content, &torrent),
                "rqbit" => {
                    // rqbit seeds only in its server mode, driven over its HTTP API.
                    if which("rqbit").is_some() {
                        eprintln!("rqbit: seeding is not measured (needs its HTTP API mode)");
                    }
                    Ok(None)
                }
                name => seed_with_reference(name, &content, &torrent),
            };
            match cost {
                Ok(Some(c)) => {
                    eprintln!(
                        "{client} seeding, run {}: leecher done in {:.2} s; seeder {:.2} s CPU, {} MiB peak RSS",
                        run + 1,
                        c.wall.as_secs_f64(),
                        c.cpu.as_secs_f64(),
                        c.peak_rss >> 20
                    );
                    costs.push(c);
                }
                Ok(None) => break,
                Err(e) => eprintln!("{client} seeding, run {}: failed: {e}", run + 1),
            }
        }
        if !costs.is_empty() {
            results.push((client.clone(), costs));
        }
    }
    report(&results, opts.mib, "to one libtorrent leecher, per seeder");
    Ok(())
}

/// A fresh libtorrent leecher downloads from `seeder`; returns its wall time.
fn leech_from(torrent: &TorrentFile, seeder: SocketAddr) -> Result<Duration, String> {
    let leecher = LibtorrentClient::start().map_err(|e| e.to_string())?;
    let out = tempfile::tempdir().map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    leecher
        .add_torrent(torrent, out.path(), AddMode::Download)
        .map_err(|e| e.to_string())?;
    leecher
        .connect_peer(torrent.info_hash(), seeder)
        .map_err(|e| e.to_string())?;
    leecher
        .wait_complete(torrent.info_hash(), Duration::from_secs(600))
        .map_err(|e| e.to_string())?;
    Ok(t0.elapsed())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's PID, which is not reaped yet.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn seed_with_shoal(
    opts: &Options,
    content: &TestContent,
    torrent: &TorrentFile,
) -> Result<Option<Cost>, String> {
    let ip = next_loopback();
    let port = free_port(ip).map_err(|e| e.to_string())?;
    let addr = SocketAddr::from((ip, port));
    let state = tempfile::tempdir().map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let child = Command::new(&opts.shoal)
        .args(["seed", "--no-trackers", "--no-dht", "--listen"])
        .arg(addr.to_string())
        .arg("--state-dir")
        .arg(state.path())
        .arg("--data")
        .arg(content.data_dir())
        .arg(torrent.path())
        .arg("--progress-every")
        .arg("1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut child = Killed(child);
    // Ready when its progress line says it is seeding (the data check is over). The reader
    // thread keeps draining stdout afterwards so the pipe never fills.
    let stdout = child.0.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sent = false;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if !sent && line.starts_with("seeding") {
                sent = tx.send(()).is_ok();
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(300))
        .map_err(|_| "shoal seed never reported seeding")?;
    let check = t0.elapsed();
    eprintln!(
        "shoal seed: checked {} MiB in {:.2} s ({:.0} MiB/s)",
        opts.mib,
        check.as_secs_f64(),
        opts.mib as f64 / check.as_secs_f64().max(1e-9)
    );
    let cpu0 = cpu_of(child.0.id()).unwrap_or_default();
    let wall = leech_from(torrent, addr)?;
    let cpu = cpu_of(child.0.id())
        .unwrap_or_default()
        .saturating_sub(cpu0);
    let peak_rss = peak_rss_of(child.0.id()).unwrap_or(0);
    Ok(Some(Cost {
        wall,
        cpu,
        peak_rss,
    }))
}

fn seed_with_reference(
    name: &str,
    content: &TestContent,
    torrent: &TorrentFile,
) -> Result<Option<Cost>, String> {
    let seeder: Box<dyn RefClient> = match name {
        "libtorrent" => Box::new(LibtorrentClient::start().map_err(|e| e.to_string())?),
        "aria2" => Box::new(Aria2Client::start().map_err(|e| e.to_string())?),
        "transmission" => Box::new(TransmissionClient::start().map_err(|e| e.to_string())?),
        "qbittorrent" => Box::new(QbittorrentClient::start().map_err(|e| e.to_string())?),
        other => return Err(format!("unknown client {other}")),
    };
    seeder
        .add_torrent(torrent, content.data_dir(), AddMode::SeedUnchecked)
        .map_err(|e| e.to_string())?;
    seeder
        .wait_complete(torrent.info_hash(), Duration::from_secs(600))
        .map_err(|e| e.to_string())?;
    let cpu0 = cpu_of(seeder.pid()).unwrap_or_default();
    let wall = leech_from(torrent, seeder.peer_addr())?;
    let cpu = cpu_of(seeder.pid())
        .unwrap_or_default()
        .saturating_sub(cpu0);
    let peak_rss = peak_rss_of(seeder.pid()).unwrap_or(0);
    Ok(Some(Cost {
        wall,
        cpu,
        peak_rss,
    }))
}
