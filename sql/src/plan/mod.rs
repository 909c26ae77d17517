//! Planning: sqlparser AST -> bound logical plan -> optimized physical plan.
//!
//! - [`binder`] (with `bind_expr`, `bind_select`, `bind_from`, `bind_dml`) resolves names
//!   against scopes (tables, joins, subqueries and their enclosing queries for correlation),
//!   types every expression through `types::binary_op_type`/`common_type` and
//!   `func::resolve_function`, infers `$n` parameter types from context, and produces a
//!   [`Plan`] tree whose expressions reference columns by statement-wide [`ColId`]s.
//! - [`optimize`] pushes filters down to scans and join inputs, orders inner joins greedily
//!   along equality predicates, picks a join strategy (hash join for equi-joins, index lookup
//!   join when the inner side is a table with an index or primary key on the join key and the
//!   outer side is filtered, nested loops otherwise) and, via [`spans`], turns predicates on
//!   index columns into key spans (point lookups and range scans) on the primary or a
//!   secondary index.
//! - [`order`] then removes sorts the chosen index already satisfies and pushes LIMIT (plus
//!   OFFSET) into scans, so `ORDER BY pk LIMIT 1` reads (and locks) one row.
//! - [`explain`] renders the chosen plan as EXPLAIN rows.
//! - [`describe`] serves the extended protocol: parameter and result column types.
//! - [`cache`] keeps a prepared statement's optimized plan for its next executions.
//!
//! The same `Plan` type is used before and after optimization: optimization only rewrites
//! the tree (moves filters, sets join strategies and scan spans).
//!
//! IMPLEMENTATION CAVEATS
//! - Join ordering is greedy (no cost model or statistics): start from the relation with
//!   the most selective-looking filter, then follow equality predicates.
//! - Outer joins are not reordered; only filters that are safe to push are pushed below them.
//! - Sort elimination ([`order`]) uses forward index scans only: the transaction layer has no
//!   reverse scan, so an ORDER BY against the index direction still sorts.
//! - WITH RECURSIVE, window functions, GROUPING SETS/ROLLUP/CUBE and LATERAL are rejected with
//!   0A000.

pub mod bind_dml;
pub mod bind_expr;
pub mod bind_from;
pub mod bind_func;
pub mod bind_pg;
pub mod bind_select;
pub mod binder;
pub mod cache;
pub mod describe;
pub mod explain;
pub mod expr;
pub mod grouping;
pub mod locking;
pub mod optimize;
pub mod order;
pub mod output_name;
pub mod spans;

pub use describe::{describe, Described};
pub use expr::{AggCall, AggFunc, ColId, Expr, SubqueryKind};

use crate::catalog::TableDesc;
use crate::types::DataType;
use std::collections::HashSet;
use std::sync::Arc;

/// Which index of a table a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexChoice {
    /// The primary index (rows in primary key order).
    Primary,
    /// The secondary index at this position of `TableDesc::indexes`.
    Secondary(usize),
}

/// One span of an index, as expressions evaluated at execution time (so `$n` parameters can
/// bound spans): equality on the first `eq.len()` index columns, then an optional range on
/// the next column.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanExpr {
    /// Values of the leading index columns.
    pub eq: Vec<Expr>,
    /// Lower bound on the next column: (value, inclusive).
    pub lo: Option<(Expr, bool)>,
    /// Upper bound on the next column: (value, inclusive).
    pub hi: Option<(Expr, bool)>,
}

/// The key spans a scan reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Spans {
    /// The whole index.
    Full,
    /// Only these spans (possibly overlapping; the executor deduplicates nothing, so the
    /// span builder keeps them disjoint).
    Ranges(Vec<SpanExpr>),
}

/// A table scan.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The table.
    pub table: Arc<TableDesc>,
    /// The alias used in the query (for EXPLAIN).
    pub alias: String,
    /// One id per table column, in table order (hidden columns included).
    pub cols: Vec<ColId>,
    /// The index read.
    pub index: IndexChoice,
    /// The spans of that index.
    pub spans: Spans,
    /// Predicate applied to each row read.
    pub filter: Option<Expr>,
    /// Lock the rows read (`SELECT ... FOR UPDATE / FOR SHARE`, and the target rows of
    /// UPDATE/DELETE): see [`locking`].
    pub lock: Option<txn::LockStrength>,
    /// At most this many rows (after `filter`) are wanted by the LIMIT above the scan: set
    /// by [`order`], it sizes the scan's pages so it reads and locks no more than needed.
    pub limit: Option<ScanLimit>,
}

/// The row budget of a scan under a LIMIT: `count + offset` rows, both constant expressions
/// (literals or parameters) evaluated when the scan starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanLimit {
    /// The LIMIT count.
    pub count: Expr,
    /// The OFFSET, if any (the skipped rows are read too).
    pub offset: Option<Expr>,
}

/// Join semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// INNER / CROSS.
    Inner,
    /// LEFT OUTER.
    Left,
    /// RIGHT OUTER.
    Right,
    /// FULL OUTER.
    Full,
}

/// How a join executes.
#[derive(Debug, Clone, PartialEq)]
pub enum JoinStrategy {
    /// Nested loops over a materialized right side.
    NestedLoop,
    /// Hash join: builds a table on the right keys, probes with the left keys.
    Hash {
        left_keys: Vec<Expr>,
        right_keys: Vec<Expr>,
    },
    /// For each left row, look up the right table (a [`Plan::Scan`]) by index prefix.
    Lookup {
        index: IndexChoice,
        left_keys: Vec<Expr>,
    },
}

/// UNION / INTERSECT / EXCEPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOpKind {
    /// UNION
    Union,
    /// INTERSECT
    Intersect,
    /// EXCEPT
    Except,
}

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The sorted expression.
    pub expr: Expr,
    /// DESC.
    pub desc: bool,
    /// NULLS FIRST (PostgreSQL default: NULLS LAST for ASC, FIRST for DESC).
    pub nulls_first: bool,
}

/// A query plan node. Every node produces rows whose columns are identified by
/// [`Plan::layout`].
#[derive(Debug, Clone)]
pub enum Plan {
    /// Reads a stored table.
    Scan(Scan),
    /// Reads a virtual table (pg_catalog, information_schema).
    VirtualScan {
        schema: String,
        name: String,
        cols: Vec<ColId>,
        types: Vec<DataType>,
    },
    /// `generate_series(start, stop[, step])` over integers, streamed.
    Series {
        args: Vec<Expr>,
        col: ColId,
        ty: DataType,
    },
    /// `unnest(array)`: one row per element, streamed (exec::pgcompat).
    Unnest { arg: Expr, col: ColId, ty: DataType },
    /// Literal rows.
    Values {
        rows: Vec<Vec<Expr>>,
        cols: Vec<ColId>,
        types: Vec<DataType>,
    },
    /// Keeps rows where the predicate is true.
    Filter { input: Box<Plan>, predicate: Expr },
    /// Computes new columns.
    Project {
        input: Box<Plan>,
        exprs: Vec<Expr>,
        cols: Vec<ColId>,
    },
    /// Joins two inputs; output is left columns then right columns.
    Join {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        /// Residual condition evaluated on the joined row.
        on: Option<Expr>,
        strategy: JoinStrategy,
    },
    /// GROUP BY / aggregates; output is the group columns then the aggregates.
    Aggregate {
        input: Box<Plan>,
        group: Vec<Expr>,
        aggs: Vec<AggCall>,
        cols: Vec<ColId>,
    },
    /// ORDER BY.
    Sort {
        input: Box<Plan>,
        keys: Vec<SortKey>,
    },
    /// LIMIT / OFFSET.
    Limit {
        input: Box<Plan>,
        limit: Option<Expr>,
        offset: Option<Expr>,
    },
    /// DISTINCT (all columns) or DISTINCT ON (the given expressions; first row per key).
    Distinct {
        input: Box<Plan>,
        on: Option<Vec<Expr>>,
    },
    /// UNION/INTERSECT/EXCEPT [ALL]; inputs have the same column types.
    SetOp {
        left: Box<Plan>,
        right: Box<Plan>,
        op: SetOpKind,
        all: bool,
        cols: Vec<ColId>,
    },
}

impl Plan {
    /// The ids of the output columns, in order.
    pub fn layout(&self) -> Vec<ColId> {
        match self {
            Plan::Scan(s) => s.cols.clone(),
            Plan::Series { col, .. } | Plan::Unnest { col, .. } => vec![*col],
            Plan::VirtualScan { cols, .. }
            | Plan::Values { cols, .. }
            | Plan::Project { cols, .. }
            | Plan::Aggregate { cols, .. }
            | Plan::SetOp { cols, .. } => cols.clone(),
            Plan::Filter { input, .. }
            | Plan::Sort { input, .. }
            | Plan::Limit { input, .. }
            | Plan::Distinct { input, .. } => input.layout(),
            Plan::Join { left, right, .. } => {
                let mut l = left.layout();
                l.extend(right.layout());
                l
            }
        }
    }

    /// The types of the output columns, in order.
    pub fn types(&self) -> Vec<DataType> {
        match self {
            Plan::Scan(s) => s.table.columns.iter().map(|c| c.ty.clone()).collect(),
            Plan::VirtualScan { types, .. } | Plan::Values { types, .. } => types.clone(),
            Plan::Series { ty, .. } | Plan::Unnest { ty, .. } => vec![ty.clone()],
            Plan::Project { exprs, .. } => exprs.iter().map(|e| e.ty()).collect(),
            Plan::Aggregate { group, aggs, .. } => {
                let mut t: Vec<DataType> = group.iter().map(|e| e.ty()).collect();
                t.extend(aggs.iter().map(|a| a.ty.clone()));
                t
            }
            Plan::SetOp { left, .. } => left.types(),
            Plan::Filter { input, .. }
            | Plan::Sort { input, .. }
            | Plan::Limit { input, .. }
            | Plan::Distinct { input, .. } => input.types(),
            Plan::Join { left, right, .. } => {
                let mut t = left.types();
                t.extend(right.types());
                t
            }
        }
    }

    /// Every column id referenced by expressions in this plan (see [`Expr::col_refs`]).
    pub fn col_refs(&self, out: &mut HashSet<ColId>) {
        let mut ex = |e: &Expr| e.col_refs(out);
        match self {
            Plan::Scan(s) => {
                if let Some(f) = &s.filter {
                    ex(f);
                }
                if let Some(l) = &s.limit {
                    ex(&l.count);
                    l.offset.iter().for_each(&mut ex);
                }
                if let Spans::Ranges(r) = &s.spans {
                    for sp in r {
                        sp.eq.iter().for_each(&mut ex);
                        sp.lo.iter().for_each(|(e, _)| ex(e));
                        sp.hi.iter().for_each(|(e, _)| ex(e));
                    }
                }
            }
            Plan::VirtualScan { .. } => {}
            Plan::Series { args, .. } => args.iter().for_each(ex),
            Plan::Unnest { arg, .. } => ex(arg),
            Plan::Values { rows, .. } => rows.iter().flatten().for_each(ex),
            Plan::Filter { input, predicate } => {
                ex(predicate);
                input.col_refs(out);
            }
            Plan::Project { input, exprs, .. } => {
                exprs.iter().for_each(ex);
                input.col_refs(out);
            }
            Plan::Join {
                left,
                right,
                on,
                strategy,
                ..
            } => {
                on.iter().for_each(&mut ex);
                match strategy {
                    JoinStrategy::Hash {
                        left_keys,
                        right_keys,
                    } => left_keys.iter().chain(right_keys.iter()).for_each(&mut ex),
                    JoinStrategy::Lookup { left_keys, .. } => left_keys.iter().for_each(&mut ex),
                    JoinStrategy::NestedLoop => {}
                }
                left.col_refs(out);
                right.col_refs(out);
            }
            Plan::Aggregate {
                input, group, aggs, ..
            } => {
                group.iter().for_each(&mut ex);
                for a in aggs {
                    a.args.iter().for_each(&mut ex);
                    a.filter.iter().for_each(&mut ex);
                }
                input.col_refs(out);
            }
            Plan::Sort { input, keys } => {
                keys.iter().for_each(|k| ex(&k.expr));
                input.col_refs(out);
            }
            Plan::Limit {
                input,
                limit,
                offset,
            } => {
                limit.iter().chain(offset.iter()).for_each(ex);
                input.col_refs(out);
            }
            Plan::Distinct { input, on } => {
                on.iter().flatten().for_each(ex);
                input.col_refs(out);
            }
            Plan::SetOp { left, right, .. } => {
                left.col_refs(out);
                right.col_refs(out);
            }
        }
    }
}

/// Parses and binds a scalar expression stored as SQL text (a DEFAULT or CHECK) against a
/// table's columns, to validate it at CREATE TABLE time. Returns its type.
pub fn validate_scalar_expr(text: &str, table: &TableDesc) -> crate::Result<DataType> {
    let expr = bind_dml::parse_scalar(text)?;
    let mut b = binder::Binder::new_detached();
    let (_, scope) = b.table_scope(table, &table.name);
    Ok(b.bind_expr(&expr, &scope)?.ty())
}
