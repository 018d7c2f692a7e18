//! The tokio node on loopback: shoal nodes find each other's peers, and a saved routing
//! table brings a node back with its id and contacts.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_dht::node::{load_routing_table, DhtNode, NodeConfig};
use shoal_dht::proto::NodeId;
use shoal_testkit::next_loopback;

const LIMIT: Duration = Duration::from_secs(30);

async fn node() -> DhtNode {
    let bind = SocketAddr::from((next_loopback(), 0));
    DhtNode::bind(NodeConfig::new(bind)).await.unwrap()
}

async fn collect(mut rx: tokio::sync::mpsc::UnboundedReceiver<SocketAddr>) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    while let Some(p) = rx.recv().await {
        out.push(p);
    }
    out
}

#[tokio::test]
async fn shoal_nodes_find_an_announced_peer_and_restore_a_saved_table() {
    let mut nodes = Vec::new();
    for _ in 0..12 {
        nodes.push(node().await);
    }
    let first = nodes[0].handle().local_addr();
    for n in &nodes[1..] {
        let size = tokio::time::timeout(LIMIT, n.handle().bootstrap(vec![first]))
            .await
            .unwrap()
            .unwrap();
        assert!(size >= 1);
    }
    // Every node learns of the others as they join; a second round settles the tables.
    for n in &nodes {
        tokio::time::timeout(LIMIT, n.handle().bootstrap(vec![]))
            .await
            .unwrap()
            .unwrap();
    }
    let info_hash = NodeId([0x5a; 20]);
    let announcer = nodes[3].handle().clone();
    let result = tokio::time::timeout(LIMIT, announcer.announce(info_hash, Some(7777)))
        .await
        .unwrap()
        .unwrap();
    assert!(result.stored_at >= 1, "{result:?}");
    let rx = nodes[9].handle().get_peers(info_hash).await.unwrap();
    let peers = tokio::time::timeout(LIMIT, collect(rx)).await.unwrap();
    let mut expected = announcer.local_addr();
    expected.set_port(7777);
    assert_eq!(peers, vec![expected]);

    // Save one node's table, stop it, and start a new node from the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dht.dat");
    let saver = nodes.pop().unwrap();
    let saved_size = saver.handle().routing_table_size().await.unwrap();
    assert!(saved_size >= 5, "{saved_size}");
    saver.handle().save_routing_table(&path).await.unwrap();
    let old_id = saver.handle().id();
    saver.shutdown().await;
    let saved = load_routing_table(&path).await.unwrap();
    assert_eq!((saved.id, saved.nodes.len()), (old_id, saved_size));
    let mut config = NodeConfig::new(SocketAddr::from((next_loopback(), 0)));
    config.restore = Some(saved);
    let reborn = DhtNode::bind(config).await.unwrap();
    assert_eq!(reborn.handle().id(), old_id);
    // No bootstrap address needed: the restored contacts are enough.
    let size = tokio::time::timeout(LIMIT, reborn.handle().bootstrap(vec![]))
        .await
        .unwrap()
        .unwrap();
    assert!(size >= 5, "{size}");
    let rx = reborn.handle().get_peers(info_hash).await.unwrap();
    let peers = tokio::time::timeout(LIMIT, collect(rx)).await.unwrap();
    assert_eq!(peers, vec![expected]);

    reborn.shutdown().await;
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn a_stopped_node_says_so_and_a_bad_file_is_refused() {
    let n = node().await;
    let h = n.handle().clone();
    n.shutdown().await;
    assert!(matches!(
        h.routing_table_size().await,
        Err(shoal_dht::NodeError::Stopped)
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.dat");
    std::fs::write(&path, b"d2:id3:abce").unwrap();
    assert!(matches!(
        load_routing_table(&path).await,
        Err(shoal_dht::NodeError::BadStateFile(_))
    ));
}
