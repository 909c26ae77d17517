//! The executor: turns a plan into a tree of pull-based row iterators.
//!
//! [`execute`] plans a statement (bind -> optimize) and then runs it. Queries return a lazy
//! [`RowStream`]: rows are produced as the client reads them, scans page through the
//! transaction, and nothing is buffered except where an operator inherently must (the build
//! side of a hash join, sort input, aggregation groups, DISTINCT/set-operation hash tables).
//! Those operators account their memory in a per-statement [`MemBudget`] and fail with
//! SQLSTATE 53200 when it is exceeded (they do not spill to disk).
//!
//! Expressions are compiled against each operator's input layout when the operator is built
//! ([`crate::plan::Expr::compile`]). Correlated subqueries are re-planned into operators and
//! run per outer row, with the outer row pushed on the [`Env`]'s outer stack; uncorrelated
//! ones run once and are cached.
//!
//! IMPLEMENTATION CAVEATS
//! - No spilling: sorts, hash joins, aggregations and DISTINCT over more than the memory
//!   budget fail with 53200.
//! - INSERT ... SELECT, UPDATE and DELETE first collect the affected rows (within the memory
//!   budget), then write: this avoids reading the statement's own writes (the Halloween
//!   problem) at the cost of buffering.
//! - Correlated subqueries are not decorrelated: they run once per outer row.

pub mod aggregate;
pub mod basic;
pub mod eval;
pub mod insert;
pub mod join;
pub mod modify;
pub mod pgcompat;
pub mod scan;
pub mod setop;
pub mod sort;

use crate::context::{Column, ExecContext, ExecResult, RowStream};
use crate::error::code;
use crate::func::FuncContext;
use crate::plan::cache::PlanSlot;
use crate::plan::describe::{plan_statement_with, Planned};
use crate::plan::expr::SubqueryCache;
use crate::plan::{ColId, Plan};
use crate::types::{DataType, Datum, Row};
use crate::{Error, Result};
use sqlparser::ast::Statement;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How many rows an operator processes between cancellation checks.
pub const CANCEL_CHECK_ROWS: usize = 1024;

/// Per-statement memory accounting for buffering operators.
#[derive(Debug)]
pub struct MemBudget {
    used: AtomicUsize,
    limit: usize,
}

impl MemBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MemBudget {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    /// Reserves `bytes`; fails with 53200 over the limit.
    pub fn grow(&self, bytes: usize) -> Result<()> {
        let now = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if now > self.limit {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(Error::new(
                code::OUT_OF_MEMORY,
                format!(
                    "memory budget exceeded: query needs more than {} bytes",
                    self.limit
                ),
            )
            .with_hint("add filters or LIMIT, or raise the per-query memory budget"));
        }
        Ok(())
    }

    /// Releases `bytes`.
    pub fn shrink(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }
}

/// Statement-wide execution state shared by every operator.
pub struct Shared {
    /// The session's context.
    pub ctx: ExecContext,
    /// Parameter values.
    pub params: Vec<Datum>,
    /// Context for scalar functions.
    pub func_ctx: FuncContext,
    /// Memory accounting.
    pub mem: MemBudget,
    /// Results of uncorrelated subqueries, by the address of their plan (alive as long as
    /// the statement's plan, which outlives this state).
    pub subqueries: parking_lot::Mutex<std::collections::HashMap<usize, SubqueryCache>>,
}

/// What gateway_region() and default_to_database_primary_region() read: the gateway's
/// locality now, the current database's regions on first use.
fn region_info(ctx: &ExecContext) -> crate::func::region::RegionInfo {
    let (txn, database) = (ctx.txn.clone(), ctx.database.clone());
    let loader: crate::func::region::RegionLoader = std::sync::Arc::new(move || {
        Ok(crate::catalog::Catalog::database(&txn, &database)?.and_then(|d| d.regions))
    });
    crate::func::region::RegionInfo::new(
        crate::multiregion::gateway_region(ctx.txns.as_ref()),
        Some(loader),
    )
}

/// The environment an operator runs in: shared state plus the rows of enclosing queries
/// (innermost first) for correlated subqueries.
#[derive(Clone)]
pub struct Env {
    /// Statement-wide state.
    pub shared: Arc<Shared>,
    /// Current rows of enclosing queries, innermost first.
    pub outer: Arc<Vec<Row>>,
    /// Their layouts.
    pub outer_layouts: Arc<Vec<Arc<Vec<ColId>>>>,
}

impl Env {
    /// A top-level environment.
    pub fn new(ctx: &ExecContext, params: &[Datum]) -> Self {
        let func_ctx = FuncContext {
            txn_time: ctx.txn_time,
            database: ctx.database.clone(),
            user: ctx.user.clone(),
            regions: region_info(ctx),
        };
        Env {
            shared: Arc::new(Shared {
                ctx: ctx.clone(),
                params: params.to_vec(),
                func_ctx,
                mem: MemBudget::new(ctx.memory_budget_bytes),
                subqueries: parking_lot::Mutex::new(std::collections::HashMap::new()),
            }),
            outer: Arc::new(Vec::new()),
            outer_layouts: Arc::new(Vec::new()),
        }
    }

    /// The environment of a subquery evaluated for `row` (whose layout is `layout`).
    pub fn nested(&self, layout: Arc<Vec<ColId>>, row: Row) -> Env {
        let mut outer = Vec::with_capacity(self.outer.len() + 1);
        outer.push(row);
        outer.extend(self.outer.iter().cloned());
        let mut layouts = Vec::with_capacity(self.outer_layouts.len() + 1);
        layouts.push(layout);
        layouts.extend(self.outer_layouts.iter().cloned());
        Env {
            shared: self.shared.clone(),
            outer: Arc::new(outer),
            outer_layouts: Arc::new(layouts),
        }
    }

    /// The execution context.
    pub fn ctx(&self) -> &ExecContext {
        &self.shared.ctx
    }

    /// Compiles `e` against `layout` and this environment's outer layouts.
    pub fn compile(
        &self,
        e: &crate::plan::Expr,
        layout: &Arc<Vec<ColId>>,
    ) -> Result<crate::plan::Expr> {
        e.clone().compile(layout, &self.outer_layouts)
    }
}

/// Approximate heap size of a row, for memory accounting.
pub fn row_bytes(row: &[Datum]) -> usize {
    let mut n = 24 + std::mem::size_of_val(row);
    for d in row {
        n += match d {
            Datum::Text(s) => s.len(),
            Datum::Bytes(b) => b.len(),
            Datum::Json(j) => j.to_string().len(),
            _ => 0,
        };
    }
    n
}

/// Builds the operator tree of `plan`.
pub fn build(plan: &Plan, env: &Env) -> Result<RowStream> {
    match plan {
        Plan::Scan(s) => scan::build_scan(s, env),
        Plan::VirtualScan { schema, name, .. } => {
            let rows = env.ctx().vtables.rows(env.ctx(), schema, name)?;
            Ok(Box::new(rows.into_iter().map(Ok)))
        }
        Plan::Values { rows, .. } => basic::build_values(rows, env),
        Plan::Series { args, .. } => basic::build_series(args, env),
        Plan::Unnest { arg, .. } => pgcompat::build_unnest(arg, env),
        Plan::Filter { input, predicate } => basic::build_filter(input, predicate, env),
        Plan::Project { input, exprs, .. } => basic::build_project(input, exprs, env),
        Plan::Join { .. } => join::build_join(plan, env),
        Plan::Aggregate {
            input, group, aggs, ..
        } => aggregate::build_aggregate(input, group, aggs, env),
        Plan::Sort { input, keys } => sort::build_sort(input, keys, env),
        Plan::Limit {
            input,
            limit,
            offset,
        } => basic::build_limit(input, limit.as_ref(), offset.as_ref(), env),
        Plan::Distinct { input, on } => basic::build_distinct(input, on.as_ref(), env),
        Plan::SetOp {
            left,
            right,
            op,
            all,
            ..
        } => setop::build_setop(left, right, *op, *all, env),
    }
}

/// Executes a SELECT/VALUES/INSERT/UPSERT/UPDATE/DELETE/EXPLAIN statement.
pub fn execute(ctx: &ExecContext, stmt: &Statement, params: &[Datum]) -> Result<ExecResult> {
    execute_typed(ctx, stmt, params, &[])
}

/// Like [`execute`], planning with the parameters' types as the extended protocol's Parse
/// declared or inferred them (so `SELECT $1 + $2` with int2 parameters plans as it was described).
/// `param_types` may be empty: every parameter is then inferred from context.
pub fn execute_typed(
    ctx: &ExecContext,
    stmt: &Statement,
    params: &[Datum],
    param_types: &[DataType],
) -> Result<ExecResult> {
    execute_with(ctx, stmt, params, param_types, ExecOptions::default())
}

/// Session settings that change how a statement is planned.
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions {
    /// `enable_implicit_select_for_update`: UPDATE, DELETE and UPSERT / ON CONFLICT DO
    /// UPDATE lock the rows they read (exclusive), so contending writers wait rather than
    /// fail with 40001 at commit.
    pub implicit_select_for_update: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            implicit_select_for_update: true,
        }
    }
}

/// [`execute_typed`] with explicit [`ExecOptions`].
pub fn execute_with(
    ctx: &ExecContext,
    stmt: &Statement,
    params: &[Datum],
    param_types: &[DataType],
    opts: ExecOptions,
) -> Result<ExecResult> {
    let hints = param_hints(params, param_types);
    let (planned, _param_types, _) =
        plan_statement_with(ctx, stmt, &hints, opts.implicit_select_for_update)?;
    run_planned(ctx, &planned, params)
}

/// [`execute_with`] for a prepared statement: reuses the plan cached in `slot` when the
/// schema generation, database, options and parameter types are those it was planned under
/// (see [`crate::plan::cache`]), and caches a new plan otherwise.
pub fn execute_prepared(
    ctx: &ExecContext,
    stmt: &Statement,
    params: &[Datum],
    param_types: &[DataType],
    opts: ExecOptions,
    slot: &PlanSlot,
) -> Result<ExecResult> {
    let hints = param_hints(params, param_types);
    let planned = slot.get_or_plan(ctx, opts.implicit_select_for_update, &hints, || {
        plan_statement_with(ctx, stmt, &hints, opts.implicit_select_for_update).map(|p| p.0)
    })?;
    run_planned(ctx, &planned, params)
}

fn param_hints(params: &[Datum], param_types: &[DataType]) -> Vec<DataType> {
    if param_types.len() == params.len() {
        param_types.to_vec()
    } else {
        params.iter().map(|_| DataType::Unknown).collect()
    }
}

/// Runs a planned statement with `params` (the plan itself is not modified, so a cached plan
/// can be run again).
fn run_planned(ctx: &ExecContext, planned: &Planned, params: &[Datum]) -> Result<ExecResult> {
    check_read_only(ctx, planned)?;
    let env = Env::new(ctx, params);
    match planned {
        Planned::Query { plan, columns } => {
            let rows = build(plan, &env)?;
            Ok(ExecResult::Rows {
                columns: columns.clone(),
                rows,
                tag: "SELECT".into(),
            })
        }
        Planned::Insert(p) => insert::execute_insert(p, &env),
        Planned::Update(p) => modify::execute_update(p, &env),
        Planned::Delete(p) => modify::execute_delete(p, &env),
        Planned::Explain(lines) => {
            let rows: Vec<Row> = lines.iter().map(|l| vec![Datum::Text(l.clone())]).collect();
            Ok(ExecResult::rows(
                vec![Column::new("info", DataType::Text)],
                rows,
                "EXPLAIN",
            ))
        }
    }
}

/// 25006 with PostgreSQL's message for a write or a locking read in a read-only transaction
/// (`BEGIN READ ONLY`, `default_transaction_read_only`, `AS OF SYSTEM TIME`).
fn check_read_only(ctx: &ExecContext, planned: &Planned) -> Result<()> {
    let command = match planned {
        Planned::Query { plan, .. } => {
            crate::plan::locking::strongest(plan).map(crate::plan::locking::select_command_name)
        }
        Planned::Insert(_) => Some("INSERT"),
        Planned::Update(_) => Some("UPDATE"),
        Planned::Delete(_) => Some("DELETE"),
        Planned::Explain(_) => None,
    };
    match command {
        Some(c) if ctx.txn.lock().is_read_only() => Err(Error::new(
            code::READ_ONLY_SQL_TRANSACTION,
            format!("cannot execute {c} in a read-only transaction"),
        )),
        _ => Ok(()),
    }
}

/// Result of a write statement: rows when RETURNING, else a complete tag.
pub fn write_result(
    tag: &str,
    count: usize,
    returning: Option<(Vec<Column>, Vec<Row>)>,
) -> ExecResult {
    match returning {
        Some((columns, rows)) => ExecResult::rows(columns, rows, tag),
        None => ExecResult::command(format!("{tag} {count}")),
    }
}

#[cfg(test)]
mod pgcompat_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod slt_tests;
