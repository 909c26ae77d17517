//! Up-replication under a steady write load over slow links (in-process nodes, 300 ms
//! simulated round trips): the table's range starts with one voter taking fast writes in a
//! tight loop, and must still get its second voter within seconds. The new replica is a
//! learner that receives a snapshot and then trails the leader by about (write rate x round
//! trip) entries, several hundred here; the leader used to refuse its promotion until it was
//! within 64 entries of the commit index, which never happened while the writes went on
//! (replication/src/joint.rs: now a learner that can catch up from the leader's log is
//! promoted). Found by tests/tests/simulated_latency.rs failing under load.

mod common;

use cluster::transport::filter::Filters;
use cluster::transport::LocalNetwork;
use common::{node_config, sql};
use std::time::{Duration, Instant};

const RTT: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_range_under_steady_writes_gets_its_second_voter_over_slow_links() {
    common::init_logging();
    let net = LocalNetwork::new();
    let filters = Filters::new(1);
    filters.set_rtt("local", "local", RTT);
    let config = |join: Vec<String>, id: u64| {
        let mut c = node_config(&net, join);
        c.filters = Some(filters.clone());
        filters.set_locality(kv::NodeId(id), "local");
        c
    };
    let first = cluster::server::start_node(config(vec![], 1))
        .await
        .expect("node 1");
    let join = vec![first.handle.listen_addr().to_string()];
    let mut others = Vec::new();
    for id in 2..=3 {
        let node = cluster::server::start_node(config(join.clone(), id)).await;
        others.push(node.expect("joining node"));
    }
    let c = sql(&first).await;
    c.batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v INT)")
        .await
        .expect("create");
    // Writes are fast while the range has one voter and take a round trip once it has two.
    let started = Instant::now();
    let (mut in_a_row, mut k, mut fast) = (0, 0, 0);
    while in_a_row < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "no write waited for the round trip within 25 s ({fast} fast writes)"
        );
        k += 1;
        let began = Instant::now();
        c.execute("UPSERT INTO t VALUES ($1, 1)", &[&k])
            .await
            .expect("upsert");
        if began.elapsed() >= RTT {
            in_a_row += 1;
        } else {
            in_a_row = 0;
            fast += 1;
        }
    }
}
