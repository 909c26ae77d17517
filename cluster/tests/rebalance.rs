//! Rebalancing by count in an in-process cluster (crate::rebalance): ranges split on one
//! node end with their leases spread over the three nodes, and a fourth node that joins
//! receives voters until every node holds about the mean.

mod common;

use cluster::server::{start_node, ClusterConfig, ClusterNode};
use cluster::transport::LocalNetwork;
use common::{init_logging, node_config, wait_for};
use kv::NodeId;
use std::collections::BTreeMap;
use std::time::Duration;

/// Ranges the test makes besides the ones the cluster starts with.
const SPLITS: u8 = 14;

fn config(net: &LocalNetwork, join: Vec<String>) -> ClusterConfig {
    let mut cfg = node_config(net, join);
    cfg.store.load.rebalance_interval = Duration::from_millis(200);
    cfg.store.load.rebalance_target_min_live = Duration::from_secs(1);
    cfg.store.load.split_qps_threshold = 0.0;
    cfg
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

async fn ranges(node: &ClusterNode) -> Result<Vec<cluster::desc::RangeDescriptor>, String> {
    let dist = node.dist.clone();
    blocking(move || dist.all_ranges())
        .await
        .map_err(|e| e.to_string())
}

/// Every range has three voters; returns replicas per node.
async fn replica_counts(node: &ClusterNode) -> Result<BTreeMap<NodeId, usize>, String> {
    let all = ranges(node).await?;
    let mut out = BTreeMap::new();
    for d in &all {
        if d.replicas.len() != 3 {
            return Err(format!("range {} has {:?}", d.range_id, d.replicas));
        }
        for r in &d.replicas {
            *out.entry(r.node_id).or_default() += 1;
        }
    }
    Ok(out)
}

/// Leases per node as node 1 sees them (exact while every node holds every range).
fn lease_counts(node: &ClusterNode) -> BTreeMap<NodeId, usize> {
    cluster::rebalance::lease_counts(&node.store).leases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_spread_and_a_new_node_gets_its_share_of_replicas() {
    init_logging();
    let net = LocalNetwork::new();
    let n1 = start_node(config(&net, vec![])).await.expect("node 1");
    let join = vec![n1.handle.listen_addr().to_string()];
    let n2 = start_node(config(&net, join.clone()))
        .await
        .expect("node 2");
    let n3 = start_node(config(&net, join.clone()))
        .await
        .expect("node 3");
    wait_for(30, "range 1 on three nodes", || async {
        replica_counts(&n1).await.map(|_| ())
    })
    .await;

    // Split from node 1: every new range starts with node 1 leading it.
    for i in 0..SPLITS {
        let mut key = kv::keys::table_prefix(200);
        key.push(i);
        let dist = n1.dist.clone();
        blocking(move || dist.split(&key)).await.expect("split");
    }
    let total = ranges(&n1).await.expect("ranges").len();
    assert!(total > usize::from(SPLITS), "{total} ranges");
    eprintln!("leases after the splits: {:?}", lease_counts(&n1));

    // Leases spread: every node within the threshold of its third.
    let share = total as f64 / 3.0;
    wait_for(60, "leases spread over three nodes", || async {
        let c = lease_counts(&n1);
        let spread = [n1.node_id, n2.node_id, n3.node_id].iter().all(|n| {
            let l = c.get(n).copied().unwrap_or(0) as f64;
            l <= share * 1.05 + 1.0 && l >= share * 0.95 - 1.0
        });
        if spread && c.values().sum::<usize>() == total {
            Ok(())
        } else {
            Err(format!("{c:?} of {total}"))
        }
    })
    .await;

    // A fourth node joins: voters move to it until every node is within the threshold
    // of the mean, each range keeping three voters.
    let n4 = start_node(config(&net, join)).await.expect("node 4");
    let mean = total as f64 * 3.0 / 4.0;
    wait_for(90, "replicas rebalanced onto node 4", || async {
        let c = replica_counts(&n1).await?;
        let even = [n1.node_id, n2.node_id, n3.node_id, n4.node_id]
            .iter()
            .all(|n| {
                let r = c.get(n).copied().unwrap_or(0) as f64;
                r <= mean * 1.05 + 1.0 && r >= mean * 0.95 - 1.0
            });
        if even {
            Ok(())
        } else {
            Err(format!("{c:?}, mean {mean}"))
        }
    })
    .await;
    // And it stays so: a few more passes move nothing back.
    let before = ranges(&n1).await.expect("ranges");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = replica_counts(&n1).await.expect("counts");
    assert!(
        c.values()
            .all(|r| (*r as f64) <= mean * 1.05 + 1.0 && (*r as f64) >= mean * 0.95 - 1.0),
        "{c:?} after {before:?}"
    );

    for n in [n1, n2, n3, n4] {
        n.shutdown().await.unwrap();
    }
}
