//! INSERT / UPSERT / ON CONFLICT execution.
//!
//! Source rows are collected first (so INSERT INTO t SELECT ... FROM t never reads its own
//! writes), then each becomes a full table row: target columns from the source (already
//! cast to the column types by the plan: 22001/22003 come from those casts), other columns
//! from their DEFAULT expressions or NULL. NOT NULL (23502) and CHECK (23514) are checked
//! here; uniqueness (23505) by [catalog]'s `insert_row`. With ON CONFLICT / UPSERT the
//! arbiter index is probed first and the existing row is skipped or updated.

use crate::catalog::TableDesc;
use crate::context::{ExecResult, TxnRef};
use crate::error::code;
use crate::exec::eval::{eval, eval_pred};
use crate::exec::scan::{index_desc, scan_rows};
use crate::exec::{build, row_bytes, write_result, Env, CANCEL_CHECK_ROWS};
use crate::plan::bind_dml::{ConflictAction, InsertPlan, RowExprs};
use crate::plan::{ColId, Expr, IndexChoice};
use crate::storage::{self, IndexSpan};
use crate::types::{Datum, Row};
use crate::{Error, Result};
use std::sync::Arc;

/// Per-row expressions compiled against the table row layout.
pub struct CompiledRow {
    checks: Vec<(String, Expr)>,
    returning: Option<Vec<Expr>>,
}

impl CompiledRow {
    /// Compiles checks and RETURNING.
    pub fn new(r: &RowExprs, env: &Env) -> Result<Self> {
        let layout: Arc<Vec<ColId>> = Arc::new(r.table_ids.clone());
        let checks = r
            .checks
            .iter()
            .map(|(n, e)| Ok((n.clone(), env.compile(e, &layout)?)))
            .collect::<Result<_>>()?;
        let returning = r
            .returning
            .as_ref()
            .map(|(exprs, _)| {
                exprs
                    .iter()
                    .map(|e| env.compile(e, &layout))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        Ok(CompiledRow { checks, returning })
    }

    /// Enforces NOT NULL and CHECK on a row about to be written.
    pub fn validate(&self, t: &TableDesc, row: &[Datum], env: &Env) -> Result<()> {
        for (c, v) in t.columns.iter().zip(row) {
            if !c.nullable && v.is_null() {
                return Err(Error::new(
                    code::NOT_NULL_VIOLATION,
                    format!("null value in column \"{}\" of relation \"{}\" violates not-null constraint", c.name, t.name),
                ));
            }
        }
        for (name, e) in &self.checks {
            if eval(e, row, env)?.truthy()? == Some(false) {
                return Err(Error::new(
                    code::CHECK_VIOLATION,
                    format!(
                        "new row for relation \"{}\" violates check constraint \"{name}\"",
                        t.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Evaluates RETURNING for a written row, collecting it.
    pub fn maybe_return(&self, row: &[Datum], env: &Env, out: &mut Vec<Row>) -> Result<()> {
        if let Some(exprs) = &self.returning {
            let r = exprs
                .iter()
                .map(|e| eval(e, row, env))
                .collect::<Result<Row>>()?;
            env.shared.mem.grow(row_bytes(&r))?;
            out.push(r);
        }
        Ok(())
    }
}

/// Collects a plan's rows within the memory budget.
pub fn collect_rows(plan: &crate::plan::Plan, env: &Env) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (n, r) in build(plan, env)?.enumerate() {
        let r = r?;
        if n.is_multiple_of(CANCEL_CHECK_ROWS) {
            env.ctx().check_cancel()?;
        }
        env.shared.mem.grow(row_bytes(&r))?;
        rows.push(r);
    }
    Ok(rows)
}

/// Finds an existing row conflicting with `row` on the arbiter (or any unique) index.
fn find_conflict(
    t: &Arc<TableDesc>,
    arbiter: &Option<Vec<usize>>,
    lock: Option<txn::LockStrength>,
    row: &[Datum],
    env: &Env,
) -> Result<Option<Row>> {
    let mut candidates: Vec<IndexChoice> = vec![IndexChoice::Primary];
    candidates.extend(
        (0..t.indexes.len())
            .filter(|i| t.indexes[*i].unique)
            .map(IndexChoice::Secondary),
    );
    if let Some(cols) = arbiter {
        let mut want = cols.clone();
        want.sort_unstable();
        candidates.retain(|c| {
            index_desc(t, *c).is_ok_and(|idx| {
                let mut have: Vec<usize> = idx.columns.iter().map(|(p, _)| *p).collect();
                have.sort_unstable();
                have == want
            })
        });
        if candidates.is_empty() {
            return Err(Error::new(
                code::INVALID_COLUMN_REFERENCE,
                "there is no unique or exclusion constraint matching the ON CONFLICT specification",
            ));
        }
    }
    let txn = &env.ctx().txn;
    for c in candidates {
        let idx = index_desc(t, c)?;
        let vals: Vec<Datum> = idx
            .columns
            .iter()
            .map(|(p, _)| row.get(*p).cloned().unwrap_or(Datum::Null))
            .collect();
        if vals.iter().any(Datum::is_null) {
            continue;
        }
        let found = match c {
            IndexChoice::Primary => storage::get_by_primary_key_locking(txn, t, &vals, lock)?,
            IndexChoice::Secondary(_) => {
                let prefix = storage::index_key_prefix(t, idx, &vals)?;
                let end = kv::keys::prefix_end(&prefix);
                scan_rows(t, c, vec![IndexSpan { start: prefix, end }], lock, env)?
                    .next()
                    .transpose()?
            }
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Rows a plain INSERT checks and writes together (see [`storage::insert_rows`]: their
/// uniqueness probes are read in one batch).
const INSERT_BATCH_ROWS: usize = 1000;

/// Inserts and empties `pending` (rows without a conflict clause), collecting RETURNING rows;
/// returns how many were inserted.
fn insert_batch(
    txn: &TxnRef,
    t: &TableDesc,
    pending: &mut Vec<Row>,
    row_exprs: &CompiledRow,
    env: &Env,
    returned: &mut Vec<Row>,
) -> Result<usize> {
    storage::insert_rows(txn, t, pending)?;
    for row in pending.iter() {
        row_exprs.maybe_return(row, env, returned)?;
    }
    let n = pending.len();
    pending.clear();
    Ok(n)
}

/// The full row (table order) that source row `src` inserts: its target columns, the
/// defaults of the others, validated.
fn target_row(
    p: &InsertPlan,
    defaults: &[Option<Expr>],
    row_exprs: &CompiledRow,
    src: Row,
    env: &Env,
) -> Result<Row> {
    let t = &p.table;
    let mut row: Row = Vec::with_capacity(t.columns.len());
    for (i, d) in defaults.iter().enumerate() {
        row.push(match (p.target_cols.iter().position(|c| *c == i), d) {
            (Some(k), _) => src.get(k).cloned().unwrap_or(Datum::Null),
            (None, Some(e)) => eval(e, &[], env)?,
            (None, None) => Datum::Null,
        });
    }
    row_exprs.validate(t, &row, env)?;
    Ok(row)
}

/// Executes an INSERT plan.
pub fn execute_insert(p: &InsertPlan, env: &Env) -> Result<ExecResult> {
    let t = &p.table;
    let empty = Arc::new(Vec::new());
    let defaults: Vec<Option<Expr>> = p
        .defaults
        .iter()
        .map(|d| d.as_ref().map(|e| env.compile(e, &empty)).transpose())
        .collect::<Result<_>>()?;
    let row_exprs = CompiledRow::new(&p.row, env)?;
    let conflict = match &p.on_conflict {
        Some(oc) => {
            let mut layout = p.row.table_ids.clone();
            layout.extend(oc.excluded_ids.iter().copied());
            let layout = Arc::new(layout);
            let action = match &oc.action {
                ConflictAction::Nothing => None,
                ConflictAction::Update {
                    assignments,
                    filter,
                } => Some((
                    assignments
                        .iter()
                        .map(|(pos, e)| Ok((*pos, env.compile(e, &layout)?)))
                        .collect::<Result<Vec<_>>>()?,
                    filter
                        .as_ref()
                        .map(|f| env.compile(f, &layout))
                        .transpose()?,
                )),
            };
            Some((oc.arbiter.clone(), oc.lock, action))
        }
        None => None,
    };
    let source = collect_rows(&p.source, env)?;
    let txn = &env.ctx().txn;
    let mut count = 0usize;
    let mut returned = Vec::new();
    let mut pending: Vec<Row> = Vec::new();
    for (n, src) in source.into_iter().enumerate() {
        if n.is_multiple_of(CANCEL_CHECK_ROWS) {
            env.ctx().check_cancel()?;
        }
        let row = match target_row(p, &defaults, &row_exprs, src, env) {
            Ok(row) => row,
            Err(e) => {
                // The rows before this one come first, as if inserted one by one.
                insert_batch(txn, t, &mut pending, &row_exprs, env, &mut returned)?;
                return Err(e);
            }
        };
        if let Some((arbiter, lock, action)) = &conflict {
            if let Some(existing) = find_conflict(t, arbiter, *lock, &row, env)? {
                let Some((assignments, filter)) = action else {
                    continue;
                };
                let mut joined = existing.clone();
                joined.extend(row.iter().cloned());
                if let Some(f) = filter {
                    if !eval_pred(f, &joined, env)? {
                        continue;
                    }
                }
                let mut new = existing.clone();
                for (pos, e) in assignments {
                    new[*pos] = eval(e, &joined, env)?;
                }
                row_exprs.validate(t, &new, env)?;
                storage::update_row(txn, t, &existing, &new)?;
                row_exprs.maybe_return(&new, env, &mut returned)?;
                count += 1;
                continue;
            }
        }
        pending.push(row);
        // With a conflict clause, the next row's arbiter read must see this row.
        if conflict.is_some() || pending.len() >= INSERT_BATCH_ROWS {
            count += insert_batch(txn, t, &mut pending, &row_exprs, env, &mut returned)?;
        }
    }
    count += insert_batch(txn, t, &mut pending, &row_exprs, env, &mut returned)?;
    let returning = p
        .row
        .returning
        .as_ref()
        .map(|(_, cols)| (cols.clone(), returned));
    Ok(write_result("INSERT 0", count, returning))
}
