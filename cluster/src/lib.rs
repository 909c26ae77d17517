//! The node: everything that turns the storage, transaction, replication and SQL crates into a
//! running Meridian process, and the `meridian` command-line tool around it.
//!
//! - [`config`]: node configuration parsed from CockroachDB-shaped flags.
//! - [`node`]: [`start_single_node`] runs one unreplicated node (`start-single-node`).
//! - [`server`]: [`server::start_node`] runs a node of a replicated cluster (`meridian start`):
//!   its [`store`] of replicas (one Raft thread for all of them, apply, leases, splits,
//!   membership), the [`dist`] sender that routes requests to leaseholders, the [`allocator`],
//!   the [`rpc`] vocabulary between nodes over a [`transport`] (tonic, in-process, or
//!   fault-injecting), liveness, and SQL through [`txns`]. docs/cluster.md explains it.
//! - [`desc`]: range descriptors, leases, replicated commands and the addressing keys.
//! - [`clusterctl`]: `meridian init`, `node status`, `node decommission`.
//! - [`demo`]: `meridian demo`, an in-process cluster on temporary stores with sample data
//!   (`--global`: nine nodes in three regions); [`harness`]: the multi-region harness.
//! - [`placement`], [`spancfg`], [`closedts`]: where replicas and leases go, the span configs
//!   multi-region SQL writes, and closed timestamps for follower reads.
//! - [`shell`]: `meridian sql`, the interactive SQL client.
//! - [`workload`]: `meridian workload`, load generators for benchmarks.
//!
//! Tests start nodes in-process with [`NodeConfig::for_tests`] (every port 0) and read the
//! bound addresses back from the handle; clusters run in-process over
//! [`transport::LocalNetwork`].
//!
//! IMPLEMENTATION CAVEATS
//! - `start-single-node` uses the single-node store (no Raft, one range).
//! - No TLS or authentication; `--insecure` is required. The rest is listed at the end of
//!   docs/cluster.md.

pub mod admin;
pub mod allocator;
pub mod banner;
pub mod closedts;
pub mod clusterctl;
pub mod config;
pub mod demo;
pub mod desc;
pub mod dist;
pub mod follow;
pub mod gc;
pub mod harness;
pub mod http;
pub mod load;
pub mod load_split;
pub mod merge;
pub mod node;
pub mod placement;
pub mod rebalance;
pub mod rpc;
pub mod server;
pub mod shell;
pub mod spancfg;
pub mod sqlserve;
pub mod status;
pub mod store;
pub mod transport;
pub mod txns;
pub mod workload;

pub use config::{NodeConfig, StoreSpec};
pub use node::{sql_url, start_single_node, NodeHandle};
