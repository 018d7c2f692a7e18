//! Lookups on a simulated network of thousands of `Dht` cores (see `sim/mod.rs`): every
//! lookup must end at exactly the 8 nodes a brute-force sort of all ids names.

mod sim;

use std::time::{Duration, Instant};

use rand::Rng;
use shoal_dht::proto::{DhtEvent, Family, NodeId, K};
use sim::Net;

const NODES: usize = 2000;

/// Every node joins through a random earlier one (often one that has barely joined itself),
/// 30 ms of virtual time apart; then the network runs until every bootstrap is over.
fn joined(mut net: Net) -> Net {
    let nodes = net.nodes.len();
    for i in 0..nodes {
        let via = if i == 0 {
            vec![]
        } else {
            vec![net.addrs[net.rng.random_range(0..i)]]
        };
        net.with(i, |d, now| d.bootstrap(now, &via));
        let t = net.now + Duration::from_millis(30);
        net.run_until(t.duration_since(net.start), |_| false);
    }
    // Bootstraps are the only lookups reported so far, so counting them is enough.
    let limit = net.now - net.start + Duration::from_secs(600);
    assert!(
        net.run_until(limit, |n| n.finished.len() == nodes),
        "every bootstrap ends"
    );
    net
}

#[test]
fn lookups_converge_on_the_true_closest_nodes_and_find_the_announced_peer() {
    let started = Instant::now();
    let mut net = joined(Net::new(NODES, 1));
    let joined_in = started.elapsed();
    let avg = net
        .nodes
        .iter()
        .map(|d| d.routing_table_size())
        .sum::<usize>() as f64
        / NODES as f64;
    assert!(avg >= 20.0, "routing tables filled: average {avg}");

    let info_hash = NodeId(net.rng.random());
    let (announcer, seeker) = (17, 1234);
    let (a, found) = net.lookup(announcer, |d, now| d.announce(now, info_hash, Some(7000)));
    let truth = net.true_closest(&info_hash, K, announcer);
    assert_eq!(
        found, truth,
        "the announce converged on the 8 closest nodes"
    );
    let Some(DhtEvent::LookupDone { announced, .. }) = net.done(announcer, a) else {
        unreachable!()
    };
    assert_eq!(*announced, Some(K), "all 8 stored us");

    let (g, found) = net.lookup(seeker, |d, now| d.get_peers(now, info_hash));
    assert_eq!(
        found,
        net.true_closest(&info_hash, K, seeker),
        "get_peers converged too"
    );
    let mut expected = net.addrs[announcer];
    expected.set_port(7000);
    assert_eq!(net.peers(seeker, g), vec![expected]);

    // Random lookups from random nodes: each ends at the true 8 closest.
    for _ in 0..10 {
        let target = NodeId(net.rng.random());
        let who = net.rng.random_range(0..NODES);
        let (_, found) = net.lookup(who, |d, now| d.find_node(now, target));
        assert_eq!(found, net.true_closest(&target, K, who));
    }
    eprintln!(
        "{NODES} nodes joined in {joined_in:?} wall time, {} datagrams, avg table {avg:.1}",
        net.delivered
    );
}

#[test]
fn lookups_route_around_dead_nodes() {
    let mut net = joined(Net::new(600, 2));
    // A quarter of the network dies without a word; routing tables still list them.
    for i in (0..600).step_by(4) {
        net.dead[i] = true;
    }
    let info_hash = NodeId(net.rng.random());
    let (announcer, seeker) = (101, 203);
    let (a, _) = net.lookup(announcer, |d, now| d.announce(now, info_hash, Some(7000)));
    let Some(DhtEvent::LookupDone { announced, .. }) = net.done(announcer, a) else {
        unreachable!()
    };
    assert_eq!(*announced, Some(K), "stored at 8 live nodes");
    let (g, found) = net.lookup(seeker, |d, now| d.get_peers(now, info_hash));
    assert_eq!(
        found,
        net.true_closest(&info_hash, K, seeker),
        "converged on the live closest"
    );
    let mut expected = net.addrs[announcer];
    expected.set_port(7000);
    assert_eq!(net.peers(seeker, g), vec![expected]);
    // The seeker's queries to dead nodes timed out rather than stalling the lookup.
    let failed = net.nodes[seeker]
        .routing_table()
        .entries()
        .filter(|e| e.failures > 0)
        .count();
    assert!(failed > 0, "some dead nodes were asked and failed");
}

#[test]
fn an_ipv6_dht_works_the_same_through_nodes6() {
    // BEP 32: the IPv6 DHT carries its nodes in `nodes6` and its peers as 18-byte values.
    let mut net = joined(Net::with_family(300, 3, Family::V6));
    let info_hash = NodeId(net.rng.random());
    net.lookup(7, |d, now| d.announce(now, info_hash, Some(7000)));
    let (g, found) = net.lookup(250, |d, now| d.get_peers(now, info_hash));
    assert_eq!(found, net.true_closest(&info_hash, K, 250));
    let mut expected = net.addrs[7];
    expected.set_port(7000);
    assert!(expected.is_ipv6());
    assert_eq!(net.peers(250, g), vec![expected]);
}
