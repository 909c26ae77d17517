//! Streaming operators: VALUES, filter, projection, LIMIT/OFFSET and DISTINCT.

use crate::context::RowStream;
use crate::error::code;
use crate::exec::eval::{eval, eval_pred};
use crate::exec::{build, row_bytes, Env, CANCEL_CHECK_ROWS};
use crate::plan::{Expr, Plan};
use crate::types::{Datum, Row};
use crate::{Error, Result};
use std::collections::HashSet;
use std::sync::Arc;

/// VALUES rows, evaluated lazily.
pub fn build_values(rows: &[Vec<Expr>], env: &Env) -> Result<RowStream> {
    let empty = Arc::new(Vec::new());
    let compiled: Vec<Vec<Expr>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|e| env.compile(e, &empty))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let env = env.clone();
    Ok(Box::new(compiled.into_iter().map(move |r| {
        r.iter()
            .map(|e| eval(e, &[], &env))
            .collect::<Result<Row>>()
    })))
}

/// `generate_series(start, stop[, step])`: integers, lazily (PostgreSQL: step 0 is an error).
pub fn build_series(args: &[Expr], env: &Env) -> Result<RowStream> {
    let empty = Arc::new(Vec::new());
    let mut vals = Vec::with_capacity(3);
    for a in args {
        match eval(&env.compile(a, &empty)?, &[], env)? {
            Datum::Int(i) => vals.push(i),
            Datum::Null => return Ok(Box::new(std::iter::empty())),
            other => {
                return Err(Error::internal(format!(
                    "generate_series argument {other:?}"
                )))
            }
        }
    }
    let (start, stop, step) = (vals[0], vals[1], vals.get(2).copied().unwrap_or(1));
    if step == 0 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "step size cannot equal zero",
        ));
    }
    let mut next = Some(start);
    Ok(Box::new(std::iter::from_fn(move || {
        let cur = next?;
        if (step > 0 && cur > stop) || (step < 0 && cur < stop) {
            return None;
        }
        next = cur.checked_add(step);
        Some(Ok(vec![Datum::Int(cur)]))
    })))
}

/// A filter over any row stream with a compiled predicate.
pub struct FilterIter {
    /// Input rows.
    pub input: RowStream,
    /// Compiled predicate.
    pub pred: Expr,
    /// Environment.
    pub env: Env,
    /// Rows examined (for cancellation checks).
    pub seen: usize,
}

impl Iterator for FilterIter {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            let row = match self.input.next()? {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
            self.seen += 1;
            if self.seen.is_multiple_of(CANCEL_CHECK_ROWS) {
                if let Err(e) = self.env.ctx().check_cancel() {
                    return Some(Err(e));
                }
            }
            match eval_pred(&self.pred, &row, &self.env) {
                Ok(true) => return Some(Ok(row)),
                Ok(false) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Wraps a stream in a filter (no-op without predicate).
pub fn filter_stream(input: RowStream, pred: Option<Expr>, env: &Env) -> RowStream {
    match pred {
        Some(pred) => Box::new(FilterIter {
            input,
            pred,
            env: env.clone(),
            seen: 0,
        }),
        None => input,
    }
}

/// Filter node.
pub fn build_filter(input: &Plan, predicate: &Expr, env: &Env) -> Result<RowStream> {
    let layout = Arc::new(input.layout());
    let pred = env.compile(predicate, &layout)?;
    Ok(filter_stream(build(input, env)?, Some(pred), env))
}

/// Projection node.
pub fn build_project(input: &Plan, exprs: &[Expr], env: &Env) -> Result<RowStream> {
    let layout = Arc::new(input.layout());
    let compiled: Vec<Expr> = exprs
        .iter()
        .map(|e| env.compile(e, &layout))
        .collect::<Result<_>>()?;
    let stream = build(input, env)?;
    let env = env.clone();
    // A projection of plain columns only reorders values.
    Ok(Box::new(stream.map(move |r| {
        let row = r?;
        compiled
            .iter()
            .map(|e| eval(e, &row, &env))
            .collect::<Result<Row>>()
    })))
}

/// Evaluates a LIMIT/OFFSET count (None: absent or NULL, i.e. no limit).
pub(crate) fn count(e: Option<&Expr>, what: &str, env: &Env) -> Result<Option<usize>> {
    let Some(e) = e else { return Ok(None) };
    let c = env.compile(e, &Arc::new(Vec::new()))?;
    match eval(&c, &[], env)? {
        Datum::Null => Ok(None),
        Datum::Int(n) if n < 0 => Err(Error::new(
            if what == "LIMIT" { "2201W" } else { "2201X" },
            format!("{what} must not be negative"),
        )),
        Datum::Int(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        other => Err(Error::new(
            code::DATATYPE_MISMATCH,
            format!("argument of {what} must be type bigint, not {other:?}"),
        )),
    }
}

/// LIMIT/OFFSET node.
pub fn build_limit(
    input: &Plan,
    limit: Option<&Expr>,
    offset: Option<&Expr>,
    env: &Env,
) -> Result<RowStream> {
    let limit = count(limit, "LIMIT", env)?;
    let offset = count(offset, "OFFSET", env)?.unwrap_or(0);
    if limit == Some(0) {
        return Ok(Box::new(std::iter::empty()));
    }
    let stream = build(input, env)?;
    let skipped = stream.skip(offset);
    Ok(match limit {
        Some(n) => Box::new(skipped.take(n)),
        None => Box::new(skipped),
    })
}

/// DISTINCT / DISTINCT ON: emits the first row of each distinct key, streaming.
struct DistinctIter {
    input: RowStream,
    on: Option<Vec<Expr>>,
    seen: HashSet<Row>,
    env: Env,
}

impl DistinctIter {
    fn step(&mut self, row: Row) -> Result<Option<Row>> {
        let key = match &self.on {
            Some(exprs) => exprs
                .iter()
                .map(|e| eval(e, &row, &self.env))
                .collect::<Result<Row>>()?,
            None => row.clone(),
        };
        if self.seen.contains(&key) {
            return Ok(None);
        }
        self.env.shared.mem.grow(row_bytes(&key))?;
        self.seen.insert(key);
        Ok(Some(row))
    }
}

impl Iterator for DistinctIter {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            let row = match self.input.next()? {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
            match self.step(row) {
                Ok(Some(r)) => return Some(Ok(r)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// DISTINCT node.
pub fn build_distinct(input: &Plan, on: Option<&Vec<Expr>>, env: &Env) -> Result<RowStream> {
    let layout = Arc::new(input.layout());
    let on = match on {
        Some(v) => Some(
            v.iter()
                .map(|e| env.compile(e, &layout))
                .collect::<Result<Vec<_>>>()?,
        ),
        None => None,
    };
    Ok(Box::new(DistinctIter {
        input: build(input, env)?,
        on,
        seen: HashSet::new(),
        env: env.clone(),
    }))
}
