//! The multi-region demo and harness, in-process with the latency matrix scaled down:
//! `demo --global` prints one `region <name>: postgresql://...` line per region and each URL
//! accepts queries; the transport filter delays cross-region calls by the (scaled) RTT and
//! counts them per region pair; the harness runs a short workload through a zone failure and
//! prints its latency table.
//!
//! The tests share one lock: each starts nine nodes, and two such clusters at once on a
//! two-core machine would measure each other.

mod common;

use cluster::demo::{start_demo, DemoOptions};
use cluster::harness::{self, Failure, HarnessOptions};
use cluster::rpc::NodeRequest;
use common::init_logging;
use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// RTTs are multiplied by this: us-west1 <-> europe-west1 is 146 ms * 0.1 = 14.6 ms.
const SCALE: f64 = 0.1;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_global_prints_a_url_per_region_and_delays_cross_region_traffic() {
    let _one = ONE_CLUSTER_AT_A_TIME.lock().await;
    init_logging();
    let demo = start_demo(DemoOptions {
        global: true,
        latency_scale: SCALE,
        fast_timing: true,
        ..DemoOptions::new()
    })
    .await
    .expect("demo --global starts");
    let welcome = demo.welcome();
    let lines: Vec<&str> = welcome
        .lines()
        .filter(|l| l.starts_with("region "))
        .collect();
    let regions: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("region ")?.split_once(": postgresql://"))
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        regions,
        ["us-east1", "us-west1", "europe-west1"],
        "{welcome}"
    );
    for line in &lines {
        let url = line.split_once(": ").map(|(_, u)| u).unwrap_or_default();
        let (client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        tokio::spawn(conn);
        let n: i64 = client
            .query_one("SELECT count(*) FROM users", &[])
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .get(0);
        assert_eq!(n, cluster::demo::DEMO_USERS as i64, "{line}");
    }

    // A call from us-west1 (node 4) to europe-west1 (node 7) waits the scaled RTT and is
    // counted under that region pair.
    let c = &demo.cluster;
    let (west, europe) = (3, 6);
    assert_eq!(
        (c.region(west), c.region(europe)),
        ("us-west1", "europe-west1")
    );
    let rtt = c.filters.rtt("us-west1", "europe-west1");
    assert_eq!(rtt, Duration::from_micros(14_600));
    let pair = ("us-west1".to_string(), "europe-west1".to_string());
    let before = c.filters.counts().get(&pair).copied().unwrap_or(0);
    let dist = c.node(west).expect("node 4 runs").dist.clone();
    let to = c.node_id(europe).expect("node 7's id");
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || dist.call(to, NodeRequest::KnownNodes))
        .await
        .expect("call task");
    let took = started.elapsed();
    assert!(answer.is_ok(), "{answer:?}");
    assert!(
        took >= rtt,
        "a cross-region call took {took:?}, less than the RTT {rtt:?}"
    );
    let after = c.filters.counts().get(&pair).copied().unwrap_or(0);
    assert!(
        after > before,
        "the call was not counted: {before} -> {after}"
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn harness_runs_through_a_zone_failure_and_prints_its_table() {
    let _one = ONE_CLUSTER_AT_A_TIME.lock().await;
    init_logging();
    let opts = HarnessOptions {
        duration: Duration::from_secs(4),
        latency_scale: SCALE,
        failure: Some(Failure::Zone("us-east1-c".into())),
        fail_at: Duration::from_secs(2),
        rows: 3,
        op_timeout: Duration::from_secs(3),
        fast_timing: true,
        ..HarnessOptions::default()
    };
    let report = harness::run(&opts).await.expect("harness runs");
    let text = harness::report::render(&report);
    assert!(
        text.contains("us-west1 <-> europe-west1: 14.6 ms")
            || text.contains("europe-west1 <-> us-west1: 14.6 ms"),
        "{text}"
    );
    assert!(text.contains("p50 ms") && text.contains("p99 ms"), "{text}");
    assert_eq!(report.phases.len(), 2, "{text}");
    assert!(report
        .failure
        .as_deref()
        .unwrap_or_default()
        .contains("zone us-east1-c"));
    // Every region's client measured point reads and writes before the failure.
    for region in ["us-east1", "us-west1", "europe-west1"] {
        for op in [
            harness::workload::Op::PointRead,
            harness::workload::Op::PointWrite,
        ] {
            assert!(
                report.rows.iter().any(|r| r.region == region
                    && r.op == op
                    && r.phase == "before failure"
                    && r.ops > 0),
                "no {op:?} from {region}:\n{text}"
            );
        }
    }
    // Cross-region messages were counted per region pair.
    assert!(
        report.phases[0]
            .cross_region_messages
            .keys()
            .any(|k| k == "us-west1 -> us-east1"),
        "{text}"
    );
    // Rows carry the injected RTTs next to the latencies.
    let west = report
        .rows
        .iter()
        .find(|r| r.region == "us-west1")
        .expect("a us-west1 row");
    assert_eq!((west.rtt_primary_ms, west.rtt_nearest_ms), (6.6, 6.6));
}
