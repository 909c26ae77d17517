//! Voter moves through joint consensus in an in-process cluster: a fourth node joins a
//! three-node cluster, node 3 is decommissioned, and the allocator moves each of its voters to
//! node 4 as a learner that catches up, then one joint change {promote node 4's replica,
//! remove node 3's}, then the leave. Writes run throughout; every acknowledged one is read
//! back at the end, and the table range's Raft log shows exactly that sequence of changes.

mod common;

use cluster::server::{start_node, ClusterNode};
use cluster::transport::LocalNetwork;
use common::{init_logging, join_addrs, node_config, sql, start_nodes, wait_for, FIRST_TABLE_ID};
use kv::{NodeId, RangeId};
use protobuf::Message as _;
use raft::prelude::{ConfChangeTransition, ConfChangeType, ConfChangeV2, EntryType};
use raft::{GetEntriesContext, Storage};
use replication::{LogStore, SnapshotSource};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The ranges, read from the meta records through `node`.
async fn ranges(node: &ClusterNode) -> Result<Vec<cluster::desc::RangeDescriptor>, String> {
    let dist = node.dist.clone();
    tokio::task::spawn_blocking(move || dist.all_ranges())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Every range has three voters, none of them on `gone` (when given).
async fn placed(node: &ClusterNode, gone: Option<NodeId>) -> Result<(), String> {
    let all = ranges(node).await?;
    let ok = |d: &cluster::desc::RangeDescriptor| {
        let voters = d
            .replicas
            .iter()
            .filter(|r| r.kind == cluster::desc::ReplicaKind::Voter);
        d.replicas.len() == 3
            && voters.count() == 3
            && gone.is_none_or(|g| d.replica_on(g).is_none())
    };
    if all.iter().all(ok) {
        Ok(())
    } else {
        Err(format!("{all:?}"))
    }
}

/// Reading a log needs no snapshots.
struct NoSnapshots;

impl SnapshotSource for NoSnapshots {
    fn snapshot_data(&self, _range: RangeId) -> Result<Vec<u8>, String> {
        Err("not needed".into())
    }
}

/// The membership changes in `node`'s Raft log of `range`, as (changes, transition) with
/// each change as (type, replica id).
fn conf_changes(
    node: &ClusterNode,
    range: RangeId,
) -> Vec<(Vec<(ConfChangeType, u64)>, ConfChangeTransition)> {
    let engine = node.store.engine().clone();
    let log = LogStore::open(engine.as_ref(), range, Arc::new(NoSnapshots)).expect("log");
    let (first, last) = (log.first_index().unwrap(), log.last_index().unwrap());
    let entries = log
        .entries(first, last + 1, None, GetEntriesContext::empty(false))
        .expect("entries");
    entries
        .iter()
        .filter(|e| e.get_entry_type() == EntryType::EntryConfChangeV2)
        .map(|e| {
            let cc = ConfChangeV2::parse_from_bytes(&e.data).expect("conf change");
            let changes = cc
                .get_changes()
                .iter()
                .map(|c| (c.get_change_type(), c.node_id));
            (changes.collect(), cc.get_transition())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decommissioning_moves_voters_through_learner_and_joint_configs() {
    init_logging();
    let net = LocalNetwork::new();
    let nodes = start_nodes(&net, 3).await;
    let join = join_addrs(&nodes);
    let [n1, n2, n3]: [ClusterNode; 3] = nodes.try_into().unwrap_or_else(|_| panic!("three nodes"));
    wait_for(30, "every range on three nodes", || placed(&n1, None)).await;
    let c1 = sql(&n1).await;
    c1.batch_execute("CREATE TABLE t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    let key = kv::keys::table_prefix(FIRST_TABLE_ID);
    let dist = n1.dist.clone();
    tokio::task::spawn_blocking(move || dist.split(&key))
        .await
        .unwrap()
        .expect("split");
    wait_for(30, "the table's range on three nodes", || placed(&n1, None)).await;
    let table = {
        let dist = n1.dist.clone();
        let key = kv::keys::table_prefix(FIRST_TABLE_ID);
        tokio::task::spawn_blocking(move || dist.lookup(&key))
            .await
            .unwrap()
            .unwrap()
    };
    let n3_replica = table
        .replica_on(n3.node_id)
        .expect("a replica on node 3")
        .replica_id
        .0;
    let n4 = start_node(node_config(&net, join)).await.expect("node 4");

    // Writes through node 1 until told to stop; acknowledged ids are remembered.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        let c = sql(&n1).await;
        tokio::spawn(async move {
            let mut i: i32 = 0;
            while !stop.load(Ordering::Relaxed) {
                match c.execute("INSERT INTO t VALUES ($1)", &[&i]).await {
                    Ok(_) => acked.lock().unwrap().push(i),
                    Err(e) => eprintln!("insert {i}: {e:?}"),
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = acked.lock().unwrap().len();

    // Decommission node 3 (what `meridian node decommission 3` does).
    let dist = n1.dist.clone();
    let gone = n3.node_id;
    tokio::task::spawn_blocking(move || {
        let mut rec = dist
            .node_records()?
            .into_iter()
            .find(|n| n.node_id == gone)
            .unwrap();
        rec.decommissioning = true;
        dist.meta_write(vec![(
            cluster::desc::node_key(gone),
            Some(cluster::desc::encode(&rec)),
        )])
    })
    .await
    .unwrap()
    .expect("decommission");
    wait_for(60, "node 3's voters moved to node 4", || {
        placed(&n1, Some(gone))
    })
    .await;
    let during = acked.lock().unwrap().len() - before;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(
        during > 0,
        "no write was acknowledged while the voters moved"
    );

    // Nothing acknowledged is lost, read through another node.
    let c2 = sql(&n2).await;
    let rows = c2.query("SELECT id FROM t", &[]).await.unwrap();
    let id = |r: &tokio_postgres::Row| {
        r.try_get::<_, i64>(0)
            .unwrap_or_else(|_| i64::from(r.get::<_, i32>(0)))
    };
    let present: std::collections::BTreeSet<i64> = rows.iter().map(id).collect();
    let acked = acked.lock().unwrap().clone();
    let missing: Vec<i32> = acked
        .iter()
        .filter(|i| !present.contains(&i64::from(**i)))
        .copied()
        .collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(acked.len() > 20, "too few writes: {}", acked.len());

    // The table range's log: learner, then one joint change, then the empty leave.
    let changes = conf_changes(&n1, table.range_id);
    let d = n1.dist.clone();
    let key = kv::keys::table_prefix(FIRST_TABLE_ID);
    let now = tokio::task::spawn_blocking(move || d.lookup(&key))
        .await
        .unwrap()
        .unwrap();
    let new_replica = now
        .replica_on(n4.node_id)
        .expect("a replica on node 4")
        .replica_id
        .0;
    let learner = (
        vec![(ConfChangeType::AddLearnerNode, new_replica)],
        ConfChangeTransition::Auto,
    );
    let joint = (
        vec![
            (ConfChangeType::AddNode, new_replica),
            (ConfChangeType::RemoveNode, n3_replica),
        ],
        ConfChangeTransition::Implicit,
    );
    let leave = (vec![], ConfChangeTransition::Auto);
    let at = changes.iter().position(|c| *c == learner);
    let at = at.unwrap_or_else(|| panic!("no learner step in {changes:?}"));
    assert_eq!(changes.get(at + 1), Some(&joint), "{changes:?}");
    assert_eq!(changes.get(at + 2), Some(&leave), "{changes:?}");
    assert!(now.replica_on(gone).is_none());

    for n in [n1, n2, n3, n4] {
        n.shutdown().await.unwrap();
    }
}
