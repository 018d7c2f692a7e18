//! Where torrents and their peers come from on the command line: a .torrent file or a magnet
//! link for each argument, and the DHT settings.
//!
//! The public DHT routers below are used only when the DHT is on and the user named no
//! bootstrap node; tests always name their own (loopback) nodes.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use shoal_core::magnet::Magnet;
use shoal_core::metainfo::Metainfo;
use shoal_engine::{DhtConfig, TorrentSource};

/// Well-known routers that answer `find_node` for anyone joining the mainline DHT.
pub const DEFAULT_DHT_ROUTERS: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// A command-line torrent argument: a magnet link (`magnet:?...`) or a .torrent file.
pub fn load_source(arg: &Path) -> anyhow::Result<TorrentSource> {
    if let Some(link) = arg.to_str().filter(|s| s.starts_with("magnet:")) {
        let magnet =
            Magnet::parse(link).with_context(|| format!("{link} is not a valid magnet link"))?;
        return Ok(magnet.into());
    }
    let bytes = std::fs::read(arg).with_context(|| format!("cannot read {}", arg.display()))?;
    let meta = Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{} is not a valid torrent", arg.display()))?;
    Ok(Arc::new(meta).into())
}

/// The session's DHT settings: `None` with `--no-dht`. Bootstrap nodes are `HOST:PORT`,
/// resolved here; with none given, [`DEFAULT_DHT_ROUTERS`]. A name that does not resolve is
/// skipped with a warning (the DHT also starts from the table saved by the last run).
pub async fn dht_config(
    no_dht: bool,
    bootstrap: &[String],
    port: Option<u16>,
) -> anyhow::Result<Option<DhtConfig>> {
    if no_dht {
        return Ok(None);
    }
    let given: Vec<&str> = bootstrap.iter().map(String::as_str).collect();
    let names = if given.is_empty() {
        DEFAULT_DHT_ROUTERS.to_vec()
    } else {
        given
    };
    let mut nodes = Vec::new();
    for name in names {
        if !name.contains(':') {
            bail!("--dht-bootstrap {name}: expected HOST:PORT");
        }
        match tokio::net::lookup_host(name).await {
            Ok(addrs) => nodes.extend(addrs),
            Err(e) => tracing::warn!(node = name, error = %e, "DHT bootstrap node not resolved"),
        }
    }
    nodes.sort();
    nodes.dedup();
    Ok(Some(DhtConfig {
        port,
        bootstrap: nodes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnets_and_files() {
        let ih = "0123456789abcdef0123456789abcdef01234567";
        let src = load_source(Path::new(&format!("magnet:?xt=urn:btih:{ih}&dn=x"))).unwrap();
        assert!(matches!(src, TorrentSource::Magnet(_)));
        assert_eq!(src.name(), "x");
        assert!(load_source(Path::new("magnet:?xt=urn:btih:zz")).is_err());
        assert!(load_source(Path::new("/nonexistent/file.torrent")).is_err());
    }

    #[tokio::test]
    async fn bootstrap_nodes_resolve_without_defaults_when_given() {
        assert!(dht_config(true, &[], None).await.unwrap().is_none());
        let c = dht_config(false, &["127.0.0.5:6881".into()], Some(7000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.bootstrap, vec!["127.0.0.5:6881".parse().unwrap()]);
        assert_eq!(c.port, Some(7000));
        assert!(dht_config(false, &["nocolon".into()], None).await.is_err());
    }
}
