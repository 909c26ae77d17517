//! Helpers shared by the cluster integration tests (each test file includes this module with
//! `mod common;`): test logging, bounded waits on a condition, SQL connections, the fast
//! timing of an in-process node on the local transport, and starting a cluster of them.
//!
//! Every test binary compiles its own copy and uses only some of the helpers, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use cluster::config::{NodeConfig, StoreSpec};
use cluster::server::{start_node, ClusterConfig, ClusterNode, Network};
use cluster::store::StoreConfig;
use cluster::transport::LocalNetwork;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

/// The descriptor id of the first table a test creates: the bootstrap databases (`defaultdb`,
/// `postgres`, `system`) take the first user ids.
pub const FIRST_TABLE_ID: u64 = sql::catalog::FIRST_USER_ID + 3;

/// How often [`wait_for`] checks its condition.
pub const POLL: Duration = Duration::from_millis(50);

/// Sends `tracing` output to the test's captured output (filtered by `RUST_LOG`); once per
/// binary, later calls do nothing.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Waits for `cond` (checked every [`POLL`]), failing with the last state seen after `secs`.
pub async fn wait_for<F, Fut>(secs: u64, what: &str, cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    wait_for_every(POLL, secs, what, cond).await
}

/// [`wait_for`], checking every `poll`.
pub async fn wait_for_every<F, Fut>(poll: Duration, secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match cond().await {
            Ok(()) => return,
            Err(last) if Instant::now() > deadline => panic!("{what}: timed out; last: {last}"),
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
}

/// A SQL client connected to `url` (its connection driven by a spawned task).
pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

/// A SQL client connected to `node`.
pub async fn sql(node: &ClusterNode) -> Client {
    connect(&node.sql_url()).await
}

/// The configuration of an in-memory node on `net` in region `local`, with timings shortened
/// for tests (20 ms ticks, 1.5 s leases, dead after 3 s), joining `join` (empty: the first
/// node, which bootstraps the cluster).
pub fn node_config(net: &LocalNetwork, join: Vec<String>) -> ClusterConfig {
    let store = StoreConfig {
        tick: Duration::from_millis(20),
        lease_duration: Duration::from_millis(1500),
        proposal_timeout: Duration::from_secs(5),
        dead_after: Duration::from_secs(3),
        ..StoreConfig::default()
    };
    let mut node = NodeConfig::for_tests(StoreSpec::Memory);
    node.sync_commits = false;
    node.max_offset_ms = 50;
    ClusterConfig {
        node,
        join,
        locality: vec![("region".into(), "local".into())],
        store,
        network: Network::Local(net.clone()),
        filters: None,
        bootstrap_if_alone: true,
    }
}

/// Starts `n` nodes on `net` with [`node_config`]: node 1 bootstraps the cluster, the others
/// join it one after another (so their ids are 1..=n).
pub async fn start_nodes(net: &LocalNetwork, n: usize) -> Vec<ClusterNode> {
    start_nodes_with(net, n, |_| {}).await
}

/// [`start_nodes`], each node's configuration changed by `tweak` first.
pub async fn start_nodes_with(
    net: &LocalNetwork,
    n: usize,
    tweak: impl Fn(&mut ClusterConfig),
) -> Vec<ClusterNode> {
    let mut nodes: Vec<ClusterNode> = Vec::with_capacity(n);
    for i in 1..=n {
        let mut cfg = node_config(net, join_addrs(&nodes));
        tweak(&mut cfg);
        let node = start_node(cfg)
            .await
            .unwrap_or_else(|e| panic!("node {i}: {e:#}"));
        nodes.push(node);
    }
    nodes
}

/// The `--join` list of a node joining `nodes` (node 1's address; empty when there is none).
pub fn join_addrs(nodes: &[ClusterNode]) -> Vec<String> {
    nodes
        .first()
        .map(|n| vec![n.handle.listen_addr().to_string()])
        .unwrap_or_default()
}
