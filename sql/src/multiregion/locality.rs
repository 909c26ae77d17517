//! Table localities: `CREATE TABLE ... LOCALITY ...` and `ALTER TABLE ... SET LOCALITY ...`.
//!
//! REGIONAL BY TABLE and GLOBAL only change the table's descriptor and span configs: the
//! allocator moves replicas and leases afterwards. REGIONAL BY ROW changes the key layout: the
//! region column (hidden `crdb_region STRING NOT NULL DEFAULT
//! default_to_database_primary_region(gateway_region())`, or the `AS` column) becomes the first
//! key column of the primary key and of every index, so switching to or from it rewrites every
//! row (and index entry) of the table in the statement's transaction.

use super::parse::{object_name, LocalitySpec, NameParts};
use super::{locality_without_regions, zones, INVALID_DATABASE_DEFINITION, INVALID_NAME};
use super::{REGION_COLUMN, REGION_DEFAULT};
use crate::catalog::names::resolve_table_name;
use crate::catalog::{
    Catalog, ColumnDesc, DatabaseDesc, IndexDesc, TableDesc, TableLocality, PRIMARY_INDEX_ID,
};
use crate::context::{ExecContext, ExecResult};
use crate::error::code;
use crate::types::{DataType, Datum, Row};
use crate::{Error, Result};
use kv::encoding::Direction;
use std::sync::Arc;

/// The most rows ALTER TABLE ... SET LOCALITY rewrites in one statement (they are held in
/// memory; larger tables are refused with 54000).
pub const MAX_REWRITE_ROWS: usize = 100_000;

/// The region a new row gets by default in `db`: the gateway's region if the database has
/// it, else the primary region (`default_to_database_primary_region(gateway_region())`).
pub fn default_region(ctx: &ExecContext, db: &DatabaseDesc) -> Option<String> {
    let rc = db.regions.as_ref()?;
    let gw = super::gateway_region(ctx.txns.as_ref());
    Some(match gw {
        Some(g) if rc.regions.contains(&g) => g,
        _ => rc.primary.clone(),
    })
}

/// Sets the locality of a table being created in `db` (`spec` None: no LOCALITY clause).
/// Called by CREATE TABLE before the descriptor is written.
pub fn apply_on_create(
    db: &DatabaseDesc,
    t: &mut TableDesc,
    spec: Option<&LocalitySpec>,
) -> Result<()> {
    let Some(rc) = &db.regions else {
        return match spec {
            Some(_) => Err(locality_without_regions()),
            None => Ok(()),
        };
    };
    let spec = spec.cloned().unwrap_or(LocalitySpec::ByTablePrimary);
    apply(db, rc.regions.clone(), t, &spec)
}

fn apply(
    db: &DatabaseDesc,
    regions: Vec<String>,
    t: &mut TableDesc,
    spec: &LocalitySpec,
) -> Result<()> {
    t.locality = Some(match spec {
        LocalitySpec::ByTablePrimary => TableLocality::RegionalByTable(None),
        LocalitySpec::ByTableIn(r) => {
            if !regions.contains(r) {
                return Err(Error::new(
                    INVALID_NAME,
                    format!(
                        "region \"{r}\" has not been added to database \"{}\"",
                        db.name
                    ),
                )
                .with_hint(format!("available regions: {}", regions.join(", "))));
            }
            TableLocality::RegionalByTable(Some(r.clone()))
        }
        LocalitySpec::Global => TableLocality::Global,
        LocalitySpec::ByRow(col) => {
            let column = partition_column(t, col.as_deref())?;
            prefix_indexes(t, &column);
            TableLocality::RegionalByRow { column, regions }
        }
    });
    Ok(())
}

/// The region column of a REGIONAL BY ROW table, added (hidden) when missing.
fn partition_column(t: &mut TableDesc, col: Option<&str>) -> Result<String> {
    let name = col.unwrap_or(REGION_COLUMN);
    match t.column(name) {
        Some((_, c)) => {
            if !matches!(c.ty, DataType::Text | DataType::Varchar(_)) {
                return Err(Error::new(
                    code::DATATYPE_MISMATCH,
                    format!(
                        "cannot use column {name} for REGIONAL BY ROW table as it does not have \
                         the crdb_internal_region type"
                    ),
                ));
            }
            if c.nullable {
                return Err(Error::new(
                    code::INVALID_TABLE_DEFINITION,
                    format!(
                        "cannot use column {name} for REGIONAL BY ROW table as it may contain \
                         NULL values"
                    ),
                )
                .with_hint("add NOT NULL to the column"));
            }
        }
        None if col.is_some() => {
            return Err(Error::new(
                code::UNDEFINED_COLUMN,
                format!("column \"{name}\" does not exist"),
            ))
        }
        None => {
            t.columns.push(ColumnDesc {
                id: t.next_column_id,
                name: name.to_string(),
                ty: DataType::Text,
                nullable: false,
                default_expr: Some(REGION_DEFAULT.to_string()),
                hidden: true,
            });
            t.next_column_id += 1;
        }
    }
    Ok(name.to_string())
}

fn prefix_index(idx: &mut IndexDesc, pos: usize) {
    idx.columns.retain(|(p, _)| *p != pos);
    idx.columns.insert(0, (pos, Direction::Asc));
}

/// Makes `column` the first key column of every index of `t`.
pub fn prefix_indexes(t: &mut TableDesc, column: &str) {
    let Some((pos, _)) = t.column(column) else {
        return;
    };
    prefix_index(&mut t.primary, pos);
    for idx in &mut t.indexes {
        prefix_index(idx, pos);
    }
}

/// Prefixes a new index of a REGIONAL BY ROW table with its region column (CREATE INDEX).
pub fn prefix_new_index(t: &TableDesc, idx: &mut IndexDesc) {
    if let Some((pos, _)) = t.row_partitioning() {
        prefix_index(idx, pos);
    }
}

/// Removes the leading region column from every index of a REGIONAL BY ROW table.
fn strip_prefix(t: &mut TableDesc) {
    let Some((pos, _)) = t.row_partitioning() else {
        return;
    };
    for idx in std::iter::once(&mut t.primary).chain(t.indexes.iter_mut()) {
        if idx.columns.first().is_some_and(|(p, _)| *p == pos) && idx.columns.len() > 1 {
            idx.columns.remove(0);
        }
    }
}

/// Whether REGIONAL BY ROW table `t` has a row in `region`.
pub fn partition_has_rows(ctx: &ExecContext, t: &TableDesc, region: &str) -> Result<bool> {
    let start = zones::partition_prefix(t, PRIMARY_INDEX_ID, region)?;
    let end = kv::keys::prefix_end(&start);
    let page = ctx.txn.lock().scan(&start, end.as_deref(), 1)?;
    Ok(!page.rows.is_empty())
}

/// ALTER TABLE [IF EXISTS] t SET LOCALITY ... .
pub(super) fn set_locality(
    ctx: &ExecContext,
    table: &NameParts,
    if_exists: bool,
    spec: &LocalitySpec,
) -> Result<ExecResult> {
    let name = resolve_table_name(&object_name(table), &ctx.database)?;
    let Some(old) = Catalog::table(&ctx.txn, &name.database, &name.name)? else {
        if if_exists {
            return Ok(ExecResult::command("ALTER TABLE"));
        }
        return Err(crate::catalog::undefined_table(&name.name));
    };
    let db = Catalog::must_database(&ctx.txn, &name.database)?;
    let Some(rc) = &db.regions else {
        return Err(Error::new(
            INVALID_DATABASE_DEFINITION,
            "cannot alter a table's LOCALITY if its database is not multi-region enabled",
        ));
    };
    let mut new = crate::ddl::next_version(&old);
    strip_prefix(&mut new);
    apply(&db, rc.regions.clone(), &mut new, spec)?;
    if new.primary.columns != old.primary.columns || new.columns.len() != old.columns.len() {
        rewrite_rows(ctx, &db, &old, &new)?;
    }
    Catalog::write_table(&ctx.txn, &new)?;
    zones::write_table(&ctx.txn, &db, &new)?;
    Ok(ExecResult::command("ALTER TABLE"))
}

/// Rewrites every row of `old` in `new`'s layout (columns added at the end get the default
/// region), in the statement's transaction.
fn rewrite_rows(
    ctx: &ExecContext,
    db: &DatabaseDesc,
    old: &Arc<TableDesc>,
    new: &TableDesc,
) -> Result<()> {
    let span = crate::storage::full_index_span(old, &old.primary);
    let mut rows: Vec<Row> = Vec::new();
    for row in crate::storage::scan_index(&ctx.txn, old.clone(), PRIMARY_INDEX_ID, vec![span]) {
        ctx.check_cancel()?;
        rows.push(row?);
        if rows.len() > MAX_REWRITE_ROWS {
            return Err(Error::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "table \"{}\" has more than {MAX_REWRITE_ROWS} rows: changing its locality \
                     to or from REGIONAL BY ROW rewrites every row in one transaction",
                    old.name
                ),
            ));
        }
    }
    crate::storage::delete_table_data(&ctx.txn, old.id)?;
    let region = default_region(ctx, db).unwrap_or_default();
    for mut row in rows {
        while row.len() < new.columns.len() {
            row.push(Datum::Text(region.clone()));
        }
        crate::storage::insert_row(&ctx.txn, new, &row)?;
    }
    Ok(())
}
