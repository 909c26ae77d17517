//! `meridian demo`: an in-process cluster on temporary (in-memory) stores, loaded with the
//! [`movr`] sample data set, served until Ctrl-C — CockroachDB's `cockroach demo`.
//!
//! - `--nodes N` (default 1) starts N replicated cluster nodes in one process over the local
//!   transport ([`crate::harness::cluster::LocalCluster`]), with CockroachDB demo's localities
//!   (nodes 1-3 in us-east1, 4-6 in us-west1, 7-9 in europe-west1, three zones each).
//! - `--global` starts nine such nodes and applies the built-in region-to-region RTT matrix
//!   ([`crate::transport::LatencyMatrix::global`], scaled by `--latency-scale`) to every
//!   message between them, then tries to make `movr` multi-region ([`multiregion`]). It prints
//!   one line per region, `region <name>: postgresql://...`, naming a gateway node there.
//!
//! The data is loaded over pgwire through node 1's SQL port, so the demo exercises the same
//! path as any client.
//!
//! IMPLEMENTATION CAVEATS
//! - Stores are in memory: nothing survives the demo (as in `cockroach demo`).
//! - Making `movr` multi-region needs the multi-region SQL statements; where the SQL layer
//!   does not support one yet, the demo logs it, prints which statement was not applied, and
//!   serves the data single-region ([`Demo::multi_region`] records every statement's fate).
//! - The latency matrix is keyed by region only: nodes in different zones of one region see
//!   the same (1 ms, scaled) round trip as nodes in the same zone.

pub mod movr;
pub mod multiregion;
mod welcome;

pub use movr::{data_statements, DEMO_PROMO_CODES, DEMO_RIDES, DEMO_USERS, DEMO_VEHICLES, SCHEMA};

use crate::harness::cluster::{LocalCluster, LocalClusterConfig};
use crate::harness::sqlutil::{connect, short_error, Outcome};
use anyhow::{anyhow, bail, Result};
use std::net::SocketAddr;

/// Nodes of `demo --global`.
pub const GLOBAL_NODES: usize = 9;

/// How to start the demo.
#[derive(Clone)]
pub struct DemoOptions {
    /// Number of nodes (`None`: 1, or 9 with `global`).
    pub nodes: Option<usize>,
    /// Nine nodes in three regions with simulated inter-region latency.
    pub global: bool,
    /// Multiplies the RTT matrix of `global` (1.0: realistic; CI uses less).
    pub latency_scale: f64,
    /// SQL address of node 1 (node i listens on port + i - 1; port 0: any).
    pub sql_addr: SocketAddr,
    /// HTTP address of node 1, numbered like `sql_addr`.
    pub http_addr: SocketAddr,
    /// Load the movr data set.
    pub load: bool,
    /// Faster Raft ticks and leases (tests).
    pub fast_timing: bool,
}

impl DemoOptions {
    /// One node, movr loaded, any free ports.
    pub fn new() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        DemoOptions {
            nodes: None,
            global: false,
            latency_scale: 1.0,
            sql_addr: any,
            http_addr: any,
            load: true,
            fast_timing: false,
        }
    }
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// A running demo.
pub struct Demo {
    /// The in-process cluster.
    pub cluster: LocalCluster,
    /// The database clients are pointed at (`movr`, or `defaultdb` when nothing was loaded).
    pub database: String,
    /// Whether the latency matrix is applied (`--global`).
    pub global: bool,
    /// What became of each statement that makes movr multi-region (empty unless `global`).
    pub multi_region: Vec<Outcome>,
}

impl Demo {
    /// `region <name>: postgresql://...` for each region, a gateway node in it.
    pub fn region_lines(&self) -> Vec<String> {
        self.cluster
            .gateways(&self.database)
            .into_iter()
            .map(|(r, url)| format!("region {r}: {url}"))
            .collect()
    }

    /// Node 1's connection URL.
    pub fn url(&self) -> String {
        self.cluster.url(0, &self.database).unwrap_or_default()
    }

    /// Stops every node.
    pub async fn shutdown(self) {
        self.cluster.shutdown().await
    }
}

/// Starts the demo cluster and, when asked, loads movr (and makes it multi-region with
/// `global`).
pub async fn start_demo(opts: DemoOptions) -> Result<Demo> {
    let nodes = match (opts.nodes, opts.global) {
        (Some(n), true) if n != GLOBAL_NODES => {
            bail!("--global runs {GLOBAL_NODES} nodes (three regions, three zones each); drop --nodes or give --nodes={GLOBAL_NODES}")
        }
        (Some(0), _) => bail!("--nodes must be at least 1"),
        (Some(n), _) => n,
        (None, true) => GLOBAL_NODES,
        (None, false) => 1,
    };
    if !(opts.latency_scale.is_finite() && opts.latency_scale >= 0.0) {
        bail!("--latency-scale must be a non-negative number");
    }
    let mut cfg = if opts.global {
        LocalClusterConfig::global(opts.latency_scale)
    } else {
        LocalClusterConfig::new(nodes)
    };
    if opts.fast_timing {
        cfg = cfg.fast_timing();
    }
    cfg.sql_addr = opts.sql_addr;
    cfg.http_addr = opts.http_addr;
    let cluster = LocalCluster::start(cfg).await?;
    let mut demo = Demo {
        cluster,
        database: "defaultdb".into(),
        global: opts.global,
        multi_region: Vec::new(),
    };
    if opts.load {
        if let Err(e) = load(&mut demo).await {
            demo.shutdown().await;
            return Err(e);
        }
    }
    Ok(demo)
}

async fn load(demo: &mut Demo) -> Result<()> {
    let base = demo.cluster.url(0, "defaultdb").unwrap_or_default();
    load_movr(&base).await?;
    demo.database = "movr".into();
    if demo.global {
        let url = demo.cluster.url(0, "movr").unwrap_or_default();
        let client = connect(&url).await?;
        demo.multi_region = multiregion::apply(&client, &demo.cluster.regions()).await;
    }
    Ok(())
}

/// Creates database `movr` through the node at `url` (any database) and loads the data set.
pub async fn load_movr(url: &str) -> Result<()> {
    let client = connect(url).await?;
    run(&client, "CREATE DATABASE movr").await?;
    run(&client, "SET database = movr").await?;
    for s in SCHEMA
        .iter()
        .map(|s| s.to_string())
        .chain(data_statements())
    {
        run(&client, &s).await?;
    }
    Ok(())
}

async fn run(client: &tokio_postgres::Client, stmt: &str) -> Result<()> {
    client.simple_query(stmt).await.map(|_| ()).map_err(|e| {
        let first_line = stmt.lines().next().unwrap_or_default();
        anyhow!("loading demo data: {first_line}...: {}", short_error(&e))
    })
}
