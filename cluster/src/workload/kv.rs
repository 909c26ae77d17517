//! The `kv` workload: point reads and writes on one table, `kv (k INT8 PRIMARY KEY, v BYTEA)`.
//!
//! Reads pick keys among the rows loaded by `init`, uniformly (`--distribution=uniform`, the
//! default) or skewed (`--distribution=zipfian`, YCSB's zipfian with `--zipf-theta`, default
//! 0.99; see [`super::keydist`]). Writes either insert fresh keys (`--write-mode=insert`, the
//! default: each worker owns a disjoint key sequence above the loaded ones, so a write-only
//! run measures insert throughput; the distribution does not apply) or overwrite loaded keys
//! drawn from the distribution (`--write-mode=update`, an `INSERT ... ON CONFLICT DO UPDATE`).
//!
//! `--batch=N` puts N rows in each statement: reads become `SELECT k, v FROM kv WHERE k IN
//! ($1, .., $N)`, writes one multi-row `INSERT` (or upsert) of N rows. The N keys of one
//! statement are distinct and sorted, so concurrent batches take their row locks in the same
//! order. An operation (`ops`, latency) is one statement, whatever its row count.
//!
//! Values are `--value-size` random bytes (incompressible, as in CockroachDB's kv workload).
//! `init --splits=N` pre-splits the loaded key space into N ranges (Meridian clusters; a server
//! that cannot split, like PostgreSQL, is told so and skipped).

use super::keydist::{KeyDist, Rng, Zipfian, DEFAULT_THETA};
use super::stats::{OpStats, Summary};
use super::{connect, parse_duration, LOAD_BATCH_ROWS};
use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;

/// Key space reserved per worker for inserted keys.
const WORKER_KEY_STRIDE: i64 = 1 << 40;

/// The most rows one statement may carry (PostgreSQL's limit is 65,535 bind parameters; an
/// insert binds two per row).
pub const MAX_BATCH: usize = 10_000;

/// Options of `meridian workload init kv`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitOpts {
    /// Rows to load.
    #[arg(long, default_value_t = 10_000)]
    pub initial_rows: usize,
    /// Bytes per value.
    #[arg(long = "value-size", alias = "value-bytes", default_value_t = 64)]
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
    /// Overwrite a loaded key drawn from the key distribution.
    Update,
}

/// How reads and overwrites pick their keys among the loaded rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Distribution {
    /// Every loaded key equally likely.
    Uniform,
    /// YCSB's (scrambled) zipfian with skew `--zipf-theta`.
    Zipfian,
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
    /// Percentage of operations that are reads (the rest are writes).
    #[arg(long, default_value_t = 95, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub read_percent: u32,
    /// Rows loaded by init (reads pick among them).
    #[arg(long, default_value_t = 10_000)]
    pub initial_rows: usize,
    /// Bytes per written value.
    #[arg(long = "value-size", alias = "value-bytes", default_value_t = 64)]
    pub value_bytes: usize,
    /// Whether writes insert fresh keys or overwrite loaded ones.
    #[arg(long, value_enum, default_value_t = WriteMode::Insert)]
    pub write_mode: WriteMode,
    /// How reads and overwrites pick keys among the loaded rows.
    #[arg(long, value_enum, default_value_t = Distribution::Uniform)]
    pub distribution: Distribution,
    /// Skew of the zipfian distribution, in (0, 1).
    #[arg(long, default_value_t = DEFAULT_THETA)]
    pub zipf_theta: f64,
    /// Rows per statement: reads `WHERE k IN (...)`, writes multi-row INSERT/upsert.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Print a JSON summary at the end.
    #[arg(long)]
    pub json: bool,
    /// Connection URL (postgresql://user@host:port/db).
    pub url: String,
}

impl RunOpts {
    /// The key distribution the options ask for, after checking them.
    pub fn key_dist(&self) -> Result<KeyDist> {
        if self.batch == 0 || self.batch > MAX_BATCH {
            bail!(
                "--batch must be between 1 and {MAX_BATCH}, got {}",
                self.batch
            );
        }
        let n = self.initial_rows as u64;
        let reads = self.read_percent > 0;
        let overwrites = self.read_percent < 100 && self.write_mode == WriteMode::Update;
        if (reads || overwrites) && n == 0 {
            bail!("reads and overwrites need loaded rows (--initial-rows > 0)");
        }
        if overwrites && self.batch as u64 > n {
            bail!(
                "--batch {} exceeds --initial-rows {n}: an upsert batch needs distinct loaded keys",
                self.batch
            );
        }
        Ok(match self.distribution {
            Distribution::Uniform => KeyDist::Uniform { n },
            Distribution::Zipfian => KeyDist::Zipfian(
                Zipfian::new(n.max(1), self.zipf_theta).map_err(anyhow::Error::msg)?,
            ),
        })
    }
}

/// `SELECT` of `batch` keys: `= $1` for one, `IN ($1, ..)` for more.
pub fn read_sql(batch: usize) -> String {
    if batch <= 1 {
        return "SELECT v FROM kv WHERE k = $1".into();
    }
    let params: Vec<String> = (1..=batch).map(|i| format!("${i}")).collect();
    format!("SELECT k, v FROM kv WHERE k IN ({})", params.join(", "))
}

/// A multi-row `INSERT` (or upsert) of `batch` rows.
pub fn write_sql(batch: usize, mode: WriteMode) -> String {
    let rows: Vec<String> = (0..batch.max(1))
        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let mut sql = format!("INSERT INTO kv (k, v) VALUES {}", rows.join(", "));
    if mode == WriteMode::Update {
        sql.push_str(" ON CONFLICT (k) DO UPDATE SET v = excluded.v");
    }
    sql
}

/// Creates and loads the kv table.
pub async fn init(opts: &InitOpts) -> Result<()> {
    let client = connect(&opts.url).await?;
    client.batch_execute("DROP TABLE IF EXISTS kv").await?;
    client
        .batch_execute("CREATE TABLE kv (k INT8 PRIMARY KEY, v BYTEA NOT NULL)")
        .await?;
    let mut rng = Rng::new(0);
    let mut value = vec![0u8; opts.value_bytes];
    let mut loaded = 0;
    while loaded < opts.initial_rows {
        let n = LOAD_BATCH_ROWS.min(opts.initial_rows - loaded);
        let rows: Vec<String> = (loaded..loaded + n)
            .map(|k| {
                rng.fill(&mut value);
                let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
                format!("({k}, '\\x{hex}')")
            })
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

/// One worker's connection, statements and random state.
struct Worker {
    client: tokio_postgres::Client,
    read: tokio_postgres::Statement,
    write: tokio_postgres::Statement,
    opts: RunOpts,
    dist: Arc<KeyDist>,
    rng: Rng,
    next_key: i64,
    stats: WorkerStats,
}

impl Worker {
    async fn new(id: usize, opts: RunOpts, dist: Arc<KeyDist>) -> Result<Worker> {
        let client = connect(&opts.url).await?;
        let read = client.prepare(&read_sql(opts.batch)).await?;
        let write = client
            .prepare(&write_sql(opts.batch, opts.write_mode))
            .await?;
        Ok(Worker {
            client,
            read,
            write,
            next_key: opts.initial_rows as i64 + (id as i64 + 1) * WORKER_KEY_STRIDE,
            opts,
            dist,
            rng: Rng::new(id as u64 + 1),
            stats: WorkerStats::default(),
        })
    }

    async fn do_read(&mut self) {
        let keys = if self.opts.batch == 1 {
            vec![self.dist.draw(&mut self.rng) as i64]
        } else {
            self.dist.draw_distinct(&mut self.rng, self.opts.batch)
        };
        let params: Vec<&(dyn ToSql + Sync)> =
            keys.iter().map(|k| k as &(dyn ToSql + Sync)).collect();
        let start = Instant::now();
        match self.client.query(&self.read, &params).await {
            Ok(_) => self.stats.read.record(start.elapsed()),
            Err(_) => self.stats.read.errors += 1,
        }
    }

    async fn do_write(&mut self) {
        let keys: Vec<i64> = match self.opts.write_mode {
            WriteMode::Insert => (0..self.opts.batch)
                .map(|_| {
                    self.next_key += 1;
                    self.next_key
                })
                .collect(),
            WriteMode::Update if self.opts.batch == 1 => vec![self.dist.draw(&mut self.rng) as i64],
            WriteMode::Update => self.dist.draw_distinct(&mut self.rng, self.opts.batch),
        };
        let values: Vec<Vec<u8>> = keys
            .iter()
            .map(|_| {
                let mut v = vec![0u8; self.opts.value_bytes];
                self.rng.fill(&mut v);
                v
            })
            .collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(2 * keys.len());
        for (k, v) in keys.iter().zip(&values) {
            params.push(k);
            params.push(v);
        }
        let start = Instant::now();
        match self.client.execute(&self.write, &params).await {
            Ok(_) => self.stats.write.record(start.elapsed()),
            Err(_) => self.stats.write.errors += 1,
        }
    }
}

async fn worker(
    id: usize,
    opts: RunOpts,
    dist: Arc<KeyDist>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> Result<WorkerStats> {
    let mut w = Worker::new(id, opts, dist).await?;
    while !stop.load(Ordering::Relaxed) {
        if w.rng.below(100) < u64::from(w.opts.read_percent) {
            w.do_read().await;
        } else {
            w.do_write().await;
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(w.stats)
}

/// Runs the workload and returns the per-operation summaries.
pub async fn run(opts: &RunOpts) -> Result<Vec<Summary>> {
    let dist = Arc::new(opts.key_dist()?);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for id in 0..opts.concurrency {
        handles.push(tokio::spawn(worker(
            id,
            opts.clone(),
            dist.clone(),
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

    #[test]
    fn statements_for_batches() {
        assert_eq!(read_sql(1), "SELECT v FROM kv WHERE k = $1");
        assert_eq!(read_sql(3), "SELECT k, v FROM kv WHERE k IN ($1, $2, $3)");
        assert_eq!(
            write_sql(1, WriteMode::Insert),
            "INSERT INTO kv (k, v) VALUES ($1, $2)"
        );
        assert_eq!(
            write_sql(2, WriteMode::Update),
            "INSERT INTO kv (k, v) VALUES ($1, $2), ($3, $4) \
             ON CONFLICT (k) DO UPDATE SET v = excluded.v"
        );
    }

    fn opts(url: &str) -> RunOpts {
        RunOpts {
            duration: Duration::from_millis(1500),
            concurrency: 2,
            read_percent: 50,
            initial_rows: 200,
            value_bytes: 16,
            write_mode: WriteMode::Insert,
            distribution: Distribution::Uniform,
            zipf_theta: DEFAULT_THETA,
            batch: 1,
            json: false,
            url: url.to_string(),
        }
    }

    #[test]
    fn options_are_checked() {
        let mut o = opts("postgresql://x");
        o.batch = 0;
        assert!(o.key_dist().is_err());
        o.batch = 300;
        assert!(o.key_dist().is_ok(), "inserts need no distinct loaded keys");
        o.write_mode = WriteMode::Update;
        assert!(
            o.key_dist().is_err(),
            "an upsert batch larger than the table"
        );
        o.batch = 10;
        o.distribution = Distribution::Zipfian;
        o.zipf_theta = 1.5;
        assert!(o.key_dist().is_err());
        o.zipf_theta = 0.99;
        assert!(matches!(o.key_dist(), Ok(KeyDist::Zipfian(_))));
    }

    async fn count(url: &str) -> i64 {
        let c = connect(url).await.unwrap();
        c.query_one("SELECT count(*) FROM kv", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Batched zipfian upserts and batched inserts against an in-process node: no errors,
    /// upserts keep the row count, and every acknowledged insert statement added `batch` rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_zipfian_run_on_a_node() {
        let node = crate::start_single_node(crate::NodeConfig::for_tests(crate::StoreSpec::Memory))
            .await
            .unwrap();
        let url = node.sql_url();
        init(&InitOpts {
            initial_rows: 200,
            value_bytes: 16,
            splits: 1,
            url: url.clone(),
        })
        .await
        .unwrap();
        assert_eq!(count(&url).await, 200);

        let mut o = opts(&url);
        o.write_mode = WriteMode::Update;
        o.distribution = Distribution::Zipfian;
        o.batch = 5;
        let s = run(&o).await.unwrap();
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s.iter().all(|s| s.ops > 0), "{s:?}");
        assert_eq!(count(&url).await, 200, "upserts add no rows");

        o.write_mode = WriteMode::Insert;
        o.read_percent = 0;
        o.batch = 4;
        let s = run(&o).await.unwrap();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].op, "write");
        assert_eq!(s[0].errors, 0, "{s:?}");
        assert_eq!(count(&url).await, 200 + 4 * s[0].ops as i64);
        node.shutdown().await.unwrap();
    }
}
