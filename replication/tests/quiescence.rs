//! What idle ranges cost: groups with nothing to do quiesce (no ticks, no heartbeats), one
//! proposal wakes only its own group, and a split's right side that was refused a snapshot
//! while uninitialised catches up without waiting for a heartbeat once it is created
//! ([`MultiRaft::nudge`]).

use kv::engine::{Engine, MemoryEngine, WriteBatch};
use kv::RangeId;
use raft::prelude::{ConfState, Message, MessageType, Snapshot};
use replication::{Applied, LogStore, MultiRaft, RaftConfig, SnapshotSource, StateMachine};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A state machine that keeps nothing: these tests look at Raft state only.
struct Sm;

impl SnapshotSource for Sm {
    fn snapshot_data(&self, _range: RangeId) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }
}

impl StateMachine for Sm {
    fn apply(&mut self, _: RangeId, _: Applied<'_>, _: &mut WriteBatch) {}
    fn apply_snapshot(&mut self, _: RangeId, _: &Snapshot, _: &mut WriteBatch) {}
    fn applied_written(&mut self) {}
    fn leader_changed(&mut self, _: RangeId, _: u64, _: bool) {}
}

struct Node {
    engine: Arc<dyn Engine>,
    raft: MultiRaft,
}

fn cfg() -> RaftConfig {
    RaftConfig {
        sync: false,
        // Fixed election timeouts: no follower campaigns within these tests' tick counts.
        min_election_ticks: 1_000,
        max_election_ticks: 1_001,
        ..RaftConfig::default()
    }
}

fn voters() -> ConfState {
    ConfState {
        voters: vec![1, 2, 3],
        ..ConfState::default()
    }
}

fn log_store(engine: &Arc<dyn Engine>, range: RangeId) -> LogStore {
    LogStore::open(engine.as_ref(), range, Arc::new(Sm)).unwrap()
}

/// Three nodes; node `id` holds replica `id` of every range in `ranges`.
fn cluster(ranges: &[RangeId]) -> BTreeMap<u64, Node> {
    let mut nodes = BTreeMap::new();
    for id in 1..=3u64 {
        let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        let mut raft = MultiRaft::new(engine.clone(), cfg());
        for &r in ranges {
            let store = log_store(&engine, r);
            raft.create_group(r, id, store, 5, 5, voters()).unwrap();
        }
        nodes.insert(id, Node { engine, raft });
    }
    nodes
}

/// One round: optionally tick every node, process every node, deliver every message except
/// those `drop` rejects. Returns how many messages were sent.
fn round(
    nodes: &mut BTreeMap<u64, Node>,
    tick: bool,
    drop: &mut dyn FnMut(RangeId, &Message) -> bool,
) -> usize {
    let mut msgs: Vec<(RangeId, Message)> = Vec::new();
    for n in nodes.values_mut() {
        if tick {
            msgs.extend(n.raft.tick());
        }
        msgs.extend(n.raft.process(&mut Sm).unwrap());
    }
    let sent = msgs.len();
    for (r, m) in msgs {
        if drop(r, &m) {
            continue;
        }
        if let Some(n) = nodes.get_mut(&m.to) {
            if n.raft.has_group(r) {
                n.raft.step(r, m).unwrap();
            }
        }
    }
    sent
}

fn rounds(nodes: &mut BTreeMap<u64, Node>, count: usize, tick: bool) -> usize {
    (0..count)
        .map(|_| round(nodes, tick, &mut |_, _| false))
        .sum()
}

fn quiesced(nodes: &BTreeMap<u64, Node>) -> Vec<(usize, usize, usize)> {
    nodes.values().map(|n| n.raft.quiesced_count()).collect()
}

#[test]
fn idle_groups_quiesce_and_one_proposal_wakes_only_its_group() {
    let ranges: Vec<RangeId> = (1..=40).map(RangeId).collect();
    let mut nodes = cluster(&ranges);
    for &r in &ranges {
        nodes.get_mut(&1).unwrap().raft.campaign(r).unwrap();
    }
    rounds(&mut nodes, 5, false);
    // Leaders quiesce after `quiesce_ticks` idle ticks and put their followers to sleep.
    rounds(&mut nodes, cfg().quiesce_ticks + 5, true);
    assert_eq!(quiesced(&nodes), vec![(40, 40, 0); 3]);
    // From now on a tick costs nothing: no heartbeats, no messages at all.
    assert_eq!(rounds(&mut nodes, 200, true), 0);

    let r = RangeId(7);
    nodes
        .get_mut(&1)
        .unwrap()
        .raft
        .propose(r, b"write".to_vec())
        .unwrap();
    // Followers learn the commit index from the next heartbeat (every 2 ticks).
    rounds(&mut nodes, 6, true);
    assert_eq!(quiesced(&nodes)[0], (40, 39, 1));
    assert!(!nodes[&1].raft.is_quiesced(r));
    for id in 2..=3 {
        let s = nodes[&id].raft.status(r).unwrap();
        assert_eq!(s.applied, nodes[&1].raft.status(r).unwrap().applied);
    }
    // Idle again, it quiesces again; the others never woke.
    rounds(&mut nodes, cfg().quiesce_ticks + 5, true);
    assert_eq!(quiesced(&nodes), vec![(40, 40, 0); 3]);
    assert_eq!(rounds(&mut nodes, 50, true), 0);
}

/// Range 2 is the right side of a split that node 3 has not applied yet: node 3 only has an
/// uninitialised replica, and the leader's snapshot to it is refused (it would overlap the
/// unsplit left side). Then node 3 applies the split and creates the replica properly.
/// Returns whether node 3 caught up within `max_rounds` rounds without ticks.
fn right_side_after_refused_snapshot(nudge: bool, max_rounds: usize) -> bool {
    let r = RangeId(2);
    let mut nodes = cluster(&[]);
    for id in 1..=2 {
        let n = nodes.get_mut(&id).unwrap();
        let store = log_store(&n.engine, r);
        n.raft.create_group(r, id, store, 5, 5, voters()).unwrap();
    }
    let n3 = nodes.get_mut(&3).unwrap();
    let store = log_store(&n3.engine, r);
    n3.raft.add_group(r, 3, store).unwrap();
    nodes.get_mut(&1).unwrap().raft.campaign(r).unwrap();
    let mut refused = 0;
    for _ in 0..10 {
        round(&mut nodes, false, &mut |_, m| {
            let snap = m.get_msg_type() == MessageType::MsgSnapshot && m.to == 3;
            refused += usize::from(snap);
            snap
        });
        if refused > 0 {
            break;
        }
    }
    assert_eq!(refused, 1, "the leader tried a snapshot");
    nodes
        .get_mut(&1)
        .unwrap()
        .raft
        .report_snapshot(r, 3, raft::SnapshotStatus::Finish);
    let leader_status = nodes[&1].raft.status(r).unwrap();
    assert_eq!(
        leader_status.progress.iter().find(|p| p.0 == 3),
        Some(&(3, 0))
    );

    // Node 3 applies the split: the group is re-created over the uninitialised one.
    let n3 = nodes.get_mut(&3).unwrap();
    let (term, leader) = n3.raft.term_and_leader(r).unwrap();
    assert_eq!(leader, 1);
    n3.raft.remove_group_keep_state(r);
    let store = log_store(&n3.engine, r);
    n3.raft.create_group(r, 3, store, 5, 5, voters()).unwrap();
    if nudge {
        let (range, m) = n3.raft.nudge(r, leader, term).unwrap();
        nodes.get_mut(&1).unwrap().raft.step(range, m).unwrap();
    }
    for _ in 0..max_rounds {
        round(&mut nodes, false, &mut |_, _| false);
        let s = nodes[&1].raft.status(r).unwrap();
        if s.progress
            .iter()
            .any(|&(id, m)| id == 3 && m == s.last_index)
        {
            return true;
        }
    }
    false
}

#[test]
fn a_created_right_side_tells_its_leader_at_once() {
    // Without the nudge, the leader waits for a heartbeat (a tick) before sending the log.
    assert!(!right_side_after_refused_snapshot(false, 20));
    assert!(right_side_after_refused_snapshot(true, 20));
}

#[test]
fn a_nudge_at_another_term_or_to_oneself_is_not_sent() {
    let r = RangeId(1);
    let mut nodes = cluster(&[r]);
    nodes.get_mut(&1).unwrap().raft.campaign(r).unwrap();
    rounds(&mut nodes, 5, false);
    let (term, leader) = nodes[&2].raft.term_and_leader(r).unwrap();
    assert_eq!(leader, 1);
    let n2 = &mut nodes.get_mut(&2).unwrap().raft;
    assert!(n2.nudge(r, leader, term + 1).is_none());
    assert!(n2.nudge(r, 0, term).is_none());
    assert!(n2.nudge(r, 2, term).is_none());
    let (_, m) = n2.nudge(r, leader, term).unwrap();
    assert_eq!((m.to, m.from, m.term), (1, 2, term));
}
