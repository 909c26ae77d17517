//! Follow-the-workload lease placement in an in-process cluster (crate::follow): a table read
//! through one node's SQL has its range's lease moved to that node, and it stays there while
//! the reads go on, count balancing notwithstanding.

mod common;

use cluster::server::ClusterNode;
use cluster::transport::LocalNetwork;
use common::{init_logging, sql, start_nodes_with, wait_for, FIRST_TABLE_ID};
use kv::NodeId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The leaseholder of the range holding the table's first key, as `node`'s replica applied it.
fn table_leaseholder(node: &ClusterNode) -> Option<NodeId> {
    let start = kv::keys::table_prefix(FIRST_TABLE_ID);
    node.store
        .replicas()
        .into_iter()
        .find(|r| r.desc().is_some_and(|d| d.contains(&start)))
        .map(|r| r.lease().holder)
        .filter(|h| h.0 != 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lease_moves_to_the_node_its_reads_come_from() {
    init_logging();
    let net = LocalNetwork::new();
    let nodes = start_nodes_with(&net, 3, |cfg| {
        cfg.store.load.rebalance_interval = Duration::from_millis(200);
        cfg.store.load.split_qps_threshold = 0.0;
    })
    .await;
    let c = sql(&nodes[0]).await;
    c.batch_execute(
        "CREATE TABLE t (id INT8 PRIMARY KEY, v INT8); \
         INSERT INTO t SELECT i, i FROM generate_series(1, 100) AS g(i)",
    )
    .await
    .expect("table");
    wait_for(30, "the table's range has a leaseholder", || async {
        table_leaseholder(&nodes[0])
            .map(|_| ())
            .ok_or_else(|| "no lease yet".to_string())
    })
    .await;
    let holder = table_leaseholder(&nodes[0]).expect("holder");
    // Read from a node that does not hold the lease.
    let gateway = nodes
        .iter()
        .find(|n| n.node_id != holder)
        .expect("another node");
    let reader = sql(gateway).await;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let reads = tokio::spawn(async move {
        let mut n = 0u64;
        while !s.load(Ordering::Relaxed) {
            let id = (n % 100 + 1) as i64;
            let row = reader
                .query_one("SELECT v FROM t WHERE id = $1", &[&id])
                .await
                .expect("read");
            assert_eq!(row.get::<_, i64>(0), id);
            n += 1;
        }
        n
    });
    let target = gateway.node_id;
    wait_for(60, "the lease follows the reads", || async {
        match table_leaseholder(&nodes[0]) {
            Some(h) if h == target => Ok(()),
            other => Err(format!("leaseholder {other:?}, reads from {target}")),
        }
    })
    .await;
    // It stays while the reads go on (several rebalance passes).
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(table_leaseholder(&nodes[0]), Some(target));
    }
    stop.store(true, Ordering::Relaxed);
    let n = reads.await.expect("reader");
    assert!(n > 0);
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}
