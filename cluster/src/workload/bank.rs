//! The `bank` workload: money transfers between accounts in explicit SERIALIZABLE transactions,
//! the classic contention benchmark (and a correctness check: money is conserved).
//!
//! Table `bank (id INT8 PRIMARY KEY, balance INT8 NOT NULL)`, loaded by `init` with `--accounts`
//! rows of `--initial-balance` each. Each transfer is one transaction:
//!
//! ```sql
//! BEGIN ISOLATION LEVEL SERIALIZABLE;
//! SELECT id, balance FROM bank WHERE id IN ($1, $2);
//! UPDATE bank SET balance = $1 WHERE id = $2;   -- lower id first, then the higher
//! UPDATE bank SET balance = $1 WHERE id = $2;
//! COMMIT;
//! ```
//!
//! The new balances are computed by the client from what it read (read-modify-write), so a lost
//! update would change the total. On SQLSTATE 40001 (serialization failure; PostgreSQL's and
//! Meridian's alike) or 40P01 (PostgreSQL's deadlock detector) the client rolls back and
//! retries the same transfer, counting a retry; a transfer's latency runs from its first attempt
//! to its successful commit. Fewer accounts mean more contention.
//!
//! At the end the run reads `sum(balance)` again and fails (non-zero exit) unless it equals
//! the sum read before the run started: every committed transfer conserves money.
//!
//! The same tool runs against PostgreSQL (`BEGIN ISOLATION LEVEL SERIALIZABLE` is standard), so
//! `tests/bench/contention.sh` compares both in one run.

use super::stats::{OpStats, Summary};
use super::{connect, parse_duration, LOAD_BATCH_ROWS};
use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, SimpleQueryMessage, Statement};

/// Attempts of one transfer before it counts as an error.
const MAX_ATTEMPTS: usize = 1000;

/// Options of `meridian workload init bank`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitOpts {
    /// Number of accounts.
    #[arg(long, default_value_t = 1000)]
    pub accounts: usize,
    /// Starting balance of every account.
    #[arg(long, default_value_t = 1000)]
    pub initial_balance: i64,
    /// Connection URL (postgresql://user@host:port/db).
    pub url: String,
}

/// Options of `meridian workload run bank`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOpts {
    /// How long to run, e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent connections, each running one transfer at a time.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Number of accounts (must match init; fewer accounts = more contention).
    #[arg(long, default_value_t = 1000)]
    pub accounts: usize,
    /// Largest amount moved by one transfer.
    #[arg(long, default_value_t = 100)]
    pub max_transfer: i64,
    /// Print a JSON summary at the end.
    #[arg(long)]
    pub json: bool,
    /// Connection URL (postgresql://user@host:port/db).
    pub url: String,
}

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BankResult {
    /// Committed transfers: throughput and latency (first attempt to commit).
    pub transfer: Summary,
    /// Attempts that failed with 40001/40P01 and were retried.
    pub retries: u64,
    /// retries / (transfers + retries): the fraction of attempts that had to be retried.
    pub retry_rate: f64,
    /// Connections.
    pub concurrency: usize,
    /// Accounts.
    pub accounts: usize,
    /// sum(balance) before the run.
    pub total_before: i128,
    /// sum(balance) after the run.
    pub total_after: i128,
    /// Whether the total was conserved.
    pub invariant_ok: bool,
}

/// Creates and loads the bank table.
pub async fn init(opts: &InitOpts) -> Result<()> {
    let client = connect(&opts.url).await?;
    client.batch_execute("DROP TABLE IF EXISTS bank").await?;
    client
        .batch_execute("CREATE TABLE bank (id INT8 PRIMARY KEY, balance INT8 NOT NULL)")
        .await?;
    let mut loaded = 0;
    while loaded < opts.accounts {
        let n = LOAD_BATCH_ROWS.min(opts.accounts - loaded);
        let rows: Vec<String> = (loaded..loaded + n)
            .map(|id| format!("({id}, {})", opts.initial_balance))
            .collect();
        client
            .batch_execute(&format!(
                "INSERT INTO bank (id, balance) VALUES {}",
                rows.join(", ")
            ))
            .await?;
        loaded += n;
    }
    eprintln!(
        "loaded bank: {} accounts of {}",
        opts.accounts, opts.initial_balance
    );
    Ok(())
}

/// (count(*), sum(balance)) read as text (sum is NUMERIC in PostgreSQL).
async fn totals(client: &Client) -> Result<(usize, i128)> {
    let msgs = client
        .simple_query("SELECT count(*), sum(balance) FROM bank")
        .await
        .context("reading the bank totals (did you run `workload init bank`?)")?;
    let row = msgs
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((
                r.get(0).unwrap_or("0").to_string(),
                r.get(1).unwrap_or("0").to_string(),
            )),
            _ => None,
        })
        .context("no row from sum(balance)")?;
    let count = row.0.parse().context("count(*)")?;
    let int_part = row.1.split('.').next().unwrap_or("0");
    let sum = int_part
        .parse()
        .with_context(|| format!("sum(balance) = {:?}", row.1))?;
    Ok((count, sum))
}

/// Whether an error is a serialization failure the client should retry.
fn retryable(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "40001" | "40P01"))
}

struct Prepared {
    select: Statement,
    update: Statement,
}

/// One attempt at a transfer, rolled back on error.
async fn attempt(
    c: &Client,
    p: &Prepared,
    from: i64,
    to: i64,
    amount: i64,
) -> Result<(), tokio_postgres::Error> {
    c.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
        .await?;
    let body = async {
        let rows = c.query(&p.select, &[&from, &to]).await?;
        let bal = |id: i64| -> Option<i64> {
            rows.iter()
                .find(|r| r.try_get::<_, i64>(0).ok() == Some(id))
                .and_then(|r| r.try_get(1).ok())
        };
        if let (Some(fb), Some(tb)) = (bal(from), bal(to)) {
            if fb >= amount {
                let mut writes = [(from, fb - amount), (to, tb + amount)];
                writes.sort_unstable(); // a fixed lock order: no deadlocks in PostgreSQL
                for (id, balance) in writes {
                    c.execute(&p.update, &[&balance, &id]).await?;
                }
            }
        }
        c.batch_execute("COMMIT").await
    };
    let r = body.await;
    if r.is_err() {
        let _ = c.batch_execute("ROLLBACK").await;
    }
    r
}

#[derive(Default)]
struct Counters {
    transfers: AtomicU64,
    retries: AtomicU64,
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

async fn worker(
    id: usize,
    opts: RunOpts,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) -> Result<OpStats> {
    let c = connect(&opts.url).await?;
    let p = Prepared {
        select: c
            .prepare("SELECT id, balance FROM bank WHERE id IN ($1, $2)")
            .await?,
        update: c
            .prepare("UPDATE bank SET balance = $1 WHERE id = $2")
            .await?,
    };
    let mut stats = OpStats::default();
    let mut rng = Rng((id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let n = opts.accounts.max(2) as u64;
    while !stop.load(Ordering::Relaxed) {
        let from = rng.below(n);
        let to = (from + 1 + rng.below(n - 1)) % n;
        let amount = 1 + rng.below(opts.max_transfer.max(1) as u64) as i64;
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt(&c, &p, from as i64, to as i64, amount).await {
                Ok(()) => {
                    stats.record(start.elapsed());
                    counters.transfers.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) if retryable(&e) && attempts < MAX_ATTEMPTS => {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if c.is_closed() {
                        return Err(e).context("connection lost");
                    }
                    stats.errors += 1;
                    tracing::warn!("transfer {from}->{to} failed: {e}");
                    break;
                }
            }
        }
    }
    Ok(stats)
}

/// Prints one line a second until `duration` has passed.
async fn report_progress(duration: Duration, counters: &Counters) {
    let start = Instant::now();
    let (mut last_t, mut last_r) = (0, 0);
    eprintln!("_elapsed__transfers/s___retries/s___transfers(total)___retries(total)");
    while start.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(1).min(duration)).await;
        let t = counters.transfers.load(Ordering::Relaxed);
        let r = counters.retries.load(Ordering::Relaxed);
        eprintln!(
            "{:>7.0}s {:>12} {:>11} {:>19} {:>16}",
            start.elapsed().as_secs_f64(),
            t - last_t,
            r - last_r,
            t,
            r
        );
        (last_t, last_r) = (t, r);
    }
}

/// Runs the workload; the caller exits non-zero when `invariant_ok` is false.
pub async fn run(opts: &RunOpts) -> Result<BankResult> {
    let check = connect(&opts.url).await?;
    let (count, total_before) = totals(&check).await?;
    if count != opts.accounts {
        bail!(
            "table bank has {count} accounts but --accounts={}: run `meridian workload init bank --accounts={}` first",
            opts.accounts,
            opts.accounts
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let handles: Vec<_> = (0..opts.concurrency)
        .map(|id| tokio::spawn(worker(id, opts.clone(), stop.clone(), counters.clone())))
        .collect();
    let start = Instant::now();
    report_progress(opts.duration, &counters).await;
    stop.store(true, Ordering::Relaxed);
    let mut stats = OpStats::default();
    for h in handles {
        stats.merge(&h.await.context("worker panicked")??);
    }
    let elapsed = start.elapsed();
    let (_, total_after) = totals(&check).await?;
    let retries = counters.retries.load(Ordering::Relaxed);
    let transfers = stats.count() as u64;
    Ok(BankResult {
        transfer: Summary::from_stats("transfer", &mut stats, elapsed),
        retries,
        retry_rate: retries as f64 / (transfers + retries).max(1) as f64,
        concurrency: opts.concurrency,
        accounts: opts.accounts,
        total_before,
        total_after,
        invariant_ok: total_before == total_after,
    })
}

/// Prints the result as a table.
pub fn print_result(r: &BankResult) {
    let s = &r.transfer;
    println!(
        "{:<9} {:>9} {:>7} {:>10} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "op",
        "ops",
        "errors",
        "ops/sec",
        "retries",
        "retry-rate",
        "p50(ms)",
        "p95(ms)",
        "p99(ms)",
        "max(ms)"
    );
    println!(
        "{:<9} {:>9} {:>7} {:>10.1} {:>9} {:>9.1}% {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        s.op,
        s.ops,
        s.errors,
        s.ops_per_sec,
        r.retries,
        r.retry_rate * 100.0,
        s.p50_ms,
        s.p95_ms,
        s.p99_ms,
        s.max_ms
    );
    let verdict = if r.invariant_ok { "ok" } else { "VIOLATED" };
    println!(
        "invariant: total before {} after {} ({verdict})",
        r.total_before, r.total_after
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{start_single_node, NodeConfig, StoreSpec};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transfers_conserve_money_on_a_real_node() {
        let node = start_single_node(NodeConfig::for_tests(StoreSpec::Memory))
            .await
            .unwrap();
        let url = node.sql_url();
        init(&InitOpts {
            accounts: 5,
            initial_balance: 100,
            url: url.clone(),
        })
        .await
        .unwrap();
        let r = run(&RunOpts {
            duration: Duration::from_millis(1500),
            concurrency: 4,
            accounts: 5,
            max_transfer: 50,
            json: true,
            url,
        })
        .await
        .unwrap();
        assert!(r.invariant_ok, "{r:?}");
        assert_eq!(r.total_before, 500);
        assert!(r.transfer.ops > 0, "{r:?}");
        assert_eq!(r.transfer.errors, 0, "{r:?}");
        node.shutdown().await.unwrap();
    }
}
