//! The SQL face of ranges: `SHOW RANGES`, `ALTER TABLE|INDEX ... SPLIT AT` / `UNSPLIT AT` /
//! `UNSPLIT ALL`, and the `crdb_internal.ranges` / `crdb_internal.gossip_nodes` virtual
//! tables.
//!
//! The SQL layer never depends on the cluster crate: everything here asks the node's
//! [`txn::TxnSource`] (`ranges`, `split_at`, `unsplit_at`, `nodes`). On a single node the source's defaults
//! answer: one range covering the whole key space, held by node 1, no node list, and no splits.
//!
//! - **Parsing** ([`parse`]): the dialect's statement hook recognises both statements and
//!   carries them in the AST under marker names; [`classify`] reads them back.
//! - **Routing**: the session asks [`is_ranges_statement`] / [`execute`] before DDL and the
//!   executor, and [`result_columns`] for Describe (so Describe never runs a split).
//! - **Keys** are shown CockroachDB style ([`pretty`]): `/Table/<id>/<index id>/<values>`,
//!   relative to the table or index in `SHOW RANGES FROM TABLE|INDEX` (`…/1/42`), with
//!   `<before:...>` / `<after:...>` for range bounds outside it, `/Min` and `/Max` for the ends
//!   of the key space.
//! - **SPLIT AT** ([`split`]) encodes each row with the executor's own index key encoding
//!   ([`crate::storage::index_key_prefix`]) and calls `split_at` once per row, in order.
//! - **UNSPLIT AT / UNSPLIT ALL** ([`unsplit`]) remove the split enforcement (`unsplit_at`),
//!   after which the cluster's merge queue may merge the ranges.
//!
//! IMPLEMENTATION CAVEATS
//! - `SPLIT AT` on a single-node store fails with 0A000 "ranges cannot be split on a
//!   single-node store". The source's error is recognised as the single-node one when the
//!   source reports no nodes (txn's defaults); any other error keeps its own SQLSTATE.
//! - Splits are not transactional (as in CockroachDB): rows before a failing one stay split,
//!   and a ROLLBACK does not undo them (nor unsplits). `WITH EXPIRATION` and `SCATTER` are
//!   not supported; `split_enforced_until` is always NULL.
//! - `SHOW RANGES FROM DATABASE d` (and plain `SHOW RANGES`) shows full keys, not relative
//!   ones, and lists the ranges overlapping any of the database's tables; the `WITH DETAILS |
//!   KEYS | TABLES | INDEXES` options are not supported (lease holders are always shown).
//! - Replica localities come from `nodes()`; a node it does not list has a NULL locality.
//! - Key values that cannot be decoded (e.g. a dropped table's keys) are shown as `/0x<hex>`.
//! - `AS OF SYSTEM TIME` inside `SPLIT AT SELECT ...` is ignored; `EXPLAIN` of these statements
//!   is 0A000 (Describe of such an EXPLAIN still reports its one `info` column).

pub mod parse;
pub mod pretty;
pub mod show;
pub mod split;
#[cfg(test)]
mod tests;
pub mod unsplit;
#[cfg(test)]
mod unsplit_tests;
pub mod vtables;

pub use parse::{
    classify, is_ranges_statement, IndexRef, RangesStatement, ShowTarget, SplitTarget,
};

use crate::catalog::names::name_parts;
use crate::catalog::names::PUBLIC_SCHEMA;
use crate::catalog::{normalize_ident, resolve_table_name, Catalog, IndexDesc, TableDesc};
use crate::context::{Column, ExecContext, ExecResult};
use crate::error::code;
use crate::types::{DataType, Datum};
use crate::{Error, Result};
use sqlparser::ast::{ObjectName, Statement};
use std::sync::Arc;

/// Parameter types and result columns of a statement of this module, without running it
/// (Describe must not split anything). `hints` are the client's parameter types.
pub fn describe(
    ctx: &ExecContext,
    stmt: &Statement,
    hints: &[DataType],
) -> Result<(Vec<DataType>, Vec<Column>)> {
    match classify(stmt) {
        Some(RangesStatement::Split { rows, .. }) => {
            let d = crate::plan::describe(ctx, &Statement::Query(rows), hints)?;
            Ok((d.params, split::columns()))
        }
        Some(RangesStatement::Unsplit { rows, .. }) => match rows {
            Some(rows) => {
                let d = crate::plan::describe(ctx, &Statement::Query(rows), hints)?;
                Ok((d.params, unsplit::columns()))
            }
            None => Ok((hints.to_vec(), unsplit::columns())),
        },
        Some(RangesStatement::Show(_)) => Ok((hints.to_vec(), show::columns())),
        None => Err(Error::internal(
            "not a SHOW RANGES, SPLIT AT or UNSPLIT statement",
        )),
    }
}

/// Runs `stmt` if it is a statement of this module; `None` otherwise.
pub fn execute(
    ctx: &ExecContext,
    stmt: &Statement,
    params: &[Datum],
    param_types: &[DataType],
) -> Result<Option<ExecResult>> {
    if let Statement::Explain { statement, .. } = stmt {
        if is_ranges_statement(statement) {
            return Err(Error::unsupported(
                "EXPLAIN is not supported for SHOW RANGES, SPLIT AT and UNSPLIT",
            ));
        }
    }
    let Some(s) = classify(stmt) else {
        return Ok(None);
    };
    let r = match s {
        RangesStatement::Show(target) => show::show_ranges(ctx, &target)?,
        RangesStatement::Split { target, rows } => {
            split::split_at(ctx, &target, &rows, params, param_types)?
        }
        RangesStatement::Unsplit { target, rows } => {
            unsplit::unsplit(ctx, &target, rows.as_deref(), params, param_types)?
        }
    };
    Ok(Some(r))
}

/// The table `name` (42P01 if it does not exist).
fn resolve_table(ctx: &ExecContext, name: &ObjectName) -> Result<Arc<TableDesc>> {
    let n = resolve_table_name(name, &ctx.database)?;
    Catalog::must_table(&ctx.txn, &n.database, &n.name)
}

/// 42704 `index "x" does not exist`.
fn undefined_index(name: &str) -> Error {
    Error::new(
        code::UNDEFINED_OBJECT,
        format!("index \"{name}\" does not exist"),
    )
}

/// The table and index of `t@i` (`t@primary` is the primary index, as in CockroachDB) or of a
/// bare index name, searched in the current (or named) database.
fn resolve_index(ctx: &ExecContext, r: &IndexRef) -> Result<(Arc<TableDesc>, IndexDesc)> {
    if let Some(i) = &r.index {
        let t = resolve_table(ctx, &r.name)?;
        let name = normalize_ident(i);
        let idx = if name == "primary" {
            Some(&t.primary)
        } else {
            t.index_by_name(&name)
        };
        let idx = idx.cloned().ok_or_else(|| undefined_index(&name))?;
        return Ok((t, idx));
    }
    let parts = name_parts(&r.name)?;
    let (database, idx_name) = match parts.as_slice() {
        [i] => (ctx.database.clone(), i.clone()),
        [s, i] if s == PUBLIC_SCHEMA => (ctx.database.clone(), i.clone()),
        [d, s, i] if s == PUBLIC_SCHEMA => (d.clone(), i.clone()),
        [.., s, _] => {
            return Err(Error::new(
                code::INVALID_SCHEMA_NAME,
                format!("schema \"{s}\" does not exist"),
            ))
        }
        [] => return Err(Error::syntax("missing index name")),
    };
    for t in Catalog::list_tables(&ctx.txn, &database)? {
        if let Some(idx) = t.index_by_name(&idx_name).cloned() {
            return Ok((t, idx));
        }
    }
    Err(undefined_index(&idx_name))
}
