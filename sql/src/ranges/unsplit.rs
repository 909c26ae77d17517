//! `ALTER TABLE t UNSPLIT AT <rows>`, `ALTER INDEX t@i UNSPLIT AT <rows>` and `... UNSPLIT
//! ALL` (CockroachDB's statements): remove the split enforcement of manual splits (`SPLIT
//! AT`), so the merge queue may merge the range into its left neighbour once both are small.
//! The ranges stay split until the queue merges them; nothing is merged here.
//!
//! - `UNSPLIT AT` encodes each row as `SPLIT AT` does ([`super::split::row_keys`]); a key at
//!   which no range starts fails with 22023 `could not UNSPLIT AT <key>: key <key> is not the
//!   start of a range` (CockroachDB's message; it reports no specific SQLSTATE). A range that
//!   starts there but whose split is not enforced is a no-op, as in CockroachDB. One row per
//!   key: `key`, `pretty`.
//! - `UNSPLIT ALL` unsplits every range that starts strictly inside the index's span and whose
//!   split is enforced, and lists those (a split at the index's own first key is left: it is
//!   the boundary of the table or index).
//!
//! IMPLEMENTATION CAVEATS
//! - Ranges are found from the meta records ([`txn::TxnSource::ranges`]); a range split an
//!   instant ago whose record is not written yet is not seen.
//! - On a single-node store no range starts inside a table: `UNSPLIT AT` fails as above and
//!   `UNSPLIT ALL` returns no rows.

use super::parse::SplitTarget;
use super::pretty::KeyPrinter;
use crate::context::{Column, ExecContext, ExecResult};
use crate::error::code;
use crate::types::{DataType, Datum};
use crate::{Error, Result};
use kv::keys;
use sqlparser::ast::Query;

/// The result columns of `UNSPLIT AT` / `UNSPLIT ALL`.
pub fn columns() -> Vec<Column> {
    vec![
        Column::new("key", DataType::Bytea),
        Column::new("pretty", DataType::Text),
    ]
}

/// Runs `UNSPLIT AT <rows>` (`rows` Some) or `UNSPLIT ALL`.
pub fn unsplit(
    ctx: &ExecContext,
    target: &SplitTarget,
    rows: Option<&Query>,
    params: &[Datum],
    param_types: &[DataType],
) -> Result<ExecResult> {
    let (t, idx) = super::split::resolve_target(ctx, target)?;
    let mut printer = KeyPrinter::new(&ctx.txn);
    let keys = match rows {
        Some(rows) => {
            let keys =
                super::split::row_keys(ctx, (&t, &idx), rows, (params, param_types), "UNSPLIT AT")?;
            for key in &keys {
                if !starts_a_range(ctx, key)? {
                    let pretty = printer.full(key);
                    return Err(Error::new(
                        code::INVALID_PARAMETER_VALUE,
                        format!(
                            "could not UNSPLIT AT {pretty}: key {pretty} is not the start of a range"
                        ),
                    ));
                }
            }
            keys
        }
        None => {
            let start = keys::index_prefix(t.id, idx.id);
            let end = keys::prefix_end(&start);
            let spans = [(start.clone(), end)];
            let ranges = super::show::overlapping_ranges(ctx, &spans)?;
            ranges
                .into_iter()
                .map(|r| r.start)
                .filter(|s| *s > start)
                .collect()
        }
    };
    let all = rows.is_none();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        ctx.check_cancel()?;
        let enforced = ctx.txns.unsplit_at(&key).map_err(Error::from)?;
        if enforced || !all {
            let pretty = printer.full(&key);
            out.push(vec![Datum::Bytes(key), Datum::Text(pretty)]);
        }
    }
    let tag = if all { "UNSPLIT ALL" } else { "UNSPLIT AT" };
    Ok(ExecResult::rows(columns(), out, tag))
}

/// Whether a range starts exactly at `key` (by the source's range listing).
fn starts_a_range(ctx: &ExecContext, key: &[u8]) -> Result<bool> {
    let mut next = key.to_vec();
    next.push(0);
    let ranges = ctx.txns.ranges(key, Some(&next))?;
    Ok(ranges.iter().any(|r| r.start == key))
}
