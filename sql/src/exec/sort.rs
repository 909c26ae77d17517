//! ORDER BY: an in-memory sort within the statement's memory budget (53200 beyond it; no
//! spilling). NULLs sort last ascending and first descending unless NULLS FIRST/LAST says
//! otherwise (PostgreSQL). The sort is stable, so equal keys keep their input order.

use crate::context::RowStream;
use crate::exec::eval::eval;
use crate::exec::{build, row_bytes, Env, CANCEL_CHECK_ROWS};
use crate::plan::{Plan, SortKey};
use crate::types::{Datum, Row};
use crate::Result;
use std::cmp::Ordering;
use std::sync::Arc;

/// Compares two key values under one key's direction and NULL placement.
pub fn compare_key(a: &Datum, b: &Datum, desc: bool, nulls_first: bool) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => {
            if nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (false, true) => {
            if nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (false, false) => {
            let o = a.total_cmp(b);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// Sort node: materializes the input (with precomputed keys), sorts, then streams.
pub fn build_sort(input: &Plan, keys: &[SortKey], env: &Env) -> Result<RowStream> {
    let layout = Arc::new(input.layout());
    let compiled: Vec<(crate::plan::Expr, bool, bool)> = keys
        .iter()
        .map(|k| Ok((env.compile(&k.expr, &layout)?, k.desc, k.nulls_first)))
        .collect::<Result<_>>()?;
    let mut rows: Vec<(Row, Row)> = Vec::new();
    let mut bytes = 0usize;
    for (n, r) in build(input, env)?.enumerate() {
        let row = r?;
        if n.is_multiple_of(CANCEL_CHECK_ROWS) {
            env.ctx().check_cancel()?;
        }
        let key = compiled
            .iter()
            .map(|(e, _, _)| eval(e, &row, env))
            .collect::<Result<Row>>()?;
        let sz = row_bytes(&row) + row_bytes(&key);
        env.shared.mem.grow(sz)?;
        bytes += sz;
        rows.push((key, row));
    }
    rows.sort_by(|(a, _), (b, _)| {
        for (i, (_, desc, nf)) in compiled.iter().enumerate() {
            let o = compare_key(&a[i], &b[i], *desc, *nf);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let mem = env.shared.clone();
    let iter = rows.into_iter().map(|(_, r)| Ok(r));
    // Release the reservation when the stream is dropped.
    Ok(Box::new(ReleaseOnDrop {
        inner: Box::new(iter),
        shared: mem,
        bytes,
    }))
}

/// A stream that returns its memory reservation when dropped.
pub struct ReleaseOnDrop {
    /// The rows.
    pub inner: RowStream,
    /// Whose budget.
    pub shared: Arc<crate::exec::Shared>,
    /// Bytes reserved.
    pub bytes: usize,
}

impl Iterator for ReleaseOnDrop {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        self.inner.next()
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.shared.mem.shrink(self.bytes);
    }
}
