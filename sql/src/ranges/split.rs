//! `ALTER TABLE t SPLIT AT <rows>` / `ALTER INDEX t@i SPLIT AT <rows>`: each row is a prefix of
//! the index's key columns; the split key is exactly the key prefix the executor writes for
//! those values ([`crate::storage::index_key_prefix`]), so a range then starts at the first
//! entry with those leading values.

use super::parse::SplitTarget;
use super::pretty::KeyPrinter;
use crate::catalog::{IndexDesc, TableDesc};
use crate::context::{Column, ExecContext, ExecResult};
use crate::error::code;
use crate::types::{can_cast, cast, DataType, Datum, Row};
use crate::{Error, Result};
use sqlparser::ast::{Query, Statement};
use std::sync::Arc;

/// The result columns of `SPLIT AT`.
pub fn columns() -> Vec<Column> {
    vec![
        Column::new("key", DataType::Bytea),
        Column::new("pretty", DataType::Text),
        Column::new("split_enforced_until", DataType::Timestamp),
    ]
}

/// The error a single-node store's split gets (see the module docs of [`super`]).
pub fn single_node_error() -> Error {
    Error::new(
        code::FEATURE_NOT_SUPPORTED,
        "ranges cannot be split on a single-node store",
    )
    .with_hint("SPLIT AT needs a cluster node (meridian start --join=...)")
}

/// The table and index a `SPLIT AT` / `UNSPLIT` statement names.
pub(super) fn resolve_target(
    ctx: &ExecContext,
    target: &SplitTarget,
) -> Result<(Arc<TableDesc>, IndexDesc)> {
    Ok(match target {
        SplitTarget::Table(name) => {
            let t = super::resolve_table(ctx, name)?;
            let idx = t.primary.clone();
            (t, idx)
        }
        SplitTarget::Index(r) => super::resolve_index(ctx, r)?,
    })
}

/// Evaluates `rows` (the data of `verb`, `SPLIT AT` or `UNSPLIT AT`) and encodes each row as
/// the key prefix of index `idx`, in order.
pub(super) fn row_keys(
    ctx: &ExecContext,
    (t, idx): (&TableDesc, &IndexDesc),
    rows: &Query,
    (params, param_types): (&[Datum], &[DataType]),
    verb: &str,
) -> Result<Vec<Vec<u8>>> {
    let stmt = Statement::Query(Box::new(rows.clone()));
    let (in_cols, values) = match crate::exec::execute_typed(ctx, &stmt, params, param_types)? {
        ExecResult::Rows { columns, rows, .. } => (columns, rows.collect::<Result<Vec<Row>>>()?),
        ExecResult::Command { .. } => {
            return Err(Error::syntax(format!("{verb} expects VALUES or a SELECT")));
        }
    };
    if in_cols.len() > idx.columns.len() {
        return Err(Error::syntax(format!(
            "too many columns in {verb} data: index \"{}\" has {} key column(s), got {}",
            idx.name,
            idx.columns.len(),
            in_cols.len()
        )));
    }
    if in_cols.is_empty() {
        return Err(Error::syntax(format!(
            "{verb} data must have at least one column"
        )));
    }
    let mut keys = Vec::with_capacity(values.len());
    for row in values {
        let datums = coerce_row(t, idx, &in_cols, row, verb)?;
        keys.push(crate::storage::index_key_prefix(t, idx, &datums)?);
    }
    Ok(keys)
}

/// Runs `SPLIT AT`: evaluates `rows`, encodes each, splits at each key in order.
pub fn split_at(
    ctx: &ExecContext,
    target: &SplitTarget,
    rows: &Query,
    params: &[Datum],
    param_types: &[DataType],
) -> Result<ExecResult> {
    let (t, idx) = resolve_target(ctx, target)?;
    let keys = row_keys(ctx, (&t, &idx), rows, (params, param_types), "SPLIT AT")?;
    let mut printer = KeyPrinter::new(&ctx.txn);
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        ctx.check_cancel()?;
        if let Err(e) = ctx.txns.split_at(&key) {
            // A source that knows no nodes is a single-node store (txn's default), whose
            // split_at always fails: say so plainly instead of an internal error.
            if ctx.txns.nodes().map(|n| n.is_empty()).unwrap_or(false) {
                return Err(single_node_error());
            }
            return Err(e.into());
        }
        let pretty = printer.full(&key);
        out.push(vec![Datum::Bytes(key), Datum::Text(pretty), Datum::Null]);
    }
    Ok(ExecResult::rows(columns(), out, "SPLIT AT"))
}

/// Converts one row of SPLIT AT data to the index's leading column types as INSERT would
/// (assignment casts): untyped and text literals are parsed as the column's type (22P02 when
/// they do not parse); values without an assignment cast fail with 42804.
fn coerce_row(
    t: &TableDesc,
    idx: &IndexDesc,
    in_cols: &[Column],
    row: Row,
    verb: &str,
) -> Result<Row> {
    let mut out = Vec::with_capacity(row.len());
    for (i, ((pos, _), d)) in idx.columns.iter().zip(row).enumerate() {
        let col = t
            .columns
            .get(*pos)
            .ok_or_else(|| Error::internal(format!("index column {pos} missing")))?;
        let from = in_cols.get(i).map_or(DataType::Unknown, |c| c.ty.clone());
        let v = match d {
            Datum::Null => Datum::Null,
            Datum::Text(s)
                if matches!(from, DataType::Unknown | DataType::Text) && !col.ty.is_string() =>
            {
                Datum::from_pg_text(&s, &col.ty)?
            }
            d if can_cast(&from, &col.ty, false) => cast(d, &from, &col.ty, false)?,
            _ => {
                return Err(Error::new(
                    code::DATATYPE_MISMATCH,
                    format!(
                        "{verb} data column {} ({}) must be of type {}, not type {}",
                        i + 1,
                        col.name,
                        col.ty.pg_name(),
                        from.pg_name()
                    ),
                ))
            }
        };
        out.push(v);
    }
    Ok(out)
}
