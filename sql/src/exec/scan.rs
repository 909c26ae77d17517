//! Table scans: evaluating span expressions into key spans and streaming rows from the
//! primary or a secondary index through [catalog]'s paged scans. A scan with a pushed-down
//! LIMIT ([`crate::plan::order`]) reads through `storage::scan_index_limited` and counts the
//! rows its filter keeps against the budget, so it stops reading when the LIMIT is met.

use crate::catalog::{IndexDesc, TableDesc};
use crate::context::RowStream;
use crate::exec::basic::{count, filter_stream};
use crate::exec::eval::eval;
use crate::exec::Env;
use crate::plan::{IndexChoice, Scan, ScanLimit, SpanExpr, Spans};
use crate::storage::{self, IndexSpan};
use crate::types::{self, DataType, Datum};
use crate::Result;
use kv::encoding::Direction;
use std::cmp::Ordering;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// The index descriptor a choice refers to.
pub fn index_desc(t: &TableDesc, c: IndexChoice) -> Result<&IndexDesc> {
    match c {
        IndexChoice::Primary => Ok(&t.primary),
        IndexChoice::Secondary(i) => t
            .indexes
            .get(i)
            .ok_or_else(|| crate::Error::internal("index position out of range")),
    }
}

/// Converts a bound value to the key column's type. Returns None when the value cannot be
/// represented exactly (e.g. 2.5 for an INT column), or is NULL.
pub fn key_value(v: Datum, from: &DataType, to: &DataType) -> Option<Datum> {
    if v.is_null() {
        return None;
    }
    if from == to {
        return Some(v);
    }
    let c = types::cast(v.clone(), from, to, true).ok()?;
    (c.sql_cmp(&v) == Some(Ordering::Equal)).then_some(c)
}

/// What a span bound evaluated to.
enum Bound {
    /// No bound on that side (or it could not be represented: widened).
    Open,
    /// A value and inclusivity.
    Value(Datum, bool),
    /// NULL: nothing can match.
    Empty,
}

fn eval_bound(
    b: &Option<(crate::plan::Expr, bool)>,
    col_ty: &DataType,
    env: &Env,
) -> Result<Bound> {
    let Some((e, incl)) = b else {
        return Ok(Bound::Open);
    };
    let c = env.compile(e, &Arc::new(Vec::new()))?;
    let v = eval(&c, &[], env)?;
    if v.is_null() {
        return Ok(Bound::Empty);
    }
    Ok(match key_value(v, &e.ty(), col_ty) {
        Some(v) => Bound::Value(v, *incl),
        None => Bound::Open,
    })
}

fn after(key: &[u8]) -> Vec<u8> {
    kv::keys::prefix_end(key).unwrap_or_else(|| vec![0xff; key.len() + 1])
}

/// Evaluates one span expression into at most one key span.
fn eval_span(
    t: &TableDesc,
    index: &IndexDesc,
    sp: &SpanExpr,
    env: &Env,
) -> Result<Option<IndexSpan>> {
    let empty = Arc::new(Vec::new());
    let mut eq = Vec::with_capacity(sp.eq.len());
    for (i, e) in sp.eq.iter().enumerate() {
        let Some((pos, _)) = index.columns.get(i) else {
            return Ok(None);
        };
        let col_ty = &t.columns[*pos].ty;
        let v = eval(&env.compile(e, &empty)?, &[], env)?;
        match key_value(v, &e.ty(), col_ty) {
            Some(v) => eq.push(v),
            None => return Ok(None),
        }
    }
    let prefix = storage::index_key_prefix(t, index, &eq)?;
    if sp.lo.is_none() && sp.hi.is_none() {
        let end = after(&prefix);
        return Ok(Some(IndexSpan {
            start: prefix,
            end: Some(end),
        }));
    }
    let Some((pos, dir)) = index.columns.get(eq.len()) else {
        return Ok(None);
    };
    let col_ty = &t.columns[*pos].ty;
    let key_with = |v: Datum| -> Result<Vec<u8>> {
        let mut vals = eq.clone();
        vals.push(v);
        storage::index_key_prefix(t, index, &vals)
    };
    let (lo, hi) = (
        eval_bound(&sp.lo, col_ty, env)?,
        eval_bound(&sp.hi, col_ty, env)?,
    );
    if matches!(lo, Bound::Empty) || matches!(hi, Bound::Empty) {
        return Ok(None);
    }
    // In a descending column larger values come first, so the bounds swap roles.
    let (first, last) = if *dir == Direction::Asc {
        (lo, hi)
    } else {
        (hi, lo)
    };
    let start = match first {
        Bound::Value(v, true) => key_with(v)?,
        Bound::Value(v, false) => after(&key_with(v)?),
        _ => prefix.clone(),
    };
    let end = match last {
        Bound::Value(v, true) => after(&key_with(v)?),
        Bound::Value(v, false) => key_with(v)?,
        _ => after(&prefix),
    };
    if start >= end {
        return Ok(None);
    }
    Ok(Some(IndexSpan {
        start,
        end: Some(end),
    }))
}

/// Evaluates a scan's spans: sorted by start key, duplicates removed.
pub fn eval_spans(
    t: &TableDesc,
    index: &IndexDesc,
    spans: &[SpanExpr],
    env: &Env,
) -> Result<Vec<IndexSpan>> {
    let mut out = Vec::with_capacity(spans.len());
    for sp in spans {
        if let Some(s) = eval_span(t, index, sp, env)? {
            out.push(s);
        }
    }
    out.sort_by(|a, b| a.start.cmp(&b.start));
    out.dedup_by(|a, b| a.start == b.start && a.end == b.end);
    Ok(out)
}

/// Streams the rows of `t` from `index` over `spans`, locking them with `lock` (see
/// [`crate::plan::locking`]).
pub fn scan_rows(
    t: &Arc<TableDesc>,
    index: IndexChoice,
    spans: Vec<IndexSpan>,
    lock: Option<txn::LockStrength>,
    env: &Env,
) -> Result<RowStream> {
    let txn = &env.ctx().txn;
    let id = index_desc(t, index)?.id;
    Ok(storage::scan_index_locking(txn, t.clone(), id, spans, lock))
}

/// Builds a scan operator.
pub fn build_scan(s: &Scan, env: &Env) -> Result<RowStream> {
    let index = index_desc(&s.table, s.index)?;
    let spans = match &s.spans {
        Spans::Full => vec![storage::full_index_span(&s.table, index)],
        Spans::Ranges(r) => eval_spans(&s.table, index, r, env)?,
    };
    if spans.is_empty() {
        return Ok(Box::new(std::iter::empty()));
    }
    let budget = match &s.limit {
        Some(l) => match row_budget(l, env)? {
            Some(0) => return Ok(Box::new(std::iter::empty())),
            Some(n) => Some(Arc::new(AtomicUsize::new(n))),
            None => None,
        },
        None => None,
    };
    let local_first = match (&s.spans, &budget) {
        (Spans::Ranges(r), None) => locality_optimized(&s.table, index, r, &spans, env),
        _ => None,
    };
    let rows = match (&budget, local_first) {
        (_, Some((local, remote))) => {
            // CockroachDB's locality-optimised search: at most one row matches (a unique key
            // looked up in every region), so when the gateway's region has it the other
            // regions are not read at all.
            let found: Vec<_> = scan_rows(&s.table, s.index, local, s.lock, env)?.collect();
            if found.is_empty() {
                scan_rows(&s.table, s.index, remote, s.lock, env)?
            } else {
                Box::new(found.into_iter())
            }
        }
        (Some(b), None) => {
            let id = index_desc(&s.table, s.index)?.id;
            let txn = &env.ctx().txn;
            storage::scan_index_limited(txn, s.table.clone(), id, spans, s.lock, b.clone())
        }
        (None, None) => scan_rows(&s.table, s.index, spans, s.lock, env)?,
    };
    let filter = match &s.filter {
        Some(f) => Some(env.compile(f, &Arc::new(s.cols.clone()))?),
        None => None,
    };
    let rows = filter_stream(rows, filter, env);
    Ok(match budget {
        // Count the rows kept, so the scan reads no page nobody wants.
        Some(b) => Box::new(rows.inspect(move |r| {
            if r.is_ok() {
                storage::consume_budget(&b);
            }
        })),
        None => rows,
    })
}

/// For a point lookup of one unique key in every region of a REGIONAL BY ROW table: the
/// spans in the gateway's region and the others (None: not such a lookup).
fn locality_optimized(
    t: &TableDesc,
    index: &IndexDesc,
    exprs: &[SpanExpr],
    spans: &[IndexSpan],
    env: &Env,
) -> Option<(Vec<IndexSpan>, Vec<IndexSpan>)> {
    let (pos, _) = t.row_partitioning()?;
    let point = |e: &SpanExpr| {
        e.eq.len() == index.columns.len() && e.eq.len() > 1 && e.lo.is_none() && e.hi.is_none()
    };
    let same_key = exprs.windows(2).all(|w| w[0].eq[1..] == w[1].eq[1..]);
    if !index.unique
        || exprs.len() < 2
        || index.columns.first().map(|(p, _)| *p) != Some(pos)
        || !exprs.iter().all(point)
        || !same_key
    {
        return None;
    }
    let gateway = crate::multiregion::gateway_region(env.ctx().txns.as_ref())?;
    let prefix = crate::multiregion::zones::partition_prefix(t, index.id, &gateway).ok()?;
    let (local, remote): (Vec<IndexSpan>, Vec<IndexSpan>) = spans
        .iter()
        .cloned()
        .partition(|sp| sp.start.starts_with(&prefix));
    if local.is_empty() {
        return None;
    }
    Some((local, remote))
}

/// The rows a scan under LIMIT must produce: count + offset (None: LIMIT NULL/ALL, no bound).
fn row_budget(l: &ScanLimit, env: &Env) -> Result<Option<usize>> {
    let Some(rows) = count(Some(&l.count), "LIMIT", env)? else {
        return Ok(None);
    };
    let offset = count(l.offset.as_ref(), "OFFSET", env)?.unwrap_or(0);
    Ok(Some(rows.saturating_add(offset)))
}
