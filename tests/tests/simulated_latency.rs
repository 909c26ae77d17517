//! `meridian start --simulated-latency` on real processes: three nodes of one region whose
//! matrix sets a 300 ms round trip inside that region. Once the nodes have learned each
//! other's localities from their node records (the liveness loop, every 2 s), every write —
//! replicated to a quorum of two over the filtered gRPC transport — takes at least one RTT.
//!
//! Under CI load this test failed after 60 s with no slow write, the nodes having got ids 1,
//! 3 and 6. Two causes, found by running it in a loop and in-process:
//! - the product bug (fixed in replication/src/joint.rs, regression test
//!   cluster/tests/snapshot_latency.rs): the table's range starts with one voter, and the
//!   loop below writes to it as fast as it can (hundreds of writes per second, no round trip).
//!   The new replica, a learner fed over 300 ms links, trails by several hundred entries, and
//!   the leader refused to promote a learner more than 64 entries behind, so the range never
//!   got its second voter and every write stayed fast (reproduced: 130 s without a slow
//!   write, the learner in `Replicate` about 450 entries behind);
//! - slow cluster formation, which left little of one 60 s budget: after `init` node 1 first
//!   spends 10 s looking for peers (`learn_peers` in cluster/src/server.rs runs before it
//!   bootstraps range 1 because its peer list is empty); Join calls reaching it meanwhile wait
//!   for range 1 past the joiner's 5 s timeout and each retry allocates another node id (ids 1,
//!   3, 6 on a quiet machine too). Not fixed here (server.rs is not this test's).
//!
//! So the test waits on conditions, each phase with its own bound: node 1 serves SQL (CREATE
//! TABLE succeeds) within [`SQL_WITHIN`]; then three writes in a row wait for the RTT (the
//! range has a second voter on a node whose locality is known) within [`SLOW_WITHIN`]. A
//! failure names the phase, how long each took and what the writes saw.

use meridian_tests::cluster::{try_connect, ProcessCluster};
use std::time::{Duration, Instant};

const RTT: Duration = Duration::from_millis(300);
/// Bound on forming the cluster until node 1 serves SQL (about 10.5 s on a quiet machine).
const SQL_WITHIN: Duration = Duration::from_secs(120);
/// Bound on up-replication and locality learning after that (about 4 s on a quiet machine).
const SLOW_WITHIN: Duration = Duration::from_secs(120);

/// What the writes saw, for the failure message.
#[derive(Debug, Default)]
struct Writes {
    fast: u32,
    slow: u32,
    failed: u32,
    last_error: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_the_simulated_round_trip() {
    let started = Instant::now();
    let cluster = ProcessCluster::start(
        3,
        &[
            "--locality=region=r1,zone=r1-a",
            "--simulated-latency=r1:r1=300ms,r1:r2=50ms",
        ],
    );
    cluster.init();
    let initialised = started.elapsed();
    let url = cluster.nodes[0].url("defaultdb");
    let deadline = Instant::now() + SQL_WITHIN;
    let client = loop {
        if let Some(c) = try_connect(&url).await {
            if c.batch_execute("CREATE TABLE IF NOT EXISTS t (k INT PRIMARY KEY, v INT)")
                .await
                .is_ok()
            {
                break c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node 1 never served SQL within {SQL_WITHIN:?} of init ({initialised:?} after \
             the start):\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let serving = started.elapsed();
    // Until the localities are learned and the range has a second voter a write may be fast;
    // from then on none is: wait for three slow writes in a row.
    let deadline = Instant::now() + SLOW_WITHIN;
    let mut seen = Writes::default();
    let (mut in_a_row, mut k) = (0, 0);
    while in_a_row < 3 {
        assert!(
            Instant::now() < deadline,
            "no three writes in a row waited for the simulated RTT within {SLOW_WITHIN:?} of \
             serving SQL (init after {initialised:?}, SQL after {serving:?}); writes: \
             {seen:?}\n{}",
            cluster.logs()
        );
        k += 1;
        let began = Instant::now();
        let r = client.execute("UPSERT INTO t VALUES ($1, 1)", &[&k]).await;
        let took = began.elapsed();
        match r {
            Ok(_) if took >= RTT => {
                seen.slow += 1;
                in_a_row += 1;
            }
            Ok(_) => {
                seen.fast += 1;
                in_a_row = 0;
            }
            Err(e) => {
                seen.failed += 1;
                seen.last_error = Some(e.to_string());
                in_a_row = 0;
                // A failed write (a lease or membership change under load) is retried after a
                // pause rather than in a tight loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    eprintln!(
        "init after {initialised:?}, SQL after {serving:?}, three slow writes after {:?}; \
         writes: {seen:?}",
        started.elapsed()
    );
    assert!(
        cluster.nodes[0]
            .log_text()
            .contains("simulating inter-region latency"),
        "{}",
        cluster.nodes[0].log_text()
    );
}
