//! Three stores, each with a replica of two ranges, exchanging messages in memory: commands
//! proposed on a leader apply everywhere in order, a restarted store reloads its log and
//! catches up, and a replica added later is brought up to date by a snapshot.

use kv::engine::{Engine, MemoryEngine, WriteBatch};
use kv::RangeId;
use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2, ConfState, Message, Snapshot};
use replication::{Applied, LogStore, MultiRaft, RaftConfig, SnapshotSource, StateMachine};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Applied commands per range, kept in the engine under `data/<range>/<index>` so snapshots
/// can carry them.
struct Sm {
    engine: Arc<dyn Engine>,
}

fn data_prefix(range: RangeId) -> Vec<u8> {
    format!("data/{:04}/", range.0).into_bytes()
}

impl SnapshotSource for Sm {
    fn snapshot_data(&self, range: RangeId) -> Result<Vec<u8>, String> {
        let mut rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let p = data_prefix(range);
        let end = kv::keys::prefix_end(&p);
        self.engine
            .scan(&p, end.as_deref(), &mut |k, v| {
                rows.push((k.to_vec(), v.to_vec()));
                kv::engine::Visit::Continue
            })
            .map_err(|e| e.to_string())?;
        postcard::to_allocvec(&rows).map_err(|e| e.to_string())
    }
}

impl StateMachine for Sm {
    fn apply(&mut self, range: RangeId, entry: Applied<'_>, batch: &mut WriteBatch) {
        if let Applied::Normal { index, data, .. } = entry {
            if !data.is_empty() {
                let mut k = data_prefix(range);
                k.extend_from_slice(format!("{index:08}").as_bytes());
                batch.put(k, data.to_vec());
            }
        }
    }
    fn apply_snapshot(&mut self, _range: RangeId, snap: &Snapshot, batch: &mut WriteBatch) {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = postcard::from_bytes(snap.get_data()).unwrap();
        for (k, v) in rows {
            batch.put(k, v);
        }
    }
    fn applied_written(&mut self) {}
    fn leader_changed(&mut self, _: RangeId, _: u64, _: bool) {}
}

struct Node {
    raft: MultiRaft,
    sm: Sm,
}

fn cfg() -> RaftConfig {
    RaftConfig {
        sync: false,
        max_log_entries: 5,
        ..RaftConfig::default()
    }
}

fn open_node(engine: Arc<dyn Engine>, id: u64, ranges: &[RangeId], fresh_voters: &[u64]) -> Node {
    let mut raft = MultiRaft::new(engine.clone(), cfg());
    for &r in ranges {
        let src = Arc::new(Sm {
            engine: engine.clone(),
        });
        let store = LogStore::open(engine.as_ref(), r, src).unwrap();
        if fresh_voters.is_empty() {
            raft.add_group(r, id, store).unwrap();
        } else {
            let conf = ConfState {
                voters: fresh_voters.to_vec(),
                ..ConfState::default()
            };
            raft.create_group(r, id, store, 5, 5, conf).unwrap();
        }
    }
    Node {
        sm: Sm { engine },
        raft,
    }
}

/// Runs `rounds` iterations: process every node, deliver every message.
fn run(nodes: &mut BTreeMap<u64, Node>, rounds: usize, tick: bool) {
    for _ in 0..rounds {
        let mut msgs: Vec<(RangeId, Message)> = Vec::new();
        for n in nodes.values_mut() {
            if tick {
                n.raft.tick();
            }
            msgs.extend(n.raft.process(&mut n.sm).unwrap());
        }
        for (r, m) in msgs {
            if let Some(n) = nodes.get_mut(&m.to) {
                if n.raft.has_group(r) {
                    n.raft.step(r, m).unwrap();
                }
            }
        }
    }
}

fn applied_rows(engine: &dyn Engine, range: RangeId) -> Vec<Vec<u8>> {
    let p = data_prefix(range);
    let end = kv::keys::prefix_end(&p);
    let mut out = Vec::new();
    engine
        .scan(&p, end.as_deref(), &mut |_, v| {
            out.push(v.to_vec());
            kv::engine::Visit::Continue
        })
        .unwrap();
    out
}

fn leader_of(nodes: &BTreeMap<u64, Node>, r: RangeId) -> Option<u64> {
    nodes
        .iter()
        .find(|(_, n)| n.raft.leader(r).is_some_and(|(_, me)| me))
        .map(|(id, _)| *id)
}

#[test]
fn commands_replicate_survive_restart_and_reach_new_replicas_by_snapshot() {
    let ranges = [RangeId(1), RangeId(2)];
    let mut nodes = BTreeMap::new();
    let mut engines = BTreeMap::new();
    for id in 1..=3u64 {
        let e: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        engines.insert(id, e.clone());
        nodes.insert(id, open_node(e, id, &ranges, &[1, 2, 3]));
    }
    nodes
        .get_mut(&1)
        .unwrap()
        .raft
        .campaign(RangeId(1))
        .unwrap();
    nodes
        .get_mut(&2)
        .unwrap()
        .raft
        .campaign(RangeId(2))
        .unwrap();
    run(&mut nodes, 10, false);
    assert_eq!(leader_of(&nodes, RangeId(1)), Some(1));
    assert_eq!(leader_of(&nodes, RangeId(2)), Some(2));

    for i in 0..50u32 {
        let r = ranges[(i % 2) as usize];
        let l = leader_of(&nodes, r).unwrap();
        let n = nodes.get_mut(&l).unwrap();
        n.raft
            .propose(r, format!("cmd{i:03}").into_bytes())
            .unwrap();
        run(&mut nodes, 1, false);
    }
    run(&mut nodes, 5, false);
    for r in ranges {
        let want = applied_rows(engines[&1].as_ref(), r);
        assert_eq!(want.len(), 25, "range {r}");
        for id in 2..=3 {
            assert_eq!(
                applied_rows(engines[&id].as_ref(), r),
                want,
                "node {id} range {r}"
            );
        }
    }

    // Restart node 3 from its engine: it reloads its (truncated) log and state.
    nodes.remove(&3);
    nodes.insert(3, open_node(engines[&3].clone(), 3, &ranges, &[]));
    nodes
        .get_mut(&1)
        .unwrap()
        .raft
        .propose(RangeId(1), b"after-restart".to_vec())
        .unwrap();
    run(&mut nodes, 10, true);
    let rows = applied_rows(engines[&3].as_ref(), RangeId(1));
    assert_eq!(
        rows.last().map(|v| v.as_slice()),
        Some(&b"after-restart"[..])
    );

    // Add a fourth replica to range 1: the log was truncated, so it needs a snapshot.
    let e4: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut n4 = open_node(e4.clone(), 4, &[], &[]);
    let src = Arc::new(Sm { engine: e4.clone() });
    n4.raft
        .add_group(
            RangeId(1),
            4,
            LogStore::open(e4.as_ref(), RangeId(1), src).unwrap(),
        )
        .unwrap();
    nodes.insert(4, n4);
    let first = nodes[&1].raft.status(RangeId(1)).unwrap();
    assert!(first.applied > 10, "{first:?}");
    let mut cc = ConfChangeV2::default();
    let mut single = ConfChangeSingle::default();
    single.set_change_type(ConfChangeType::AddNode);
    single.node_id = 4;
    cc.set_changes(vec![single].into());
    nodes
        .get_mut(&1)
        .unwrap()
        .raft
        .propose_conf_change(RangeId(1), b"add n4".to_vec(), cc)
        .unwrap();
    run(&mut nodes, 30, true);
    assert_eq!(
        applied_rows(e4.as_ref(), RangeId(1)),
        applied_rows(engines[&1].as_ref(), RangeId(1))
    );
}
