//! The `tpcc` workload: a TPC-C-like benchmark with CockroachDB's command shapes.
//!
//! - `meridian workload init tpcc --warehouses=N [--drop] <url>` creates the nine tables and their
//!   secondary indexes ([`schema`]) and loads them per the spec's population rules ([`load`]) with
//!   batched multi-row INSERTs from several connections.
//! - `meridian workload run tpcc --warehouses=N --duration=60s --concurrency=C [--wait] <url>` runs
//!   the five transactions ([`txns`]) with the spec's mix and reports tpmC, efficiency and
//!   per-transaction latency ([`run`]).
//! - `meridian workload check tpcc --warehouses=N <url>` verifies consistency conditions 1-4
//!   ([`check`]).
//! - `--partitions=N`, `--regions=r1,...`, `--partition-affinity=p` and several URLs split the
//!   warehouses into contiguous partitions, homed in one region each, driven through their own
//!   gateways ([`partition`]).
//!
//! The SQL is the common subset of PostgreSQL 15 and Meridian, so the same tool measures both.
//!
//! IMPLEMENTATION CAVEATS (this is "TPC-C-like", not an audited TPC-C):
//! - Every transaction runs in `BEGIN ISOLATION LEVEL SERIALIZABLE` by default (`--isolation`
//!   changes it for PostgreSQL; Meridian always runs SERIALIZABLE). 40001/40P01 are retried with
//!   the same input; latency runs from the first attempt to the commit.
//! - Delivery runs inline as one transaction per call (not the spec's deferred queue).
//! - `--wait` gives 10 terminals per warehouse with the spec's keying and think times;
//!   `--wait-scale` shrinks them (non-spec) so short runs see traffic. Terminals share the
//!   `--concurrency` connections when there are fewer connections than terminals.
//! - tpmC counts completed New-Orders including the 1% that roll back on purpose (the spec counts
//!   them as completed business transactions).
//! - `--scale` < 1 loads fewer items, customers and orders (NOT spec-conforming; for fast tests):
//!   run and check must be given the same value.
//! - No foreign keys; order ids of the 30% of undelivered orders and the C constants follow the
//!   spec, but the load does not reproduce the spec's exact distributions of dates.
//! - `--regions` ([`partition`]): without computed columns the region of a row is named in every
//!   INSERT rather than derived from its warehouse id, so reads that are not unique-key point
//!   lookups may visit every region's partition, and every insert checks key uniqueness in the
//!   other regions (CockroachDB skips both when the region is computed from the key).
//! - A run abandons transactions still in flight 5 s after its end (they are not counted).

pub mod check;
pub mod load;
pub mod partition;
pub mod rand;
pub mod run;
pub mod schema;
pub mod txns;

pub use check::{check, CheckOpts};
pub use load::{init, InitOpts};
pub use run::{print_result, run, RunOpts, TpccResult};

/// Table sizes per warehouse/district. The spec's are [`Scale::spec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Rows of `item` (and of `stock` per warehouse).
    pub items: i32,
    /// Customers per district.
    pub customers: i32,
    /// Orders per district loaded (customers, since each has one).
    pub orders: i32,
    /// Of those, the newest ones still undelivered (rows of `new_order`).
    pub new_orders: i32,
}

impl Scale {
    /// The spec's: 100,000 items, 3,000 customers and orders per district, 900 undelivered.
    pub fn spec() -> Self {
        Scale {
            items: 100_000,
            customers: 3000,
            orders: 3000,
            new_orders: 900,
        }
    }

    /// The spec's sizes times `f` (0 < f <= 1), at least 100 items and 30 customers per district.
    pub fn with_factor(f: f64) -> Result<Self, String> {
        if !(f > 0.0 && f <= 1.0) {
            return Err(format!("--scale must be in (0, 1], got {f}"));
        }
        let spec = Scale::spec();
        let items = ((spec.items as f64 * f).round() as i32).max(100);
        let customers = ((spec.customers as f64 * f).round() as i32).max(30);
        Ok(Scale {
            items,
            customers,
            orders: customers,
            new_orders: customers * 3 / 10,
        })
    }
}

/// Parses `--scale`.
pub fn parse_scale(s: &str) -> Result<Scale, String> {
    let f: f64 = s.parse().map_err(|_| format!("bad scale {s:?}"))?;
    Scale::with_factor(f)
}

/// Parses a `--warehouses` value (at least 1).
pub fn parse_warehouses(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "--warehouses must be a positive integer, got {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales() {
        assert_eq!(Scale::with_factor(1.0).unwrap(), Scale::spec());
        let s = Scale::with_factor(0.01).unwrap();
        assert_eq!(
            (s.items, s.customers, s.orders, s.new_orders),
            (1000, 30, 30, 9)
        );
        assert!(Scale::with_factor(0.0).is_err() && Scale::with_factor(2.0).is_err());
        assert!(parse_warehouses("0").is_err() && parse_warehouses("3") == Ok(3));
    }
}
