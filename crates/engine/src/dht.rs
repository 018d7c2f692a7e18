//! The session's DHT node (BEP 5) and the per-torrent task that asks it for peers.
//!
//! One node serves every torrent of the session: a routing table is worth keeping warm, and
//! the DHT knows us by one address. The node joins through the configured bootstrap nodes
//! (and the table saved by the last run), and its table is saved again when the session shuts
//! down. Each public torrent gets a task that looks up peers for its info-hash and announces
//! our listen port: at once, then every few minutes. Private torrents (BEP 27) get none.
//!
//! The node's tokio task is its own (started by `shoal-dht`); what this module spawns goes
//! through [`Tasks`] like everything else in the engine.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use shoal_core::InfoHash;
use shoal_dht::node::{load_routing_table, DhtHandle, DhtNode, NodeConfig};
use shoal_dht::NodeError;
use shoal_swarm::PeerSource;
use tokio::sync::{mpsc, watch};

use crate::tasks::Tasks;
use crate::torrent::TorrentMsg;
use crate::EngineError;

/// The DHT part of a session's settings.
#[derive(Clone, Debug, Default)]
pub struct DhtConfig {
    /// UDP port; `None`: the same number as the TCP listen port (any port if that is taken).
    pub port: Option<u16>,
    /// Nodes to join through. Only these (and a saved routing table) are ever contacted first.
    pub bootstrap: Vec<SocketAddr>,
}

/// What the dashboard shows about the DHT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhtStatus {
    /// Where the node listens.
    pub addr: Option<SocketAddr>,
    /// Nodes in the routing table.
    pub nodes: usize,
    /// Lookups running now.
    pub lookups: usize,
    /// The first bootstrap lookup finished.
    pub bootstrapped: bool,
}

/// The saved routing table, under the state directory.
const TABLE_FILE: &str = "dht.dat";
/// How often the status is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// How often while joining and the table is still empty (torrents wait for the first node).
const JOIN_STATUS_EVERY: Duration = Duration::from_millis(2);
/// A bootstrap that found nobody is tried again after this, doubling up to `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Between a torrent's lookups once peers were found.
const LOOKUP_EVERY: Duration = Duration::from_secs(300);
/// How long shutdown waits for the routing table to be written.
const SAVE_LIMIT: Duration = Duration::from_secs(2);
/// How long a torrent waits for the first node before it looks up anyway.
const BOOTSTRAP_WAIT: Duration = Duration::from_secs(30);

/// The running DHT of a session.
pub(crate) struct SessionDht {
    node: DhtNode,
    status: watch::Receiver<DhtStatus>,
    table_file: Option<PathBuf>,
}

impl SessionDht {
    /// Binds the node on `ip`, loads the saved table, and starts joining in the background.
    pub async fn start(
        config: &DhtConfig,
        ip: IpAddr,
        listen_port: Option<u16>,
        state_dir: Option<&std::path::Path>,
        tasks: &Tasks,
    ) -> Result<Self, EngineError> {
        let table_file = state_dir.map(|d| d.join(TABLE_FILE));
        let restore = match &table_file {
            Some(path) if path.exists() => match load_routing_table(path).await {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring the saved DHT table");
                    None
                }
            },
            _ => None,
        };
        let port = config.port.or(listen_port).unwrap_or(0);
        let bind = |port| {
            let mut c = NodeConfig::new(SocketAddr::new(ip, port));
            c.restore = restore.clone();
            c
        };
        let node = match DhtNode::bind(bind(port)).await {
            Ok(n) => n,
            // The listen port's number is only a preference; a port the user named is not.
            Err(_) if config.port.is_none() && port != 0 => DhtNode::bind(bind(0))
                .await
                .map_err(|e| EngineError::Dht(e.to_string()))?,
            Err(e) => return Err(EngineError::Dht(e.to_string())),
        };
        let handle = node.handle().clone();
        let (tx, status) = watch::channel(DhtStatus {
            addr: Some(handle.local_addr()),
            ..DhtStatus::default()
        });
        let bootstrap = config.bootstrap.clone();
        tasks.spawn("dht bootstrap", join_and_watch(handle, bootstrap, tx));
        Ok(Self {
            node,
            status,
            table_file,
        })
    }

    pub fn handle(&self) -> DhtHandle {
        self.node.handle().clone()
    }

    pub fn status(&self) -> watch::Receiver<DhtStatus> {
        self.status.clone()
    }

    /// Saves the routing table (bounded wait) and stops the node.
    pub async fn shutdown(self) {
        if let Some(path) = &self.table_file {
            let save = async {
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                self.node
                    .handle()
                    .save_routing_table(path)
                    .await
                    .map_err(std::io::Error::other)
            };
            match tokio::time::timeout(SAVE_LIMIT, save).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not save the DHT table"),
                Err(_) => tracing::warn!("saving the DHT table timed out"),
            }
        }
        let _ = tokio::time::timeout(SAVE_LIMIT, self.node.shutdown()).await;
    }
}

/// Joins the DHT (again, with back-off, while nobody answers), then keeps the status fresh.
///
/// Until the first node answers the status is refreshed often: torrents start their own
/// lookups as soon as the routing table holds a node, not when the bootstrap is over (which
/// takes seconds of timeouts when some of the nodes we are told of are gone).
async fn join_and_watch(
    handle: DhtHandle,
    bootstrap: Vec<SocketAddr>,
    tx: watch::Sender<DhtStatus>,
) {
    let mut retry = RETRY_FIRST;
    loop {
        let boot = handle.bootstrap(bootstrap.clone());
        tokio::pin!(boot);
        let nodes = loop {
            // Polled only until the first node is in: that is what torrents wait for.
            let empty = tx.borrow().nodes == 0;
            tokio::select! {
                n = &mut boot => break n.unwrap_or(0),
                _ = tokio::time::sleep(JOIN_STATUS_EVERY), if empty => {
                    if refresh(&handle, &tx).await.is_err() {
                        return;
                    }
                }
            }
        };
        tx.send_modify(|s| {
            s.bootstrapped = true;
            s.nodes = nodes;
        });
        tracing::info!(nodes, "DHT bootstrap done");
        if nodes > 0 {
            break;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
    while refresh(&handle, &tx).await.is_ok() {
        tokio::time::sleep(STATUS_EVERY).await;
    }
}

async fn refresh(handle: &DhtHandle, tx: &watch::Sender<DhtStatus>) -> Result<(), NodeError> {
    let snap = handle.snapshot().await?;
    tx.send_modify(|s| {
        s.nodes = snap.nodes.len();
        s.lookups = snap.stats.lookups;
    });
    Ok(())
}

/// One torrent's use of the DHT: look up peers (fed to the torrent as [`PeerSource::Dht`]) and
/// announce `port`, at once and then periodically; sooner again while lookups find nobody.
/// Ends when the torrent's inbox closes or its task group is cancelled.
pub(crate) async fn run_torrent_dht(
    handle: DhtHandle,
    mut status: watch::Receiver<DhtStatus>,
    info_hash: InfoHash,
    port: Option<u16>,
    torrent: mpsc::Sender<TorrentMsg>,
) {
    let joined = status.wait_for(|s| s.bootstrapped || s.nodes > 0);
    let _ = tokio::time::timeout(BOOTSTRAP_WAIT, joined).await;
    let mut retry = RETRY_FIRST;
    loop {
        let Ok(mut rx) = handle.get_peers(info_hash).await else {
            return;
        };
        let mut found = 0usize;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(p) = rx.try_recv() {
                batch.push(p);
            }
            found += batch.len();
            if torrent
                .send(TorrentMsg::Peers(batch, PeerSource::Dht))
                .await
                .is_err()
            {
                return;
            }
        }
        if let Some(port) = port {
            match handle.announce(info_hash, Some(port)).await {
                Ok(r) => tracing::debug!(stored_at = r.stored_at, "DHT announce"),
                Err(_) => return,
            }
        }
        tracing::debug!(found, "DHT lookup done");
        let wait = if found > 0 {
            retry = RETRY_FIRST;
            LOOKUP_EVERY
        } else {
            let w = retry;
            retry = (retry * 2).min(RETRY_MAX);
            w
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = torrent.closed() => return,
        }
    }
}
