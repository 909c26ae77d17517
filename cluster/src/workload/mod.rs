//! `meridian workload`: load generators with CockroachDB's command shapes.
//!
//! `meridian workload init kv <url>` creates the `kv` table; `meridian workload run kv <url>`
//! drives it with a read/write mix from many connections, printing one line a second (throughput
//! and latency percentiles per operation) and a summary at the end (`--json` for a machine-readable
//! one). Any PostgreSQL-protocol URL works, so the same tool measures Meridian and PostgreSQL in the
//! same run (see `bench/compare`). Its keys are uniform or zipfian ([`keydist`]), its statements
//! single- or multi-row (`--batch`).
//!
//! `meridian workload init bank <url>` / `run bank`: transfers between accounts in explicit
//! SERIALIZABLE transactions with client-side retry on 40001, reporting throughput, retry rate
//! and latency, and checking at the end that money was conserved (exit code 1 if not). See
//! `tests/bench/contention.sh`.
//!
//! `meridian workload init|run|check tpcc <url>`: the TPC-C-like workload (see [`tpcc`]).

pub mod bank;
pub mod keydist;
pub mod kv;
mod stats;
pub mod tpcc;

pub use stats::{OpStats, Summary};

use anyhow::{Context, Result};
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// Rows per INSERT statement when loading a workload's tables.
const LOAD_BATCH_ROWS: usize = 500;

/// Parses "10s", "2m", "500ms" or a number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (use ms, s, m or h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Connects to `url` and drives the connection in the background.
async fn connect(url: &str) -> Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}
