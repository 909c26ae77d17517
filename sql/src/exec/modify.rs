//! UPDATE and DELETE execution.
//!
//! The rows to change are collected first (with their new values computed), then written:
//! scanning while writing could otherwise revisit rows the statement itself moved (an
//! UPDATE of a key column). With UPDATE ... FROM, a target row matched by several FROM rows
//! is updated once (the first match), as PostgreSQL does.

use crate::context::ExecResult;
use crate::exec::eval::eval;
use crate::exec::insert::{collect_rows, CompiledRow};
use crate::exec::{write_result, Env, CANCEL_CHECK_ROWS};
use crate::plan::bind_dml::{DeletePlan, UpdatePlan};
use crate::plan::Expr;
use crate::storage;
use crate::types::{Datum, Row};
use crate::{Error, Result};
use std::collections::HashSet;
use std::sync::Arc;

/// Positions of the target table's columns in the input layout.
fn target_positions(input_layout: &[usize], table_ids: &[usize]) -> Result<Vec<usize>> {
    table_ids
        .iter()
        .map(|id| {
            input_layout
                .iter()
                .position(|c| c == id)
                .ok_or_else(|| Error::internal("target column missing from DML input"))
        })
        .collect()
}

fn pk_of(t: &crate::catalog::TableDesc, row: &[Datum]) -> Row {
    t.primary
        .columns
        .iter()
        .map(|(p, _)| row.get(*p).cloned().unwrap_or(Datum::Null))
        .collect()
}

/// Executes UPDATE.
pub fn execute_update(p: &UpdatePlan, env: &Env) -> Result<ExecResult> {
    let t = &p.table;
    let layout = Arc::new(p.input.layout());
    let pos = target_positions(&layout, &p.row.table_ids)?;
    let assignments: Vec<(usize, Expr)> = p
        .assignments
        .iter()
        .map(|(c, e)| Ok((*c, env.compile(e, &layout)?)))
        .collect::<Result<_>>()?;
    let row_exprs = CompiledRow::new(&p.row, env)?;
    let mut changes: Vec<(Row, Row)> = Vec::new();
    let mut seen: HashSet<Row> = HashSet::new();
    for (n, input) in collect_rows(&p.input, env)?.into_iter().enumerate() {
        if n.is_multiple_of(CANCEL_CHECK_ROWS) {
            env.ctx().check_cancel()?;
        }
        let old: Row = pos.iter().map(|i| input[*i].clone()).collect();
        if !seen.insert(pk_of(t, &old)) {
            continue;
        }
        let mut new = old.clone();
        for (c, e) in &assignments {
            new[*c] = eval(e, &input, env)?;
        }
        changes.push((old, new));
    }
    let txn = &env.ctx().txn;
    let mut returned = Vec::new();
    let count = changes.len();
    for (old, new) in changes {
        row_exprs.validate(t, &new, env)?;
        storage::update_row(txn, t, &old, &new)?;
        row_exprs.maybe_return(&new, env, &mut returned)?;
    }
    let returning = p
        .row
        .returning
        .as_ref()
        .map(|(_, cols)| (cols.clone(), returned));
    Ok(write_result("UPDATE", count, returning))
}

/// Executes DELETE.
pub fn execute_delete(p: &DeletePlan, env: &Env) -> Result<ExecResult> {
    let t = &p.table;
    let layout = p.input.layout();
    let pos = target_positions(&layout, &p.row.table_ids)?;
    let row_exprs = CompiledRow::new(&p.row, env)?;
    let mut victims: Vec<Row> = Vec::new();
    let mut seen: HashSet<Row> = HashSet::new();
    for input in collect_rows(&p.input, env)? {
        let old: Row = pos.iter().map(|i| input[*i].clone()).collect();
        if seen.insert(pk_of(t, &old)) {
            victims.push(old);
        }
    }
    let txn = &env.ctx().txn;
    let mut returned = Vec::new();
    let count = victims.len();
    for (n, old) in victims.into_iter().enumerate() {
        if n.is_multiple_of(CANCEL_CHECK_ROWS) {
            env.ctx().check_cancel()?;
        }
        storage::delete_row(txn, t, &old)?;
        row_exprs.maybe_return(&old, env, &mut returned)?;
    }
    let returning = p
        .row
        .returning
        .as_ref()
        .map(|(_, cols)| (cols.clone(), returned));
    Ok(write_result("DELETE", count, returning))
}
