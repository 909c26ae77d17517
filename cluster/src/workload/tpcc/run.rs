//! `meridian workload run tpcc`: terminals issuing the five transactions, a per-second progress
//! line, and the end-of-run summary (tpmC, efficiency, per-transaction counts and latency).
//!
//! Without `--wait`, `--concurrency` terminals run transactions back to back, each on its own
//! connection. With `--wait`, there are 10 terminals per warehouse (one per district) that wait
//! the spec's keying time before and a negative-exponential think time (mean per clause 5.2.5.4,
//! truncated at 10x the mean) after each transaction, and share the connections. Terminal `i`
//! has a home warehouse and, for Stock-Level, a fixed district.
//!
//! Transactions finishing during `--ramp` are not counted; the measured interval is `--duration`.

use super::rand::{Constants, Rng};
use super::txns::{retryable, Conn, Ctx, Input, Kind, Outcome};
use super::{parse_scale, parse_warehouses, Scale};
use crate::workload::stats::{OpStats, Summary};
use crate::workload::{connect, parse_duration};
use anyhow::{bail, Context, Result};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Attempts of one transaction before it counts as an error.
const MAX_ATTEMPTS: usize = 100;
/// The spec's maximum throughput per warehouse (tpmC), the efficiency's denominator.
pub const MAX_TPMC_PER_WAREHOUSE: f64 = 12.86;
/// Errors printed to stderr before the rest are only counted.
const ERRORS_SHOWN: usize = 10;

/// Options of `meridian workload run tpcc`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOpts {
    /// Number of warehouses loaded.
    #[arg(long, default_value = "1", value_parser = parse_warehouses)]
    pub warehouses: i32,
    /// How long to measure, e.g. 60s, 5m.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up before measuring (transactions in it are not counted).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub ramp: Duration,
    /// Connections (default: 8, or 10 per warehouse with --wait).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Spec terminals: 10 per warehouse with keying and think times.
    #[arg(long)]
    pub wait: bool,
    /// NON-SPEC: multiply keying and think times by this factor (with --wait).
    #[arg(long, default_value_t = 1.0)]
    pub wait_scale: f64,
    /// Isolation level of every transaction: serializable, repeatable-read or read-committed.
    #[arg(long, default_value = "serializable", value_parser = ["serializable", "repeatable-read", "read-committed"])]
    pub isolation: String,
    /// NON-SPEC: the --scale given to init.
    #[arg(long, default_value = "1", value_parser = parse_scale)]
    pub scale: Scale,
    /// Seed of the input generators (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Connection URL (postgresql://user@host:port/db).
    pub url: String,
}

/// One transaction type's results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TxnResult {
    /// Counts and latency (successes; New-Orders rolled back on purpose included).
    #[serde(flatten)]
    pub summary: Summary,
    /// Attempts that failed with 40001/40P01 and were retried.
    pub retries: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TpccResult {
    /// Warehouses.
    pub warehouses: i32,
    /// Connections.
    pub concurrency: usize,
    /// Terminals (= connections without --wait).
    pub terminals: usize,
    /// Whether keying and think times were on.
    pub wait: bool,
    /// Measured seconds.
    pub duration_s: f64,
    /// New-Orders completed per minute.
    pub tpmc: f64,
    /// tpmC as a percentage of 12.86 per warehouse.
    pub efficiency_pct: f64,
    /// New-Orders rolled back on purpose (counted in tpmC).
    pub new_order_rollbacks: u64,
    /// Retried attempts over all types.
    pub retries: u64,
    /// Failed transactions over all types.
    pub errors: u64,
    /// Per type, in the spec's order.
    pub transactions: Vec<TxnResult>,
}

#[derive(Default)]
struct Recorder {
    total: [OpStats; 5],
    window: [OpStats; 5],
    retries: [u64; 5],
    rollbacks: u64,
    shown: usize,
}

struct Shared {
    rec: Mutex<Recorder>,
    pool_tx: mpsc::UnboundedSender<Conn>,
    pool_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Conn>>,
    ctx: Ctx,
    measure_from: Instant,
    deadline: Instant,
    wait: Option<f64>,
}

impl Shared {
    fn measuring(&self) -> bool {
        let now = Instant::now();
        now >= self.measure_from && now < self.deadline
    }

    fn record(&self, kind: Kind, latency: Duration, outcome: Outcome) {
        if !self.measuring() {
            return;
        }
        let mut r = self.rec.lock();
        r.total[kind.index()].record(latency);
        r.window[kind.index()].record(latency);
        r.rollbacks += u64::from(outcome == Outcome::RolledBack);
    }

    fn retry(&self, kind: Kind) {
        if self.measuring() {
            self.rec.lock().retries[kind.index()] += 1;
        }
    }

    fn error(&self, kind: Kind, e: &tokio_postgres::Error) {
        let mut r = self.rec.lock();
        if self.measuring() {
            r.total[kind.index()].errors += 1;
            r.window[kind.index()].errors += 1;
        }
        if r.shown < ERRORS_SHOWN {
            r.shown += 1;
            let msg = match e.as_db_error() {
                Some(d) => format!("{}: {}", d.code().code(), d.message()),
                None => e.to_string(),
            };
            eprintln!("{} failed: {msg}", kind.name());
        }
    }
}

/// Sleeps `secs` (negative or past the deadline: until the deadline). False once past it.
async fn pause(shared: &Shared, secs: f64) -> bool {
    let until = (Instant::now() + Duration::from_secs_f64(secs.max(0.0))).min(shared.deadline);
    tokio::time::sleep_until(until).await;
    Instant::now() < shared.deadline
}

/// One terminal: picks, (waits,) runs and records transactions until the deadline.
async fn terminal(shared: Arc<Shared>, mut rng: Rng, w_id: i32, d_id: i32) -> Result<()> {
    while Instant::now() < shared.deadline {
        let kind = Kind::pick(&mut rng);
        if let Some(f) = shared.wait {
            if !pause(&shared, kind.keying_secs() * f).await {
                break;
            }
        }
        let input = Input::generate(kind, &mut rng, &shared.ctx, w_id, d_id);
        let acquire = async { shared.pool_rx.lock().await.recv().await };
        let Ok(Some(mut conn)) = tokio::time::timeout_at(shared.deadline, acquire).await else {
            break;
        };
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match conn.execute(&input).await {
                Ok(outcome) => {
                    shared.record(kind, start.elapsed(), outcome);
                    break;
                }
                Err(e) if retryable(&e) && attempts < MAX_ATTEMPTS => shared.retry(kind),
                Err(e) => {
                    if conn.client.is_closed() {
                        return Err(e).context("connection lost");
                    }
                    shared.error(kind, &e);
                    break;
                }
            }
        }
        let _ = shared.pool_tx.send(conn);
        if let Some(f) = shared.wait {
            let mean = kind.think_mean_secs();
            let think = (-(1.0 - rng.unit()).ln() * mean).min(10.0 * mean);
            if !pause(&shared, think * f).await {
                break;
            }
        }
    }
    Ok(())
}

/// Fails unless the database holds `opts.warehouses` warehouses loaded at `opts.scale`.
async fn validate(opts: &RunOpts) -> Result<()> {
    let c = connect(&opts.url).await?;
    let w: i64 = c
        .query_one("SELECT count(*) FROM warehouse", &[])
        .await
        .context("reading warehouse (did you run `meridian workload init tpcc`?)")?
        .try_get(0)?;
    if w != opts.warehouses as i64 {
        bail!("{w} warehouses loaded but --warehouses={}", opts.warehouses);
    }
    let items = opts.scale.items;
    let present = |id: i32| {
        let c = &c;
        async move {
            let r = c
                .query_opt("SELECT i_id FROM item WHERE i_id = $1", &[&id])
                .await?;
            Ok::<_, anyhow::Error>(r.is_some())
        }
    };
    if !present(items).await? || present(items + 1).await? {
        bail!("the item table does not hold {items} items: pass the --scale given to init");
    }
    Ok(())
}

/// The progress line of one interval.
fn progress_line(elapsed: f64, window: &mut [OpStats; 5], secs: f64, ramp: bool) -> String {
    let total: usize = window.iter().map(OpStats::count).sum();
    let mut line = format!(
        "{elapsed:>6.0}s{} {:>7.1} txn/s",
        if ramp { " ramp" } else { "     " },
        total as f64 / secs
    );
    for k in Kind::ALL {
        let s = &mut window[k.index()];
        line.push_str(&format!(
            " | {} {:.0}/s {:.0}/{:.0}/{:.0}ms",
            k.name(),
            s.count() as f64 / secs,
            s.percentile_ms(50.0),
            s.percentile_ms(95.0),
            s.percentile_ms(99.0)
        ));
        if s.errors > 0 {
            line.push_str(&format!(" ({} err)", s.errors));
        }
    }
    line
}

/// Prints one line a second until the deadline.
async fn report(shared: &Shared, start: Instant) {
    eprintln!("_elapsed______txn/s | per type: ops/s p50/p95/p99 latency");
    let mut last = Instant::now();
    while Instant::now() < shared.deadline {
        let next = (last + Duration::from_secs(1)).min(shared.deadline);
        tokio::time::sleep_until(next).await;
        let now = Instant::now();
        let secs = (now - last).as_secs_f64().max(1e-3);
        last = now;
        let mut window = std::mem::take(&mut shared.rec.lock().window);
        let ramp = now <= shared.measure_from;
        eprintln!(
            "{}",
            progress_line((now - start).as_secs_f64(), &mut window, secs, ramp)
        );
    }
}

/// Runs the workload.
pub async fn run(opts: &RunOpts) -> Result<TpccResult> {
    validate(opts).await?;
    let w = opts.warehouses;
    let terminals = if opts.wait {
        10 * w as usize
    } else {
        opts.concurrency.unwrap_or(8)
    };
    let conns = opts
        .concurrency
        .unwrap_or(terminals)
        .clamp(1, terminals.max(1));
    let begin = format!(
        "BEGIN ISOLATION LEVEL {}",
        opts.isolation.replace('-', " ").to_uppercase()
    );
    let (pool_tx, pool_rx) = mpsc::unbounded_channel();
    for _ in 0..conns {
        let conn = Conn::open(&opts.url, &begin).await?;
        let _ = pool_tx.send(conn);
    }
    let seed = opts.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let start = Instant::now();
    let shared = Arc::new(Shared {
        rec: Mutex::new(Recorder::default()),
        pool_tx,
        pool_rx: tokio::sync::Mutex::new(pool_rx),
        ctx: Ctx {
            warehouses: w,
            scale: opts.scale,
            consts: Constants::run(&mut Rng::new(seed)),
        },
        measure_from: start + opts.ramp,
        deadline: start + opts.ramp + opts.duration,
        wait: opts.wait.then_some(opts.wait_scale.max(0.0)),
    });
    let handles: Vec<_> = (0..terminals)
        .map(|i| {
            let (w_id, d_id) = if opts.wait {
                (i as i32 / 10 + 1, i as i32 % 10 + 1)
            } else {
                (i as i32 % w + 1, (i as i32 / w) % 10 + 1)
            };
            let rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
            tokio::spawn(terminal(shared.clone(), rng, w_id, d_id))
        })
        .collect();
    report(&shared, start).await;
    for h in handles {
        h.await.context("a terminal panicked")??;
    }
    Ok(summarize(opts, &shared, terminals, conns))
}

fn summarize(opts: &RunOpts, shared: &Shared, terminals: usize, conns: usize) -> TpccResult {
    let mut rec = shared.rec.lock();
    let secs = opts.duration.as_secs_f64().max(1e-9);
    let rec = &mut *rec;
    let transactions: Vec<TxnResult> = Kind::ALL
        .iter()
        .map(|k| TxnResult {
            summary: Summary::from_stats(k.name(), &mut rec.total[k.index()], opts.duration),
            retries: rec.retries[k.index()],
        })
        .collect();
    let tpmc = transactions[Kind::NewOrder.index()].summary.ops as f64 * 60.0 / secs;
    TpccResult {
        warehouses: opts.warehouses,
        concurrency: conns,
        terminals,
        wait: opts.wait,
        duration_s: secs,
        tpmc,
        efficiency_pct: tpmc * 100.0 / (MAX_TPMC_PER_WAREHOUSE * opts.warehouses as f64),
        new_order_rollbacks: rec.rollbacks,
        retries: rec.retries.iter().sum(),
        errors: transactions.iter().map(|t| t.summary.errors).sum(),
        transactions,
    }
}

/// Prints the result as a table.
pub fn print_result(r: &TpccResult) {
    println!(
        "{:<12} {:>8} {:>7} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "txn", "ops", "errors", "retries", "ops/sec", "p50(ms)", "p95(ms)", "p99(ms)", "max(ms)"
    );
    for t in &r.transactions {
        let s = &t.summary;
        println!(
            "{:<12} {:>8} {:>7} {:>8} {:>9.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            s.op, s.ops, s.errors, t.retries, s.ops_per_sec, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
        );
    }
    println!(
        "tpmC {:.1}  efficiency {:.1}% (of {MAX_TPMC_PER_WAREHOUSE} tpmC x {} warehouses)  \
         {}s, {} terminals on {} connections{}; {} New-Orders rolled back on purpose",
        r.tpmc,
        r.efficiency_pct,
        r.warehouses,
        r.duration_s,
        r.terminals,
        r.concurrency,
        if r.wait {
            " with keying/think times"
        } else {
            ", no wait"
        },
        r.new_order_rollbacks
    );
}
