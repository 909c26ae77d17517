//! Regression test for a panic seen in CI: a client disconnected inside an open transaction
//! on a node that was not the leaseholder of the transaction's range, the SQL server rolled
//! the transaction back from the connection's async task, the rollback's EndTxn went through
//! the gRPC transport's `Handle::block_on`, which panicked ("Cannot start a runtime from
//! within a runtime"), and the task died.
//!
//! Three in-process nodes on the real gRPC transport; through every node a client writes in
//! an explicit transaction (and locks a row) and disconnects. No thread may panic, the
//! abandoned writes must be gone at once (a new transaction writes the same keys without
//! waiting for the abandoned ones to expire), and every node keeps serving.

use cluster::config::{NodeConfig, StoreSpec};
use cluster::server::{start_node, ClusterConfig, ClusterNode, Network};
use cluster::store::StoreConfig;
use meridian_tests::cluster::try_connect;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn config(join: Vec<String>) -> ClusterConfig {
    let mut node = NodeConfig::for_tests(StoreSpec::Memory);
    node.sync_commits = false;
    ClusterConfig {
        node,
        join,
        locality: vec![("region".into(), "local".into())],
        store: StoreConfig {
            tick: Duration::from_millis(20),
            lease_duration: Duration::from_millis(1500),
            ..StoreConfig::default()
        },
        network: Network::Grpc,
        filters: None,
        bootstrap_if_alone: true,
    }
}

/// Counts panics (and keeps their messages) from any thread, then reports as usual.
fn count_panics() -> (Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let (n, messages) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let (hook_n, hook_messages) = (n.clone(), messages.clone());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        hook_n.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut m) = hook_messages.lock() {
            m.push(info.to_string());
        }
        previous(info);
    }));
    (n, messages)
}

async fn client(node: &ClusterNode) -> tokio_postgres::Client {
    try_connect(&node.sql_url()).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closing_a_connection_inside_a_transaction_rolls_it_back_over_grpc() {
    let (panics, messages) = count_panics();
    let first = start_node(config(vec![])).await.expect("node 1");
    let join = vec![first.handle.listen_addr().to_string()];
    let mut nodes = vec![first];
    for i in 2..=3 {
        let n = start_node(config(join.clone()));
        nodes.push(n.await.unwrap_or_else(|e| panic!("node {i}: {e}")));
    }
    let c = client(&nodes[0]).await;
    c.batch_execute("CREATE TABLE t (k INT8 PRIMARY KEY, v INT8); INSERT INTO t VALUES (0, 0)")
        .await
        .expect("create");

    for (i, node) in nodes.iter().enumerate() {
        let k = i64::try_from(i + 1).expect("key");
        let abandoned = client(node).await;
        abandoned
            .batch_execute(&format!(
                "BEGIN; INSERT INTO t VALUES ({k}, 1); SELECT * FROM t WHERE k = 0 FOR UPDATE"
            ))
            .await
            .expect("open transaction");
        drop(abandoned);
        // The same keys, from another node: at once unless the abandoned transaction's
        // intent and lock outlived its connection.
        let other = client(&nodes[(i + 1) % nodes.len()]).await;
        let start = Instant::now();
        other
            .batch_execute(&format!(
                "SET statement_timeout = '20s'; INSERT INTO t VALUES ({k}, 2); \
                 UPDATE t SET v = v + 1 WHERE k = 0"
            ))
            .await
            .unwrap_or_else(|e| panic!("write after node {}'s client left: {e:?}", i + 1));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the abandoned transaction through node {} was not rolled back at close ({:?})",
            i + 1,
            start.elapsed()
        );
    }
    let rows = c
        .query("SELECT k, v FROM t ORDER BY k", &[])
        .await
        .expect("read back");
    let got: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(0, 3), (1, 2), (2, 2), (3, 2)]);
    assert_eq!(
        panics.load(Ordering::SeqCst),
        0,
        "panics: {:?}",
        messages.lock().map(|m| m.clone()).unwrap_or_default()
    );
    for n in nodes {
        n.shutdown().await.expect("shutdown");
    }
}
