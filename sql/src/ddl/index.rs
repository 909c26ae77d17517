//! CREATE INDEX (with backfill of the existing rows) and DROP INDEX.
//!
//! Index names share the namespace of tables within a database, as in PostgreSQL, so
//! `DROP INDEX name` finds its table by searching the database.

use super::create_table::key_columns;
use super::DEPENDENT_OBJECTS_STILL_EXIST;
use super::{choose_name, duplicate_relation, next_version, relation_names};
use crate::catalog::names::{name_parts, resolve_table_name, PUBLIC_SCHEMA};
use crate::catalog::{Catalog, IndexDesc, TableDesc};
use crate::context::{ExecContext, ExecResult};
use crate::error::code;
use crate::storage;
use crate::{Error, Result};
use sqlparser::ast::{CreateIndex, IndexType, ObjectName};
use std::sync::Arc;

fn reject_unsupported(ci: &CreateIndex) -> Result<()> {
    match &ci.using {
        None | Some(IndexType::BTree) | Some(IndexType::Hash) => {}
        Some(other) => {
            return Err(Error::unsupported(format!(
                "index access method {} is not supported",
                other.to_string().to_lowercase()
            )))
        }
    }
    if ci.predicate.is_some() {
        return Err(Error::unsupported("partial indexes are not supported"));
    }
    if !ci.include.is_empty() {
        return Err(Error::unsupported("INCLUDE columns are not supported"));
    }
    if ci.nulls_distinct == Some(false) {
        return Err(Error::unsupported("NULLS NOT DISTINCT is not supported"));
    }
    Ok(())
}

/// The index name of `CREATE INDEX name` / `public.name` (any other schema: 3F000).
fn index_name(name: &ObjectName) -> Result<String> {
    let mut parts = name_parts(name)?;
    let last = parts
        .pop()
        .ok_or_else(|| Error::syntax("missing index name"))?;
    match parts.last() {
        None => Ok(last),
        Some(s) if s == PUBLIC_SCHEMA => Ok(last),
        Some(s) => Err(Error::new(
            code::INVALID_SCHEMA_NAME,
            format!("schema \"{s}\" does not exist"),
        )),
    }
}

/// CREATE [UNIQUE] INDEX [IF NOT EXISTS] [name] ON t (col [ASC|DESC], ...).
pub(super) fn create_index(ctx: &ExecContext, ci: &CreateIndex) -> Result<ExecResult> {
    reject_unsupported(ci)?;
    let tname = resolve_table_name(&ci.table_name, &ctx.database)?;
    let t = Catalog::must_table(&ctx.txn, &tname.database, &tname.name)?;
    let cols = key_columns(&ci.columns)?;
    let mut columns = Vec::with_capacity(cols.len());
    for (name, dir) in &cols {
        let (pos, _) = t.column(name).ok_or_else(|| {
            Error::new(
                code::UNDEFINED_COLUMN,
                format!("column \"{name}\" does not exist"),
            )
        })?;
        columns.push((pos, *dir));
    }
    let mut taken = relation_names(&ctx.txn, t.db_id)?;
    let name = match &ci.name {
        Some(n) => {
            let n = index_name(n)?;
            if taken.contains(&n) {
                if ci.if_not_exists {
                    return Ok(ExecResult::command("CREATE INDEX"));
                }
                return Err(duplicate_relation(&n));
            }
            n
        }
        None => {
            let joined: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
            choose_name(&format!("{}_{}_idx", t.name, joined.join("_")), &mut taken)
        }
    };
    let mut desc = next_version(&t);
    let mut index = IndexDesc {
        id: desc.next_index_id,
        name,
        columns,
        unique: ci.unique,
        constraint: false,
    };
    // A REGIONAL BY ROW table's indexes are partitioned by region like its rows.
    crate::multiregion::locality::prefix_new_index(&t, &mut index);
    desc.next_index_id += 1;
    desc.indexes.push(index.clone());
    let desc = Arc::new(desc);
    storage::backfill_index(&ctx.txn, desc.clone(), &index)?;
    Catalog::write_table(&ctx.txn, &desc)?;
    rewrite_span_configs(ctx, &desc)?;
    Ok(ExecResult::command("CREATE INDEX"))
}

/// Rewrites the span configs of `t` (a REGIONAL BY ROW table has one per index and region).
fn rewrite_span_configs(ctx: &ExecContext, t: &TableDesc) -> Result<()> {
    if t.row_partitioning().is_none() {
        return Ok(());
    }
    let db = crate::catalog::Catalog::must_database_by_id(&ctx.txn, t.db_id)?;
    crate::multiregion::zones::write_table(&ctx.txn, &db, t)
}

/// Finds the table of index `name` in the current database.
fn find_index(ctx: &ExecContext, name: &ObjectName) -> Result<Option<(Arc<TableDesc>, IndexDesc)>> {
    let parts = name_parts(name)?;
    // CockroachDB's `t@idx` does not parse; `db.public.idx`, `public.idx` and `idx` do.
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
            return Ok(Some((t, idx)));
        }
    }
    Ok(None)
}

/// DROP INDEX [IF EXISTS] name, ... [CASCADE]. The primary key's index cannot be dropped;
/// a UNIQUE constraint's index only with CASCADE (which drops the constraint).
pub(super) fn drop_indexes(
    ctx: &ExecContext,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<ExecResult> {
    for n in names {
        let Some((t, idx)) = find_index(ctx, n)? else {
            if if_exists {
                continue;
            }
            let shown = name_parts(n)?.pop().unwrap_or_default();
            return Err(Error::new(
                code::UNDEFINED_OBJECT,
                format!("index \"{shown}\" does not exist"),
            ));
        };
        if idx.id == t.primary.id || (idx.constraint && !cascade) {
            return Err(Error::new(
                DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop index {0} because constraint {0} on table {1} requires it",
                    idx.name, t.name
                ),
            )
            .with_hint(format!(
                "You can drop constraint {} on table {} instead.",
                idx.name, t.name
            )));
        }
        storage::delete_index_data(&ctx.txn, &t, &idx)?;
        let mut desc = next_version(&t);
        desc.indexes.retain(|i| i.id != idx.id);
        Catalog::write_table(&ctx.txn, &desc)?;
        rewrite_span_configs(ctx, &desc)?;
    }
    Ok(ExecResult::command("DROP INDEX"))
}
