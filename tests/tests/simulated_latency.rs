//! `meridian start --simulated-latency` on real processes: three nodes of one region whose
//! matrix sets a 300 ms round trip inside that region. Once the nodes have learned each
//! other's localities from their node records (the liveness loop, every 2 s), every write —
//! replicated to a quorum of two over the filtered gRPC transport — takes at least one RTT.

use meridian_tests::cluster::{try_connect, ProcessCluster};
use std::time::{Duration, Instant};

const RTT: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_the_simulated_round_trip() {
    let cluster = ProcessCluster::start(
        3,
        &[
            "--locality=region=r1,zone=r1-a",
            "--simulated-latency=r1:r1=300ms,r1:r2=50ms",
        ],
    );
    cluster.init();
    let url = cluster.nodes[0].url("defaultdb");
    let deadline = Instant::now() + Duration::from_secs(60);
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
            "node 1 never served SQL:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Until the localities are learned and the range has a second voter a write may be fast;
    // from then on none is: wait for three slow writes in a row.
    let mut slow = 0;
    let mut k = 0;
    while slow < 3 {
        assert!(
            Instant::now() < deadline,
            "no write waited for the simulated RTT within 60 s:\n{}",
            cluster.logs()
        );
        k += 1;
        let started = Instant::now();
        let ok = client
            .execute("UPSERT INTO t VALUES ($1, 1)", &[&k])
            .await
            .is_ok();
        slow = if ok && started.elapsed() >= RTT {
            slow + 1
        } else {
            0
        };
    }
    assert!(
        cluster.nodes[0]
            .log_text()
            .contains("simulating inter-region latency"),
        "{}",
        cluster.nodes[0].log_text()
    );
}
