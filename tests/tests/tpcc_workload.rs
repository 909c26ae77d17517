//! `meridian workload ... tpcc` end to end on an in-process single node: load one warehouse,
//! run the five transactions for a few seconds from two connections, and verify the spec's
//! consistency conditions 1-4, through the library and through the `meridian` binary's
//! `workload check tpcc` (exit code 0).
//!
//! The load uses `--scale 0.1` (NON-SPEC: 10,000 items, 300 customers and orders per district)
//! so the test takes seconds in debug builds; the transactions and checks are the same code as
//! at full scale.

use cluster::workload::tpcc::{self, CheckOpts, InitOpts, RunOpts, Scale};
use cluster::{start_single_node, NodeConfig, StoreSpec};
use meridian_tests::process::meridian_bin;
use std::process::Command;
use std::time::{Duration, Instant};

const SCALE: f64 = 0.1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpcc_init_run_check_on_one_node() {
    let started = Instant::now();
    let node = start_single_node(NodeConfig::for_tests(StoreSpec::Memory))
        .await
        .expect("start node");
    let url = node.sql_url();
    let scale = Scale::with_factor(SCALE).expect("scale");
    tpcc::init(&InitOpts {
        warehouses: 1,
        drop: false,
        load_concurrency: 2,
        scale,
        partitions: None,
        regions: Vec::new(),
        survival_goal: "zone".into(),
        url: url.clone(),
    })
    .await
    .expect("init tpcc");
    let loaded = started.elapsed();

    // Loading again without --drop refuses to touch the existing tables.
    let again = tpcc::init(&InitOpts {
        warehouses: 1,
        drop: false,
        load_concurrency: 1,
        scale,
        partitions: None,
        regions: Vec::new(),
        survival_goal: "zone".into(),
        url: url.clone(),
    })
    .await;
    assert!(
        format!("{:#}", again.expect_err("second init")).contains("--drop"),
        "a second init must ask for --drop"
    );

    let before = tpcc::check(&CheckOpts {
        warehouses: 1,
        url: url.clone(),
    })
    .await
    .expect("check after load");
    assert!(before.iter().all(|c| c.violations.is_empty()), "{before:?}");

    let result = tpcc::run(&RunOpts {
        warehouses: 1,
        duration: Duration::from_secs(5),
        ramp: Duration::ZERO,
        concurrency: Some(2),
        wait: false,
        wait_scale: 1.0,
        isolation: "serializable".into(),
        scale,
        seed: Some(42),
        json: true,
        partitions: None,
        partition_affinity: Vec::new(),
        regions: Vec::new(),
        urls: vec![url.clone()],
    })
    .await
    .expect("run tpcc");
    let new_orders = &result.transactions[0].summary;
    assert_eq!(new_orders.op, "newOrder");
    assert!(new_orders.ops > 0, "no New-Order completed: {result:?}");
    assert!(result.tpmc > 0.0, "{result:?}");
    assert_eq!(result.errors, 0, "{result:?}");
    let payments = &result.transactions[1].summary;
    assert!(payments.ops > 0, "{result:?}");

    let after = tpcc::check(&CheckOpts {
        warehouses: 1,
        url: url.clone(),
    })
    .await
    .expect("check after run");
    assert!(after.iter().all(|c| c.violations.is_empty()), "{after:?}");

    // The binary's command shape and exit code; a wrong warehouse count fails the check.
    let check = |w: &str| {
        Command::new(meridian_bin())
            .args(["workload", "check", "tpcc", "--warehouses", w, &url])
            .output()
            .expect("run meridian workload check tpcc")
    };
    let ok = check("1");
    let stdout = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(stdout.matches(": ok").count(), 4, "{stdout}");
    let bad = check("2");
    assert!(
        !bad.status.success(),
        "check must fail with the wrong warehouse count"
    );

    node.shutdown().await.expect("shutdown");
    eprintln!(
        "tpcc test: loaded in {loaded:?}, total {:?}, {} New-Orders",
        started.elapsed(),
        new_orders.ops
    );
}
