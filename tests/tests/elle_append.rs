//! A randomized, high-contention list-append workload over pgwire against a real node, checked
//! for isolation anomalies by the Elle-style checker (`meridian_tests::elle`).
//!
//! 12 clients run short explicit transactions (1-4 reads and appends) over 8 keys; 40001
//! failures are recorded as failed transactions, other COMMIT errors as unknown outcomes. The
//! checker must find zero anomalies (G0, G1a, G1b, G1c, G-single, G2, incompatible orders...).

use cluster::{start_single_node, NodeConfig, StoreSpec};
use meridian_tests::elle::{self, workload};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_append_history_has_no_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single_node(NodeConfig::for_tests(StoreSpec::Path(
        dir.path().join("store"),
    )))
    .await
    .unwrap();
    let url = node.sql_url();
    workload::setup(&url).await.unwrap();
    let opts = workload::AppendOpts {
        clients: 12,
        keys: 8,
        max_ops: 4,
        txns_per_client: 400,
        max_duration: Duration::from_secs(30),
        seed: 0x5eed,
        begin: "BEGIN".into(),
    };
    let (history, stats) = workload::run(&url, &opts).await.unwrap();
    let report = elle::check(&history);
    println!(
        "elle: {} txns committed, {} retries/aborted (40001), {} other failures, {} unknown, \
         {} attempted in {:.1}s, {} dependency edges, anomalies found = {}",
        stats.committed,
        stats.retryable,
        stats.other_failed,
        stats.unknown,
        stats.attempted,
        stats.elapsed.as_secs_f64(),
        report.edges,
        report.anomalies.len()
    );
    for e in &stats.unexpected_errors {
        println!("unexpected error: {e}");
    }
    assert!(
        report.is_valid(),
        "anomalies {:?}:\n{}",
        report.counts(),
        report.explain(&history)
    );
    assert!(
        stats.committed >= 500,
        "too few commits to mean anything: {stats:?}"
    );
    assert!(
        stats.unexpected_errors.is_empty(),
        "errors other than 40001: {:?}",
        stats.unexpected_errors
    );
    node.shutdown().await.unwrap();
}

/// The checker against any server: `ELLE_URL=postgresql://... ELLE_BEGIN='BEGIN ISOLATION LEVEL
/// READ COMMITTED' cargo test -p meridian-tests --test elle_append -- --ignored --nocapture`.
/// With `ELLE_EXPECT_ANOMALIES=1` it asserts the checker *does* find some (PostgreSQL at READ
/// COMMITTED shows G-single and G2 within seconds), which shows the checker can see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ELLE_URL pointing at a running server"]
async fn list_append_against_external_server() {
    let Ok(url) = std::env::var("ELLE_URL") else {
        eprintln!("SKIPPED: set ELLE_URL");
        return;
    };
    let begin = std::env::var("ELLE_BEGIN").unwrap_or_else(|_| "BEGIN".into());
    workload::setup(&url).await.unwrap();
    let opts = workload::AppendOpts {
        clients: 12,
        keys: 8,
        max_ops: 4,
        txns_per_client: 400,
        max_duration: Duration::from_secs(30),
        seed: 0x5eed,
        begin,
    };
    let (history, stats) = workload::run(&url, &opts).await.unwrap();
    let report = elle::check(&history);
    println!(
        "elle: {} txns committed, {} retries/aborted, {} unknown, anomalies found = {} {:?}",
        stats.committed,
        stats.retryable,
        stats.unknown,
        report.anomalies.len(),
        report.counts()
    );
    let shown: String = report
        .explain(&history)
        .lines()
        .take(40)
        .collect::<Vec<_>>()
        .join("\n");
    println!("{shown}");
    if std::env::var("ELLE_EXPECT_ANOMALIES").is_ok_and(|v| v == "1") {
        assert!(!report.is_valid(), "expected anomalies at {}", opts.begin);
    } else {
        assert!(report.is_valid(), "anomalies {:?}", report.counts());
    }
}
