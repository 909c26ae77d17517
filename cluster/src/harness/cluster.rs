//! An in-process cluster of [`crate::server`] nodes on one [`LocalNetwork`], every node's
//! transport behind the same [`Filters`]: what `meridian demo` and the multi-region harness
//! run, and what tests start.
//!
//! Node 1 bootstraps the cluster; the others join it one after another (so node ids follow
//! the order of [`LocalClusterConfig::localities`]). Each node is placed in the filters under
//! its locality's `region` tier, so the RTT matrix applies to every Raft message and call
//! between nodes of different regions. Stores live in memory, as in `cockroach demo`.
//!
//! Faults: [`LocalCluster::stop`] shuts nodes down (their SQL ports close, their replicas
//! stop), [`LocalCluster::partition`] cuts them off from the rest through the filters
//! (their SQL servers stay up; their requests to other nodes fail).

use crate::config::{NodeConfig, StoreSpec};
use crate::server::{start_node, ClusterConfig, ClusterNode, Network};
use crate::store::StoreConfig;
use crate::transport::latency::{region_of, GLOBAL_REGIONS};
use crate::transport::{Filters, LatencyMatrix, LocalNetwork};
use anyhow::{bail, Context, Result};
use kv::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// A locality: `[("region", r), ("zone", z)]`.
pub type Locality = Vec<(String, String)>;

/// How to start an in-process cluster.
#[derive(Clone)]
pub struct LocalClusterConfig {
    /// One locality per node, in start order.
    pub localities: Vec<Locality>,
    /// The RTT matrix the filters apply (`None`: no delay).
    pub latency: Option<LatencyMatrix>,
    /// Whether the matrix applies while nodes join (true) or only once all have joined
    /// (false: a faster start; the data loaded afterwards sees the latency).
    pub latency_during_startup: bool,
    /// SQL address of node 1; node i listens on its port + i - 1 (port 0: any free port).
    pub sql_addr: SocketAddr,
    /// HTTP address of node 1, numbered like `sql_addr`.
    pub http_addr: SocketAddr,
    /// Replication, lease and timing settings of every node.
    pub store: StoreConfig,
}

impl LocalClusterConfig {
    /// `n` nodes with [`default_localities`], no latency, any free ports.
    pub fn new(n: usize) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        LocalClusterConfig {
            localities: default_localities(n),
            latency: None,
            latency_during_startup: false,
            sql_addr: any,
            http_addr: any,
            store: StoreConfig::default(),
        }
    }

    /// The nine-node global topology of `demo --global` with the built-in RTT matrix
    /// multiplied by `latency_scale`.
    pub fn global(latency_scale: f64) -> Self {
        LocalClusterConfig {
            latency: Some(LatencyMatrix::global().scaled(latency_scale)),
            ..Self::new(9)
        }
    }

    /// Faster Raft ticks and leases, for tests.
    pub fn fast_timing(mut self) -> Self {
        self.store.tick = Duration::from_millis(20);
        self.store.lease_duration = Duration::from_millis(1500);
        self.store.proposal_timeout = Duration::from_secs(5);
        self.store.dead_after = Duration::from_secs(3);
        self
    }
}

/// CockroachDB demo's localities: nodes 1-3 in us-east1 (zones b, c, d), 4-6 in us-west1
/// (a, b, c), 7-9 in europe-west1 (b, c, d); beyond nine the pattern repeats.
pub fn default_localities(n: usize) -> Vec<Locality> {
    const ZONES: [[&str; 3]; 3] = [["b", "c", "d"], ["a", "b", "c"], ["b", "c", "d"]];
    (0..n)
        .map(|i| {
            let r = (i / 3) % GLOBAL_REGIONS.len();
            let region = GLOBAL_REGIONS[r];
            let zone = format!("{region}-{}", ZONES[r][i % 3]);
            vec![
                ("region".to_string(), region.to_string()),
                ("zone".to_string(), zone),
            ]
        })
        .collect()
}

/// A running in-process cluster.
pub struct LocalCluster {
    /// The network the nodes share.
    pub net: LocalNetwork,
    /// The latency/fault filters every node's transport goes through.
    pub filters: Filters,
    /// The RTT matrix installed in the filters (empty when none).
    pub latency: LatencyMatrix,
    nodes: Vec<Option<ClusterNode>>,
    localities: Vec<Locality>,
    sql_addrs: Vec<SocketAddr>,
    node_ids: Vec<NodeId>,
}

fn offset(addr: SocketAddr, i: usize) -> Result<SocketAddr> {
    if addr.port() == 0 {
        return Ok(addr);
    }
    let port = u16::try_from(addr.port() as usize + i)
        .ok()
        .filter(|p| *p != 0)
        .with_context(|| format!("no port {} + {i} for node {}", addr.port(), i + 1))?;
    Ok(SocketAddr::new(addr.ip(), port))
}

impl LocalCluster {
    /// Starts the nodes one after another; returns once every node serves SQL.
    pub async fn start(cfg: LocalClusterConfig) -> Result<LocalCluster> {
        if cfg.localities.is_empty() {
            bail!("a cluster needs at least one node");
        }
        let net = LocalNetwork::new();
        let filters = Filters::new(1);
        let latency = cfg.latency.clone().unwrap_or_default();
        if cfg.latency_during_startup {
            latency.apply(&filters);
        }
        let mut cluster = LocalCluster {
            net: net.clone(),
            filters: filters.clone(),
            latency: latency.clone(),
            nodes: Vec::new(),
            localities: cfg.localities.clone(),
            sql_addrs: Vec::new(),
            node_ids: Vec::new(),
        };
        let mut join = Vec::new();
        for (i, locality) in cfg.localities.iter().enumerate() {
            let mut node = NodeConfig::for_tests(StoreSpec::Memory);
            node.sync_commits = false;
            node.sql_addr = offset(cfg.sql_addr, i)?;
            node.http_addr = offset(cfg.http_addr, i)?;
            let started = start_node(ClusterConfig {
                node,
                join: join.clone(),
                locality: locality.clone(),
                store: cfg.store.clone(),
                network: Network::Local(net.clone()),
                filters: Some(filters.clone()),
                bootstrap_if_alone: true,
            })
            .await;
            let started = match started {
                Ok(n) => n,
                Err(e) => {
                    cluster.shutdown().await;
                    return Err(e.context(format!("starting node {}", i + 1)));
                }
            };
            if join.is_empty() {
                join.push(started.handle.listen_addr().to_string());
            }
            tracing::info!(node = %started.node_id, ?locality, "demo node started");
            cluster.sql_addrs.push(started.handle.sql_addr());
            cluster.node_ids.push(started.node_id);
            cluster.nodes.push(Some(started));
        }
        latency.apply(&filters);
        Ok(cluster)
    }

    /// Number of nodes started (running or stopped).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never true for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i` (0-based, start order) while it runs.
    pub fn node(&self, i: usize) -> Option<&ClusterNode> {
        self.nodes.get(i).and_then(Option::as_ref)
    }

    /// Node `i`'s locality.
    pub fn locality(&self, i: usize) -> &[(String, String)] {
        self.localities
            .get(i)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Node `i`'s region ("" without one).
    pub fn region(&self, i: usize) -> &str {
        region_of(self.locality(i)).unwrap_or_default()
    }

    /// Node `i`'s zone ("" without one).
    pub fn zone(&self, i: usize) -> &str {
        self.locality(i)
            .iter()
            .find(|(k, _)| k == "zone")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// Node `i`'s id.
    pub fn node_id(&self, i: usize) -> Option<NodeId> {
        self.node_ids.get(i).copied()
    }

    /// Node `i`'s SQL URL for `database` (also after it stopped).
    pub fn url(&self, i: usize, database: &str) -> Option<String> {
        self.sql_addrs
            .get(i)
            .map(|a| crate::node::sql_url(*a, database))
    }

    /// The regions in order of their first node.
    pub fn regions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in 0..self.len() {
            let r = self.region(i);
            if !r.is_empty() && !out.iter().any(|x| x == r) {
                out.push(r.to_string());
            }
        }
        out
    }

    /// Indexes of the nodes in `region`, in start order.
    pub fn nodes_in_region(&self, region: &str) -> Vec<usize> {
        (0..self.len())
            .filter(|i| self.region(*i) == region)
            .collect()
    }

    /// Indexes of the nodes in `zone`.
    pub fn nodes_in_zone(&self, zone: &str) -> Vec<usize> {
        (0..self.len()).filter(|i| self.zone(*i) == zone).collect()
    }

    /// One gateway per region (its first node), as `(region, url)`.
    pub fn gateways(&self, database: &str) -> Vec<(String, String)> {
        self.regions()
            .into_iter()
            .filter_map(|r| {
                let first = *self.nodes_in_region(&r).first()?;
                Some((r, self.url(first, database)?))
            })
            .collect()
    }

    /// Messages sent between nodes of different regions since the start or the last
    /// `filters.reset_counts()`, per (sender region, destination region): Raft messages and
    /// calls, background traffic included. A REGIONAL BY ROW write in its home region still
    /// adds Raft appends to the non-voters elsewhere (asynchronous); to tell synchronous calls
    /// apart, use `filters.traffic()` (cluster/tests/multiregion_messages.rs does).
    pub fn cross_region_counts(&self) -> BTreeMap<(String, String), u64> {
        self.filters
            .counts()
            .into_iter()
            .filter(|((a, b), _)| a != b)
            .collect()
    }

    /// Cuts the nodes `idx` off from every other node (both directions), through the filters.
    pub fn partition(&self, idx: &[usize]) {
        let ids = |pred: &dyn Fn(usize) -> bool| -> Vec<NodeId> {
            (0..self.len())
                .filter(|i| pred(*i))
                .filter_map(|i| self.node_id(i))
                .collect()
        };
        let inside = ids(&|i| idx.contains(&i));
        let outside = ids(&|i| !idx.contains(&i));
        self.filters.partition(&inside, &outside);
    }

    /// Stops the nodes `idx` (already stopped ones are skipped).
    pub async fn stop(&mut self, idx: &[usize]) {
        for &i in idx {
            if let Some(node) = self.nodes.get_mut(i).and_then(Option::take) {
                if let Err(e) = node.shutdown().await {
                    tracing::warn!(node = i + 1, error = %e, "stopping node");
                }
            }
        }
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        let all: Vec<usize> = (0..self.len()).collect();
        self.filters.heal();
        self.stop(&all).await;
    }
}
