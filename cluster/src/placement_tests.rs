use super::*;
use crate::desc::ReplicaDesc;
use kv::{RangeId, ReplicaId};
use txn::zone::RegionCount;

const REGIONS: [&str; 3] = ["us-east1", "us-west1", "europe-west1"];

/// Nine nodes, three per region, one per zone; node ids 1..=9 (1-3 us-east1, ...).
fn nine() -> Vec<NodeView> {
    (0..9)
        .map(|i| NodeView {
            node_id: NodeId(i as u64 + 1),
            region: REGIONS[i / 3].to_string(),
            zone: format!("{}-{}", REGIONS[i / 3], ["b", "c", "d"][i % 3]),
            live: true,
            usable: true,
            gone: false,
            dead: false,
            replicas: 0,
        })
        .collect()
}

fn desc(voters: &[u64], non_voters: &[u64]) -> RangeDescriptor {
    let mut replicas = Vec::new();
    for (kind, list) in [
        (ReplicaKind::Voter, voters),
        (ReplicaKind::NonVoter, non_voters),
    ] {
        for n in list {
            replicas.push(ReplicaDesc {
                node_id: NodeId(*n),
                replica_id: ReplicaId(*n),
                kind,
            });
        }
    }
    RangeDescriptor {
        range_id: RangeId(7),
        start: b"a".to_vec(),
        end: None,
        replicas,
        next_replica_id: 100,
        generation: 1,
    }
}

fn rc(region: &str, count: u32) -> RegionCount {
    RegionCount {
        region: region.into(),
        count,
    }
}

fn zone_survival(home: &str) -> SpanConfig {
    SpanConfig {
        end: b"z".to_vec(),
        num_voters: 3,
        num_replicas: 5,
        constraints: REGIONS.iter().map(|r| rc(r, 1)).collect(),
        voter_constraints: vec![rc(home, 3)],
        lease_preferences: vec![home.into()],
        global_reads: false,
    }
}

fn region_survival(home: &str) -> SpanConfig {
    SpanConfig {
        end: b"z".to_vec(),
        num_voters: 5,
        num_replicas: 5,
        constraints: REGIONS.iter().map(|r| rc(r, 1)).collect(),
        voter_constraints: vec![rc(home, 2)],
        lease_preferences: vec![home.into()],
        global_reads: false,
    }
}

/// Applies an action to a descriptor (and moves the leaseholder on transfers).
fn apply(d: &mut RangeDescriptor, me: &mut NodeId, a: Action) {
    let set = |d: &mut RangeDescriptor, n: NodeId, k: ReplicaKind| {
        d.replicas.iter_mut().find(|r| r.node_id == n).unwrap().kind = k;
    };
    match a {
        Action::AddVoter(n) | Action::AddNonVoter(n) => {
            assert!(d.replica_on(n).is_none(), "{a:?} on a node with a replica");
            let kind = match a {
                Action::AddVoter(_) => ReplicaKind::Voter,
                _ => ReplicaKind::NonVoter,
            };
            d.replicas.push(ReplicaDesc {
                node_id: n,
                replica_id: ReplicaId(d.next_replica_id),
                kind,
            });
            d.next_replica_id += 1;
        }
        Action::Promote(n) => set(d, n, ReplicaKind::Voter),
        Action::Demote(n) => set(d, n, ReplicaKind::NonVoter),
        Action::Remove(n) => {
            assert_ne!(n, *me, "the leaseholder removed itself");
            d.replicas.retain(|r| r.node_id != n);
        }
        Action::TransferLease(n) => {
            assert_eq!(d.replica_on(n).unwrap().kind, ReplicaKind::Voter);
            *me = n;
        }
        Action::MoveVoter { from, to, demote } => {
            assert_ne!(from, *me, "the leaseholder moved its own voter away");
            assert_eq!(d.replica_on(from).unwrap().kind, ReplicaKind::Voter);
            let voters = d
                .replicas
                .iter()
                .filter(|r| r.kind == ReplicaKind::Voter)
                .count();
            match d.replica_on(to).map(|r| r.kind) {
                Some(ReplicaKind::NonVoter) => set(d, to, ReplicaKind::Voter),
                None => apply(d, me, Action::AddVoter(to)),
                Some(ReplicaKind::Voter) => panic!("{a:?} onto a voter"),
            }
            if demote {
                set(d, from, ReplicaKind::NonVoter);
            } else {
                d.replicas.retain(|r| r.node_id != from);
            }
            let after = d
                .replicas
                .iter()
                .filter(|r| r.kind == ReplicaKind::Voter)
                .count();
            assert_eq!(voters, after, "a move keeps the voter count");
        }
    }
}

/// Plans and applies until nothing is left to do; returns the final state.
fn converge(
    mut d: RangeDescriptor,
    mut me: NodeId,
    goal: &Goal,
    nodes: &[NodeView],
) -> (RangeDescriptor, NodeId) {
    for _ in 0..50 {
        match plan(&d, me, goal, nodes) {
            None => return (d, me),
            Some(a) => apply(&mut d, &mut me, a),
        }
    }
    panic!("placement did not converge: {d:?}");
}

fn regions_of(d: &RangeDescriptor, nodes: &[NodeView], kind: ReplicaKind) -> Vec<String> {
    let mut out: Vec<String> = d
        .replicas
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| nodes[r.node_id.0 as usize - 1].region.clone())
        .collect();
    out.sort();
    out
}

fn zones_of(d: &RangeDescriptor, nodes: &[NodeView]) -> Vec<String> {
    let mut out: Vec<String> = d
        .replicas
        .iter()
        .filter(|r| r.kind == ReplicaKind::Voter)
        .map(|r| nodes[r.node_id.0 as usize - 1].zone.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn without_a_config_voters_spread_over_regions() {
    let nodes = nine();
    let goal = Goal::new(None, 3);
    let (d, _) = converge(desc(&[1], &[]), NodeId(1), &goal, &nodes);
    let mut regions = regions_of(&d, &nodes, ReplicaKind::Voter);
    regions.dedup();
    assert_eq!(regions.len(), 3, "{d:?}");
}

#[test]
fn zone_survival_puts_voters_in_home_zones_and_a_non_voter_elsewhere() {
    let nodes = nine();
    let goal = Goal::new(Some(&zone_survival("us-west1")), 3);
    // Start from where a fresh range is: three voters in the first region.
    let (d, me) = converge(desc(&[1, 2, 3], &[]), NodeId(1), &goal, &nodes);
    assert_eq!(
        regions_of(&d, &nodes, ReplicaKind::Voter),
        vec!["us-west1"; 3]
    );
    assert_eq!(zones_of(&d, &nodes).len(), 3, "voters in distinct zones");
    assert_eq!(
        regions_of(&d, &nodes, ReplicaKind::NonVoter),
        vec!["europe-west1", "us-east1"]
    );
    assert_eq!(
        nodes[me.0 as usize - 1].region,
        "us-west1",
        "lease follows preference"
    );
}

#[test]
fn region_survival_spreads_five_voters_with_two_at_home() {
    let nodes = nine();
    let goal = Goal::new(Some(&region_survival("europe-west1")), 3);
    let (d, me) = converge(desc(&[1, 4, 7], &[]), NodeId(1), &goal, &nodes);
    let voters = regions_of(&d, &nodes, ReplicaKind::Voter);
    assert_eq!(voters.len(), 5);
    for r in REGIONS {
        let n = voters.iter().filter(|v| *v == r).count();
        assert!(n >= 1, "{r} has no voter: {voters:?}");
        assert!(n <= 2, "{r} has {n} voters: {voters:?}");
    }
    assert_eq!(voters.iter().filter(|v| *v == "europe-west1").count(), 2);
    assert!(regions_of(&d, &nodes, ReplicaKind::NonVoter).is_empty());
    assert_eq!(nodes[me.0 as usize - 1].region, "europe-west1");
}

#[test]
fn changing_the_home_region_moves_voters_and_lease() {
    let nodes = nine();
    let (d, me) = converge(
        desc(&[1], &[]),
        NodeId(1),
        &Goal::new(Some(&zone_survival("us-east1")), 3),
        &nodes,
    );
    let goal = Goal::new(Some(&zone_survival("europe-west1")), 3);
    let (d, me) = converge(d, me, &goal, &nodes);
    assert_eq!(
        regions_of(&d, &nodes, ReplicaKind::Voter),
        vec!["europe-west1"; 3]
    );
    assert_eq!(
        regions_of(&d, &nodes, ReplicaKind::NonVoter),
        vec!["us-east1", "us-west1"]
    );
    assert_eq!(nodes[me.0 as usize - 1].region, "europe-west1");
}

#[test]
fn a_dead_voter_is_replaced_in_its_region_then_removed() {
    let mut nodes = nine();
    let goal = Goal::new(Some(&zone_survival("us-east1")), 3);
    let (d, me) = converge(desc(&[1, 2, 3], &[4, 7]), NodeId(1), &goal, &nodes);
    assert_eq!(d.replicas.len(), 5);
    // Node 3 dies; us-east1 has no other node, so a voter goes elsewhere (availability).
    nodes[2].live = false;
    nodes[2].usable = false;
    nodes[2].gone = true;
    nodes[2].dead = true;
    // The replacement and the removal are one joint change (no step with 2 or 4 voters).
    let first = plan(&d, me, &goal, &nodes).unwrap();
    assert!(
        matches!(
            first,
            Action::MoveVoter {
                from: NodeId(3),
                demote: false,
                ..
            }
        ),
        "{first:?}"
    );
    let (d, _) = converge(d, me, &goal, &nodes);
    assert!(d.replica_on(NodeId(3)).is_none());
    assert_eq!(
        d.replicas
            .iter()
            .filter(|r| r.kind == ReplicaKind::Voter)
            .count(),
        3
    );
    // Node 3 comes back: the voter moves home again.
    nodes[2] = nine()[2].clone();
    let (d, _) = converge(d, me, &goal, &nodes);
    assert_eq!(
        regions_of(&d, &nodes, ReplicaKind::Voter),
        vec!["us-east1"; 3]
    );
}

#[test]
fn decommissioning_waits_for_a_replacement() {
    // Three nodes, three voters: decommissioning one cannot proceed.
    let mut nodes: Vec<NodeView> = nine().into_iter().take(3).collect();
    nodes[2].usable = false;
    nodes[2].gone = true;
    let goal = Goal::new(None, 3);
    assert_eq!(plan(&desc(&[1, 2, 3], &[]), NodeId(1), &goal, &nodes), None);
    // A fourth node joins: the voter moves there in one joint change.
    nodes.push(nine()[3].clone());
    assert_eq!(
        plan(&desc(&[1, 2, 3], &[]), NodeId(1), &goal, &nodes),
        Some(Action::MoveVoter {
            from: NodeId(3),
            to: NodeId(4),
            demote: false
        })
    );
    let (d, _) = converge(desc(&[1, 2, 3], &[]), NodeId(1), &goal, &nodes);
    assert!(d.replica_on(NodeId(3)).is_none());
    assert!(d.replica_on(NodeId(4)).is_some());
}

#[test]
fn a_dead_voter_is_removed_only_with_a_healthy_majority() {
    let mut nodes: Vec<NodeView> = nine().into_iter().take(3).collect();
    for n in &mut nodes[1..] {
        n.live = false;
        n.usable = false;
        n.gone = true;
        n.dead = true;
    }
    let goal = Goal::new(None, 3);
    assert_eq!(plan(&desc(&[1, 2, 3], &[]), NodeId(1), &goal, &nodes), None);
}

#[test]
fn the_leaseholder_never_removes_itself() {
    let nodes = nine();
    // Four voters in us-east1 (one too many) and the leaseholder is the only surplus choice
    // in its zone: the planner moves the lease rather than removing itself.
    let goal = Goal::new(Some(&zone_survival("us-east1")), 3);
    let (d, me) = converge(desc(&[1, 2, 3, 4], &[]), NodeId(4), &goal, &nodes);
    assert_eq!(
        regions_of(&d, &nodes, ReplicaKind::Voter),
        vec!["us-east1"; 3]
    );
    assert_ne!(me, NodeId(4));
}

#[test]
fn region_survival_rebalances_a_crowded_home_region() {
    let nodes = nine();
    let goal = Goal::new(Some(&region_survival("us-east1")), 3);
    // Where a ZONE-survival range is when the database switches to REGION survival.
    let (d, me) = converge(desc(&[1, 2, 3], &[4, 7]), NodeId(1), &goal, &nodes);
    let voters = regions_of(&d, &nodes, ReplicaKind::Voter);
    let count = |r: &str| voters.iter().filter(|v| *v == r).count();
    assert_eq!(voters.len(), 5, "{voters:?}");
    assert_eq!(count("us-east1"), 2, "{voters:?}");
    assert_eq!(count("us-west1") + count("europe-west1"), 3, "{voters:?}");
    assert_eq!(nodes[me.0 as usize - 1].region, "us-east1");
}

#[test]
fn a_home_region_change_swaps_voters_and_non_voters_in_joint_moves() {
    let nodes = nine();
    let (mut d, mut me) = converge(
        desc(&[1], &[]),
        NodeId(1),
        &Goal::new(Some(&zone_survival("us-east1")), 3),
        &nodes,
    );
    let goal = Goal::new(Some(&zone_survival("europe-west1")), 3);
    let mut moves = Vec::new();
    for _ in 0..50 {
        let Some(a) = plan(&d, me, &goal, &nodes) else {
            break;
        };
        if let Action::MoveVoter { demote, .. } = a {
            moves.push(demote);
        }
        apply(&mut d, &mut me, a);
        let voters = d.replicas.iter().filter(|r| r.kind == ReplicaKind::Voter);
        assert!(
            voters.count() >= 3,
            "a step left fewer than three voters: {d:?}"
        );
    }
    // A voter kept in us-east1 as a non-voter is swapped out by a move with a demotion.
    assert!(moves.contains(&true), "no voter/non-voter swap: {moves:?}");
    assert_eq!(
        regions_of(&d, &nodes, ReplicaKind::Voter),
        vec!["europe-west1"; 3]
    );
}
