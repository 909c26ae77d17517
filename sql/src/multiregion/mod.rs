//! CockroachDB's multi-region SQL: cluster and database regions, survival goals, table
//! localities, and the span configs that turn them into replica placement.
//!
//! Why here and declarative: a CockroachDB application states *what* it wants ("this database
//! lives in three regions and survives a region failure", "these rows live in the region they
//! name") and the database decides replica counts, constraints and lease preferences. This
//! module keeps that contract: the statements ([`parse`]) change descriptors — a database's
//! [`RegionConfig`] and a table's [`TableLocality`] — and, in the same transaction, rewrite the
//! span config records ([`zones`]) that the cluster's allocator reads and enforces. Nothing
//! here moves replicas; placement is eventually consistent with the committed records.
//!
//! Regions come from the nodes: a cluster region is the `region` tier of some node's
//! `--locality` (`TxnSource::nodes`, plus the gateway's own locality for single-node
//! stores). A database region must be a cluster region when it is added.
//!
//! REGIONAL BY ROW tables get a partitioning column (hidden `crdb_region` unless `AS col`)
//! that is the first key column of the primary key and of every index, so each region's rows
//! are their own key spans (and get their own span config homed in that region). Uniqueness
//! of the remaining key columns is enforced across every region's partition by the write path
//! (`storage::write`), and a point lookup that does not name the region searches the
//! gateway's region first (`exec::scan`): see [`locality`].
//!
//! IMPLEMENTATION CAVEATS
//! - Meridian has no enum types: `crdb_region` is a STRING column (SHOW CREATE TABLE prints
//!   CockroachDB's `public.crdb_internal_region`, and that type name is accepted and read as
//!   STRING), whose values the write path checks against the database's regions (22P02 like
//!   CockroachDB's enum error). Casting to `crdb_internal_region` does not validate.
//! - No secondary regions, super regions, placement RESTRICTED, `ALTER DATABASE ... CONFIGURE
//!   ZONE` or `ALTER TABLE ... CONFIGURE ZONE`: the records are always the ones the
//!   declarative settings imply.
//! - ALTER TABLE ... SET LOCALITY that changes the key layout (to or from REGIONAL BY ROW)
//!   rewrites every row in the statement's transaction, holding the table's rows in memory:
//!   tables above [`locality::MAX_REWRITE_ROWS`] rows are refused (54000).
//! - A lookup join into a REGIONAL BY ROW table whose region is not among the join keys is not
//!   an index lookup (the join falls back to a hash join over a scan).
//! - Uniqueness across regions costs one point read per other region on every insert (and on
//!   updates that change a unique key), except for single-column keys defaulting to
//!   `unique_rowid()` / `gen_random_uuid()`. A primary key that names the region column
//!   explicitly is still enforced unique across regions (CockroachDB: per region).
//! - Switching away from REGIONAL BY ROW keeps the hidden `crdb_region` column.
//! - No `crdb_internal.zones`; span configs are shown by SHOW ZONE CONFIGURATION[S].

pub mod database;
pub mod locality;
pub mod parse;
mod show;
#[cfg(test)]
mod tests;
pub mod zones;

use crate::catalog::{Catalog, DatabaseDesc};
use crate::context::{ExecContext, ExecResult};
use crate::error::code;
use crate::{Error, Result};
use parse::MrStatement;
use sqlparser::ast::Statement;
use std::collections::{BTreeMap, BTreeSet};

pub use crate::catalog::{RegionConfig, SurvivalGoal, TableLocality};

/// SQLSTATE 42602 invalid_name (CockroachDB's code for unknown regions).
pub const INVALID_NAME: &str = "42602";
/// SQLSTATE 42P12 invalid_database_definition.
pub const INVALID_DATABASE_DEFINITION: &str = "42P12";
/// SQLSTATE 2BP01 dependent_objects_still_exist.
pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";

/// The name of the partitioning column a REGIONAL BY ROW table gets unless `AS col`.
pub const REGION_COLUMN: &str = "crdb_region";

/// The type name SHOW CREATE TABLE prints for region columns (CockroachDB's enum).
pub const REGION_TYPE_NAME: &str = "public.crdb_internal_region";

/// The default of the partitioning column: the gateway's region if the database has it,
/// else the primary region.
pub const REGION_DEFAULT: &str = "default_to_database_primary_region(gateway_region())";

/// Whether `stmt` is a multi-region statement of this module.
pub fn is_statement(stmt: &Statement) -> bool {
    parse::is_statement(stmt)
}

/// Whether `stmt` is a read-only multi-region SHOW.
pub fn is_show(stmt: &Statement) -> bool {
    parse::classify(stmt).is_some_and(|s| s.is_show())
}

/// Runs `stmt` when it is a multi-region statement; `None` otherwise. A failing statement
/// leaves no writes behind (it runs under a savepoint).
pub fn execute(ctx: &ExecContext, stmt: &Statement) -> Result<Option<ExecResult>> {
    let Some(mr) = parse::classify(stmt) else {
        return Ok(None);
    };
    let savepoint = ctx.txn.lock().savepoint();
    let result = dispatch(ctx, mr);
    if result.is_err() {
        ctx.txn.lock().rollback_to(savepoint);
    }
    result.map(Some)
}

fn dispatch(ctx: &ExecContext, stmt: MrStatement) -> Result<ExecResult> {
    match stmt {
        MrStatement::ShowRegions(target) => show::show_regions(ctx, &target),
        MrStatement::ShowSurvivalGoal(db) => show::show_survival_goal(ctx, db.as_deref()),
        MrStatement::ShowZone(target) => show::show_zone(ctx, &target),
        MrStatement::CreateDatabase {
            name,
            if_not_exists,
            primary,
            regions,
            survival,
        } => database::create_database(ctx, &name, if_not_exists, primary, regions, survival),
        MrStatement::AlterDatabase { name, action } => database::alter_database(ctx, &name, action),
        MrStatement::SetLocality {
            table,
            if_exists,
            locality,
        } => locality::set_locality(ctx, &table, if_exists, &locality),
    }
}

/// Splits a locality string (`region=us-east1,zone=a`) into its tiers.
pub fn parse_locality(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|tier| {
            let (k, v) = tier.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn tier<'a>(tiers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tiers
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The gateway node's region (`gateway_region()`), if it was started with one.
pub fn gateway_region(txns: &dyn txn::TxnSource) -> Option<String> {
    tier(&txns.locality(), "region").map(str::to_string)
}

/// The cluster's regions and each region's zones, from every node's locality.
pub fn cluster_regions(txns: &dyn txn::TxnSource) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |tiers: &[(String, String)]| {
        if let Some(r) = tier(tiers, "region") {
            let zones = out.entry(r.to_string()).or_default();
            if let Some(z) = tier(tiers, "zone") {
                zones.insert(z.to_string());
            }
        }
    };
    add(&txns.locality());
    for n in txns.nodes()? {
        if !n.decommissioning {
            add(&parse_locality(&n.locality));
        }
    }
    Ok(out)
}

/// 42602 `region "r" does not exist` unless some node is in region `r`.
pub fn check_cluster_region(ctx: &ExecContext, region: &str) -> Result<()> {
    let regions = cluster_regions(ctx.txns.as_ref())?;
    if regions.contains_key(region) {
        return Ok(());
    }
    let valid: Vec<&str> = regions.keys().map(String::as_str).collect();
    let err = Error::new(INVALID_NAME, format!("region \"{region}\" does not exist"));
    Err(if valid.is_empty() {
        err.with_hint("no nodes have a region: start nodes with --locality=region=<region>")
    } else {
        err.with_hint(format!("valid regions: {}", valid.join(", ")))
    })
}

/// 42P12 for a multi-region statement on a database without regions.
pub fn not_multi_region(db: &str) -> Error {
    Error::new(
        INVALID_DATABASE_DEFINITION,
        format!("database {db} is not multi-region enabled"),
    )
    .with_hint(format!(
        "you must first add a primary region to the database using \
         ALTER DATABASE {db} PRIMARY REGION <region_name>"
    ))
}

/// The database named `name` (or the current one), or 3D000.
fn database_or_current(ctx: &ExecContext, name: Option<&str>) -> Result<DatabaseDesc> {
    Catalog::must_database(&ctx.txn, name.unwrap_or(&ctx.database))
}

/// 42P16 for a LOCALITY in a database without regions.
pub fn locality_without_regions() -> Error {
    Error::new(
        code::INVALID_TABLE_DEFINITION,
        "cannot set LOCALITY on a table in a database that is not multi-region enabled",
    )
}
