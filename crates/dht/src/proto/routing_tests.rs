//! Routing-table tests on a virtual clock: splits, node states, replacement, refresh.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::compact::{Family, NodeInfo};
use super::id::NodeId;
use super::routing::*;

const MIN: Duration = Duration::from_secs(60);

/// An id sharing exactly `prefix` bits with the all-zero id, made unique by `n`.
fn id_at(prefix: usize, n: u8) -> NodeId {
    let mut id = [0u8; 20];
    id[prefix / 8] = 0x80 >> (prefix % 8);
    id[19] |= n; // low bits, never touching the prefix for prefix < 152
    NodeId(id)
}

fn node(prefix: usize, n: u8) -> NodeInfo {
    NodeInfo {
        id: id_at(prefix, n),
        addr: SocketAddr::from(([127, 0, prefix as u8, n], 6881)),
    }
}

fn table(now: Instant) -> RoutingTable {
    RoutingTable::new(NodeId([0; 20]), Family::V4, now)
}

#[test]
fn the_bucket_holding_our_id_splits_and_far_ones_do_not() {
    let t0 = Instant::now();
    let mut t = table(t0);
    for n in 1..=8 {
        assert_eq!(
            t.contact(t0, node(0, n), Contact::Responded),
            InsertOutcome::Added
        );
    }
    assert_eq!(t.bucket_count(), 1);
    // A ninth far node: the single bucket splits, the far half stays full, the node is cached.
    let out = t.contact(t0, node(0, 9), Contact::Responded);
    assert_eq!(out, InsertOutcome::Cached { ping: None });
    assert_eq!((t.bucket_count(), t.len()), (2, 8));
    // Nodes close to us keep splitting the last bucket down to their depth.
    for n in 1..=8 {
        assert_eq!(
            t.contact(t0, node(5, n), Contact::Responded),
            InsertOutcome::Added
        );
    }
    assert_eq!(t.bucket_count(), 2, "the last bucket had room");
    t.contact(t0, node(5, 9), Contact::Responded);
    assert_eq!(
        t.bucket_count(),
        7,
        "split at depths 1..=5, bucket 5 full, 6 empty"
    );
    assert_eq!(t.len(), 16);
    // And a node at depth 6 now has a bucket of its own.
    assert_eq!(
        t.contact(t0, node(6, 1), Contact::Responded),
        InsertOutcome::Added
    );
}

#[test]
fn node_states_follow_the_fifteen_minute_rule() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let n = node(3, 1);
    t.contact(t0, n, Contact::Responded);
    let state = |t: &RoutingTable, at| t.get(&n.id).map(|e| e.state(at));
    assert_eq!(state(&t, t0 + 14 * MIN), Some(NodeState::Good));
    assert_eq!(state(&t, t0 + 15 * MIN), Some(NodeState::Questionable));
    // A query from a node that has answered before makes it good again.
    t.contact(t0 + 16 * MIN, n, Contact::Queried);
    assert_eq!(state(&t, t0 + 16 * MIN), Some(NodeState::Good));
    assert_eq!(state(&t, t0 + 31 * MIN), Some(NodeState::Questionable));
    // One failure is forgiven, the second makes it bad; an answer resets the count.
    t.failed(t0 + 32 * MIN, &n);
    assert_eq!(state(&t, t0 + 32 * MIN), Some(NodeState::Questionable));
    t.contact(t0 + 33 * MIN, n, Contact::Responded);
    t.failed(t0 + 34 * MIN, &n);
    t.failed(t0 + 35 * MIN, &n);
    assert_eq!(state(&t, t0 + 35 * MIN), Some(NodeState::Bad));
    // A node that only ever queried us is never good.
    let q = node(3, 2);
    t.contact(t0, q, Contact::Queried);
    assert_eq!(state_of(&t, &q, t0), Some(NodeState::Questionable));
}

fn state_of(t: &RoutingTable, n: &NodeInfo, at: Instant) -> Option<NodeState> {
    t.get(&n.id).map(|e| e.state(at))
}

#[test]
fn full_bucket_pings_the_stalest_questionable_node_and_replaces_it_when_it_fails() {
    let t0 = Instant::now();
    let mut t = table(t0);
    // Fill the far bucket (after one split) with nodes seen at different times.
    for n in 1..=8u8 {
        t.contact(
            t0 + Duration::from_secs(u64::from(n)),
            node(0, n),
            Contact::Responded,
        );
    }
    t.contact(t0, node(1, 1), Contact::Responded); // forces the split
    let later = t0 + 20 * MIN;
    // All eight are questionable now; the least recently seen (n = 1) is the one to ping.
    let newcomer = node(0, 100);
    let out = t.contact(later, newcomer, Contact::Responded);
    assert_eq!(
        out,
        InsertOutcome::Cached {
            ping: Some(node(0, 1))
        }
    );
    assert!(t.get(&newcomer.id).is_none());
    // The ping fails twice: the node is bad and the cached newcomer takes its place.
    t.failed(later, &node(0, 1));
    assert!(t.get(&node(0, 1).id).is_some(), "one failure is forgiven");
    t.failed(later, &node(0, 1));
    assert!(t.get(&node(0, 1).id).is_none());
    assert!(t.get(&newcomer.id).is_some());
    assert_eq!(t.len(), 9);
}

#[test]
fn a_bad_node_is_replaced_by_the_next_newcomer() {
    let t0 = Instant::now();
    let mut t = table(t0);
    for n in 1..=8u8 {
        t.contact(t0, node(0, n), Contact::Responded);
    }
    t.contact(t0, node(1, 1), Contact::Responded);
    t.failed(t0, &node(0, 4));
    t.failed(t0, &node(0, 4));
    // Nothing was cached, so the bad node stayed until a new node arrived.
    assert_eq!(state_of(&t, &node(0, 4), t0), Some(NodeState::Bad));
    assert_eq!(
        t.contact(t0, node(0, 50), Contact::Queried),
        InsertOutcome::ReplacedBad
    );
    assert!(t.get(&node(0, 4).id).is_none());
}

#[test]
fn stale_buckets_are_refreshed_with_an_id_in_their_range() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(5);
    let mut t = table(t0);
    for n in 1..=9u8 {
        t.contact(t0, node(0, n), Contact::Responded);
    }
    assert_eq!(t.bucket_count(), 2);
    let refreshes = |jobs: &[Maintenance]| -> Vec<NodeId> {
        jobs.iter()
            .filter_map(|j| match j {
                Maintenance::Refresh(id) => Some(*id),
                Maintenance::Ping(_) => None,
            })
            .collect()
    };
    assert!(refreshes(&t.maintenance(t0 + 14 * MIN, &mut rng)).is_empty());
    let jobs = t.maintenance(t0 + 15 * MIN, &mut rng);
    let targets = refreshes(&jobs);
    assert_eq!(targets.len(), 2, "both buckets are stale");
    let own = NodeId([0; 20]);
    assert_eq!(own.common_prefix_len(&targets[0]), 0, "inside bucket 0");
    assert!(
        own.common_prefix_len(&targets[1]) >= 1,
        "inside the last bucket"
    );
    // Asked once per period only.
    assert!(refreshes(&t.maintenance(t0 + 16 * MIN, &mut rng)).is_empty());
    // A bucket that keeps hearing answers is never stale.
    t.contact(t0 + 29 * MIN, node(0, 1), Contact::Responded);
    let targets = refreshes(&t.maintenance(t0 + 30 * MIN, &mut rng));
    assert_eq!(targets.len(), 1);
    assert!(own.common_prefix_len(&targets[0]) >= 1);
}

#[test]
fn maintenance_pings_questionable_nodes_one_per_bucket() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(6);
    let mut t = table(t0);
    t.contact(t0, node(2, 1), Contact::Responded);
    t.contact(t0, node(2, 2), Contact::Queried);
    let pings = |jobs: Vec<Maintenance>| -> Vec<NodeInfo> {
        jobs.into_iter()
            .filter_map(|j| match j {
                Maintenance::Ping(n) => Some(n),
                Maintenance::Refresh(_) => None,
            })
            .collect()
    };
    // The never-answered node is questionable at once.
    assert_eq!(pings(t.maintenance(t0, &mut rng)), vec![node(2, 2)]);
    assert!(
        pings(t.maintenance(t0, &mut rng)).is_empty(),
        "one ping at a time"
    );
    t.contact(t0, node(2, 2), Contact::Responded);
    assert!(
        pings(t.maintenance(t0 + MIN, &mut rng)).is_empty(),
        "all good"
    );
    assert_eq!(pings(t.maintenance(t0 + 16 * MIN, &mut rng)).len(), 1);
}

#[test]
fn claims_do_not_displace_known_nodes_but_proof_does() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let a = node(4, 1);
    t.contact(t0, a, Contact::Responded);
    let impostor = NodeInfo {
        id: id_at(9, 9),
        addr: a.addr,
    };
    assert_eq!(
        t.contact(t0, impostor, Contact::Queried),
        InsertOutcome::Ignored
    );
    assert!(t.get(&a.id).is_some());
    // The node at that address restarted with a new id and answers us: it replaces the old.
    assert_eq!(
        t.contact(t0, impostor, Contact::Responded),
        InsertOutcome::Added
    );
    assert!(t.get(&a.id).is_none());
    // Our own id, port 0 and the other family are never admitted.
    let own = NodeInfo {
        id: NodeId([0; 20]),
        addr: node(1, 1).addr,
    };
    assert_eq!(
        t.contact(t0, own, Contact::Responded),
        InsertOutcome::Ignored
    );
    let mut zero = node(1, 2);
    zero.addr.set_port(0);
    assert_eq!(
        t.contact(t0, zero, Contact::Responded),
        InsertOutcome::Ignored
    );
    let v6 = NodeInfo {
        id: id_at(1, 3),
        addr: "[::1]:5".parse().unwrap(),
    };
    assert_eq!(
        t.contact(t0, v6, Contact::Responded),
        InsertOutcome::Ignored
    );
}

#[test]
fn closest_orders_by_distance_and_skips_bad_and_unproven() {
    let t0 = Instant::now();
    let mut t = table(t0);
    for p in [1usize, 3, 7, 40] {
        t.contact(t0, node(p, 1), Contact::Responded);
    }
    t.contact(t0, node(100, 1), Contact::Queried);
    let target = id_at(40, 0);
    let c = t.closest(t0, &target, 3, false);
    assert_eq!(c, vec![node(40, 1), node(100, 1), node(7, 1)]);
    let c = t.closest(t0, &target, 3, true);
    assert_eq!(c, vec![node(40, 1), node(7, 1), node(3, 1)]);
    t.failed(t0, &node(40, 1));
    t.failed(t0, &node(40, 1));
    assert_eq!(t.closest(t0, &target, 1, true), vec![node(7, 1)]);
}

proptest! {
    /// Any sequence of contacts and failures keeps the table's invariants (checked inside
    /// every mutation in debug builds) and its size bounds.
    #[test]
    fn invariants_hold_under_random_operations(
        ops in proptest::collection::vec((any::<[u8; 20]>(), 0u8..4, any::<u8>(), 0u64..3600), 1..400)
    ) {
        let t0 = Instant::now();
        let mut t = RoutingTable::new(NodeId([0x55; 20]), Family::V4, t0);
        for (id, op, host, secs) in ops {
            let now = t0 + Duration::from_secs(secs);
            let info = NodeInfo { id: NodeId(id), addr: SocketAddr::from(([127, 1, 0, host], 6881)) };
            match op {
                0 => { t.contact(now, info, Contact::Responded); }
                1 => { t.contact(now, info, Contact::Queried); }
                2 => { t.contact(now, info, Contact::Heard); }
                _ => t.failed(now, &info),
            }
            prop_assert!(t.len() <= K * t.bucket_count());
        }
    }
}
