//! A private DHT on loopback for the trackerless tests: python-libtorrent nodes on their own
//! 127.0.0.x addresses that know only each other (never a public router; INTEROP quirk 9),
//! and magnet links naming what the tests need.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_core::ids::InfoHashV1;
use shoal_testkit::{poll_until, KitError, LibtorrentClient, LibtorrentOptions, RefClient};

/// How long the nodes get to fill their routing tables, and a lookup to find a peer.
pub const DHT_WAIT: Duration = Duration::from_secs(60);
/// Routing-table entries each node must have before the network counts as formed.
const MIN_NODES: u64 = 3;

/// `n` libtorrent DHT nodes that bootstrapped only from each other.
pub struct LoopbackDht {
    pub nodes: Vec<LibtorrentClient>,
}

impl LoopbackDht {
    /// Starts `n` nodes (with `opts`, DHT forced on) and waits until every routing table
    /// holds a few of the others.
    pub fn start(n: usize, opts: &LibtorrentOptions) -> Result<Self, KitError> {
        let opts = LibtorrentOptions {
            dht: true,
            ..opts.clone()
        };
        let nodes = (0..n)
            .map(|_| LibtorrentClient::start_with(opts.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let dht = Self { nodes };
        let addrs = dht.addrs();
        for (i, c) in dht.nodes.iter().enumerate() {
            let others: Vec<SocketAddr> = addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, a)| *a)
                .collect();
            c.enable_dht(&others)?;
        }
        for c in &dht.nodes {
            wait_routing_table(c)?;
        }
        Ok(dht)
    }

    /// Every node's address (its DHT shares the UDP port with the peer port's number).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|c| c.peer_addr()).collect()
    }

    /// A client outside the network joins it through every node.
    pub fn join(&self, client: &LibtorrentClient) -> Result<(), KitError> {
        client.enable_dht(&self.addrs())?;
        wait_routing_table(client)
    }

    /// Waits until a lookup from node `from` finds `peer` for `info_hash` (an announce was
    /// stored and can be found).
    pub fn wait_findable(
        &self,
        from: usize,
        info_hash: InfoHashV1,
        peer: SocketAddr,
    ) -> Result<Vec<SocketAddr>, KitError> {
        let seeker = self.nodes.get(from).ok_or_else(|| KitError::Rejected {
            client: "libtorrent",
            detail: format!("no DHT node {from}"),
        })?;
        poll_until(
            &format!("{peer} in a DHT lookup for {info_hash}"),
            DHT_WAIT,
            Duration::from_millis(500),
            || {
                seeker.dht_get_peers(info_hash)?;
                std::thread::sleep(Duration::from_millis(300));
                let peers = seeker.dht_peers(info_hash)?;
                Ok(peers.contains(&peer).then_some(peers))
            },
        )
    }
}

fn wait_routing_table(c: &LibtorrentClient) -> Result<(), KitError> {
    poll_until(
        &format!("the DHT routing table of {}", c.peer_addr()),
        DHT_WAIT,
        Duration::from_millis(100),
        || Ok((c.dht_node_count()? >= MIN_NODES).then_some(())),
    )
}

/// `magnet:?xt=urn:btih:<hex>` with `dn`, `tr` for each tracker and `x.pe` for each peer.
pub fn magnet_link(
    info_hash: InfoHashV1,
    name: &str,
    trackers: &[String],
    peers: &[SocketAddr],
) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let mut uri = format!(
        "magnet:?xt=urn:btih:{}&dn={}",
        info_hash.to_hex(),
        enc(name)
    );
    for t in trackers {
        uri.push_str(&format!("&tr={}", enc(t)));
    }
    for p in peers {
        uri.push_str(&format!("&x.pe={p}"));
    }
    uri
}
