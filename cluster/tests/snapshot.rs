//! Raft snapshots streamed in chunks (cluster/src/store/snapshot.rs), on in-process nodes with
//! a 64 KiB chunk size:
//! - a range of several MiB on one node is up-replicated to a second node that joins: the
//!   snapshot arrives in many chunks, none larger than the chunk size and a row, and the new
//!   replica's data is identical to the first node's; no staged chunk is left behind;
//! - a stream that loses a chunk (a fault-injecting transport drops chunk 2 of every attempt)
//!   is refused by the receiver and aborted by the sender, and leaves nothing visible on the
//!   receiver; once the network is healthy again a retry succeeds with identical data.

mod common;

use cluster::server::ClusterNode;
use cluster::store::Store;
use cluster::transport::filter::Filters;
use cluster::transport::LocalNetwork;
use common::{init_logging, node_config, sql, wait_for, FIRST_TABLE_ID};
use kv::engine::Visit;
use kv::RangeId;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const TABLE_ID: u64 = FIRST_TABLE_ID;
const CHUNK: usize = 64 << 10;
const ROWS: i32 = 300;
const ROW_BYTES: usize = 16 << 10;

fn config(
    net: &LocalNetwork,
    join: Vec<String>,
    filters: &Option<Filters>,
) -> cluster::server::ClusterConfig {
    let mut c = node_config(net, join);
    c.store.snapshot_chunk_bytes = CHUNK;
    c.filters = filters.clone();
    c
}

/// Every key and value of the table's data on `store`.
fn table_data(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    let start = kv::mvcc::meta_key(&kv::keys::table_prefix(TABLE_ID));
    let end = kv::mvcc::meta_key(&kv::keys::table_prefix(TABLE_ID + 1));
    let mut out = Vec::new();
    let _ = store.engine().scan(&start, Some(&end), &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Visit::Continue
    });
    out
}

/// Node 1 alone with a table of ROWS x ROW_BYTES (about 4.7 MiB) in a range of its own.
async fn loaded_first_node(
    net: &LocalNetwork,
    filters: &Option<Filters>,
) -> (ClusterNode, RangeId) {
    let first = cluster::server::start_node(config(net, vec![], filters))
        .await
        .expect("node 1");
    let c = sql(&first).await;
    c.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        .await
        .expect("create");
    let dist = first.dist.clone();
    tokio::task::spawn_blocking(move || dist.split(&kv::keys::table_prefix(TABLE_ID)))
        .await
        .expect("task")
        .expect("split");
    let payload = "x".repeat(ROW_BYTES);
    for i in 0..ROWS {
        c.execute("INSERT INTO t VALUES ($1, $2)", &[&i, &payload])
            .await
            .expect("insert");
    }
    let store = first.dist.store().clone();
    let range = store
        .replica_for_key(&kv::keys::table_prefix(TABLE_ID))
        .map(|r| r.range_id)
        .expect("the table's range");
    let bytes: usize = table_data(&store)
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    assert!(bytes > 4 << 20, "the range holds {bytes} bytes");
    (first, range)
}

async fn join_second(
    net: &LocalNetwork,
    first: &ClusterNode,
    filters: &Option<Filters>,
) -> ClusterNode {
    let join = vec![first.handle.listen_addr().to_string()];
    cluster::server::start_node(config(net, join, filters))
        .await
        .expect("node 2")
}

/// Waits until `to` holds an initialised replica of `range` whose table data equals `from`'s.
async fn wait_identical(from: &Arc<Store>, to: &Arc<Store>, range: RangeId) {
    wait_for(
        60,
        "the new replica's data identical to the first node's",
        || {
            let (from, to) = (from.clone(), to.clone());
            async move {
                if !to.replica(range).is_some_and(|r| r.initialized()) {
                    return Err("no initialised replica yet".into());
                }
                let (a, b) = (table_data(&from), table_data(&to));
                if a != b {
                    return Err(format!(
                        "{} keys here, {} on the new node",
                        a.len(),
                        b.len()
                    ));
                }
                Ok(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_node_receives_a_multi_mib_range_in_chunks() {
    init_logging();
    let net = LocalNetwork::new();
    let (first, range) = loaded_first_node(&net, &None).await;
    let second = join_second(&net, &first, &None).await;
    let (s1, s2) = (first.dist.store().clone(), second.dist.store().clone());
    wait_identical(&s1, &s2, range).await;

    let got = s2.snapshot_stats();
    assert!(got.chunks_staged >= 60, "{got:?}");
    assert!(
        got.max_chunk_bytes < (CHUNK + 2 * ROW_BYTES) as u64,
        "{got:?}"
    );
    assert!(got.applied >= 1, "{got:?}");
    assert!(s1.snapshot_stats().sent >= 1, "{:?}", s1.snapshot_stats());
    assert_eq!(
        s2.staged_snapshot_keys(range),
        0,
        "staged chunks left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_snapshot_leaves_the_receiver_clean_and_a_retry_succeeds() {
    init_logging();
    let net = LocalNetwork::new();
    let filters = Filters::new(3);
    let failing = Arc::new(AtomicBool::new(true));
    let target = Arc::new(AtomicU64::new(0));
    {
        let (failing, target) = (failing.clone(), target.clone());
        filters.set_drop_rule(Some(Arc::new(move |env| {
            failing.load(Ordering::SeqCst)
                && env.range_id.0 == target.load(Ordering::SeqCst)
                && cluster::store::snapshot::chunk_of(env).is_some_and(|(_, seq)| seq == 2)
        })));
    }
    let filters = Some(filters);
    let (first, range) = loaded_first_node(&net, &filters).await;
    target.store(range.0, Ordering::SeqCst);
    let second = join_second(&net, &first, &filters).await;
    let (s1, s2) = (first.dist.store().clone(), second.dist.store().clone());

    wait_for(60, "two snapshot streams aborted", || {
        let s1 = s1.clone();
        async move {
            let st = s1.snapshot_stats();
            if st.aborted >= 2 {
                Ok(())
            } else {
                Err(format!("{st:?}"))
            }
        }
    })
    .await;
    // The receiver saw chunks 0, 1 and 3 of each attempt and nothing of them is visible.
    assert!(
        table_data(&s2).is_empty(),
        "data of a refused snapshot is visible"
    );
    assert!(
        !s2.replica(range).is_some_and(|r| r.initialized()),
        "a replica was initialised from a refused snapshot"
    );

    failing.store(false, Ordering::SeqCst);
    wait_identical(&s1, &s2, range).await;
    assert_eq!(
        s2.staged_snapshot_keys(range),
        0,
        "staged chunks left behind"
    );
}
