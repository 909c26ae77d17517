//! A three-node in-process cluster over the local transport: nodes join, range 1 is
//! up-replicated to all three, SQL works through any node, a split at the table's start gives
//! the table a range of its own (its rows all in it), and losing one node leaves the data
//! readable and writable through the others.

mod common;

use cluster::server::ClusterNode;
use cluster::transport::LocalNetwork;
use common::{init_logging, sql, start_nodes, wait_for, FIRST_TABLE_ID};

async fn replica_count(node: &ClusterNode) -> Result<(), String> {
    let dist = node.dist.clone();
    let ranges = tokio::task::spawn_blocking(move || dist.all_ranges())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if ranges.iter().all(|d| d.replicas.len() == 3) {
        Ok(())
    } else {
        Err(format!("{ranges:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_replicate_split_and_survive_a_node_loss() {
    init_logging();
    let net = LocalNetwork::new();
    let [n1, n2, n3]: [ClusterNode; 3] = start_nodes(&net, 3)
        .await
        .try_into()
        .unwrap_or_else(|_| panic!("three nodes"));
    assert_eq!(
        (n1.node_id.0, n2.node_id.0, n3.node_id.0),
        (1, 2, 3),
        "node ids come from the cluster's counter"
    );
    wait_for(30, "range 1 on three nodes", || replica_count(&n1)).await;

    let c2 = sql(&n2).await;
    c2.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    for i in 0..50 {
        c2.execute("INSERT INTO t VALUES ($1, $2)", &[&i, &format!("v{i}")])
            .await
            .unwrap();
    }
    let c3 = sql(&n3).await;
    let n: i64 = c3
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 50);

    // Split at the table's start so the table gets a range of its own.
    let start = kv::keys::table_prefix(FIRST_TABLE_ID);
    let key = start.clone();
    let dist = n3.dist.clone();
    tokio::task::spawn_blocking(move || dist.split(&key))
        .await
        .unwrap()
        .expect("split");
    wait_for(30, "both ranges on three nodes", || replica_count(&n1)).await;
    let ranges = {
        let d = n2.dist.clone();
        tokio::task::spawn_blocking(move || d.all_ranges())
            .await
            .unwrap()
            .unwrap()
    };
    assert!(ranges.len() >= 2, "{ranges:?}");
    // The table's whole key span is one range starting at its prefix: its own.
    let next = kv::keys::table_prefix(FIRST_TABLE_ID + 1);
    let table = ranges.iter().find(|d| d.contains(&start));
    assert!(
        table.is_some_and(|d| d.start == start && d.end.as_ref().is_none_or(|e| *e >= next)),
        "the table's range: {ranges:?}"
    );

    // Lose node 1; writes and reads continue through nodes 2 and 3.
    n1.shutdown().await.unwrap();
    wait_for(60, "writes after losing node 1", || {
        let c2 = &c2;
        async move {
            c2.execute("INSERT INTO t VALUES (1000, 'after')", &[])
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        }
    })
    .await;
    let n: i64 = c3
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 51);
    n2.shutdown().await.unwrap();
    n3.shutdown().await.unwrap();
}
