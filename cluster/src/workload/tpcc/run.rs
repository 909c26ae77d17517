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
//!
//! With `--partitions` ([`super::partition`]) only the warehouses of the active partitions
//! (`--partition-affinity`, default all) get terminals, and each partition has its own
//! connections to its own URLs (one gateway per region, in partition order), so a terminal's
//! transactions enter the cluster in its warehouse's region. Efficiency is then measured
//! against the active warehouses. If the tables were loaded with `--regions`, the run reads
//! each warehouse's region from `warehouse.crdb_region` and names it in every INSERT.

use super::partition::{Partitioning, Plan};
use super::rand::{Constants, Rng};
use super::txns::{retryable, Conn, Ctx, Input, Kind, Outcome, RegionMap};
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
/// How long a run waits after its deadline for transactions still in flight (which are not
/// counted anyway) before it abandons them, closing their connections.
const END_GRACE: Duration = Duration::from_secs(5);

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
    /// The warehouses form this many contiguous partitions (as loaded; default: one per
    /// region with --regions, else 1).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Comma-separated 0-based partitions whose warehouses this run drives (default: all).
    #[arg(long, value_delimiter = ',')]
    pub partition_affinity: Vec<i32>,
    /// The regions given to init, one per partition (checked against the loaded rows).
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Connection URLs (postgresql://user@host:port/db): one, or the same number per partition
    /// in partition order (e.g. one gateway per region); with one --partition-affinity, all
    /// belong to that partition.
    #[arg(required = true, num_args = 1..)]
    pub urls: Vec<String>,
}

impl RunOpts {
    /// Validated partitioning of the warehouses.
    pub fn partitioning(&self) -> anyhow::Result<Partitioning> {
        Partitioning::new(self.warehouses, self.partitions, &self.regions)
    }
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
    /// Partitions of the warehouses.
    pub partitions: i32,
    /// Warehouses of the active partitions (the ones with terminals).
    pub active_warehouses: i32,
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
    /// tpmC as a percentage of 12.86 per active warehouse.
    pub efficiency_pct: f64,
    /// New-Orders rolled back on purpose (counted in tpmC).
    pub new_order_rollbacks: u64,
    /// Retried attempts over all types.
    pub retries: u64,
    /// Failed transactions over all types.
    pub errors: u64,
    /// Transactions still running well after the end, abandoned (not counted).
    pub abandoned: u64,
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

/// The connections of one partition, shared by its terminals.
struct Pool {
    tx: mpsc::UnboundedSender<Conn>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Conn>>,
}

impl Pool {
    fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Pool {
            tx,
            rx: tokio::sync::Mutex::new(rx),
        }
    }
}

struct Shared {
    rec: Mutex<Recorder>,
    /// One per partition (empty for inactive ones).
    pools: Vec<Pool>,
    part: Partitioning,
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
        let pool = &shared.pools[shared.part.partition_of(w_id) as usize];
        let acquire = async { pool.rx.lock().await.recv().await };
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
        let _ = pool.tx.send(conn);
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

/// Fails unless the database holds `opts.warehouses` warehouses loaded at `opts.scale`; returns
/// the warehouses' regions if the tables were loaded with `--regions`.
async fn validate(opts: &RunOpts, part: &Partitioning) -> Result<Option<RegionMap>> {
    let c = connect(&opts.urls[0]).await?;
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
    let regions = warehouse_regions(&c, opts.warehouses).await;
    match &regions {
        Some(map) if part.multi_region() => {
            for (i, r) in map.iter().enumerate() {
                let w = i as i32 + 1;
                if part.region_of(w) != Some(r.as_str()) {
                    bail!(
                        "warehouse {w} is homed in {r}, not in {} as --regions says",
                        part.region_of(w).unwrap_or_default()
                    );
                }
            }
        }
        None if part.multi_region() => {
            bail!("--regions given but the tables were not loaded with --regions (no crdb_region)")
        }
        _ => {}
    }
    Ok(regions.map(Arc::new))
}

/// Every warehouse's `crdb_region` in id order, or None if the table has no such column (not
/// loaded with `--regions`, or a PostgreSQL server).
async fn warehouse_regions(c: &tokio_postgres::Client, warehouses: i32) -> Option<Vec<String>> {
    let rows = c
        .query("SELECT w_id, crdb_region FROM warehouse ORDER BY w_id", &[])
        .await
        .ok()?;
    let mut out = vec![String::new(); warehouses as usize];
    for r in rows {
        let (w, region): (i32, String) = (r.try_get(0).ok()?, r.try_get(1).ok()?);
        *out.get_mut(usize::try_from(w - 1).ok()?)? = region;
    }
    Some(out)
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

/// Terminals as (home warehouse, district) over the active warehouses `ws`.
fn terminal_homes(ws: &[i32], wait: bool, concurrency: Option<usize>) -> Vec<(i32, i32)> {
    let n = ws.len().max(1);
    let terminals = if wait {
        10 * ws.len()
    } else {
        concurrency.unwrap_or(8)
    };
    (0..terminals)
        .map(|i| {
            let (w, d) = if wait {
                (i / 10, i % 10)
            } else {
                (i % n, (i / n) % 10)
            };
            (ws.get(w).copied().unwrap_or(1), d as i32 + 1)
        })
        .collect()
}

/// Opens `conns` connections spread over the active partitions (at least one each), each
/// partition's round-robin over its URLs.
async fn open_pools(
    plan: &Plan,
    part: &Partitioning,
    conns: usize,
    begin: &str,
    regions: &Option<RegionMap>,
) -> Result<(Vec<Pool>, usize)> {
    let pools: Vec<Pool> = (0..part.partitions).map(|_| Pool::new()).collect();
    let active = plan.active.len().max(1);
    let mut opened = 0;
    for (k, p) in plan.active.iter().enumerate() {
        let n = (conns / active + usize::from(k < conns % active)).max(1);
        let urls = &plan.urls[*p as usize];
        for i in 0..n {
            let url = &urls[i % urls.len()];
            let conn = Conn::open(url, begin, regions.clone()).await?;
            let _ = pools[*p as usize].tx.send(conn);
            opened += 1;
        }
    }
    Ok((pools, opened))
}

/// Runs the workload.
pub async fn run(opts: &RunOpts) -> Result<TpccResult> {
    let part = opts.partitioning()?;
    let plan = Plan::new(&part, &opts.partition_affinity, &opts.urls)?;
    let regions = validate(opts, &part).await?;
    let active = plan.warehouses(&part);
    let homes = terminal_homes(&active, opts.wait, opts.concurrency);
    let terminals = homes.len();
    let conns = opts
        .concurrency
        .unwrap_or(terminals)
        .clamp(1, terminals.max(1));
    let begin = format!(
        "BEGIN ISOLATION LEVEL {}",
        opts.isolation.replace('-', " ").to_uppercase()
    );
    let (pools, conns) = open_pools(&plan, &part, conns, &begin, &regions).await?;
    let seed = opts.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let start = Instant::now();
    let shared = Arc::new(Shared {
        rec: Mutex::new(Recorder::default()),
        pools,
        part: part.clone(),
        ctx: Ctx {
            warehouses: opts.warehouses,
            scale: opts.scale,
            consts: Constants::run(&mut Rng::new(seed)),
        },
        measure_from: start + opts.ramp,
        deadline: start + opts.ramp + opts.duration,
        wait: opts.wait.then_some(opts.wait_scale.max(0.0)),
    });
    let handles: Vec<_> = homes
        .iter()
        .enumerate()
        .map(|(i, &(w_id, d_id))| {
            let rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
            tokio::spawn(terminal(shared.clone(), rng, w_id, d_id))
        })
        .collect();
    report(&shared, start).await;
    let mut abandoned = 0;
    for h in handles {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(shared.deadline + END_GRACE, h).await {
            Ok(r) => r.context("a terminal panicked")??,
            Err(_) => {
                abort.abort();
                abandoned += 1;
            }
        }
    }
    if abandoned > 0 {
        eprintln!(
            "{abandoned} transaction(s) still running {END_GRACE:?} after the end were abandoned"
        );
    }
    let shape = Shape {
        terminals,
        conns,
        active: active.len() as i32,
        abandoned,
    };
    Ok(summarize(opts, &shared, shape))
}

/// Terminals, connections and active warehouses of a run, and transactions abandoned.
struct Shape {
    terminals: usize,
    conns: usize,
    active: i32,
    abandoned: u64,
}

fn summarize(opts: &RunOpts, shared: &Shared, shape: Shape) -> TpccResult {
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
        partitions: shared.part.partitions,
        active_warehouses: shape.active,
        concurrency: shape.conns,
        terminals: shape.terminals,
        wait: opts.wait,
        duration_s: secs,
        tpmc,
        efficiency_pct: tpmc * 100.0 / (MAX_TPMC_PER_WAREHOUSE * shape.active.max(1) as f64),
        new_order_rollbacks: rec.rollbacks,
        retries: rec.retries.iter().sum(),
        errors: transactions.iter().map(|t| t.summary.errors).sum(),
        abandoned: shape.abandoned,
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
        "tpmC {:.1}  efficiency {:.1}% (of {MAX_TPMC_PER_WAREHOUSE} tpmC x {} warehouses{})  \
         {}s, {} terminals on {} connections{}; {} New-Orders rolled back on purpose",
        r.tpmc,
        r.efficiency_pct,
        r.active_warehouses,
        if r.partitions > 1 {
            format!(" of {} in {} partitions", r.warehouses, r.partitions)
        } else {
            String::new()
        },
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
