//! The five TPC-C transactions (clause 2): input generation (pure, unit-tested) and execution
//! over one connection, each in an explicit `BEGIN .. COMMIT`.
//!
//! Statements are prepared once per connection ([`Conn::open`]); statements whose arity depends
//! on the order (the item and stock reads, the order-line insert) are prepared on first use per
//! arity and cached. Independent statements of one transaction are pipelined (sent together,
//! awaited together), which PostgreSQL's protocol allows and both servers execute in order.
//!
//! Money is DECIMAL in the schema; parameters travel as text (`CAST($n::TEXT AS DECIMAL(..))`) and
//! results come back as `::TEXT` or `::FLOAT8`, so the client needs no numeric codec.
//!
//! Against tables loaded with `--regions` (REGIONAL BY ROW), a connection opened with the
//! warehouses' regions ([`RegionMap`]) inserts every row with `crdb_region` set to its home
//! warehouse's region (the `REGIONAL_STMTS` variants, the region as the last parameter), as
//! CockroachDB's computed region column would; reads and updates name only the warehouse keys.

pub mod delivery;
pub mod new_order;
pub mod order_status;
pub mod payment;
pub mod stock_level;

use super::rand::{Constants, Rng};
use super::Scale;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::{Client, Error, Statement};

/// The region of every warehouse (index `w_id - 1`), read from `warehouse.crdb_region`.
pub type RegionMap = Arc<Vec<String>>;

/// The five transaction types, in the spec's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// New-Order (clause 2.4).
    NewOrder,
    /// Payment (clause 2.5).
    Payment,
    /// Order-Status (clause 2.6).
    OrderStatus,
    /// Delivery (clause 2.7).
    Delivery,
    /// Stock-Level (clause 2.8).
    StockLevel,
}

impl Kind {
    /// All kinds, indexable by [`Kind::index`].
    pub const ALL: [Kind; 5] = [
        Kind::NewOrder,
        Kind::Payment,
        Kind::OrderStatus,
        Kind::Delivery,
        Kind::StockLevel,
    ];

    /// Position in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in output (CockroachDB's).
    pub fn name(self) -> &'static str {
        [
            "newOrder",
            "payment",
            "orderStatus",
            "delivery",
            "stockLevel",
        ][self.index()]
    }

    /// Draws a transaction type with the spec's mix: 45% New-Order, 43% Payment and 4% each of
    /// Order-Status, Delivery and Stock-Level (clause 5.2.3's minimums, New-Order the rest).
    pub fn pick(rng: &mut Rng) -> Kind {
        match rng.uniform(1, 100) {
            1..=45 => Kind::NewOrder,
            46..=88 => Kind::Payment,
            89..=92 => Kind::OrderStatus,
            93..=96 => Kind::Delivery,
            _ => Kind::StockLevel,
        }
    }

    /// Keying time in seconds (clause 5.2.5.2).
    pub fn keying_secs(self) -> f64 {
        [18.0, 3.0, 2.0, 2.0, 2.0][self.index()]
    }

    /// Mean think time in seconds (clause 5.2.5.4).
    pub fn think_mean_secs(self) -> f64 {
        [12.0, 12.0, 10.0, 5.0, 5.0][self.index()]
    }
}

/// What the generators need to know about the database and the run.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Warehouses loaded.
    pub warehouses: i32,
    /// Table sizes (the spec's unless a reduced test scale was loaded).
    pub scale: Scale,
    /// The run's NURand constants.
    pub consts: Constants,
}

impl Ctx {
    /// A customer id by NURand(1023, 1, customers).
    pub fn customer_id(&self, rng: &mut Rng) -> i32 {
        rng.nurand(1023, 1, self.scale.customers as i64, self.consts.c_id) as i32
    }

    /// A warehouse other than `home` (or `home` when there is only one).
    pub fn other_warehouse(&self, rng: &mut Rng, home: i32) -> i32 {
        if self.warehouses <= 1 {
            return home;
        }
        let w = rng.uniform(1, self.warehouses as i64 - 1) as i32;
        if w >= home {
            w + 1
        } else {
            w
        }
    }

    /// A last name to look up (only names that were loaded).
    pub fn last_name(&self, rng: &mut Rng) -> String {
        let max = (self.scale.customers as i64 - 1).min(999);
        rng.run_last_name(&self.consts, max)
    }
}

/// How a customer is selected (Payment and Order-Status: 60% by last name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    /// By `c_id`.
    Id(i32),
    /// By `c_last`: the middle one of the matches ordered by `c_first`.
    Last(String),
}

impl CustomerRef {
    /// 60% by last name, 40% by NURand id (clauses 2.5.1.2 and 2.6.1.2).
    pub fn generate(rng: &mut Rng, ctx: &Ctx) -> Self {
        if rng.uniform(1, 100) <= 60 {
            CustomerRef::Last(ctx.last_name(rng))
        } else {
            CustomerRef::Id(ctx.customer_id(rng))
        }
    }
}

/// One transaction's input.
#[derive(Debug, Clone)]
pub enum Input {
    /// New-Order.
    NewOrder(new_order::Input),
    /// Payment.
    Payment(payment::Input),
    /// Order-Status.
    OrderStatus(order_status::Input),
    /// Delivery.
    Delivery(delivery::Input),
    /// Stock-Level.
    StockLevel(stock_level::Input),
}

impl Input {
    /// Generates the input of a `kind` transaction for a terminal at (`w_id`, `d_id`).
    pub fn generate(kind: Kind, rng: &mut Rng, ctx: &Ctx, w_id: i32, d_id: i32) -> Self {
        match kind {
            Kind::NewOrder => Input::NewOrder(new_order::generate(rng, ctx, w_id)),
            Kind::Payment => Input::Payment(payment::generate(rng, ctx, w_id)),
            Kind::OrderStatus => Input::OrderStatus(order_status::generate(rng, ctx, w_id)),
            Kind::Delivery => Input::Delivery(delivery::generate(rng, w_id)),
            Kind::StockLevel => Input::StockLevel(stock_level::generate(rng, w_id, d_id)),
        }
    }
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed.
    Committed,
    /// Rolled back on purpose (New-Order with an unused item id; a success per clause 2.4.2.3).
    RolledBack,
}

/// A connection with its prepared statements.
pub struct Conn {
    /// The client.
    pub client: Client,
    begin: String,
    regions: Option<RegionMap>,
    stmts: HashMap<&'static str, Statement>,
    by_arity: HashMap<(&'static str, usize), Statement>,
}

/// Fixed statements of every transaction, prepared when the connection opens.
const FIXED: [&[(&str, &str)]; 6] = [
    new_order::STMTS,
    payment::STMTS,
    order_status::STMTS,
    delivery::STMTS,
    stock_level::STMTS,
    &[("customer_by_last", CUSTOMER_BY_LAST)],
];

/// The INSERTs that name `crdb_region` (replacing the fixed ones of the same name).
const REGIONAL: [&[(&str, &str)]; 2] = [new_order::REGIONAL_STMTS, payment::REGIONAL_STMTS];

/// Customers with a last name, ordered by first name (clause 2.5.2.2).
const CUSTOMER_BY_LAST: &str = "SELECT c_id FROM customer \
     WHERE c_w_id = $1 AND c_d_id = $2 AND c_last = $3 ORDER BY c_first";

impl Conn {
    /// Connects to `url` and prepares the fixed statements; transactions start with `begin`
    /// (e.g. `BEGIN ISOLATION LEVEL SERIALIZABLE`). With `regions`, inserted rows name their
    /// warehouse's region.
    pub async fn open(url: &str, begin: &str, regions: Option<RegionMap>) -> anyhow::Result<Self> {
        use anyhow::Context;
        let client = super::super::connect(url).await?;
        let mut stmts = HashMap::new();
        let regional = REGIONAL.iter().filter(|_| regions.is_some());
        for (name, sql) in FIXED.iter().chain(regional).flat_map(|s| s.iter()) {
            let st = client
                .prepare(sql)
                .await
                .with_context(|| format!("preparing {name}: {sql}"))?;
            stmts.insert(*name, st);
        }
        Ok(Conn {
            client,
            begin: begin.to_string(),
            regions,
            stmts,
            by_arity: HashMap::new(),
        })
    }

    /// Whether inserts name `crdb_region`.
    pub fn regional(&self) -> bool {
        self.regions.is_some()
    }

    /// The region rows of warehouse `w` are homed in (None without regions; a warehouse the
    /// map does not know gets the primary region's rows, the map's first entry).
    pub fn region(&self, w: i32) -> Option<&String> {
        let map = self.regions.as_ref()?;
        usize::try_from(w - 1)
            .ok()
            .and_then(|i| map.get(i))
            .or_else(|| map.first())
    }

    /// A fixed statement by name (a missing name is a programming error caught by the tests).
    fn stmt(&self, name: &str) -> &Statement {
        match self.stmts.get(name) {
            Some(s) => s,
            None => panic!("statement {name} was not prepared"),
        }
    }

    /// The statement `sql(n)`, prepared on first use for each `(name, n)`.
    async fn by_arity(
        &mut self,
        name: &'static str,
        n: usize,
        sql: impl Fn(usize) -> String,
    ) -> Result<Statement, Error> {
        if let Some(s) = self.by_arity.get(&(name, n)) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&sql(n)).await?;
        self.by_arity.insert((name, n), s.clone());
        Ok(s)
    }

    /// The customer id of `r` in (`w_id`, `d_id`): the id itself, or the middle match by last
    /// name ordered by first name (position ceil(n/2), clause 2.5.2.2). `None` if no customer has
    /// that name.
    async fn customer_id(
        &self,
        w_id: i32,
        d_id: i32,
        r: &CustomerRef,
    ) -> Result<Option<i32>, Error> {
        match r {
            CustomerRef::Id(id) => Ok(Some(*id)),
            CustomerRef::Last(name) => {
                let rows = self
                    .client
                    .query(self.stmt("customer_by_last"), &[&w_id, &d_id, name])
                    .await?;
                let mid = rows.len().saturating_sub(1) / 2;
                rows.get(mid).map(|r| r.try_get(0)).transpose()
            }
        }
    }

    /// Runs one transaction: BEGIN, the body, then COMMIT (or ROLLBACK when the body asks for it
    /// or fails; a failed body's error is returned).
    pub async fn execute(&mut self, input: &Input) -> Result<Outcome, Error> {
        let begin = self.begin.clone();
        self.client.batch_execute(&begin).await?;
        let r = match input {
            Input::NewOrder(i) => new_order::execute(self, i).await,
            Input::Payment(i) => payment::execute(self, i).await,
            Input::OrderStatus(i) => order_status::execute(self, i).await,
            Input::Delivery(i) => delivery::execute(self, i).await,
            Input::StockLevel(i) => stock_level::execute(self, i).await,
        };
        match r {
            Ok(Outcome::Committed) => match self.client.batch_execute("COMMIT").await {
                Ok(()) => Ok(Outcome::Committed),
                Err(e) => {
                    let _ = self.client.batch_execute("ROLLBACK").await;
                    Err(e)
                }
            },
            Ok(Outcome::RolledBack) => {
                self.client.batch_execute("ROLLBACK").await?;
                Ok(Outcome::RolledBack)
            }
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    }
}

/// `$first, $first+1, ..., $first+n-1` for an IN list.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an error is a serialization failure (40001) or a deadlock (40P01, PostgreSQL): the
/// client retries the same transaction.
pub fn retryable(e: &Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "40001" | "40P01"))
}

/// The current time for TIMESTAMP columns.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_matches_the_spec() {
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 5];
        let n = 200_000;
        for _ in 0..n {
            counts[Kind::pick(&mut rng).index()] += 1;
        }
        let pct: Vec<f64> = counts
            .iter()
            .map(|&c| c as f64 * 100.0 / n as f64)
            .collect();
        for (got, want) in pct.iter().zip([45.0, 43.0, 4.0, 4.0, 4.0]) {
            assert!((got - want).abs() < 0.5, "{pct:?}");
        }
    }

    #[test]
    fn customers_by_name_sixty_percent() {
        let ctx = Ctx {
            warehouses: 1,
            scale: Scale::spec(),
            consts: Constants::run(&mut Rng::new(2)),
        };
        let mut rng = Rng::new(5);
        let by_name = (0..100_000)
            .filter(|_| matches!(CustomerRef::generate(&mut rng, &ctx), CustomerRef::Last(_)))
            .count();
        assert!((59_000..61_000).contains(&by_name), "{by_name}");
    }

    #[test]
    fn other_warehouse_is_never_home() {
        let mut ctx = Ctx {
            warehouses: 3,
            scale: Scale::spec(),
            consts: Constants::run(&mut Rng::new(2)),
        };
        let mut rng = Rng::new(9);
        for _ in 0..1000 {
            let w = ctx.other_warehouse(&mut rng, 2);
            assert!(w == 1 || w == 3);
        }
        ctx.warehouses = 1;
        assert_eq!(ctx.other_warehouse(&mut rng, 1), 1);
    }

    #[test]
    fn placeholders_count_from_first() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }
}
