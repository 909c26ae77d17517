//! `meridian workload`: load generators with CockroachDB's command shapes.
//!
//! `meridian workload init kv <url>` creates the `kv` table; `meridian workload run kv <url>`
//! drives it with a read/write mix from many connections, printing one line a second (throughput
//! and latency percentiles per operation) and a summary at the end (`--json` for a machine-readable
//! one). Any PostgreSQL-protocol URL works, so the same tool measures Meridian and PostgreSQL in the
//! same run (see `bench/compare`).
//!
//! IMPLEMENTATION CAVEATS
//! - Only the `kv` workload exists; `tpcc` and `bank` belong to the benchmark-suite issue.

pub mod kv;
mod stats;

pub use stats::{OpStats, Summary};
