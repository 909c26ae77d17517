//! Database regions: `CREATE DATABASE ... PRIMARY REGION ... REGIONS ... SURVIVE ...` and
//! `ALTER DATABASE ... SET PRIMARY REGION | ADD REGION | DROP REGION | SURVIVE ...`.
//!
//! Each statement validates against the cluster's regions and the database's tables, then
//! writes the database descriptor, the descriptors of tables whose locality depends on the
//! regions (REGIONAL BY ROW tables list the allowed values of their region column), and every
//! table's span configs, all in the statement's transaction. Errors and SQLSTATEs follow
//! CockroachDB.

use super::{
    check_cluster_region, not_multi_region, zones, DEPENDENT_OBJECTS_STILL_EXIST,
    INVALID_DATABASE_DEFINITION, INVALID_NAME,
};
use crate::catalog::{Catalog, DatabaseDesc, RegionConfig, SurvivalGoal, TableLocality};
use crate::context::{ExecContext, ExecResult};
use crate::error::code;
use crate::{Error, Result};

use super::parse::AlterDatabase;

/// Regions a REGION survival goal needs.
pub const MIN_REGIONS_FOR_REGION_SURVIVAL: usize = 3;

/// 22023 for REGION survival with too few regions.
fn too_few_regions() -> Error {
    Error::new(
        code::INVALID_PARAMETER_VALUE,
        "at least 3 regions are required for surviving a region failure",
    )
}

/// CREATE DATABASE with a PRIMARY REGION / REGIONS / SURVIVE clause.
pub(super) fn create_database(
    ctx: &ExecContext,
    name: &str,
    if_not_exists: bool,
    primary: Option<String>,
    regions: Vec<String>,
    survival: Option<SurvivalGoal>,
) -> Result<ExecResult> {
    let Some(primary) = primary else {
        return Err(Error::new(
            INVALID_DATABASE_DEFINITION,
            "PRIMARY REGION must be specified when using REGIONS or SURVIVE",
        ));
    };
    if Catalog::database(&ctx.txn, name)?.is_some() {
        if if_not_exists {
            return Ok(ExecResult::command("CREATE DATABASE"));
        }
        return Err(Error::new(
            code::DUPLICATE_DATABASE,
            format!("database \"{name}\" already exists"),
        ));
    }
    let mut all = vec![primary.clone()];
    for r in regions {
        if all.contains(&r) && r != primary {
            return Err(Error::new(
                code::DUPLICATE_OBJECT,
                format!("region \"{r}\" defined multiple times"),
            ));
        }
        if !all.contains(&r) {
            all.push(r);
        }
    }
    for r in &all {
        check_cluster_region(ctx, r)?;
    }
    let survival = survival.unwrap_or(SurvivalGoal::Zone);
    if survival == SurvivalGoal::Region && all.len() < MIN_REGIONS_FOR_REGION_SURVIVAL {
        return Err(too_few_regions());
    }
    all.sort();
    let mut db = Catalog::create_database(&ctx.txn, name, &ctx.user)?;
    db.regions = Some(RegionConfig {
        primary,
        regions: all,
        survival,
    });
    Catalog::write_database(&ctx.txn, &db)?;
    Ok(ExecResult::command("CREATE DATABASE"))
}

/// ALTER DATABASE d <region action>.
pub(super) fn alter_database(
    ctx: &ExecContext,
    name: &str,
    action: AlterDatabase,
) -> Result<ExecResult> {
    let mut db = Catalog::must_database(&ctx.txn, name)?;
    let changed = match action {
        AlterDatabase::SetPrimary(r) => set_primary(ctx, &mut db, r)?,
        AlterDatabase::AddRegion {
            region,
            if_not_exists,
        } => add_region(ctx, &mut db, region, if_not_exists)?,
        AlterDatabase::DropRegion { region, if_exists } => {
            drop_region(ctx, &mut db, &region, if_exists)?
        }
        AlterDatabase::Survive(goal) => {
            let rc = db.regions.as_mut().ok_or_else(|| not_multi_region(name))?;
            if goal == SurvivalGoal::Region && rc.regions.len() < MIN_REGIONS_FOR_REGION_SURVIVAL {
                return Err(too_few_regions());
            }
            rc.survival = goal;
            true
        }
    };
    if changed {
        Catalog::write_database(&ctx.txn, &db)?;
        sync_tables(ctx, &db)?;
    }
    Ok(ExecResult::command("ALTER DATABASE"))
}

fn set_primary(ctx: &ExecContext, db: &mut DatabaseDesc, region: String) -> Result<bool> {
    check_cluster_region(ctx, &region)?;
    match &mut db.regions {
        None => {
            // Making a database multi-region: its tables become REGIONAL BY TABLE.
            db.regions = Some(RegionConfig {
                primary: region.clone(),
                regions: vec![region],
                survival: SurvivalGoal::Zone,
            });
        }
        Some(rc) => {
            if !rc.regions.contains(&region) {
                return Err(Error::new(
                    INVALID_NAME,
                    format!("region \"{region}\" has not been added to the database"),
                )
                .with_hint(format!(
                    "you must add the region to the database before setting it as primary \
                     region, using ALTER DATABASE {} ADD REGION \"{region}\"",
                    db.name
                )));
            }
            if rc.primary == region {
                return Ok(false);
            }
            rc.primary = region;
        }
    }
    Ok(true)
}

fn add_region(
    ctx: &ExecContext,
    db: &mut DatabaseDesc,
    region: String,
    if_not_exists: bool,
) -> Result<bool> {
    let name = db.name.clone();
    let Some(rc) = &mut db.regions else {
        return Err(Error::new(
            INVALID_DATABASE_DEFINITION,
            format!("cannot add region \"{region}\" to database {name}"),
        )
        .with_hint(format!(
            "you must add a PRIMARY REGION first using ALTER DATABASE {name} PRIMARY REGION \
             \"{region}\""
        )));
    };
    if rc.regions.contains(&region) {
        if if_not_exists {
            return Ok(false);
        }
        return Err(Error::new(
            code::DUPLICATE_OBJECT,
            format!("region \"{region}\" already added to database"),
        ));
    }
    check_cluster_region(ctx, &region)?;
    rc.regions.push(region);
    rc.regions.sort();
    Ok(true)
}

fn drop_region(
    ctx: &ExecContext,
    db: &mut DatabaseDesc,
    region: &str,
    if_exists: bool,
) -> Result<bool> {
    let name = db.name.clone();
    let Some(rc) = &db.regions else {
        return Err(not_multi_region(&name));
    };
    if !rc.regions.iter().any(|r| r == region) {
        if if_exists {
            return Ok(false);
        }
        return Err(Error::new(
            code::UNDEFINED_OBJECT,
            format!("region \"{region}\" has not been added to the database"),
        ));
    }
    let last = rc.regions.len() == 1;
    if rc.primary == region && !last {
        return Err(Error::new(
            INVALID_DATABASE_DEFINITION,
            format!("cannot drop region \"{region}\""),
        )
        .with_detail(format!(
            "You must designate another region as the primary region using ALTER DATABASE \
             {name} PRIMARY REGION <region name> or remove all other regions before attempting \
             to drop region \"{region}\""
        )));
    }
    if rc.survival == SurvivalGoal::Region && rc.regions.len() <= MIN_REGIONS_FOR_REGION_SURVIVAL {
        return Err(too_few_regions());
    }
    check_region_unused(ctx, db, region, last)?;
    if last {
        db.regions = None;
    } else if let Some(rc) = &mut db.regions {
        rc.regions.retain(|r| r != region);
    }
    Ok(true)
}

/// 2BP01 when a table is homed in `region`, or a REGIONAL BY ROW table has rows there; when
/// `last`, also when any table has a multi-region locality other than the default.
fn check_region_unused(
    ctx: &ExecContext,
    db: &DatabaseDesc,
    region: &str,
    last: bool,
) -> Result<()> {
    for t in Catalog::list_tables_in(&ctx.txn, db.id)? {
        match &t.locality {
            Some(TableLocality::RegionalByTable(Some(r))) if r == region => {
                return Err(Error::new(
                    DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "could not remove region \"{region}\" as it is being used by table \"{}\"",
                        t.name
                    ),
                )
                .with_hint(format!(
                    "change the table's locality first, e.g. ALTER TABLE {} SET LOCALITY \
                     REGIONAL BY TABLE IN PRIMARY REGION",
                    t.name
                )));
            }
            Some(TableLocality::RegionalByRow { column, .. }) => {
                if super::locality::partition_has_rows(ctx, &t, region)? {
                    return Err(Error::new(
                        DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "could not remove enum value \"{region}\" as it is being used by \
                             \"{}\" in row: {column}='{region}'",
                            t.name
                        ),
                    ));
                }
                if last {
                    return Err(last_region_in_use(region, &t.name, "REGIONAL BY ROW"));
                }
            }
            Some(TableLocality::Global) if last => {
                return Err(last_region_in_use(region, &t.name, "GLOBAL"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn last_region_in_use(region: &str, table: &str, locality: &str) -> Error {
    Error::new(
        DEPENDENT_OBJECTS_STILL_EXIST,
        format!("cannot drop region \"{region}\""),
    )
    .with_detail(format!(
        "table \"{table}\" is {locality}; a database without regions cannot hold it"
    ))
    .with_hint(format!(
        "ALTER TABLE {table} SET LOCALITY REGIONAL BY TABLE first"
    ))
}

/// After `db`'s regions changed: rewrites the descriptors whose locality depends on them and
/// every table's span configs.
fn sync_tables(ctx: &ExecContext, db: &DatabaseDesc) -> Result<()> {
    for t in Catalog::list_tables_in(&ctx.txn, db.id)? {
        let locality = match (&db.regions, &t.locality) {
            (None, _) => None,
            (Some(_), None) => Some(TableLocality::RegionalByTable(None)),
            (Some(rc), Some(TableLocality::RegionalByRow { column, .. })) => {
                Some(TableLocality::RegionalByRow {
                    column: column.clone(),
                    regions: rc.regions.clone(),
                })
            }
            (Some(_), Some(l)) => Some(l.clone()),
        };
        if locality != t.locality {
            let mut nt = crate::ddl::next_version(&t);
            nt.locality = locality;
            Catalog::write_table(&ctx.txn, &nt)?;
        }
    }
    // Without regions every table's records are deleted and none written.
    zones::rewrite_database(&ctx.txn, db)?;
    Ok(())
}
