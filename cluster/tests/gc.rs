//! Garbage collection on a replicated cluster (in-process, local transport):
//! - replica GC: a voter moved away from a node is destroyed there (its Raft group gone, no
//!   key of the range's data left in that node's engine) while the range keeps serving;
//! - MVCC GC: after a run at the leaseholder, old versions are gone on every replica, reads
//!   below the GC threshold fail with a clear error (SQL: SQLSTATE 72000; follower reads on
//!   every replica too), and the latest versions are intact.

mod common;

use cluster::desc::RangeDescriptor;
use cluster::server::ClusterNode;
use cluster::store::Store;
use cluster::transport::filter::Filters;
use cluster::transport::LocalNetwork;
use common::{init_logging, sql, start_nodes_with, wait_for, FIRST_TABLE_ID};
use kv::engine::Visit;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The table every test creates first gets this id.
const TABLE_ID: u64 = FIRST_TABLE_ID;

async fn start(n: usize, ttl: Duration, filters: Option<Filters>) -> Vec<ClusterNode> {
    start_nodes_with(&LocalNetwork::new(), n, |c| {
        c.filters = filters.clone();
        c.store.gc_ttl = ttl;
        // The tests run MVCC GC passes themselves; replica GC runs in the background.
        c.store.gc_interval = Duration::from_secs(3600);
        c.store.replica_gc_interval = Duration::from_millis(200);
    })
    .await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// The range holding the table, once it has its own range with `voters` replicas.
async fn table_range(node: &ClusterNode, voters: usize) -> Result<RangeDescriptor, String> {
    let dist = node.dist.clone();
    let ranges = blocking(move || dist.all_ranges())
        .await
        .map_err(|e| e.to_string())?;
    let key = kv::keys::table_prefix(TABLE_ID);
    let d = ranges
        .into_iter()
        .find(|d| d.contains(&key))
        .ok_or("no range holds the table")?;
    if d.start != key || d.replicas.len() != voters {
        return Err(format!("not settled: {d:?}"));
    }
    Ok(d)
}

/// Raw engine keys of the table's user data on `store` (every MVCC version and intent).
fn table_keys(store: &Store) -> usize {
    let start = kv::mvcc::meta_key(&kv::keys::table_prefix(TABLE_ID));
    let end = kv::mvcc::meta_key(&kv::keys::table_prefix(TABLE_ID + 1));
    let mut n = 0;
    let _ = store.engine().scan(&start, Some(&end), &mut |_, _| {
        n += 1;
        Visit::Continue
    });
    n
}

fn store_of(nodes: &[ClusterNode], node: kv::NodeId) -> &Arc<Store> {
    nodes
        .iter()
        .find(|n| n.node_id == node)
        .map(|n| n.dist.store())
        .expect("node of the cluster")
}

async fn create_table(nodes: &[ClusterNode], voters: usize) -> RangeDescriptor {
    let c = sql(&nodes[0]).await;
    c.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    let dist = nodes[0].dist.clone();
    blocking(move || dist.split(&kv::keys::table_prefix(TABLE_ID)))
        .await
        .expect("split");
    let found = Arc::new(Mutex::new(None));
    wait_for(30, "the table's range fully replicated", || {
        let f = table_range(&nodes[0], voters);
        let found = found.clone();
        async move {
            let d = f.await?;
            *found.lock().unwrap() = Some(d);
            Ok::<(), String>(())
        }
    })
    .await;
    let d = found.lock().unwrap().take();
    d.expect("range")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_moved_away_is_destroyed_and_the_range_keeps_serving() {
    moved_replica_is_destroyed(false).await;
}

/// The moved voter's node is cut off during the move: it never applies its removal (the
/// leader stops sending to it once the change commits), so only the replica GC queue, which
/// finds it missing from the range's meta record, can destroy it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_that_missed_its_removal_is_collected_by_the_replica_gc_queue() {
    moved_replica_is_destroyed(true).await;
}

async fn moved_replica_is_destroyed(partition: bool) {
    init_logging();
    let filters = Filters::new(7);
    let nodes = start(4, Duration::from_secs(4 * 3600), Some(filters.clone())).await;
    let d = create_table(&nodes, 3).await;
    let c = sql(&nodes[1]).await;
    for i in 0..20 {
        c.execute("INSERT INTO t VALUES ($1, 'x')", &[&i])
            .await
            .unwrap();
    }
    let range = d.range_id;
    // Move a voter that neither leads nor holds the lease to the node without a replica.
    let moved = Arc::new(Mutex::new(None));
    wait_for(30, "a voter moved", || {
        let nodes = &nodes;
        let moved = moved.clone();
        let filters = filters.clone();
        async move {
            let d = table_range(&nodes[0], 3).await?;
            let leader = d
                .replicas
                .iter()
                .find(|r| {
                    let s = store_of(nodes, r.node_id);
                    s.replica(range).is_some_and(|rep| rep.leader().1)
                })
                .ok_or("no leader yet")?
                .node_id;
            let ls = store_of(nodes, leader).clone();
            let holder = ls.replica(range).map(|r| r.lease().holder);
            let from = d
                .replicas
                .iter()
                .map(|r| r.node_id)
                .find(|n| *n != leader && Some(*n) != holder)
                .ok_or("no movable voter")?;
            let to = nodes
                .iter()
                .map(|n| n.node_id)
                .find(|n| d.replica_on(*n).is_none())
                .ok_or("no free node")?;
            let from_store = store_of(nodes, from).clone();
            if table_keys(&from_store) == 0 {
                return Err("the voter to move has no data yet".into());
            }
            let others: Vec<kv::NodeId> = nodes
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
                // What the allocator does after a change: the meta record follows.
                let op = (
                    cluster::desc::meta_key(new.end.as_deref()),
                    Some(cluster::desc::encode(&new)),
                );
                dist.meta_write(vec![op])
            })
            .await;
            if let Err(e) = r {
                filters.heal();
                return Err(e.to_string());
            }
            if partition {
                // Let the cut-off replica stay unaware for a while, then reconnect it.
                let s = from_store.clone();
                let still = blocking(move || s.replica(range).is_some()).await;
                filters.heal();
                if !still {
                    return Err("the cut-off replica learned its removal".into());
                }
            }
            *moved.lock().unwrap() = Some(from);
            Ok::<(), String>(())
        }
    })
    .await;
    let from = moved.lock().unwrap().take().expect("moved");
    let from_store = store_of(&nodes, from).clone();
    wait_for(30, "the moved replica destroyed with its data", || {
        let s = from_store.clone();
        async move {
            let (present, keys) = (s.replica(range).is_some(), table_keys(&s));
            if present || keys > 0 {
                return Err(format!(
                    "replica present: {present}, table keys left: {keys}"
                ));
            }
            Ok(())
        }
    })
    .await;
    // The range keeps serving, through the node that lost its replica too.
    let via = nodes.iter().find(|n| n.node_id == from).expect("node");
    let c = sql(via).await;
    c.execute("INSERT INTO t VALUES (100, 'after')", &[])
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 21);
    assert!(from_store.replica(range).is_none(), "not re-created");
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mvcc_gc_removes_old_versions_on_every_replica() {
    init_logging();
    let nodes = start(3, Duration::from_secs(1), None).await;
    let d = create_table(&nodes, 3).await;
    let c = sql(&nodes[0]).await;
    c.execute("INSERT INTO t VALUES (1, 'a')", &[])
        .await
        .unwrap();
    for v in ["b", "c"] {
        c.execute("UPDATE t SET v = $1 WHERE id = 1", &[&v])
            .await
            .unwrap();
    }
    let stores: Vec<Arc<Store>> = nodes.iter().map(|n| n.dist.store().clone()).collect();
    wait_for(30, "three versions on every replica", || {
        let counts: Vec<usize> = stores.iter().map(|s| table_keys(s)).collect();
        async move {
            if counts.iter().all(|&n| n == 3) {
                Ok(())
            } else {
                Err(format!("{counts:?}"))
            }
        }
    })
    .await;
    // Once the TTL has passed the last update, a pass at the leaseholder removes the two old
    // versions; every replica applies the same deletions.
    wait_for(30, "old versions gone on every replica", || {
        let stores = stores.clone();
        async move {
            blocking(move || {
                for s in &stores {
                    cluster::gc::mvcc_gc_pass(s);
                }
                let counts: Vec<usize> = stores.iter().map(|s| table_keys(s)).collect();
                if counts.iter().all(|&n| n == 1) {
                    Ok(())
                } else {
                    Err(format!("{counts:?}"))
                }
            })
            .await
        }
    })
    .await;
    // The latest version is intact, read through every node.
    for n in &nodes {
        let v: String = sql(n)
            .await
            .query_one("SELECT v FROM t WHERE id = 1", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, "c");
    }
    // A read below the threshold fails with a clear error...
    let err = c
        .query_one("SELECT v FROM t AS OF SYSTEM TIME '-30s' WHERE id = 1", &[])
        .await
        .expect_err("a read below the GC threshold");
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "72000", "{db:?}");
    assert!(db.message().contains("GC threshold"), "{}", db.message());
    // ... on every replica, the follower-read path included: each applied the threshold.
    let span = txn::range::latch::Span {
        start: d.start.clone(),
        end: d.end.clone(),
    };
    for s in &stores {
        let old = kv::Timestamp::from_parts(s.now().physical_ms() - 30_000, 0);
        let h = txn::api::Header {
            txn: None,
            read_ts: old,
            uncertainty_limit: old,
            ignored: Vec::new(),
            observed: Vec::new(),
        };
        let req = txn::api::Request::Scan {
            start: d.start.clone(),
            end: d.end.clone(),
            limit: 100,
            lock: None,
        };
        let r = txn::range::follower_read(s.mvcc(), &span, &h, &req);
        assert!(
            matches!(r, Err(txn::Error::BelowGcThreshold { .. })),
            "node {}: {r:?}",
            s.node_id
        );
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
