//! Ordering rewrites, run after the access paths are chosen: sort elision and limit pushdown.
//!
//! Why: without them `SELECT ... WHERE k1 = $1 ORDER BY k2 LIMIT 1 FOR UPDATE` over a primary
//! key `(k1, k2)` reads, locks and sorts every row with `k1 = $1` to return one (TPC-C's
//! Delivery read 900 rows per district this way).
//!
//! - **Sort elision.** A scan returns rows in the key order of the index it reads: spans are
//!   scanned in key order (the executor sorts them), and within a span keys are ordered by the
//!   index columns in their declared directions, then (secondary indexes) by the primary key
//!   columns, which makes the order total. A `Sort` whose keys follow that order is dropped
//!   when only order-preserving operators (filter, projection, limit, distinct) separate it
//!   from the scan. Columns the scan's filter pins to a single value (`col = const`,
//!   `col IS NULL`) may be skipped both in the ORDER BY and in the index. NULL placement must
//!   agree: NULLs are encoded after every value, so an ascending column yields NULLS LAST and a
//!   descending one NULLS FIRST (PostgreSQL's defaults); for NOT NULL columns it does not
//!   matter. The executor's sort is stable, so eliding it returns exactly the rows, in
//!   exactly the order, that sorting the scan's output would have (ties included).
//! - **Limit pushdown.** A `Limit` with a constant count (literal or parameter) whose input
//!   reaches a scan through projections only gives that scan a row budget of count + offset
//!   ([`super::ScanLimit`]). The scan counts rows that pass its filter and sizes its pages
//!   to the rows still wanted, stopping when none are, so a locking scan whose filter is
//!   fully expressed by its spans locks exactly the rows the LIMIT returns (plus the OFFSET
//!   rows, which PostgreSQL locks too).
//!
//! IMPLEMENTATION CAVEATS
//! - Forward scans only: `txn::Transaction` has no reverse scan, so an ORDER BY in the
//!   opposite direction of the index (e.g. `ORDER BY pk DESC LIMIT 1`) still reads the
//!   whole span and sorts.
//! - Only types whose key encoding orders (and, for pinned columns, equates) values exactly
//!   as the executor's comparison does are used: booleans, integers, floats, numerics, text,
//!   varchar, bytea, dates, timestamps, intervals and UUIDs. `char(n)`, JSONB and arrays keep
//!   their sort.
//! - A sort above a join is not elided (a lookup join does preserve its outer order), and a
//!   LIMIT above a sort that stays is not turned into a top-k sort.
//! - A locking scan with a residual filter (a predicate its spans do not express) still locks
//!   every row it reads before the LIMIT is satisfied, rejected ones included (see
//!   [`super::locking`]); its pages then grow one row at a time as rows are rejected.

use crate::catalog::TableDesc;
use crate::plan::expr::{ColId, Expr};
use crate::plan::{IndexChoice, Plan, Scan, ScanLimit, SortKey};
use crate::types::{BinaryOp, DataType};
use kv::encoding::Direction;
use std::collections::HashSet;

/// Applies sort elision and limit pushdown to the whole tree.
pub fn apply(plan: Plan) -> Plan {
    match plan {
        Plan::Sort { input, keys } => {
            let input = apply(*input);
            if provides_order(&input, &keys) {
                input
            } else {
                Plan::Sort {
                    input: Box::new(input),
                    keys,
                }
            }
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let mut input = apply(*input);
            if let Some(count) = &limit {
                if count.is_const() && offset.as_ref().is_none_or(Expr::is_const) {
                    push_limit(&mut input, count, offset.as_ref());
                }
            }
            Plan::Limit {
                input: Box::new(input),
                limit,
                offset,
            }
        }
        other => map_children(other, apply),
    }
}

/// Rebuilds `plan` with `f` applied to each child plan.
fn map_children(plan: Plan, f: fn(Plan) -> Plan) -> Plan {
    let b = |p: Box<Plan>| Box::new(f(*p));
    match plan {
        Plan::Filter { input, predicate } => Plan::Filter {
            input: b(input),
            predicate,
        },
        Plan::Project { input, exprs, cols } => Plan::Project {
            input: b(input),
            exprs,
            cols,
        },
        Plan::Join {
            left,
            right,
            kind,
            on,
            strategy,
        } => Plan::Join {
            left: b(left),
            right: b(right),
            kind,
            on,
            strategy,
        },
        Plan::Aggregate {
            input,
            group,
            aggs,
            cols,
        } => Plan::Aggregate {
            input: b(input),
            group,
            aggs,
            cols,
        },
        Plan::Sort { input, keys } => Plan::Sort {
            input: b(input),
            keys,
        },
        Plan::Limit {
            input,
            limit,
            offset,
        } => Plan::Limit {
            input: b(input),
            limit,
            offset,
        },
        Plan::Distinct { input, on } => Plan::Distinct {
            input: b(input),
            on,
        },
        Plan::SetOp {
            left,
            right,
            op,
            all,
            cols,
        } => Plan::SetOp {
            left: b(left),
            right: b(right),
            op,
            all,
            cols,
        },
        leaf @ (Plan::Scan(_)
        | Plan::VirtualScan { .. }
        | Plan::Series { .. }
        | Plan::Unnest { .. }
        | Plan::Values { .. }) => leaf,
    }
}

/// Gives the scan under `plan` (reached through projections, which keep every row) a row
/// budget. Returns whether it did.
fn push_limit(plan: &mut Plan, count: &Expr, offset: Option<&Expr>) -> bool {
    match plan {
        Plan::Project { input, .. } => push_limit(input, count, offset),
        Plan::Scan(s) if s.limit.is_none() => {
            s.limit = Some(ScanLimit {
                count: count.clone(),
                offset: offset.cloned(),
            });
            true
        }
        _ => false,
    }
}

/// The scan producing column `col` of `plan` and the column's position in its table, when
/// only order-preserving operators lie in between and `col` is a plain copy of it.
fn source_column(plan: &Plan, col: ColId) -> Option<(&Scan, usize)> {
    match plan {
        Plan::Scan(s) => s.cols.iter().position(|c| *c == col).map(|p| (s, p)),
        Plan::Project { input, exprs, cols } => {
            let i = cols.iter().position(|c| *c == col)?;
            match exprs.get(i)? {
                Expr::Col(src, _) => source_column(input, *src),
                _ => None,
            }
        }
        Plan::Filter { input, .. } | Plan::Limit { input, .. } | Plan::Distinct { input, .. } => {
            source_column(input, col)
        }
        _ => None,
    }
}

/// One ORDER BY key resolved to a table column position.
struct OrderCol {
    pos: usize,
    desc: bool,
    nulls_first: bool,
}

/// Whether `input` already returns its rows in the order of `keys`.
fn provides_order(input: &Plan, keys: &[SortKey]) -> bool {
    let mut scan: Option<&Scan> = None;
    let mut wanted = Vec::with_capacity(keys.len());
    for k in keys {
        let Expr::Col(id, _) = &k.expr else {
            return false;
        };
        let Some((s, pos)) = source_column(input, *id) else {
            return false;
        };
        // Every key must come from the same scan (a chain has only one).
        if scan.is_some_and(|prev| !std::ptr::eq(prev, s)) {
            return false;
        }
        scan = Some(s);
        wanted.push(OrderCol {
            pos,
            desc: k.desc,
            nulls_first: k.nulls_first,
        });
    }
    match scan {
        Some(s) => index_order_satisfies(s, &wanted),
        None => keys.is_empty(),
    }
}

/// The columns the scan's key order follows: the index columns, then for a secondary index
/// the primary key columns (its entries' tie-breaker), as (position, direction).
fn key_order(s: &Scan) -> Option<Vec<(usize, Direction)>> {
    let t = &s.table;
    match s.index {
        IndexChoice::Primary => Some(t.primary.columns.clone()),
        IndexChoice::Secondary(i) => {
            let mut cols = t.indexes.get(i)?.columns.clone();
            cols.extend(t.primary.columns.iter().copied());
            Some(cols)
        }
    }
}

/// Whether the scan's key order satisfies `wanted` (see the module docs).
fn index_order_satisfies(s: &Scan, wanted: &[OrderCol]) -> bool {
    let Some(order) = key_order(s) else {
        return false;
    };
    let pinned = pinned_columns(s);
    let t: &TableDesc = &s.table;
    let mut done: HashSet<usize> = HashSet::new();
    let mut next = 0;
    for w in wanted {
        if pinned.contains(&w.pos) || done.contains(&w.pos) {
            continue;
        }
        // Skip index columns that cannot vary here (pinned) or are already ordered.
        loop {
            let Some((pos, _)) = order.get(next) else {
                // Every column of a unique key is ordered: the order is total, later keys
                // never decide anything.
                return true;
            };
            if !(pinned.contains(pos) || done.contains(pos)) {
                break;
            }
            if !exact_key_type(t, *pos) {
                return false;
            }
            next += 1;
        }
        let (pos, dir) = order[next];
        if pos != w.pos || !exact_key_type(t, pos) {
            return false;
        }
        let index_desc = dir == Direction::Desc;
        if w.desc != index_desc {
            return false;
        }
        // NULLs are encoded last: after the values ascending, before them descending.
        let nullable = t.columns.get(pos).is_none_or(|c| c.nullable);
        if nullable && w.nulls_first != index_desc {
            return false;
        }
        done.insert(pos);
        next += 1;
    }
    true
}

/// Positions of the table columns the scan's filter pins to one value for every row it
/// returns (`col = const`, `const = col`, `col IS NULL` conjuncts).
fn pinned_columns(s: &Scan) -> HashSet<usize> {
    let mut out = HashSet::new();
    let Some(f) = &s.filter else { return out };
    let mut conj = Vec::new();
    f.clone().split_conjuncts(&mut conj);
    let pos_of = |id: &ColId| s.cols.iter().position(|c| c == id);
    for c in &conj {
        let id = match c {
            Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
                ..
            } => match (&**left, &**right) {
                (Expr::Col(id, _), v) | (v, Expr::Col(id, _)) if v.is_const() => id,
                _ => continue,
            },
            Expr::IsNull {
                expr,
                negated: false,
            } => match &**expr {
                Expr::Col(id, _) => id,
                _ => continue,
            },
            _ => continue,
        };
        if let Some(p) = pos_of(id) {
            out.insert(p);
        }
    }
    out
}

/// Whether the key encoding of column `pos` orders values as the executor compares them and
/// gives equal values equal keys.
fn exact_key_type(t: &TableDesc, pos: usize) -> bool {
    let Some(c) = t.columns.get(pos) else {
        return false;
    };
    matches!(
        c.ty,
        DataType::Bool
            | DataType::Int2
            | DataType::Int4
            | DataType::Int8
            | DataType::Float4
            | DataType::Float8
            | DataType::Numeric(_)
            | DataType::Text
            | DataType::Varchar(_)
            | DataType::Bytea
            | DataType::Date
            | DataType::Timestamp
            | DataType::TimestampTz
            | DataType::Interval
            | DataType::Uuid
    )
}

#[cfg(test)]
mod tests;
