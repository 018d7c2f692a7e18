//! Sessions on loopback: a magnet link fetched from another session (metadata, then data),
//! the same found through a DHT, the routing table saved at shutdown, and a private torrent
//! kept out of the DHT.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shoal_core::create::{create, CreateOptions, PieceLength};
use shoal_core::magnet::Magnet;
use shoal_core::metainfo::Metainfo;
use shoal_core::InfoHash;
use shoal_dht::node::{load_routing_table, DhtNode, NodeConfig};
use shoal_engine::{AddTorrent, DhtConfig, Session, SessionConfig, TorrentHandle, TorrentSource};

const LIMIT: Duration = Duration::from_secs(30);

/// A file of `len` pseudo-random bytes under `dir/data`, and its torrent.
fn content(dir: &Path, name: &str, len: usize, private: bool) -> (Arc<Metainfo>, PathBuf) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64 ^ u64::from(private);
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(data.join(name), &bytes).unwrap();
    let opts = CreateOptions {
        piece_length: PieceLength::Bytes(32 * 1024),
        private,
        ..CreateOptions::default()
    };
    let created = create(&data.join(name), &opts, &|_| {}).unwrap();
    (
        Arc::new(Metainfo::from_bytes(&created.torrent).unwrap()),
        data,
    )
}

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

async fn session(at: Ipv4Addr, dht: Option<SocketAddr>, state: Option<&Path>) -> Session {
    let mut config = SessionConfig {
        listen: Some(SocketAddr::from((at, 0))),
        dht: dht.map(|node| DhtConfig {
            port: None,
            bootstrap: vec![node],
        }),
        state_dir: state.map(Path::to_path_buf),
        ..SessionConfig::default()
    };
    config.handshake.local_ip = Some(at.into());
    Session::start(config).await.unwrap()
}

async fn add(
    s: &mut Session,
    source: TorrentSource,
    dir: &Path,
    peers: Vec<SocketAddr>,
) -> TorrentHandle {
    let add = AddTorrent {
        source,
        download_dir: dir.to_path_buf(),
        peers,
        use_trackers: false,
        files: None,
    };
    s.add_torrent(add, |_, _| {}).await.unwrap()
}

/// Waits for completion.
async fn wait_complete(h: &TorrentHandle) {
    let mut rx = h.stats();
    let done = tokio::time::timeout(LIMIT, async {
        loop {
            let s = rx.borrow_and_update().clone();
            if s.is_complete() {
                return;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    assert!(done.is_ok(), "not complete: {:?}", rx.borrow().state);
}

fn assert_same_file(a: &Path, b: &Path) {
    assert!(
        std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
        "{} differs",
        b.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_from_a_shoal_seed() {
    let dir = tempfile::tempdir().unwrap();
    let (meta, data) = content(dir.path(), "file.bin", 700_000, false);
    let mut a = session(ip(41), None, None).await;
    let _seed = add(&mut a, meta.clone().into(), &data, Vec::new()).await;
    let state = dir.path().join("state-b");
    let mut b = session(ip(42), None, Some(&state)).await;
    let out = dir.path().join("out");
    let mut link = Magnet::new(meta.info_hash());
    link.name = Some("shown until the metadata comes".into());
    let peers = vec![a.listen_addr().unwrap()];
    let h = add(&mut b, link.into(), &out, peers).await;
    let first = h.stats().borrow().clone();
    assert_eq!(first.info_hash_hex, meta.info_hash().to_string());
    wait_complete(&h).await;
    assert_same_file(&data.join("file.bin"), &out.join("file.bin"));
    let saved =
        Metainfo::from_bytes(&std::fs::read(out.join("file.bin.torrent")).unwrap()).unwrap();
    assert_eq!(saved.info_hash(), meta.info_hash());
    assert_eq!(saved.info_bytes(), meta.info_bytes());
    assert_eq!(h.stats().borrow().name, "file.bin");
    b.shutdown(Duration::from_secs(2)).await;
    a.shutdown(Duration::from_secs(2)).await;

    // Added again with nobody to ask: the metadata kept in the state folder is enough to
    // check the data and seed.
    let mut b2 = session(ip(43), None, Some(&state)).await;
    let h = add(
        &mut b2,
        Magnet::new(meta.info_hash()).into(),
        &out,
        Vec::new(),
    )
    .await;
    wait_complete(&h).await;
    assert_eq!(h.stats().borrow().name, "file.bin");
    b2.shutdown(Duration::from_secs(2)).await;
}

/// A standalone node everyone joins through.
async fn router(at: Ipv4Addr) -> DhtNode {
    DhtNode::bind(NodeConfig::new(SocketAddr::from((at, 0))))
        .await
        .unwrap()
}

/// Waits until `node` stores `count` info-hashes.
async fn wait_stored(node: &DhtNode, count: usize) {
    let wait = async {
        loop {
            let snap = node.handle().snapshot().await.unwrap();
            if snap.stats.stored_hashes >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(LIMIT, wait)
        .await
        .expect("announce stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dht_finds_the_seed_and_the_table_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let (meta, data) = content(dir.path(), "dht.bin", 500_000, false);
    let r = router(ip(44)).await;
    let state = dir.path().join("state-a");
    let mut a = session(ip(45), Some(r.handle().local_addr()), Some(&state)).await;
    assert_eq!(
        a.dht_status().unwrap().borrow().addr.map(|x| x.ip()),
        Some(ip(45).into())
    );
    let _seed = add(&mut a, meta.clone().into(), &data, Vec::new()).await;
    wait_stored(&r, 1).await;

    let mut b = session(ip(46), Some(r.handle().local_addr()), None).await;
    let out = dir.path().join("out");
    let h = add(
        &mut b,
        Magnet::new(meta.info_hash()).into(),
        &out,
        Vec::new(),
    )
    .await;
    wait_complete(&h).await;
    assert_same_file(&data.join("dht.bin"), &out.join("dht.bin"));
    let peers = h.stats().borrow().peers.clone();
    assert!(
        peers
            .iter()
            .all(|p| p.source.label() == "dht" || p.source.label() == "incoming"),
        "{peers:?}"
    );
    b.shutdown(Duration::from_secs(2)).await;

    let a_addr = a.dht_status().unwrap().borrow().addr;
    a.shutdown(Duration::from_secs(2)).await;
    let table = load_routing_table(&state.join("dht.dat")).await.unwrap();
    assert!(
        table
            .nodes
            .iter()
            .any(|n| n.addr == r.handle().local_addr()),
        "the router is in the saved table of {a_addr:?}: {table:?}"
    );
    // A new session on that state starts from the saved table: its node id is the same.
    let c = session(ip(47), Some(r.handle().local_addr()), Some(&state)).await;
    c.shutdown(Duration::from_secs(2)).await;
    let after = load_routing_table(&state.join("dht.dat")).await.unwrap();
    assert_eq!(after.id, table.id, "the id survives restarts");
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_torrents_stay_out_of_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let (public, pub_data) = content(&dir.path().join("pub"), "public.bin", 100_000, false);
    let (private, priv_data) = content(&dir.path().join("priv"), "private.bin", 100_000, true);
    assert!(private.is_private());
    let r = router(ip(48)).await;
    let mut a = session(ip(49), Some(r.handle().local_addr()), None).await;
    let _p = add(&mut a, private.clone().into(), &priv_data, Vec::new()).await;
    let _q = add(&mut a, public.clone().into(), &pub_data, Vec::new()).await;
    // The private torrent was added first; once the public one is stored, it would be too.
    wait_stored(&r, 1).await;
    // A node of its own looks both up: the router (which stores) answers it.
    let q = router(ip(50)).await;
    q.handle()
        .bootstrap(vec![r.handle().local_addr()])
        .await
        .unwrap();
    let lookup = |ih: InfoHash| {
        let handle = q.handle().clone();
        async move {
            let mut rx = handle.get_peers(ih).await.unwrap();
            let mut found = Vec::new();
            while let Some(p) = rx.recv().await {
                found.push(p);
            }
            found
        }
    };
    let seed = a.listen_addr().unwrap();
    assert!(lookup(public.info_hash()).await.contains(&seed));
    assert!(lookup(private.info_hash()).await.is_empty());
    assert_eq!(r.handle().snapshot().await.unwrap().stats.stored_hashes, 1);
    a.shutdown(Duration::from_secs(2)).await;
    q.shutdown().await;
    r.shutdown().await;
}
