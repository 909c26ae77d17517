//! The node: everything that turns the storage, transaction and SQL crates into a running
//! Meridian process, and the `meridian` command-line tool around it.
//!
//! - [`config`]: node configuration parsed from CockroachDB-shaped flags.
//! - [`node`]: [`start_single_node`] opens the store, builds the transaction layer, bootstraps
//!   the catalog and serves pgwire ([`sqlserve`]), gRPC ([`admin`]) and HTTP ([`http`]);
//!   [`NodeHandle::shutdown`] stops it and syncs the store.
//! - [`demo`]: `meridian demo`, an in-process node on a temporary store with sample data.
//! - [`shell`]: `meridian sql`, the interactive SQL client.
//! - [`workload`]: `meridian workload`, load generators for benchmarks.
//!
//! Tests start nodes in-process with [`NodeConfig::for_tests`] (every port 0) and read the
//! bound addresses back from the handle.
//!
//! IMPLEMENTATION CAVEATS
//! - Single node only: `meridian start --join` (multi-node clusters), TLS and authentication
//!   arrive with later issues. `--insecure` is required.

pub mod admin;
pub mod allocator;
pub mod banner;
pub mod clusterctl;
pub mod config;
pub mod demo;
pub mod desc;
pub mod dist;
pub mod http;
pub mod node;
pub mod rpc;
pub mod server;
pub mod shell;
pub mod sqlserve;
pub mod status;
pub mod store;
pub mod transport;
pub mod txns;
pub mod workload;

pub use config::{NodeConfig, StoreSpec};
pub use node::{sql_url, start_single_node, NodeHandle};
