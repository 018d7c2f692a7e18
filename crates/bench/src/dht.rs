//! `shoal-bench dht`: how fast a magnet link gets going on a DHT alone.
//!
//! Eight python-libtorrent nodes form a private DHT on loopback (they know only each other);
//! one of them seeds a trackerless torrent and announces it. Then, in turns, a fresh shoal
//! session (the engine, in this process, so its milestones are seen to the millisecond) and
//! a fresh libtorrent client join the DHT through those nodes and are given only the magnet
//! link. For each the bench reports the time from the start to the first connected peer, to
//! the complete metadata, and to the complete download.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use shoal_core::magnet::Magnet;
use shoal_engine::{
    AddTorrent, DhtConfig, Session, SessionConfig, TorrentSource, TorrentState, TorrentStats,
};
use shoal_testkit::{
    next_loopback, poll_until, AddMode, ContentSpec, LibtorrentClient, LibtorrentOptions,
    RefClient, TestContent,
};

use crate::measure::median;
use crate::Options;

const NODES: usize = 8;
const LIMIT: Duration = Duration::from_secs(120);

/// When each milestone was reached, from the start.
#[derive(Clone, Copy, Debug, Default)]
struct Times {
    first_peer: Option<Duration>,
    metadata: Option<Duration>,
    complete: Option<Duration>,
}

pub(crate) fn run(opts: &Options) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("shoal-bench-dht")
        .tempdir()
        .map_err(|e| e.to_string())?;
    eprintln!("generating {} MiB of content and its torrent…", opts.mib);
    let content = TestContent::generate(dir.path(), &ContentSpec::single_file(opts.mib << 20))
        .map_err(|e| e.to_string())?;
    let torrent = content.torrent().clone();
    let ih = torrent.info_hash();
    let nodes = start_dht()?;
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.peer_addr()).collect();
    let seeder = &nodes[1];
    seeder
        .add_torrent(&torrent, content.data_dir(), AddMode::SeedUnchecked)
        .map_err(|e| e.to_string())?;
    seeder.wait_complete(ih, LIMIT).map_err(|e| e.to_string())?;
    seeder.force_dht_announce(ih).map_err(|e| e.to_string())?;
    let seeker = &nodes[6];
    poll_until(
        "the seeder in a DHT lookup",
        LIMIT,
        Duration::from_millis(300),
        || {
            seeker.dht_get_peers(ih)?;
            std::thread::sleep(Duration::from_millis(200));
            Ok(seeker
                .dht_peers(ih)?
                .contains(&seeder.peer_addr())
                .then_some(()))
        },
    )
    .map_err(|e| e.to_string())?;
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=bench", ih.to_hex());
    eprintln!(
        "DHT of {NODES} libtorrent nodes ready; seeder {}",
        seeder.peer_addr()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut shoal_runs = Vec::new();
    let mut lt_runs = Vec::new();
    for run in 0..opts.runs {
        let out = dir.path().join(format!("shoal-{run}"));
        match rt.block_on(shoal_run(&magnet, addrs[0], &out)) {
            Ok(t) => {
                print_run("shoal", run, &t);
                shoal_runs.push(t);
            }
            Err(e) => eprintln!("shoal run {}: failed: {e}", run + 1),
        }
        let _ = std::fs::remove_dir_all(&out);
        let out = dir.path().join(format!("lt-{run}"));
        match libtorrent_run(&magnet, &addrs, &out, ih) {
            Ok(t) => {
                print_run("libtorrent", run, &t);
                lt_runs.push(t);
            }
            Err(e) => eprintln!("libtorrent run {}: failed: {e}", run + 1),
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    println!();
    println!(
        "magnet link over a loopback DHT of {NODES} libtorrent nodes, {} MiB (median of runs)",
        opts.mib
    );
    println!(
        "{:<12} {:>5} {:>14} {:>14} {:>14}",
        "client", "runs", "first peer ms", "metadata ms", "complete ms"
    );
    for (name, runs) in [("shoal", &shoal_runs), ("libtorrent", &lt_runs)] {
        let col = |f: fn(&Times) -> Option<Duration>| {
            let v: Vec<Duration> = runs.iter().filter_map(f).collect();
            if v.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0}", median(v).as_secs_f64() * 1000.0)
            }
        };
        println!(
            "{:<12} {:>5} {:>14} {:>14} {:>14}",
            name,
            runs.len(),
            col(|t| t.first_peer),
            col(|t| t.metadata),
            col(|t| t.complete)
        );
    }
    Ok(())
}

fn print_run(name: &str, run: usize, t: &Times) {
    let ms = |d: Option<Duration>| {
        d.map_or("-".into(), |d| {
            format!("{:.0} ms", d.as_secs_f64() * 1000.0)
        })
    };
    eprintln!(
        "{name} run {}: first peer {}, metadata {}, complete {}",
        run + 1,
        ms(t.first_peer),
        ms(t.metadata),
        ms(t.complete)
    );
}

/// Eight libtorrent nodes that bootstrapped only from each other.
fn start_dht() -> Result<Vec<LibtorrentClient>, String> {
    let opts = LibtorrentOptions {
        dht: true,
        ..LibtorrentOptions::default()
    };
    let nodes = (0..NODES)
        .map(|_| LibtorrentClient::start_with(opts.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.peer_addr()).collect();
    for (i, n) in nodes.iter().enumerate() {
        let others: Vec<SocketAddr> = addrs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, a)| *a)
            .collect();
        n.enable_dht(&others).map_err(|e| e.to_string())?;
    }
    for n in &nodes {
        poll_until(
            "DHT routing tables",
            LIMIT,
            Duration::from_millis(100),
            || Ok((n.dht_node_count()? >= 3).then_some(())),
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(nodes)
}

/// A fresh shoal session joins through `node` and fetches `magnet`; the clock starts before
/// the session (and with it the DHT node) starts.
async fn shoal_run(magnet: &str, node: SocketAddr, out: &Path) -> Result<Times, String> {
    let magnet = Magnet::parse(magnet).map_err(|e| e.to_string())?;
    let ip = next_loopback();
    let t0 = Instant::now();
    let mut config = SessionConfig {
        listen: Some(SocketAddr::from((ip, 0))),
        dht: Some(DhtConfig {
            port: None,
            bootstrap: vec![node],
        }),
        ..SessionConfig::default()
    };
    config.handshake.local_ip = Some(ip.into());
    let mut session = Session::start(config).await.map_err(|e| e.to_string())?;
    let add = AddTorrent {
        source: TorrentSource::from(magnet),
        download_dir: out.to_path_buf(),
        peers: Vec::new(),
        use_trackers: false,
        files: None,
    };
    let mut handle = session
        .add_torrent(add, |_, _| {})
        .await
        .map_err(|e| e.to_string())?;
    let mut stats = handle.stats();
    let mut t = Times::default();
    let watch = async {
        loop {
            note(&mut t, &stats.borrow_and_update(), t0.elapsed());
            if t.complete.is_some() {
                return;
            }
            if stats.changed().await.is_err() {
                return;
            }
        }
    };
    let done = tokio::time::timeout(LIMIT, watch).await.is_ok();
    handle.stop(Duration::from_secs(5)).await;
    session.shutdown(Duration::from_secs(2)).await;
    if !done {
        return Err(format!("not complete within {LIMIT:?}: {t:?}"));
    }
    Ok(t)
}

fn note(t: &mut Times, s: &TorrentStats, at: Duration) {
    if t.first_peer.is_none() && !s.peers.is_empty() {
        t.first_peer = Some(at);
    }
    let fetching = matches!(s.state, TorrentState::FetchingMetadata { .. });
    if t.metadata.is_none() && !fetching {
        t.metadata = Some(at);
    }
    if t.complete.is_none() && s.is_complete() {
        t.complete = Some(at);
    }
}

/// A fresh libtorrent client joins the DHT and fetches `magnet`; the clock starts when it is
/// told to join (its process is already up: python's start-up is not the DHT's doing).
fn libtorrent_run(
    magnet: &str,
    nodes: &[SocketAddr],
    out: &Path,
    ih: shoal_core::ids::InfoHashV1,
) -> Result<Times, String> {
    let lt = LibtorrentClient::start_with(LibtorrentOptions {
        dht: true,
        ..LibtorrentOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    lt.enable_dht(nodes).map_err(|e| e.to_string())?;
    lt.add_magnet(magnet, ih, out).map_err(|e| e.to_string())?;
    let mut t = Times::default();
    let r = poll_until(
        "libtorrent to finish",
        LIMIT,
        Duration::from_millis(5),
        || {
            let s = lt.status(ih)?;
            let at = t0.elapsed();
            if t.first_peer.is_none() && !s.peers.is_empty() {
                t.first_peer = Some(at);
            }
            if t.metadata.is_none() && s.wanted > 0 {
                t.metadata = Some(at);
            }
            if s.complete {
                t.complete = Some(at);
                return Ok(Some(()));
            }
            Ok(None)
        },
    );
    r.map_err(|e| format!("{e}: {t:?}"))?;
    Ok(t)
}
