//! `shoal info`: what a .torrent file or a magnet link holds, as text or JSON.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use shoal_core::magnet::Magnet;
use shoal_core::metainfo::{Metainfo, MetainfoLimits};

use crate::cli::InfoArgs;
use crate::human;

pub fn run(args: &InfoArgs, out: &mut dyn Write) -> Result<()> {
    let shown = match args.target.to_str() {
        Some(s) if is_magnet(s) => {
            let magnet = Magnet::parse(s).context("bad magnet link")?;
            Shown::Magnet(magnet)
        }
        _ => {
            let path = Path::new(&args.target);
            let bytes = read_capped(path)?;
            let meta = Metainfo::from_bytes(&bytes).with_context(|| path.display().to_string())?;
            Shown::Torrent(Box::new(meta))
        }
    };
    if args.json {
        let text = serde_json::to_string_pretty(&shown.json())?;
        writeln!(out, "{text}")?;
    } else {
        out.write_all(shown.text().as_bytes())?;
    }
    Ok(())
}

fn is_magnet(s: &str) -> bool {
    s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
}

/// Reads at most one byte more than a .torrent file may have, so a huge or endless file
/// (`/dev/zero`) costs no more memory than the limit before it is refused.
fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let max = MetainfoLimits::default().max_torrent_size;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes)
}

enum Shown {
    Torrent(Box<Metainfo>),
    Magnet(Magnet),
}

impl Shown {
    fn json(&self) -> Value {
        match self {
            Shown::Torrent(m) => torrent_json(m),
            Shown::Magnet(m) => magnet_json(m),
        }
    }

    fn text(&self) -> String {
        match self {
            Shown::Torrent(m) => torrent_text(m),
            Shown::Magnet(m) => magnet_text(m),
        }
    }
}

fn torrent_json(m: &Metainfo) -> Value {
    let ih = m.info_hash();
    let files: Vec<Value> = m
        .files()
        .iter()
        .map(|f| json!({ "path": f.path.to_string(), "length": f.length, "pad": f.pad }))
        .collect();
    let nodes: Vec<Value> = m
        .dht_nodes()
        .iter()
        .map(|n| json!({ "host": n.host, "port": n.port }))
        .collect();
    json!({
        "kind": "torrent",
        "name": m.name(),
        "info_hash": ih.get_v1().map(|h| h.to_hex()),
        "info_hash_v2": ih.get_v2().map(|h| h.to_hex()),
        "piece_length": m.piece_length(),
        "piece_count": m.piece_count(),
        "total_length": m.total_length(),
        "files": files,
        "trackers": m.trackers(),
        "web_seeds": m.web_seeds(),
        "http_seeds": m.http_seeds(),
        "dht_nodes": nodes,
        "peers": [],
        "private": m.is_private(),
        "creation_date": m.creation_date(),
        "comment": m.comment(),
        "created_by": m.created_by(),
    })
}

fn magnet_json(m: &Magnet) -> Value {
    let nodes: Vec<Value> = m
        .dht_nodes
        .iter()
        .map(|(host, port)| json!({ "host": host, "port": port }))
        .collect();
    let peers: Vec<String> = m.peers.iter().map(|p| p.to_string()).collect();
    json!({
        "kind": "magnet",
        "name": m.name,
        "info_hash": m.info_hash.get_v1().map(|h| h.to_hex()),
        "info_hash_v2": m.info_hash.get_v2().map(|h| h.to_hex()),
        "piece_length": null,
        "piece_count": null,
        "total_length": null,
        "files": null,
        "trackers": m.trackers,
        "web_seeds": m.web_seeds,
        "http_seeds": [],
        "dht_nodes": nodes,
        "peers": peers,
        "private": null,
        "creation_date": null,
        "comment": null,
        "created_by": null,
    })
}

/// Label column width of the text output.
const LABEL: usize = 15;

fn line(s: &mut String, label: &str, value: impl std::fmt::Display) {
    s.push_str(&format!("{:<LABEL$}{value}\n", format!("{label}:")));
}

fn torrent_text(m: &Metainfo) -> String {
    let mut s = String::new();
    let ih = m.info_hash();
    line(&mut s, "name", one_line(m.name()));
    if let Some(v1) = ih.get_v1() {
        line(&mut s, "info-hash v1", v1);
    }
    if let Some(v2) = ih.get_v2() {
        line(&mut s, "info-hash v2", v2);
    }
    let pl = u64::from(m.piece_length());
    line(
        &mut s,
        "piece length",
        format!("{} ({pl} bytes)", human::size(pl)),
    );
    line(&mut s, "pieces", m.piece_count());
    let total = m.total_length();
    line(
        &mut s,
        "total size",
        format!("{} ({total} bytes)", human::size(total)),
    );
    line(&mut s, "private", if m.is_private() { "yes" } else { "no" });
    if let Some(date) = m.creation_date() {
        line(
            &mut s,
            "created",
            format!("{} ({date})", human::utc_date(date)),
        );
    }
    if let Some(by) = m.created_by() {
        line(&mut s, "created by", one_line(by));
    }
    if let Some(c) = m.comment() {
        line(&mut s, "comment", one_line(c));
    }
    tiers(&mut s, m.trackers());
    list(&mut s, "web seeds", m.web_seeds().iter());
    list(&mut s, "http seeds", m.http_seeds().iter());
    list(
        &mut s,
        "dht nodes",
        m.dht_nodes()
            .iter()
            .map(|n| format!("{}:{}", n.host, n.port)),
    );
    let files = m.files();
    s.push_str(&format!("files ({}):\n", files.len()));
    let width = files
        .iter()
        .map(|f| human::size(f.length).len())
        .max()
        .unwrap_or(0);
    // Files are numbered from 0, the indices `shoal download --files` takes.
    let index_width = files.len().saturating_sub(1).to_string().len();
    for (i, f) in files.iter().enumerate() {
        let size = human::size(f.length);
        let pad = if f.pad { "  [pad]" } else { "" };
        s.push_str(&format!(
            "  {i:>index_width$}  {size:>width$}  {}{pad}\n",
            one_line(&f.path.to_string())
        ));
    }
    s
}

fn magnet_text(m: &Magnet) -> String {
    let mut s = String::new();
    line(
        &mut s,
        "magnet link",
        "(metadata not fetched: no file list or sizes)",
    );
    if let Some(name) = &m.name {
        line(&mut s, "name", one_line(name));
    }
    if let Some(v1) = m.info_hash.get_v1() {
        line(&mut s, "info-hash v1", v1);
    }
    if let Some(v2) = m.info_hash.get_v2() {
        line(&mut s, "info-hash v2", v2);
    }
    tiers(&mut s, &m.trackers);
    list(&mut s, "web seeds", m.web_seeds.iter());
    list(
        &mut s,
        "dht nodes",
        m.dht_nodes.iter().map(|(h, p)| format!("{h}:{p}")),
    );
    list(&mut s, "peers", m.peers.iter());
    s
}

fn tiers(s: &mut String, tiers: &[Vec<String>]) {
    if tiers.is_empty() {
        return;
    }
    s.push_str("trackers:\n");
    for (i, tier) in tiers.iter().enumerate() {
        for (j, url) in tier.iter().enumerate() {
            let label = if j == 0 {
                format!("tier {}:", i + 1)
            } else {
                String::new()
            };
            s.push_str(&format!("  {label:<9}{}\n", one_line(url)));
        }
    }
}

fn list<T: std::fmt::Display>(s: &mut String, label: &str, items: impl Iterator<Item = T>) {
    let mut items = items.peekable();
    if items.peek().is_none() {
        return;
    }
    s.push_str(&format!("{label}:\n"));
    for item in items {
        s.push_str(&format!("  {}\n", one_line(&item.to_string())));
    }
}

/// Comments and URLs come from the file: control characters would let it rewrite the
/// terminal, and newlines would break the one-item-per-line layout.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
