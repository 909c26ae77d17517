//! Joint-consensus membership changes, step by step on four simulated nodes: a learner is
//! refused promotion until it caught up, a voter move goes learner -> joint -> final, a
//! replica restarted in the joint configuration comes back joint, and a leader elected after
//! the one that entered the joint configuration was cut off leaves it.

#[allow(dead_code, unused_imports)]
mod sim;

use kv::RangeId;
use raft::prelude::{ConfChangeTransition, ConfChangeType, ConfState};
use replication::joint::{self, is_joint};
use sim::node::{Cmd, SimNode};

const RANGE: RangeId = RangeId(1);

/// Four nodes; replica ids equal node ids; nodes 1-3 are the voters and node 1 leads.
fn cluster() -> Vec<SimNode> {
    let mut nodes: Vec<SimNode> = (1..=4)
        .map(|id| SimNode::open(id, SimNode::new_engine()).unwrap())
        .collect();
    for n in nodes.iter_mut().take(3) {
        let rid = n.id;
        n.bootstrap(RANGE, rid, &[1, 2, 3]).unwrap();
    }
    nodes[0].raft.campaign(RANGE).unwrap();
    for _ in 0..10 {
        round(&mut nodes, &[], false);
    }
    assert_eq!(nodes[0].raft.leader(RANGE), Some((1, true)));
    nodes
}

/// One round: every node (ticking when `tick`) processes, then every message is delivered,
/// except those from or to a node in `cut`.
fn round(nodes: &mut [SimNode], cut: &[u64], tick: bool) {
    let mut msgs = Vec::new();
    for n in nodes.iter_mut() {
        if tick {
            msgs.extend(n.raft.tick());
        }
        let out = n.raft.process(&mut n.sm).unwrap();
        if !cut.contains(&n.id) {
            msgs.extend(out);
        }
    }
    for (r, m) in msgs {
        if cut.contains(&m.to) {
            continue;
        }
        nodes[m.to as usize - 1].deliver(r, m).unwrap();
    }
}

/// The node's applied configuration, each id list sorted.
fn conf(n: &SimNode) -> ConfState {
    let mut cs = n.raft.conf_state(RANGE).unwrap_or_default();
    for l in [
        &mut cs.voters,
        &mut cs.voters_outgoing,
        &mut cs.learners,
        &mut cs.learners_next,
    ] {
        l.sort_unstable();
    }
    cs
}

fn put(nodes: &mut [SimNode], leader: usize, i: u64) {
    let cmd = Cmd::Put {
        op: 1000 + i,
        key: (i % 3) as u16,
        value: i,
    };
    let _ = nodes[leader].raft.propose(RANGE, cmd.encode());
}

/// Adds node 4 as a learner, then proposes the move {promote 4, remove 3} until the leader
/// accepts it (it refuses while the learner has not caught up). Returns whether it refused.
fn add_learner_then_move(nodes: &mut [SimNode], transition: ConfChangeTransition) -> bool {
    let add = joint::simple_change(joint::single(ConfChangeType::AddLearnerNode, 4));
    nodes[0]
        .raft
        .propose_conf_change(RANGE, b"add learner".to_vec(), add)
        .unwrap();
    let mut cc = joint::joint_change(vec![
        joint::single(ConfChangeType::AddNode, 4),
        joint::single(ConfChangeType::RemoveNode, 3),
    ]);
    cc.set_transition(transition);
    let mut refused = false;
    for i in 0..50 {
        put(nodes, 0, i);
        round(nodes, &[], false);
        match nodes[0]
            .raft
            .propose_conf_change(RANGE, b"move".to_vec(), cc.clone())
        {
            Ok(_) => return refused,
            Err(replication::Error::LearnerBehind(4)) => refused = true,
            Err(replication::Error::ChangeInProgress) => {}
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    panic!(
        "the leader never accepted the joint change: {:?}",
        conf(&nodes[0])
    );
}

#[test]
fn a_voter_move_goes_learner_joint_final_and_survives_a_restart_in_joint() {
    let mut nodes = cluster();
    let refused = add_learner_then_move(&mut nodes, ConfChangeTransition::Implicit);
    assert!(refused, "a learner without its data must not be promoted");
    // Follow node 2 through the change; restart it as soon as it applied the joint config.
    let mut saw_joint = false;
    for i in 0..60 {
        round(&mut nodes, &[], false);
        put(&mut nodes, 0, 100 + i);
        let cs = conf(&nodes[1]);
        if is_joint(&cs) && !saw_joint {
            saw_joint = true;
            assert_eq!(
                (cs.voters.clone(), cs.voters_outgoing.clone()),
                (vec![1, 2, 4], vec![1, 2, 3])
            );
            let engine = nodes[1].engine.clone();
            nodes[1] = SimNode::open(2, engine).unwrap();
            let after = conf(&nodes[1]);
            assert!(
                is_joint(&after),
                "a restart lost the joint configuration: {after:?}"
            );
            assert!(after.auto_leave);
        }
    }
    assert!(saw_joint, "node 2 never applied the joint configuration");
    for _ in 0..5 {
        round(&mut nodes, &[], false);
    }
    for n in [&nodes[0], &nodes[1], &nodes[3]] {
        let cs = conf(n);
        assert!(!is_joint(&cs), "n{} still joint: {cs:?}", n.id);
        assert_eq!(cs.voters, vec![1, 2, 4]);
        assert!(cs.learners.is_empty());
    }
    // The leader kept committing through the change, and the new voter has everything.
    let leader = nodes[0].raft.status(RANGE).unwrap();
    let four = nodes[3].raft.status(RANGE).unwrap();
    assert_eq!(four.applied, leader.commit);
    assert!(nodes[0].raft.leader(RANGE).is_some_and(|(_, me)| me));
}

#[test]
fn a_new_leader_leaves_a_joint_config_its_cut_off_predecessor_entered() {
    let mut nodes = cluster();
    // Explicit: raft-rs would not leave by itself; only MultiRaft's leader rule does.
    add_learner_then_move(&mut nodes, ConfChangeTransition::Explicit);
    // Cut node 1 off as soon as it applied the joint config (before anyone hears it left it).
    let mut cut = Vec::new();
    for _ in 0..30 {
        round(&mut nodes, &cut, false);
        if cut.is_empty() && is_joint(&conf(&nodes[0])) {
            cut.push(1);
        }
    }
    assert_eq!(cut, vec![1], "node 1 never applied the joint configuration");
    // The others elect a leader, which commits the joint entry, applies it and leaves it.
    for i in 0..400 {
        round(&mut nodes, &cut, true);
        if i % 10 == 0 {
            let leader = (1..4).find(|&k| nodes[k].raft.leader(RANGE).is_some_and(|(_, me)| me));
            if let Some(l) = leader {
                put(&mut nodes, l, i);
            }
        }
        let done = [1usize, 3].iter().all(|&k| {
            let cs = conf(&nodes[k]);
            !is_joint(&cs) && cs.voters == vec![1, 2, 4]
        });
        if done {
            return;
        }
    }
    panic!(
        "the group stayed joint without its first leader: n2 {:?} n4 {:?}",
        conf(&nodes[1]),
        conf(&nodes[3])
    );
}
