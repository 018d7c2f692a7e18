//! The tokio half: one task owns a UDP socket and a [`crate::proto::Dht`] core and moves
//! bytes between them; [`DhtHandle`]s talk to that task over a bounded channel.
//!
//! The task is the only owner of the core, so there are no locks: a handle's request is a
//! message, and its answer comes back on a oneshot (or, for peers, on a channel that closes
//! when the lookup ends). The node stops when [`DhtNode::shutdown`] is called or every handle
//! and the [`DhtNode`] are dropped.

mod actor;

use std::net::SocketAddr;
use std::path::Path;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::persist::SavedTable;
use crate::proto::{Config, DhtStats, Family, NodeId, NodeInfo};
use crate::NodeError;

/// Commands queued for the node task before senders wait.
const COMMAND_QUEUE: usize = 64;

/// Settings for [`DhtNode::bind`].
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The UDP address to bind (its family decides which DHT this node joins).
    pub bind: SocketAddr,
    /// Core settings; `family` is taken from `bind`.
    pub dht: Config,
    /// A routing table saved by an earlier run: its id is reused and its nodes are the first
    /// contacts (unless `dht.id` is set, which wins).
    pub restore: Option<SavedTable>,
}

impl NodeConfig {
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            dht: Config::default(),
            restore: None,
        }
    }
}

/// What an announce achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnounceResult {
    /// Nodes that confirmed storing us.
    pub stored_at: usize,
    /// Distinct peers found on the way.
    pub peers_found: usize,
}

pub(crate) enum Command {
    Bootstrap(Vec<SocketAddr>, oneshot::Sender<usize>),
    GetPeers(NodeId, mpsc::UnboundedSender<SocketAddr>),
    Announce(NodeId, Option<u16>, oneshot::Sender<AnnounceResult>),
    AddNodes(Vec<NodeInfo>),
    Snapshot(oneshot::Sender<Snapshot>),
    Shutdown,
}

/// The node's state at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub id: NodeId,
    pub nodes: Vec<NodeInfo>,
    pub stats: DhtStats,
}

/// A running DHT node.
pub struct DhtNode {
    handle: DhtHandle,
    task: JoinHandle<()>,
}

/// A cheap, cloneable way to talk to a [`DhtNode`].
#[derive(Clone, Debug)]
pub struct DhtHandle {
    tx: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    id: NodeId,
}

impl DhtNode {
    /// Binds the socket and starts the node task (on the current tokio runtime).
    pub async fn bind(config: NodeConfig) -> Result<Self, NodeError> {
        let socket = UdpSocket::bind(config.bind).await?;
        let local_addr = socket.local_addr()?;
        let mut dht_config = config.dht;
        dht_config.family = Family::of(&local_addr);
        let restore = config.restore;
        if dht_config.id.is_none() {
            dht_config.id = restore.as_ref().map(|t| t.id);
        }
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let actor = actor::Actor::new(socket, dht_config);
        let id = actor.id();
        let task = tokio::spawn(actor.run(rx, restore.map(|t| t.nodes).unwrap_or_default()));
        Ok(Self {
            handle: DhtHandle { tx, local_addr, id },
            task,
        })
    }

    pub fn handle(&self) -> &DhtHandle {
        &self.handle
    }

    /// Stops the task and waits for it.
    pub async fn shutdown(self) {
        let _ = self.handle.tx.send(Command::Shutdown).await;
        let _ = self.task.await;
    }
}

impl DhtHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    async fn send(&self, cmd: Command) -> Result<(), NodeError> {
        self.tx.send(cmd).await.map_err(|_| NodeError::Stopped)
    }

    /// Joins the DHT through `nodes` (and any restored table); returns the routing table
    /// size once the bootstrap lookup is over.
    pub async fn bootstrap(&self, nodes: Vec<SocketAddr>) -> Result<usize, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Bootstrap(nodes, tx)).await?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Looks up peers for `info_hash`. Peers arrive on the returned channel as they are
    /// found, each once; the channel closes when the lookup is over. Dropping the receiver
    /// cancels the lookup.
    ///
    /// The channel is unbounded because a lookup reports at most
    /// [`crate::proto::MAX_PEERS_PER_LOOKUP`] peers, which bounds it.
    pub async fn get_peers(
        &self,
        info_hash: impl Into<NodeId>,
    ) -> Result<mpsc::UnboundedReceiver<SocketAddr>, NodeError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.send(Command::GetPeers(info_hash.into(), tx)).await?;
        Ok(rx)
    }

    /// Announces that we are a peer for `info_hash` on TCP `port` (`None`: the DHT socket's
    /// port, BEP 5 `implied_port`). Returns once the closest nodes have answered.
    pub async fn announce(
        &self,
        info_hash: impl Into<NodeId>,
        port: Option<u16>,
    ) -> Result<AnnounceResult, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Announce(info_hash.into(), port, tx))
            .await?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Adds nodes known from elsewhere (unverified until they answer).
    pub async fn add_nodes(&self, nodes: Vec<NodeInfo>) -> Result<(), NodeError> {
        self.send(Command::AddNodes(nodes)).await
    }

    pub async fn snapshot(&self) -> Result<Snapshot, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Snapshot(tx)).await?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Nodes in the routing table.
    pub async fn routing_table_size(&self) -> Result<usize, NodeError> {
        Ok(self.snapshot().await?.nodes.len())
    }

    /// Writes the routing table to `path` (through a temporary file and a rename, so a
    /// crash leaves either the old file or the new one).
    pub async fn save_routing_table(&self, path: &Path) -> Result<(), NodeError> {
        let snap = self.snapshot().await?;
        let table = SavedTable {
            id: snap.id,
            nodes: snap.nodes,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        tokio::fs::write(&tmp, table.encode()).await?;
        tokio::fs::rename(&tmp, path).await?;
        Ok(())
    }
}

/// Reads a routing table written by [`DhtHandle::save_routing_table`].
pub async fn load_routing_table(path: &Path) -> Result<SavedTable, NodeError> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut data = Vec::new();
    // One byte over the cap is enough to know the file is too large.
    file.take(crate::persist::MAX_FILE as u64 + 1)
        .read_to_end(&mut data)
        .await?;
    SavedTable::decode(&data).map_err(|e| NodeError::BadStateFile(e.to_string()))
}
