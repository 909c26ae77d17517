//! `meridian workload init tpcc`: creates the schema and loads it per clause 4.3.3.1.
//!
//! The load is cut into independent units (a range of items, a warehouse with its districts, a
//! range of stock, a district's customers and history, a district's orders, order lines and
//! new orders). Several connections take units from a shared queue; each unit generates its rows
//! from its own seed and inserts them with multi-row `INSERT ... VALUES` statements of
//! [`LOAD_BATCH_ROWS`] rows (plain SQL literals: the generated strings are alphanumeric). A
//! progress line on stderr shows rows loaded and the rate.
//!
//! With `--regions` ([`super::partition`]) the database is made multi-region first, every
//! warehouse-keyed row is inserted with its warehouse's region in `crdb_region`, and `item`
//! becomes GLOBAL after its rows are in. With `--partitions` alone the warehouse-keyed tables
//! and indexes are split at the partition boundaries before the load.

use super::partition::{database_statements, Partitioning};
use super::rand::{last_name, Rng, C_LAST_LOAD};
use super::{parse_scale, parse_warehouses, schema, Scale};
use crate::workload::{connect, LOAD_BATCH_ROWS};
use anyhow::{bail, Context, Result};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Items or stock rows per load unit.
const ITEM_CHUNK: i32 = 10_000;
/// Attempts of one batch on a retryable error.
const BATCH_ATTEMPTS: usize = 10;

/// Options of `meridian workload init tpcc`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitOpts {
    /// Number of warehouses.
    #[arg(long, default_value = "1", value_parser = parse_warehouses)]
    pub warehouses: i32,
    /// Drop existing TPC-C tables first.
    #[arg(long)]
    pub drop: bool,
    /// Loader connections working in parallel.
    #[arg(long, default_value_t = 4)]
    pub load_concurrency: usize,
    /// NON-SPEC: load a fraction (0, 1] of the items, customers and orders (tests only).
    #[arg(long, default_value = "1", value_parser = parse_scale)]
    pub scale: Scale,
    /// Split the warehouses into this many contiguous partitions (default: one per region
    /// with --regions, else 1).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Comma-separated regions, one per partition: makes the database multi-region (the first
    /// is the PRIMARY REGION), the warehouse-keyed tables REGIONAL BY ROW homed in their
    /// warehouse's partition's region, and `item` GLOBAL.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Survival goal of the multi-region database (with --regions).
    #[arg(long, default_value = "zone", value_parser = ["zone", "region"])]
    pub survival_goal: String,
    /// Connection URL (postgresql://user@host:port/db).
    pub url: String,
}

impl InitOpts {
    /// Validated partitioning of the warehouses.
    pub fn partitioning(&self) -> Result<Partitioning> {
        Partitioning::new(self.warehouses, self.partitions, &self.regions)
    }
}

/// One independent piece of the load.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Items { from: i32, to: i32 },
    Warehouse { w: i32 },
    Stock { w: i32, from: i32, to: i32 },
    Customers { w: i32, d: i32 },
    Orders { w: i32, d: i32 },
}

impl Unit {
    fn seed(&self) -> u64 {
        let (tag, a, b) = match *self {
            Unit::Items { from, .. } => (1, 0, from),
            Unit::Warehouse { w } => (2, w, 0),
            Unit::Stock { w, from, .. } => (3, w, from),
            Unit::Customers { w, d } => (4, w, d),
            Unit::Orders { w, d } => (5, w, d),
        };
        (tag << 56) ^ ((a as u64) << 24) ^ b as u64
    }
}

/// All units of a load, biggest first.
fn units(w: i32, s: &Scale) -> Vec<Unit> {
    let mut u = Vec::new();
    for wid in 1..=w {
        for d in 1..=10 {
            u.push(Unit::Orders { w: wid, d });
        }
    }
    let mut from = 1;
    while from <= s.items {
        let to = (from + ITEM_CHUNK - 1).min(s.items);
        u.push(Unit::Items { from, to });
        for wid in 1..=w {
            u.push(Unit::Stock { w: wid, from, to });
        }
        from = to + 1;
    }
    for wid in 1..=w {
        for d in 1..=10 {
            u.push(Unit::Customers { w: wid, d });
        }
        u.push(Unit::Warehouse { w: wid });
    }
    u
}

/// Rows the whole load inserts (order lines estimated at their mean of 10 per order).
fn total_rows(w: i32, s: &Scale) -> u64 {
    let per_w = 1
        + 10
        + s.items as u64
        + 10 * (2 * s.customers as u64 + 11 * s.orders as u64 + s.new_orders as u64);
    s.items as u64 + w as u64 * per_w
}

/// Buffers rows of one table and inserts them [`LOAD_BATCH_ROWS`] at a time.
struct Inserter<'a> {
    client: &'a Client,
    head: String,
    rows: Vec<String>,
    /// `, 'region')`: replaces the closing parenthesis of every row (multi-region).
    region_tail: Option<String>,
    done: &'a AtomicU64,
}

impl<'a> Inserter<'a> {
    /// Rows of `table`; with `region`, each row also sets `crdb_region` to it.
    fn new(
        client: &'a Client,
        table: &str,
        cols: &str,
        region: Option<&str>,
        done: &'a AtomicU64,
    ) -> Self {
        let region_col = if region.is_some() {
            ", crdb_region"
        } else {
            ""
        };
        Inserter {
            client,
            head: format!("INSERT INTO {table} ({cols}{region_col}) VALUES "),
            rows: Vec::with_capacity(LOAD_BATCH_ROWS),
            region_tail: region.map(|r| format!(", '{}')", r.replace('\'', "''"))),
            done,
        }
    }

    /// Adds one `(v1, v2, ...)` row, flushing a full batch.
    async fn push(&mut self, mut row: String) -> Result<()> {
        if let Some(tail) = &self.region_tail {
            if row.ends_with(')') {
                row.pop();
                row.push_str(tail);
            }
        }
        self.rows.push(row);
        if self.rows.len() >= LOAD_BATCH_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let sql = format!("{}{}", self.head, self.rows.join(", "));
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.client.batch_execute(&sql).await {
                Ok(()) => break,
                Err(e) if super::txns::retryable(&e) && attempt < BATCH_ATTEMPTS => continue,
                Err(e) => return Err(e).context(format!("loading: {}...", &self.head)),
            }
        }
        self.done
            .fetch_add(self.rows.len() as u64, Ordering::Relaxed);
        self.rows.clear();
        Ok(())
    }
}

/// Money with two decimals from cents.
fn money(cents: i64) -> String {
    super::rand::cents_to_decimal(cents)
}

/// A DECIMAL(4,4) tax or discount from ten-thousandths.
fn rate(r: &mut Rng, max: i64) -> String {
    format!("0.{:04}", r.uniform(0, max))
}

/// Street 1, street 2, city, state, zip as quoted literals.
fn address(r: &mut Rng) -> String {
    format!(
        "'{}', '{}', '{}', '{}', '{}'",
        r.a_string(10, 20),
        r.a_string(10, 20),
        r.a_string(10, 20),
        r.a_string(2, 2),
        r.zip()
    )
}

struct Loader<'a> {
    client: &'a Client,
    scale: Scale,
    part: &'a Partitioning,
    now: &'a str,
    done: &'a AtomicU64,
}

impl Loader<'_> {
    /// An inserter for a table without warehouse (`item`).
    fn inserter(&self, table: &str, cols: &str) -> Inserter<'_> {
        Inserter::new(self.client, table, cols, None, self.done)
    }

    /// An inserter for rows of warehouse `w` (homed in its region with --regions).
    fn inserter_w(&self, table: &str, cols: &str, w: i32) -> Inserter<'_> {
        Inserter::new(self.client, table, cols, self.part.region_of(w), self.done)
    }

    async fn load(&self, unit: Unit) -> Result<()> {
        let mut r = Rng::new(unit.seed());
        match unit {
            Unit::Items { from, to } => self.items(&mut r, from, to).await,
            Unit::Warehouse { w } => self.warehouse(&mut r, w).await,
            Unit::Stock { w, from, to } => self.stock(&mut r, w, from, to).await,
            Unit::Customers { w, d } => self.customers(&mut r, w, d).await,
            Unit::Orders { w, d } => self.orders(&mut r, w, d).await,
        }
    }

    async fn items(&self, r: &mut Rng, from: i32, to: i32) -> Result<()> {
        let mut ins = self.inserter("item", "i_id, i_im_id, i_name, i_price, i_data");
        for i in from..=to {
            let row = format!(
                "({i}, {}, '{}', {}, '{}')",
                r.uniform(1, 10_000),
                r.a_string(14, 24),
                money(r.uniform(100, 10_000)),
                r.data_with_original(26, 50)
            );
            ins.push(row).await?;
        }
        ins.flush().await
    }

    async fn warehouse(&self, r: &mut Rng, w: i32) -> Result<()> {
        let mut ins = self.inserter_w(
            "warehouse",
            "w_id, w_name, w_street_1, w_street_2, w_city, w_state, w_zip, w_tax, w_ytd",
            w,
        );
        let row = format!(
            "({w}, '{}', {}, {}, 300000.00)",
            r.a_string(6, 10),
            address(r),
            rate(r, 2000)
        );
        ins.push(row).await?;
        ins.flush().await?;
        let mut ins = self.inserter_w(
            "district",
            "d_id, d_w_id, d_name, d_street_1, d_street_2, d_city, d_state, d_zip, d_tax, d_ytd, \
             d_next_o_id",
            w,
        );
        for d in 1..=10 {
            let row = format!(
                "({d}, {w}, '{}', {}, {}, 30000.00, {})",
                r.a_string(6, 10),
                address(r),
                rate(r, 2000),
                self.scale.orders + 1
            );
            ins.push(row).await?;
        }
        ins.flush().await
    }

    async fn stock(&self, r: &mut Rng, w: i32, from: i32, to: i32) -> Result<()> {
        let mut ins = self.inserter_w(
            "stock",
            "s_i_id, s_w_id, s_quantity, s_dist_01, s_dist_02, s_dist_03, s_dist_04, s_dist_05, \
             s_dist_06, s_dist_07, s_dist_08, s_dist_09, s_dist_10, s_ytd, s_order_cnt, \
             s_remote_cnt, s_data",
            w,
        );
        for i in from..=to {
            let dists: Vec<String> = (0..10)
                .map(|_| format!("'{}'", r.a_string(24, 24)))
                .collect();
            let row = format!(
                "({i}, {w}, {}, {}, 0, 0, 0, '{}')",
                r.uniform(10, 100),
                dists.join(", "),
                r.data_with_original(26, 50)
            );
            ins.push(row).await?;
        }
        ins.flush().await
    }

    async fn customers(&self, r: &mut Rng, w: i32, d: i32) -> Result<()> {
        let mut ins = self.inserter_w(
            "customer",
            "c_id, c_d_id, c_w_id, c_first, c_middle, c_last, c_street_1, c_street_2, c_city, \
             c_state, c_zip, c_phone, c_since, c_credit, c_credit_lim, c_discount, c_balance, \
             c_ytd_payment, c_payment_cnt, c_delivery_cnt, c_data",
            w,
        );
        for c in 1..=self.scale.customers {
            let last = if c <= 1000 {
                last_name(c as u32 - 1)
            } else {
                last_name(r.nurand(255, 0, 999, C_LAST_LOAD as i64) as u32)
            };
            let credit = if r.uniform(1, 10) == 1 { "BC" } else { "GC" };
            let row = format!(
                "({c}, {d}, {w}, '{}', 'OE', '{last}', {}, '{}', '{}', '{credit}', 50000.00, {}, \
                 -10.00, 10.00, 1, 0, '{}')",
                r.a_string(8, 16),
                address(r),
                r.n_string(16, 16),
                self.now,
                rate(r, 5000),
                r.a_string(300, 500)
            );
            ins.push(row).await?;
        }
        ins.flush().await?;
        let mut ins = self.inserter_w(
            "history",
            "h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount, h_data",
            w,
        );
        for c in 1..=self.scale.customers {
            let row = format!(
                "({c}, {d}, {w}, {d}, {w}, '{}', 10.00, '{}')",
                self.now,
                r.a_string(12, 24)
            );
            ins.push(row).await?;
        }
        ins.flush().await
    }

    async fn orders(&self, r: &mut Rng, w: i32, d: i32) -> Result<()> {
        let s = self.scale;
        // o_c_id is a random permutation of the customer ids (clause 4.3.3.1).
        let mut cust: Vec<i32> = (1..=s.customers).collect();
        for i in (1..cust.len()).rev() {
            cust.swap(i, r.uniform(0, i as i64) as usize);
        }
        let first_new = s.orders - s.new_orders + 1;
        let mut orders = self.inserter_w(
            "\"order\"",
            "o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_carrier_id, o_ol_cnt, o_all_local",
            w,
        );
        let mut lines = self.inserter_w(
            "order_line",
            "ol_o_id, ol_d_id, ol_w_id, ol_number, ol_i_id, ol_supply_w_id, ol_delivery_d, \
             ol_quantity, ol_amount, ol_dist_info",
            w,
        );
        let mut new_orders = self.inserter_w("new_order", "no_o_id, no_d_id, no_w_id", w);
        for o in 1..=s.orders {
            let delivered = o < first_new;
            let carrier = if delivered {
                r.uniform(1, 10).to_string()
            } else {
                "NULL".into()
            };
            let ol_cnt = r.uniform(5, 15);
            let c = cust.get(o as usize - 1).copied().unwrap_or(1);
            let row = format!(
                "({o}, {d}, {w}, {c}, '{}', {carrier}, {ol_cnt}, 1)",
                self.now
            );
            orders.push(row).await?;
            for n in 1..=ol_cnt {
                let (date, amount) = if delivered {
                    (format!("'{}'", self.now), money(0))
                } else {
                    ("NULL".to_string(), money(r.uniform(1, 999_999)))
                };
                let row = format!(
                    "({o}, {d}, {w}, {n}, {}, {w}, {date}, 5, {amount}, '{}')",
                    r.uniform(1, s.items as i64),
                    r.a_string(24, 24)
                );
                lines.push(row).await?;
            }
            if !delivered {
                new_orders.push(format!("({o}, {d}, {w})")).await?;
            }
        }
        orders.flush().await?;
        lines.flush().await?;
        new_orders.flush().await
    }
}

/// Creates the schema (dropping it first with `--drop`): with regions the database is made
/// multi-region first; with partitions alone the new tables are split at their boundaries.
async fn create_schema(client: &Client, drop: bool, part: &Partitioning) -> Result<()> {
    if drop {
        for sql in schema::drop_statements() {
            client
                .batch_execute(&sql)
                .await
                .with_context(|| sql.clone())?;
        }
    } else if schema::exists(client).await {
        bail!("the TPC-C tables already exist: pass --drop to drop and reload them");
    }
    for sql in schema::create_statements(part.multi_region()) {
        client
            .batch_execute(&sql)
            .await
            .with_context(|| format!("creating the schema: {sql}"))?;
    }
    if part.partitions > 1 {
        split_partitions(client, part).await;
    }
    Ok(())
}

/// Makes the connection's database multi-region with `part`'s regions.
async fn make_multi_region(client: &Client, part: &Partitioning, survival: &str) -> Result<()> {
    let db: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .context("reading the current database")?
        .try_get(0)?;
    for sql in database_statements(&db, &part.regions, survival) {
        client
            .batch_execute(&sql)
            .await
            .with_context(|| format!("making database {db} multi-region: {sql}"))?;
    }
    Ok(())
}

/// Splits every warehouse-keyed table and index at the partition boundaries: at the first
/// warehouse of each partition, or, REGIONAL BY ROW, at each region's first key (so each
/// partition starts in its own range and the allocator only has to split off the ends of the
/// partitions' span configs, a few ranges at a time, instead of carving dozens of boundaries out
/// of one range one at a time). A server that cannot split (PostgreSQL) is told so once and
/// skipped.
async fn split_partitions(client: &Client, part: &Partitioning) {
    let points: Vec<String> = if part.multi_region() {
        let mut r = part.regions.clone();
        r.sort();
        r.iter()
            .map(|r| format!("('{}')", r.replace('\'', "''")))
            .collect()
    } else {
        part.split_points()
            .iter()
            .map(|w| format!("({w})"))
            .collect()
    };
    let points = points.join(", ");
    // history has no warehouse in its key unless it is REGIONAL BY ROW.
    let history = part.multi_region().then(|| "TABLE history".to_string());
    let targets = schema::WAREHOUSE_KEYED
        .iter()
        .map(|(t, _)| format!("TABLE {t}"))
        .chain(history)
        .chain(
            schema::WAREHOUSE_KEYED_INDEXES
                .iter()
                .map(|i| format!("INDEX {i}")),
        );
    for target in targets {
        let sql = format!("ALTER {target} SPLIT AT VALUES {points}");
        if let Err(e) = client.batch_execute(&sql).await {
            eprintln!("not splitting at the partition boundaries: {sql}: {e}");
            return;
        }
    }
}

/// Prints progress once a second until `total` rows are in or `stop` is set.
async fn progress(done: Arc<AtomicU64>, total: u64, stop: Arc<AtomicU64>) {
    let start = Instant::now();
    while stop.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let n = done.load(Ordering::Relaxed);
        let secs = start.elapsed().as_secs_f64();
        eprint!(
            "\rloading tpcc: {:>5.1}% {n:>10} rows {:>8.0} rows/s {secs:>6.0}s ",
            (n as f64 * 100.0 / total.max(1) as f64).min(100.0),
            n as f64 / secs.max(1e-9)
        );
    }
}

/// Creates and loads the TPC-C tables.
pub async fn init(opts: &InitOpts) -> Result<()> {
    let part = Arc::new(opts.partitioning()?);
    let client = connect(&opts.url).await?;
    if part.multi_region() {
        make_multi_region(&client, &part, &opts.survival_goal).await?;
    }
    create_schema(&client, opts.drop, &part).await?;
    let queue = Arc::new(Mutex::new(VecDeque::from(units(
        opts.warehouses,
        &opts.scale,
    ))));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicU64::new(0));
    let total = total_rows(opts.warehouses, &opts.scale);
    let start = Instant::now();
    let reporter = tokio::spawn(progress(done.clone(), total, stop.clone()));
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let mut loaders = Vec::new();
    for _ in 0..opts.load_concurrency.max(1) {
        let (queue, done, url, now, scale, part) = (
            queue.clone(),
            done.clone(),
            opts.url.clone(),
            now.clone(),
            opts.scale,
            part.clone(),
        );
        loaders.push(tokio::spawn(async move {
            let client = connect(&url).await?;
            let loader = Loader {
                client: &client,
                scale,
                part: &part,
                now: &now,
                done: &done,
            };
            loop {
                let next = queue.lock().pop_front();
                let Some(unit) = next else {
                    return Ok::<_, anyhow::Error>(());
                };
                loader
                    .load(unit)
                    .await
                    .with_context(|| format!("loading {unit:?}"))?;
            }
        }));
    }
    let mut result = Ok(());
    for l in loaders {
        let r = l.await.context("a loader panicked").and_then(|r| r);
        if result.is_ok() {
            result = r;
        }
    }
    stop.store(1, Ordering::Relaxed);
    let _ = reporter.await;
    result?;
    if part.multi_region() {
        client
            .batch_execute(schema::MAKE_ITEM_GLOBAL)
            .await
            .with_context(|| schema::MAKE_ITEM_GLOBAL.to_string())?;
    }
    let n = done.load(Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "\rloaded tpcc: {} warehouse(s){}, {n} rows in {secs:.1}s ({:.0} rows/s)            ",
        opts.warehouses,
        describe(&part),
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// ` in N partitions (homed in r1, r2, ...)` for the summary line.
fn describe(part: &Partitioning) -> String {
    match (part.partitions, part.multi_region()) {
        (1, _) => String::new(),
        (n, false) => format!(" in {n} partitions"),
        (n, true) => format!(" in {n} partitions homed in {}", part.regions.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_cover_every_table_once() {
        let s = Scale::spec();
        let u = units(2, &s);
        let items: i32 = u
            .iter()
            .map(|u| match u {
                Unit::Items { from, to } => to - from + 1,
                _ => 0,
            })
            .sum();
        assert_eq!(items, 100_000);
        let stock = u.iter().filter(|u| matches!(u, Unit::Stock { .. })).count();
        assert_eq!(stock, 20);
        assert_eq!(
            u.iter()
                .filter(|u| matches!(u, Unit::Orders { .. }))
                .count(),
            20
        );
        assert_eq!(
            u.iter()
                .filter(|u| matches!(u, Unit::Warehouse { .. }))
                .count(),
            2
        );
        let seeds: std::collections::HashSet<u64> = u.iter().map(Unit::seed).collect();
        assert_eq!(seeds.len(), u.len(), "every unit has its own seed");
    }
}
