//! Lease transfers under a stream of writes: moving a busy range's lease around the cluster
//! costs its writers a retry at most, never a write that hangs until the proposal timeout and
//! fails as ambiguous (40003). That happened when the new leaseholder's proposals were
//! forwarded to a Raft leader that was handing leadership over to it (raft-rs drops those
//! silently); a follower now holds its proposals back until it leads
//! (cluster/src/store/raftloop.rs, `Loop::propose`).

mod common;

use cluster::server::ClusterNode;
use cluster::transport::LocalNetwork;
use common::{init_logging, sql, start_nodes_with, wait_for, FIRST_TABLE_ID};
use kv::{NodeId, RangeId};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The range holding the table's first key and its leaseholder, as `node` sees them.
fn table_range(node: &ClusterNode) -> Option<(RangeId, NodeId)> {
    let start = kv::keys::table_prefix(FIRST_TABLE_ID);
    node.store
        .replicas()
        .into_iter()
        .find(|r| r.desc().is_some_and(|d| d.contains(&start)))
        .map(|r| (r.range_id, r.lease().holder))
        .filter(|(_, h)| h.0 != 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_a_busy_lease_never_strands_a_write() {
    init_logging();
    let net = LocalNetwork::new();
    let nodes = start_nodes_with(&net, 3, |cfg| {
        cfg.store.load.rebalance = false;
        cfg.store.load.split_qps_threshold = 0.0;
    })
    .await;
    let c = sql(&nodes[0]).await;
    c.batch_execute("CREATE TABLE t (id INT8 PRIMARY KEY, n INT8)")
        .await
        .expect("table");
    wait_for(
        30,
        "the table's range has three voters and a lease",
        || async {
            match table_range(&nodes[0]) {
                Some((r, _)) => {
                    let d = nodes[0].store.replica(r).and_then(|r| r.desc());
                    match d {
                        Some(d) if d.replicas.len() == 3 => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
                None => Err("no lease yet".into()),
            }
        },
    )
    .await;

    // Writers through every node; each write must finish well within the proposal timeout.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let client = sql(node).await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let (mut n, mut slowest) = (0i64, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let id = (n % 10) * 3 + i as i64;
                let r = client
                    .execute("UPSERT INTO t VALUES ($1, $2)", &[&id, &n])
                    .await;
                if let Err(e) = r {
                    let code = e.code().map(|c| c.code().to_string());
                    // Serialization retries are the client's business; nothing else may fail.
                    assert_eq!(code.as_deref(), Some("40001"), "write failed: {e:?}");
                }
                slowest = slowest.max(t.elapsed());
                n += 1;
            }
            (n, slowest)
        }));
    }

    // Move the lease around: node 1 -> 2 -> 3 -> 1 ..., from whichever node holds it.
    for round in 0..40u64 {
        let (range, holder) = table_range(&nodes[0]).expect("range");
        let next = nodes
            .iter()
            .map(|n| n.node_id)
            .find(|n| n.0 == holder.0 % 3 + 1)
            .expect("next node");
        let from = nodes
            .iter()
            .find(|n| n.node_id == holder)
            .expect("holder node")
            .store
            .clone();
        let moved = tokio::task::spawn_blocking(move || from.transfer_lease(range, next))
            .await
            .expect("transfer task");
        if let Err(e) = moved {
            // E.g. the lease lapsed between the look and the transfer: try the next round.
            eprintln!("round {round}: transfer to {next} failed: {e}");
            continue;
        }
        wait_for(30, "the new lease applied", || async {
            match table_range(&nodes[0]) {
                Some((_, h)) if h == next => Ok(()),
                other => Err(format!("{other:?}, want {next}")),
            }
        })
        .await;
        // Let the writers run under the new holder before the next move.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let (n, slowest) = w.await.expect("writer");
        assert!(n > 0);
        assert!(
            slowest < Duration::from_secs(3),
            "a write took {slowest:?} (the proposal timeout is 5 s)"
        );
    }
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}
