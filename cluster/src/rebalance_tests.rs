//! Decisions of the count rebalancer: when a lease or a voter moves, where, and that repeated
//! decisions converge to even counts without moving anything back.

use super::*;
use crate::desc::ReplicaDesc;
use kv::ReplicaId;

fn node(id: u64, region: &str, zone: &str) -> NodeView {
    NodeView {
        node_id: NodeId(id),
        region: region.into(),
        zone: zone.into(),
        live: true,
        usable: true,
        gone: false,
        dead: false,
        replicas: 0,
    }
}

/// `n` nodes in one region, each in its own zone.
fn nodes(n: u64) -> Vec<NodeView> {
    (1..=n)
        .map(|i| node(i, "local", &format!("z{i}")))
        .collect()
}

fn desc(id: u64, voters: &[u64]) -> RangeDescriptor {
    RangeDescriptor {
        range_id: RangeId(id),
        start: vec![0x10, id as u8],
        end: Some(vec![0x10, id as u8 + 1]),
        replicas: voters
            .iter()
            .map(|n| ReplicaDesc {
                node_id: NodeId(*n),
                replica_id: ReplicaId(*n),
                kind: ReplicaKind::Voter,
            })
            .collect(),
        next_replica_id: 100,
        generation: 1,
    }
}

fn goal() -> Goal {
    Goal::new(None, 3)
}

fn lease_counts(ranges: &[(RangeDescriptor, u64)]) -> LeaseCounts {
    let mut c = LeaseCounts::default();
    for (d, holder) in ranges {
        c.add(d, NodeId(*holder));
    }
    c
}

#[test]
fn leases_all_on_one_node_spread_to_the_least_loaded_voter() {
    let ranges: Vec<_> = (0..12).map(|i| (desc(i, &[1, 2, 3]), 1)).collect();
    let counts = lease_counts(&ranges);
    assert_eq!(counts.share(NodeId(1)), 4.0);
    let to = lease_target(&ranges[0].0, NodeId(1), &goal(), &nodes(3), &counts, 0.05);
    assert_eq!(to, Some(NodeId(2)), "ties go to the lower id");
    // Node 2 took some: node 3 is now the least loaded.
    let mut counts = counts;
    counts.moved(NodeId(1), NodeId(2));
    counts.moved(NodeId(1), NodeId(2));
    let to = lease_target(&ranges[0].0, NodeId(1), &goal(), &nodes(3), &counts, 0.05);
    assert_eq!(to, Some(NodeId(3)));
}

#[test]
fn leases_within_the_threshold_stay() {
    let holders = [1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3];
    let ranges: Vec<_> = holders
        .iter()
        .enumerate()
        .map(|(i, h)| (desc(i as u64, &[1, 2, 3]), *h))
        .collect();
    let counts = lease_counts(&ranges);
    // 5, 4, 3 around a share of 4: no node is past the threshold plus one.
    let to = lease_target(&ranges[0].0, NodeId(1), &goal(), &nodes(3), &counts, 0.05);
    assert_eq!(to, None);
    // Two or three ranges on one node of three are left alone... up to the threshold.
    let few: Vec<_> = (0..2).map(|i| (desc(i, &[1, 2, 3]), 1)).collect();
    let c = lease_counts(&few);
    assert_eq!(
        lease_target(&few[0].0, NodeId(2), &goal(), &nodes(3), &c, 0.05),
        None,
        "a node without leases sheds none"
    );
}

#[test]
fn leases_with_preferences_or_in_other_regions_never_move() {
    let ranges: Vec<_> = (0..12).map(|i| (desc(i, &[1, 2, 3]), 1)).collect();
    let counts = lease_counts(&ranges);
    let preferred = Goal {
        lease_preferences: vec!["local".into()],
        ..goal()
    };
    let d = &ranges[0].0;
    assert_eq!(
        lease_target(d, NodeId(1), &preferred, &nodes(3), &counts, 0.05),
        None
    );
    let views = vec![
        node(1, "east", "a"),
        node(2, "west", "a"),
        node(3, "west", "b"),
    ];
    assert_eq!(
        lease_target(d, NodeId(1), &goal(), &views, &counts, 0.05),
        None
    );
    // A draining or dead voter never gets a lease.
    let mut views = nodes(3);
    views[1].usable = false;
    assert_eq!(
        lease_target(d, NodeId(1), &goal(), &views, &counts, 0.05),
        Some(NodeId(3))
    );
}

fn replica_counts_of(ranges: &[RangeDescriptor]) -> BTreeMap<NodeId, usize> {
    let mut out = BTreeMap::new();
    for d in ranges {
        for r in &d.replicas {
            *out.entry(r.node_id).or_default() += 1;
        }
    }
    out
}

fn all(ids: &[u64]) -> BTreeSet<NodeId> {
    ids.iter().map(|i| NodeId(*i)).collect()
}

#[test]
fn a_new_node_receives_voters_but_not_the_leaseholders() {
    let ranges: Vec<_> = (0..10).map(|i| desc(i, &[1, 2, 3])).collect();
    let counts = replica_counts_of(&ranges);
    let views = nodes(4);
    let mv = replica_move(
        &ranges[0],
        NodeId(1),
        &goal(),
        &views,
        &counts,
        &all(&[1, 2, 3, 4]),
        0.05,
    );
    let (from, to) = mv.expect("a move");
    assert_eq!(to, NodeId(4));
    assert_ne!(from, NodeId(1), "the leaseholder's voter is never moved");
    // Not yet eligible (seen live too briefly): nothing.
    let mv = replica_move(
        &ranges[0],
        NodeId(1),
        &goal(),
        &views,
        &counts,
        &all(&[1, 2, 3]),
        0.05,
    );
    assert_eq!(mv, None);
}

#[test]
fn replicas_under_repair_or_in_other_regions_do_not_move() {
    let ranges: Vec<_> = (0..10).map(|i| desc(i, &[1, 2, 3])).collect();
    let counts = replica_counts_of(&ranges);
    // Under-replicated: the planner's business, not the rebalancer's.
    let short = desc(99, &[1, 2]);
    let views = nodes(4);
    let every = all(&[1, 2, 3, 4]);
    assert_eq!(
        replica_move(&short, NodeId(1), &goal(), &views, &counts, &every, 0.05),
        None
    );
    // The empty node is in another region: counts are balanced per region.
    let mut views = nodes(4);
    views[3].region = "elsewhere".into();
    assert_eq!(
        replica_move(
            &ranges[0],
            NodeId(1),
            &goal(),
            &views,
            &counts,
            &every,
            0.05
        ),
        None
    );
    // The empty node shares a zone with a voter that stays: zone diversity would drop.
    let mut views = nodes(4);
    views[3].zone = "z1".into();
    assert_eq!(
        replica_move(
            &ranges[0],
            NodeId(1),
            &goal(),
            &views,
            &counts,
            &every,
            0.05
        ),
        None
    );
}

#[test]
fn region_constraints_stay_first() {
    // Zone survival in us-east1: three voters there, a non-voter elsewhere; a fourth
    // us-east1 node is empty. Voters move only inside us-east1.
    let mut views = vec![
        node(1, "us-east1", "b"),
        node(2, "us-east1", "c"),
        node(3, "us-east1", "d"),
        node(4, "us-east1", "e"),
        node(5, "us-west1", "a"),
    ];
    views[4].replicas = 10;
    let g = Goal {
        num_voters: 3,
        num_replicas: 4,
        constraints: [("us-east1".to_string(), 1), ("us-west1".to_string(), 1)].into(),
        voter_constraints: [("us-east1".to_string(), 3)].into(),
        lease_preferences: vec!["us-east1".into()],
    };
    let ranges: Vec<_> = (0..10)
        .map(|i| {
            let mut d = desc(i, &[1, 2, 3]);
            d.replicas.push(ReplicaDesc {
                node_id: NodeId(5),
                replica_id: ReplicaId(5),
                kind: ReplicaKind::NonVoter,
            });
            d
        })
        .collect();
    assert_eq!(placement::plan(&ranges[0], NodeId(1), &g, &views), None);
    let counts = replica_counts_of(&ranges);
    let every = all(&[1, 2, 3, 4, 5]);
    let (from, to) = replica_move(&ranges[0], NodeId(1), &g, &views, &counts, &every, 0.05)
        .expect("a move inside us-east1");
    assert!(from == NodeId(2) || from == NodeId(3));
    assert_eq!(to, NodeId(4));
}

/// Applies the rebalancer's decisions to a cluster model (30 ranges on three of five nodes,
/// leases spread) until it stops: counts end within the threshold, and no range's voter
/// ever returns to a node it left.
#[test]
fn repeated_decisions_converge_without_moving_back() {
    let mut ranges: Vec<_> = (0..30).map(|i| desc(i, &[1, 2, 3])).collect();
    let views = nodes(5);
    let every = all(&[1, 2, 3, 4, 5]);
    let mut left: BTreeSet<(u64, NodeId)> = BTreeSet::new();
    let mut moves = 0;
    loop {
        let counts = replica_counts_of(&ranges);
        let next = ranges.iter().enumerate().find_map(|(i, d)| {
            // Leases spread over the voters (the lease rebalancer's job).
            let me = d.replicas[i % d.replicas.len()].node_id;
            replica_move(d, me, &goal(), &views, &counts, &every, 0.05).map(|m| (i, m))
        });
        let Some((i, (from, to))) = next else { break };
        assert!(
            !left.contains(&(i as u64, to)),
            "range {i} moved back to {to}"
        );
        left.insert((i as u64, from));
        ranges[i] = moved(&ranges[i], from, to);
        moves += 1;
        assert!(moves <= 60, "no convergence");
    }
    let counts = replica_counts_of(&ranges);
    let mean = 90.0 / 5.0;
    for n in 1..=5 {
        let c = counts.get(&NodeId(n)).copied().unwrap_or(0) as f64;
        assert!(
            c <= mean * 1.05 + 1.0 && c >= mean * 0.95 - 1.0,
            "{counts:?}"
        );
    }
}

#[test]
fn repeated_lease_decisions_converge() {
    let mut ranges: Vec<_> = (0..30).map(|i| (desc(i, &[1, 2, 3]), 1u64)).collect();
    let views = nodes(3);
    for _ in 0..100 {
        let counts = lease_counts(&ranges);
        let next = ranges.iter().enumerate().find_map(|(i, (d, h))| {
            lease_target(d, NodeId(*h), &goal(), &views, &counts, 0.05).map(|t| (i, t))
        });
        let Some((i, to)) = next else { break };
        ranges[i].1 = to.0;
    }
    let counts = lease_counts(&ranges);
    assert!(
        counts.leases.values().all(|c| (9..=11).contains(c)),
        "{counts:?}"
    );
}

#[test]
fn the_lease_follows_a_dominant_origin_among_live_voters() {
    use crate::follow::target;
    let (d, g, v) = (desc(1, &[1, 2, 3]), goal(), nodes(3));
    let me = NodeId(1);
    assert_eq!(
        target(&d, me, &g, &v, &[(2, 90.0), (1, 10.0)]),
        Some(NodeId(2))
    );
    // Not a majority, or not twice the leaseholder's own: stays.
    let split = [(2, 40.0), (3, 40.0), (1, 20.0)];
    assert_eq!(target(&d, me, &g, &v, &split), None);
    assert_eq!(target(&d, me, &g, &v, &[(2, 60.0), (1, 40.0)]), None);
    // Idle: stays (count balancing decides).
    assert_eq!(target(&d, me, &g, &v, &[(2, 0.5)]), None);
    // A node without a voter, or a dead one, does not pull it.
    assert_eq!(target(&d, me, &g, &v, &[(4, 90.0)]), None);
    let mut dead = nodes(3);
    dead[1].live = false;
    assert_eq!(target(&d, me, &g, &dead, &[(2, 90.0)]), None);
    // Lease preferences win.
    let pinned = Goal {
        lease_preferences: vec!["local".into()],
        ..goal()
    };
    assert_eq!(target(&d, me, &pinned, &v, &[(2, 90.0)]), None);
}

#[test]
fn a_lease_serving_its_own_node_is_anchored() {
    use crate::follow::anchored;
    assert!(anchored(NodeId(1), &[(1, 30.0), (2, 20.0)]));
    // The main origin, though not a majority (others' resolutions and pushes).
    assert!(anchored(NodeId(1), &[(1, 30.0), (2, 20.0), (3, 20.0)]));
    assert!(!anchored(NodeId(1), &[(1, 10.0), (2, 20.0)]));
    assert!(!anchored(NodeId(1), &[(1, 0.5)]), "idle");
}
