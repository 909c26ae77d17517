//! The `kv` workload: point reads and inserts on one table, `kv (k INT8 PRIMARY KEY, v BYTEA)`.
//!
//! Reads pick a uniformly random key among the rows loaded by `init`. Writes either insert
//! fresh keys (`--write-mode=insert`, the default: each worker owns a disjoint key sequence above
//! the loaded ones, so a write-only run measures insert throughput) or overwrite a uniformly
//! random loaded key (`--write-mode=update`, an `INSERT ... ON CONFLICT DO UPDATE` that spreads
//! writes over every range). `init --splits=N` pre-splits the loaded key space into N ranges
//! (Meridian clusters; a server that cannot split, like PostgreSQL, is told so and skipped).

use super::stats::{OpStats, Summary};
use super::{connect, parse_duration, LOAD_BATCH_ROWS};
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows per INSERT statement while loading.
/// Key space reserved per worker for inserted keys.
const WORKER_KEY_STRIDE: i64 = 1 << 40;

/// Options of `meridian workload init kv`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitOpts {
    /// Rows to load.
    #[arg(long, default_value_t = 10_000)]
    pub initial_rows: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 64)]
    pub value_bytes: usize,
    /// Split the loaded key space into this many ranges up front (1: no splits).
    #[arg(long, default_value_t = 1)]
    pub splits: usize,
    /// Connection URL (postgresql://user@host:port/db).
    pub url: String,
}

/// What a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteMode {
    /// Insert a fresh key.
    Insert,
    /// Overwrite a random loaded key.
    Update,
}

/// Options of `meridian workload run kv`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOpts {
    /// How long to run, e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Percentage of operations that are point reads (the rest are inserts).
    #[arg(long, default_value_t = 95)]
    pub read_percent: u32,
    /// Rows loaded by init (reads pick among them).
    #[arg(long, default_value_t = 10_000)]
    pub initial_rows: usize,
    /// Bytes per inserted value.
    #[arg(long, default_value_t = 64)]
    pub value_bytes: usize,
    /// Whether writes insert fresh keys or overwrite loaded ones.
    #[arg(long, value_enum, default_value_t = WriteMode::Insert)]
    pub write_mode: WriteMode,
    /// Print a JSON summary at the end.
    #[arg(long)]
    pub json: bool,
    /// Connection URL (postgresql://user@host:port/db).
    pub url: String,
}

/// Creates and loads the kv table.
pub async fn init(opts: &InitOpts) -> Result<()> {
    let client = connect(&opts.url).await?;
    client.batch_execute("DROP TABLE IF EXISTS kv").await?;
    client
        .batch_execute("CREATE TABLE kv (k INT8 PRIMARY KEY, v BYTEA NOT NULL)")
        .await?;
    let value = vec![b'x'; opts.value_bytes];
    let hex = value.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut loaded = 0;
    while loaded < opts.initial_rows {
        let n = LOAD_BATCH_ROWS.min(opts.initial_rows - loaded);
        let rows: Vec<String> = (loaded..loaded + n)
            .map(|k| format!("({k}, '\\x{hex}')"))
            .collect();
        client
            .batch_execute(&format!("INSERT INTO kv (k, v) VALUES {}", rows.join(", ")))
            .await?;
        loaded += n;
        eprint!("\rloading kv: {loaded}/{} rows", opts.initial_rows);
    }
    eprintln!();
    if opts.splits > 1 {
        let step = (opts.initial_rows / opts.splits).max(1);
        let mut done = 0;
        for i in 1..opts.splits {
            let key = (i * step) as i64;
            match client
                .batch_execute(&format!("ALTER TABLE kv SPLIT AT VALUES ({key})"))
                .await
            {
                Ok(()) => done += 1,
                Err(e) => {
                    eprintln!("not splitting: {e}");
                    break;
                }
            }
            if i % 50 == 0 || i + 1 == opts.splits {
                eprint!("\rsplitting kv: {done}/{} split points", opts.splits - 1);
            }
        }
        eprintln!();
    }
    Ok(())
}

#[derive(Default)]
struct WorkerStats {
    read: OpStats,
    write: OpStats,
}

async fn worker(
    id: usize,
    opts: RunOpts,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> Result<WorkerStats> {
    let client = connect(&opts.url).await?;
    let read = client.prepare("SELECT v FROM kv WHERE k = $1").await?;
    let write = client
        .prepare(match opts.write_mode {
            WriteMode::Insert => "INSERT INTO kv (k, v) VALUES ($1, $2)",
            WriteMode::Update => {
                "INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
            }
        })
        .await?;
    let value = vec![b'y'; opts.value_bytes];
    let mut stats = WorkerStats::default();
    let mut rng = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next_key = opts.initial_rows as i64 + (id as i64 + 1) * WORKER_KEY_STRIDE;
    while !stop.load(Ordering::Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let start = Instant::now();
        if (rng % 100) < opts.read_percent as u64 {
            let k = (rng >> 8) as i64 % opts.initial_rows.max(1) as i64;
            match client.query_opt(&read, &[&k]).await {
                Ok(_) => stats.read.record(start.elapsed()),
                Err(_) => stats.read.errors += 1,
            }
        } else {
            let key = match opts.write_mode {
                WriteMode::Insert => {
                    next_key += 1;
                    next_key
                }
                WriteMode::Update => (rng >> 8) as i64 % opts.initial_rows.max(1) as i64,
            };
            match client.execute(&write, &[&key, &value]).await {
                Ok(_) => stats.write.record(start.elapsed()),
                Err(_) => stats.write.errors += 1,
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(stats)
}

/// Runs the workload and returns the per-operation summaries.
pub async fn run(opts: &RunOpts) -> Result<Vec<Summary>> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for id in 0..opts.concurrency {
        handles.push(tokio::spawn(worker(
            id,
            opts.clone(),
            stop.clone(),
            done.clone(),
        )));
    }
    let start = Instant::now();
    let mut last = 0;
    eprintln!("_elapsed___ops/sec(inst)___ops(total)");
    while start.elapsed() < opts.duration {
        tokio::time::sleep(Duration::from_secs(1).min(opts.duration)).await;
        let now = done.load(Ordering::Relaxed);
        eprintln!(
            "{:>7.0}s {:>16} {:>12}",
            start.elapsed().as_secs_f64(),
            now - last,
            now
        );
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let mut read = OpStats::default();
    let mut write = OpStats::default();
    for h in handles {
        let s = h.await.context("worker panicked")??;
        read.merge(&s.read);
        write.merge(&s.write);
    }
    let mut out = Vec::new();
    if read.count() > 0 || read.errors > 0 {
        out.push(Summary::from_stats("read", &mut read, elapsed));
    }
    if write.count() > 0 || write.errors > 0 {
        out.push(Summary::from_stats("write", &mut write, elapsed));
    }
    Ok(out)
}

/// Prints summaries as a table.
pub fn print_summary(summaries: &[Summary]) {
    println!(
        "{:<8} {:>10} {:>8} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "op", "ops", "errors", "ops/sec", "p50(ms)", "p95(ms)", "p99(ms)", "max(ms)"
    );
    for s in summaries {
        println!(
            "{:<8} {:>10} {:>8} {:>12.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            s.op, s.ops, s.errors, s.ops_per_sec, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("3x").is_err());
    }
}
