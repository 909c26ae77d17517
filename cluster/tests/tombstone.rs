//! Replica tombstones (cluster/src/store/replica_gc.rs) on four in-process nodes: a voter is
//! moved away from its node, which destroys it either by applying its own removal or, cut off
//! during the move, through the replica GC queue. Either way the node keeps a tombstone above
//! the destroyed replica id: a stray Raft message for that id re-creates nothing, while a
//! message for a higher id (a re-add) still creates a replica.

mod common;

use cluster::desc::RangeDescriptor;
use cluster::server::ClusterNode;
use cluster::store::Store;
use cluster::transport::filter::Filters;
use cluster::transport::{LocalNetwork, RaftEnvelope};
use common::{init_logging, sql, start_nodes_with, wait_for, FIRST_TABLE_ID};
use kv::{NodeId, RangeId, ReplicaId};
use protobuf::Message as _;
use raft::prelude::{Message, MessageType};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

fn store_of(nodes: &[ClusterNode], node: NodeId) -> Arc<Store> {
    nodes
        .iter()
        .find(|n| n.node_id == node)
        .map(|n| n.dist.store().clone())
        .expect("node of the cluster")
}

/// The table's range once it has a range of its own with three voters.
async fn table_range(node: &ClusterNode) -> Result<RangeDescriptor, String> {
    let dist = node.dist.clone();
    let ranges = blocking(move || dist.all_ranges())
        .await
        .map_err(|e| e.to_string())?;
    let key = kv::keys::table_prefix(FIRST_TABLE_ID);
    let d = ranges
        .into_iter()
        .find(|d| d.contains(&key))
        .ok_or("no range holds the table")?;
    if d.start != key || d.replicas.len() != 3 {
        return Err(format!("not settled: {d:?}"));
    }
    Ok(d)
}

/// A heartbeat for replica `to` of `range`, as a node that missed the removal would send it.
fn stray_heartbeat(range: RangeId, from: NodeId, to: (NodeId, u64)) -> RaftEnvelope {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.from = 1;
    m.to = to.1;
    m.term = 1;
    RaftEnvelope {
        range_id: range,
        from,
        to: to.0,
        msg: m.write_to_bytes().expect("encode"),
    }
}

/// Moves a voter that neither leads nor holds the lease to the node without a replica (cut
/// off during the move when `partition`); returns (range, node moved from, its replica id).
async fn move_a_voter(
    nodes: &[ClusterNode],
    filters: &Filters,
    partition: bool,
) -> (RangeId, NodeId, ReplicaId) {
    let moved = Arc::new(Mutex::new(None));
    wait_for(30, "a voter moved", || {
        let moved = moved.clone();
        let filters = filters.clone();
        async move {
            let d = table_range(&nodes[0]).await?;
            let range = d.range_id;
            let leader = d
                .replicas
                .iter()
                .find(|r| {
                    store_of(nodes, r.node_id)
                        .replica(range)
                        .is_some_and(|rep| rep.leader().1)
                })
                .ok_or("no leader yet")?
                .node_id;
            let ls = store_of(nodes, leader);
            let holder = ls.replica(range).map(|r| r.lease().holder);
            let from = d
                .replicas
                .iter()
                .find(|r| r.node_id != leader && Some(r.node_id) != holder)
                .ok_or("no movable voter")?;
            let (from, old_id) = (from.node_id, from.replica_id);
            let to = nodes
                .iter()
                .map(|n| n.node_id)
                .find(|n| d.replica_on(*n).is_none())
                .ok_or("no free node")?;
            if !store_of(nodes, from)
                .replica(range)
                .is_some_and(|r| r.initialized())
            {
                return Err("the voter to move is not initialised yet".into());
            }
            let others: Vec<NodeId> = nodes
                .iter()
                .map(|n| n.node_id)
                .filter(|n| *n != from)
                .collect();
            if partition {
                filters.partition(&[from], &others);
            }
            let dist = nodes
                .iter()
                .find(|n| n.node_id == leader)
                .map(|n| n.dist.clone())
                .ok_or("leader node")?;
            let r = blocking(move || {
                let new = ls.move_voter(range, from, to, false)?;
                let op = (
                    cluster::desc::meta_key(new.end.as_deref()),
                    Some(cluster::desc::encode(&new)),
                );
                dist.meta_write(vec![op])
            })
            .await;
            filters.heal();
            r.map_err(|e| e.to_string())?;
            *moved.lock().unwrap() = Some((range, from, old_id));
            Ok::<(), String>(())
        }
    })
    .await;
    let got = moved.lock().unwrap().take();
    got.expect("moved")
}

async fn destroyed_replica_leaves_a_tombstone(partition: bool) {
    init_logging();
    let filters = Filters::new(11);
    let nodes = start_nodes_with(&LocalNetwork::new(), 4, |c| {
        c.filters = Some(filters.clone());
        c.store.replica_gc_interval = Duration::from_millis(200);
    })
    .await;
    let c = sql(&nodes[0]).await;
    c.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        .await
        .expect("create");
    let dist = nodes[0].dist.clone();
    blocking(move || dist.split(&kv::keys::table_prefix(FIRST_TABLE_ID)))
        .await
        .expect("split");
    for i in 0..10 {
        c.execute("INSERT INTO t VALUES ($1, 'x')", &[&i])
            .await
            .expect("insert");
    }
    let (range, from, old_id) = move_a_voter(&nodes, &filters, partition).await;
    let store = store_of(&nodes, from);
    wait_for(30, "the moved replica destroyed and tombstoned", || {
        let store = store.clone();
        async move {
            match (store.replica(range), store.replica_tombstone(range)) {
                (None, Some(t)) if t > old_id.0 => Ok(()),
                (r, t) => Err(format!(
                    "replica {:?}, tombstone {t:?}",
                    r.map(|r| r.replica_id)
                )),
            }
        }
    })
    .await;
    let tombstone = store.replica_tombstone(range).expect("tombstone");
    assert!(store.replica_tombstoned(range, old_id));
    assert!(!store.replica_tombstoned(range, ReplicaId(tombstone)));

    // A stray heartbeat for the destroyed id, then one for an unknown range (which creates an
    // uninitialised replica): once the second has been handled, so has the first (one inbox).
    let sender = nodes[0].node_id;
    let marker = RangeId(1_000_000);
    store.deliver_raft(vec![
        stray_heartbeat(range, sender, (from, old_id.0)),
        stray_heartbeat(marker, sender, (from, 1)),
    ]);
    wait_for(10, "the marker message handled", || {
        let store = store.clone();
        async move {
            store
                .replica(marker)
                .map(|_| ())
                .ok_or_else(|| "not yet".to_string())
        }
    })
    .await;
    assert!(
        store.replica(range).is_none(),
        "a stray message re-created the destroyed replica"
    );
    // A replica id above the tombstone is a re-add: it is created. (Far above the range's
    // next replica id, so replica GC takes it for one being added and leaves it alone.)
    let readded = tombstone + 1000;
    store.deliver_raft(vec![stray_heartbeat(range, sender, (from, readded))]);
    wait_for(10, "a replica with a new id created", || {
        let store = store.clone();
        async move {
            match store.replica(range) {
                Some(r) if r.replica_id == ReplicaId(readded) => Ok(()),
                r => Err(format!("{:?}", r.map(|r| r.replica_id))),
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_removed_by_applying_its_removal_leaves_a_tombstone() {
    destroyed_replica_leaves_a_tombstone(false).await;
}

/// Cut off during its move, the replica never applies its removal; the replica GC queue
/// destroys it and leaves the tombstone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_collected_by_replica_gc_leaves_a_tombstone() {
    destroyed_replica_leaves_a_tombstone(true).await;
}
