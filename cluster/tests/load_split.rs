//! Load-based splitting in an in-process node (crate::load, crate::load_split): a table
//! range read hard over all its rows passes a low QPS threshold and is split, at the key of
//! a stored row (never inside one), with every row still readable afterwards.

mod common;

use cluster::server::{start_node, ClusterNode};
use cluster::transport::LocalNetwork;
use common::{init_logging, node_config, sql, wait_for};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The first table's id.
const TABLE_ID: u64 = common::FIRST_TABLE_ID;
const ROWS: i64 = 200;
/// Requests per second above which the test's node splits a range.
const THRESHOLD: f64 = 50.0;

async fn table_ranges(node: &ClusterNode) -> Result<Vec<cluster::desc::RangeDescriptor>, String> {
    let dist = node.dist.clone();
    let all = tokio::task::spawn_blocking(move || dist.all_ranges())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let (start, end) = (
        kv::keys::table_prefix(TABLE_ID),
        kv::keys::table_prefix(TABLE_ID + 1),
    );
    Ok(all
        .into_iter()
        .filter(|d| d.start >= start && d.start < end)
        .collect())
}

/// The ranges of the table among `node`'s replicas.
fn table_ranges_local(node: &ClusterNode) -> Vec<kv::RangeId> {
    let start = kv::keys::table_prefix(TABLE_ID);
    let reps = node.store.replicas().into_iter();
    reps.filter(|r| r.desc().is_some_and(|d| d.start >= start))
        .map(|r| r.range_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_range_splits_at_a_row_boundary() {
    init_logging();
    let net = LocalNetwork::new();
    let mut cfg = node_config(&net, vec![]);
    cfg.store.load.split_qps_threshold = THRESHOLD;
    cfg.store.load.split_after = Duration::from_secs(1);
    cfg.store.load.rebalance = false;
    let node = start_node(cfg).await.expect("node");
    let c = sql(&node).await;
    c.batch_execute("CREATE TABLE t (id INT8 PRIMARY KEY, v INT8)")
        .await
        .unwrap();
    c.execute(
        "INSERT INTO t SELECT i, i * 10 FROM generate_series(0, $1) AS g(i)",
        &[&(ROWS - 1)],
    )
    .await
    .unwrap();
    // The table in a range of its own (no load on it yet: nothing splits it by load).
    let key = kv::keys::table_prefix(TABLE_ID);
    let dist = node.dist.clone();
    tokio::task::spawn_blocking(move || dist.split(&key))
        .await
        .unwrap()
        .expect("split");
    assert_eq!(table_ranges(&node).await.unwrap().len(), 1);

    // Point reads spread over every row, from two clients, until the range splits.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..2i64 {
        let (c, stop) = (sql(&node).await, stop.clone());
        readers.push(tokio::spawn(async move {
            let mut i = r;
            while !stop.load(Ordering::Relaxed) {
                let id = (i * 7919) % ROWS;
                let row = c
                    .query_one("SELECT v FROM t WHERE id = $1", &[&id])
                    .await
                    .expect("point read");
                assert_eq!(row.get::<_, i64>(0), id * 10);
                i += 2;
            }
        }));
    }
    let mut peak = 0.0f64;
    wait_for(60, "the table range split by load", || {
        let table = table_ranges_local(&node);
        let loads = cluster::load::leaseholder_qps(&node.store);
        for (_, qps) in loads.iter().filter(|(r, _)| table.contains(r)) {
            peak = peak.max(*qps);
        }
        let (node, seen) = (&node, peak);
        async move {
            let ranges = table_ranges(node).await?;
            if ranges.len() >= 2 {
                Ok(())
            } else {
                Err(format!("table peak {seen:.0} qps; {loads:?}; {ranges:?}"))
            }
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.expect("reader");
    }
    assert!(peak > THRESHOLD, "measured {peak} qps");

    // The split key is a stored row's key, strictly inside the table.
    let ranges = table_ranges(&node).await.unwrap();
    let split = &ranges[1].start;
    assert!(*split > kv::keys::table_prefix(TABLE_ID));
    let newest = node
        .store
        .mvcc()
        .newest_version_ts(split)
        .expect("read the split key");
    assert!(
        newest.is_some(),
        "split at {split:?}, which is no row's key"
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, ROWS);
    node.shutdown().await.unwrap();
}
