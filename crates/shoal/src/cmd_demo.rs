//! `shoal demo`: a complete swarm on loopback, no network needed. Four honest seeders with
//! different upload limits and one that serves corrupt data, all shoal sessions in this
//! process on their own 127.0.0.x addresses, and a downloader with the dashboard open, so a
//! new user sees peers, rates, a hash failure and a ban within seconds.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rand::{RngCore, SeedableRng};
use shoal_core::create::{create, CreateOptions, PieceLength};
use shoal_core::metainfo::Metainfo;
use shoal_core::Bitfield;
use shoal_engine::resume::{self, ResumeData};
use shoal_engine::{AddTorrent, Session, SessionConfig, TorrentHandle};

use crate::runner::{RunConfig, Runner};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Size of the demo content in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub size: u64,
    /// Plain progress lines instead of the dashboard.
    #[arg(long)]
    pub no_tui: bool,
    /// Keep running after the download completes (until q or Ctrl-C).
    #[arg(long)]
    pub stay: bool,
    /// Work in this directory instead of a temporary one (kept afterwards).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Upload limits of the honest seeders, bytes/s: a spread, so the dashboard has something
/// to rank.
const SEEDER_LIMITS: [u64; 4] = [1 << 20, 2 << 20, 3 << 20, 4 << 20];
/// First address of the demo's hosts: 127.0.0.200 downloads, .201… seed, the liar last.
const FIRST_HOST: u8 = 200;

pub fn run(args: &DemoArgs, out: &mut dyn Write, terminal: bool) -> anyhow::Result<i32> {
    let temp;
    let root = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("shoal-demo").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let _ = writeln!(
        out,
        "preparing {} MiB of demo content in {}",
        args.size,
        root.display()
    );
    let meta = Arc::new(make_content(&root, args.size.clamp(1, 4096) << 20)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut seeders = Vec::new();
        let mut addrs = Vec::new();
        for (i, limit) in SEEDER_LIMITS.iter().enumerate() {
            let ip = Ipv4Addr::new(127, 0, 0, FIRST_HOST + 1 + i as u8);
            let (session, handle) =
                start_seeder(&meta, &root.join("seed"), ip, Some(*limit), None).await?;
            addrs.push(session.listen_addr().context("seeder has no address")?);
            seeders.push((session, handle));
        }
        let liar_ip = Ipv4Addr::new(127, 0, 0, FIRST_HOST + 1 + SEEDER_LIMITS.len() as u8);
        let liar_dir = root.join("liar");
        let liar_state = root.join("liar-state");
        make_liar(&meta, &root.join("seed"), &liar_dir, &liar_state)?;
        let (liar, liar_handle) =
            start_seeder(&meta, &liar_dir, liar_ip, Some(2 << 20), Some(liar_state)).await?;
        addrs.push(liar.listen_addr().context("liar has no address")?);
        seeders.push((liar, liar_handle));

        let download_dir = root.join("download");
        let _ = std::fs::remove_dir_all(&download_dir);
        let config = SessionConfig {
            listen: Some(SocketAddr::from((Ipv4Addr::new(127, 0, 0, FIRST_HOST), 0))),
            ..SessionConfig::default()
        };
        let mut runner = Runner::new(Session::start(config).await?);
        runner
            .add(AddTorrent {
                source: Arc::clone(&meta).into(),
                download_dir: download_dir.clone(),
                peers: addrs,
                use_trackers: false,
                files: None,
            })
            .await?;
        let cfg = RunConfig {
            tui: terminal && !args.no_tui,
            terminal,
            progress_every: Duration::from_secs(1),
            keep_seeding: args.stay || (terminal && !args.no_tui),
            seed_ratio: None,
            seed_time: None,
            download_dir,
            use_trackers: false,
        };
        let (code, last) = runner.run(&cfg, out).await?;
        if let Some(s) = last {
            let _ = writeln!(
                out,
                "demo: {} of {} pieces, {} hash failures, {} peers banned",
                s.pieces_have, s.pieces_total, s.hash_failures, s.banned
            );
        }
        for (session, mut handle) in seeders {
            handle.stop(Duration::from_secs(2)).await;
            session.shutdown(Duration::from_secs(1)).await;
        }
        Ok(code)
    })
}

/// Writes deterministic pseudo-random files and makes their torrent.
fn make_content(root: &Path, total: u64) -> anyhow::Result<Metainfo> {
    let dir = root.join("seed").join("shoal-demo");
    std::fs::create_dir_all(dir.join("extras"))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let parts = [("movie.bin", total / 2), ("extras/photos.bin", total / 3)];
    let used: u64 = parts.iter().map(|p| p.1).sum();
    let mut files = parts.to_vec();
    files.push(("extras/notes.txt", total - used));
    for (name, len) in files {
        let path = dir.join(name);
        if std::fs::metadata(&path)
            .map(|m| m.len() == len)
            .unwrap_or(false)
        {
            continue;
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rng.fill_bytes(&mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n as u64;
        }
        f.flush()?;
    }
    let opts = CreateOptions {
        piece_length: PieceLength::Bytes(256 * 1024),
        comment: Some("shoal demo swarm".into()),
        ..CreateOptions::default()
    };
    let created = create(&dir, &opts, &|_| {}).context("creating the demo torrent")?;
    Metainfo::from_bytes(&created.torrent).context("reading back the demo torrent")
}

/// A copy of the data with one byte flipped in every piece, and resume data that claims it
/// is all good, so this seeder serves it without checking: a liar for the demo to catch.
fn make_liar(meta: &Metainfo, from: &Path, to: &Path, state: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(to);
    for f in meta.files() {
        let rel: PathBuf = f.path.components().map(|c| c.as_str()).collect();
        let (src, dst) = (from.join(&rel), to.join(&rel));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut data = std::fs::read(&src)?;
        let step = meta.piece_length() as usize;
        let mut i = step / 2;
        while i < data.len() {
            data[i] ^= 0x55;
            i += step;
        }
        std::fs::write(&dst, data)?;
    }
    let wire_id = meta.info_hash().wire_id();
    let files = meta
        .files()
        .iter()
        .map(|f| {
            let rel: PathBuf = f.path.components().map(|c| c.as_str()).collect();
            let m = std::fs::metadata(to.join(rel)).ok()?;
            let mtime = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            Some((m.len(), mtime))
        })
        .collect();
    let data = ResumeData {
        info_hash: wire_id,
        have: Bitfield::full(meta.piece_count()),
        files,
    };
    resume::save(&resume::path_for(state, &wire_id), &data)?;
    Ok(())
}

async fn start_seeder(
    meta: &Arc<Metainfo>,
    data: &Path,
    ip: Ipv4Addr,
    upload_limit: Option<u64>,
    state_dir: Option<PathBuf>,
) -> anyhow::Result<(Session, TorrentHandle)> {
    let config = SessionConfig {
        listen: Some(SocketAddr::from((ip, 0))),
        upload_limit,
        state_dir,
        ..SessionConfig::default()
    };
    let mut session = Session::start(config).await?;
    let handle = session
        .add_torrent(
            AddTorrent {
                source: Arc::clone(meta).into(),
                download_dir: data.to_path_buf(),
                peers: Vec::new(),
                use_trackers: false,
                files: None,
            },
            |_, _| {},
        )
        .await?;
    Ok((session, handle))
}
