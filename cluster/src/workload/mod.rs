//! `meridian workload`: load generators with CockroachDB's command shapes.
//!
//! `meridian workload init kv <url>` creates the `kv` table; `meridian workload run kv <url>`
//! drives it with a read/write mix from many connections, printing one line a second (throughput
//! and latency percentiles per operation) and a summary at the end (`--json` for a machine-readable
//! one). Any PostgreSQL-protocol URL works, so the same tool measures Meridian and PostgreSQL in the
//! same run (see `bench/compare`).
//!
//! `meridian workload init bank <url>` / `run bank`: transfers between accounts in explicit
//! SERIALIZABLE transactions with client-side retry on 40001, reporting throughput, retry rate
//! and latency, and checking at the end that money was conserved (exit code 1 if not). See
//! `tests/bench/contention.sh`.
//!
//! IMPLEMENTATION CAVEATS
//! - Only the `kv` and `bank` workloads exist; `tpcc` belongs to the benchmark-suite issue.

pub mod bank;
pub mod kv;
mod stats;

pub use stats::{OpStats, Summary};
