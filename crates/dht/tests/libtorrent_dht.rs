//! Interop with libtorrent's DHT on loopback: eight python-libtorrent nodes form a private DHT
//! (no router, no address outside 127/8); a shoal node joins through one of them, finds the
//! peer a libtorrent seeder announced, and announces itself so that a libtorrent lookup finds
//! it.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_core::ids::InfoHashV1;
use shoal_dht::node::{DhtNode, NodeConfig};
use shoal_testkit::{
    next_loopback, poll_until, retry_on_reference_crash, AddMode, ContentSpec, KitError,
    LibtorrentClient, LibtorrentOptions, RefClient, TestContent,
};

const LT_NODES: usize = 8;
const WAIT: Duration = Duration::from_secs(60);

/// Runs one DHT lookup through our node and returns every peer it reported.
fn shoal_get_peers(
    rt: &tokio::runtime::Runtime,
    node: &DhtNode,
    info_hash: InfoHashV1,
) -> Vec<SocketAddr> {
    rt.block_on(async {
        let mut rx = node.handle().get_peers(info_hash).await.unwrap();
        let mut out = Vec::new();
        while let Some(p) = tokio::time::timeout(WAIT, rx.recv()).await.unwrap() {
            out.push(p);
        }
        out
    })
}

#[test]
fn shoal_and_libtorrent_find_each_others_peers() {
    let dir = tempfile::tempdir().unwrap();
    let content = TestContent::generate(dir.path(), &ContentSpec::small()).unwrap();
    let ih = content.torrent().info_hash();
    let ours = InfoHashV1([0x42; 20]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = LibtorrentOptions {
        dht: true,
        ..LibtorrentOptions::default()
    };

    retry_on_reference_crash(|| {
        let lts = (0..LT_NODES)
            .map(|_| LibtorrentClient::start_with(opts.clone()))
            .collect::<Result<Vec<_>, KitError>>()?;
        let addrs: Vec<SocketAddr> = lts.iter().map(|c| c.peer_addr()).collect();
        // Each libtorrent node knows every other one as a plain node (never as a router).
        for (i, c) in lts.iter().enumerate() {
            let others: Vec<SocketAddr> = (0..LT_NODES)
                .filter(|j| *j != i)
                .map(|j| addrs[j])
                .collect();
            c.enable_dht(&others)?;
        }
        for c in &lts {
            poll_until(
                "libtorrent DHT routing tables",
                WAIT,
                Duration::from_millis(100),
                || Ok((c.dht_node_count()? >= 3).then_some(())),
            )?;
        }

        // libtorrent → shoal: a seeder announces its torrent; shoal's lookup finds it.
        let seeder = &lts[1];
        seeder.add_torrent(content.torrent(), content.data_dir(), AddMode::Seed)?;
        seeder.wait_complete(ih, Duration::from_secs(20))?;
        seeder.force_dht_announce(ih)?;

        let node = rt
            .block_on(DhtNode::bind(NodeConfig::new(SocketAddr::from((
                next_loopback(),
                0,
            )))))
            .unwrap();
        let table = rt
            .block_on(node.handle().bootstrap(vec![addrs[0]]))
            .unwrap();
        assert!(table >= 3, "shoal learnt the libtorrent nodes: {table}");

        // libtorrent's announce completes on its own schedule; look until it shows up.
        let found = poll_until(
            "the seeder in shoal's lookup",
            WAIT,
            Duration::from_millis(500),
            || {
                let peers = shoal_get_peers(&rt, &node, ih);
                Ok(peers.contains(&seeder.peer_addr()).then_some(peers))
            },
        )?;
        assert!(found.contains(&seeder.peer_addr()), "{found:?}");

        // shoal → libtorrent: shoal announces; a libtorrent node's lookup finds it.
        let result = rt
            .block_on(node.handle().announce(ours, Some(4242)))
            .unwrap();
        assert!(
            result.stored_at >= 1,
            "libtorrent nodes stored us: {result:?}"
        );
        let mut expected = node.handle().local_addr();
        expected.set_port(4242);
        let seeker = &lts[5];
        let peers = poll_until(
            "shoal in libtorrent's lookup",
            WAIT,
            Duration::from_millis(500),
            || {
                seeker.dht_get_peers(ours)?;
                std::thread::sleep(Duration::from_millis(500));
                let peers = seeker.dht_peers(ours)?;
                Ok(peers.contains(&expected).then_some(peers))
            },
        )?;
        assert_eq!(peers, vec![expected]);

        // Our node is in libtorrent's world now: its table holds libtorrent nodes.
        let snap = rt.block_on(node.handle().snapshot()).unwrap();
        assert!(snap.nodes.iter().all(|n| addrs.contains(&n.addr)));
        assert!(snap.stats.replies > 0, "libtorrent nodes queried us too");
        rt.block_on(node.shutdown());
        Ok(())
    })
    .unwrap();
}
