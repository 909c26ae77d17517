//! SHOW REGIONS [FROM CLUSTER | FROM DATABASE [d] | FROM ALL DATABASES], SHOW SURVIVAL GOAL
//! and SHOW ZONE CONFIGURATION, with CockroachDB's result columns.

use super::parse::{object_name, RegionsTarget, ZoneTarget};
use super::{cluster_regions, database_or_current, zones};
use crate::catalog::names::resolve_table_name;
use crate::catalog::{Catalog, DatabaseDesc};
use crate::context::{Column, ExecContext, ExecResult};
use crate::types::{DataType, Datum, Row};
use crate::Result;
use std::collections::{BTreeMap, BTreeSet};
use txn::zone::SpanConfig;

fn text(s: impl Into<String>) -> Datum {
    Datum::Text(s.into())
}

fn text_array<'a>(items: impl IntoIterator<Item = &'a String>) -> Datum {
    Datum::Array(items.into_iter().map(|s| text(s.clone())).collect())
}

fn text_array_type() -> DataType {
    DataType::Array(Box::new(DataType::Text))
}

/// SHOW REGIONS ... .
pub(super) fn show_regions(ctx: &ExecContext, target: &RegionsTarget) -> Result<ExecResult> {
    let cluster = cluster_regions(ctx.txns.as_ref())?;
    let no_zones = BTreeSet::new();
    let zones_of = |r: &str| text_array(cluster.get(r).unwrap_or(&no_zones));
    match target {
        RegionsTarget::Cluster => {
            let rows = cluster
                .iter()
                .map(|(r, z)| vec![text(r), text_array(z)])
                .collect();
            let cols = vec![
                Column::new("region", DataType::Text),
                Column::new("zones", text_array_type()),
            ];
            Ok(ExecResult::rows(cols, rows, "SHOW REGIONS"))
        }
        RegionsTarget::Database(name) => {
            let db = database_or_current(ctx, name.as_deref())?;
            let mut rows: Vec<Row> = Vec::new();
            if let Some(rc) = &db.regions {
                // The primary region first, then the others by name (CockroachDB's order).
                let mut regions: Vec<&String> = rc.regions.iter().collect();
                regions.sort_by_key(|r| (**r != rc.primary, (*r).clone()));
                for r in regions {
                    rows.push(vec![
                        text(&db.name),
                        text(r),
                        Datum::Bool(*r == rc.primary),
                        Datum::Bool(false),
                        zones_of(r),
                    ]);
                }
            }
            let cols = vec![
                Column::new("database", DataType::Text),
                Column::new("region", DataType::Text),
                Column::new("primary", DataType::Bool),
                Column::new("secondary", DataType::Bool),
                Column::new("zones", text_array_type()),
            ];
            Ok(ExecResult::rows(cols, rows, "SHOW REGIONS"))
        }
        RegionsTarget::AllDatabases => {
            let rows = Catalog::list_databases(&ctx.txn)?
                .into_iter()
                .map(|db| database_summary(&db))
                .collect();
            let cols = vec![
                Column::new("database_name", DataType::Text),
                Column::new("regions", text_array_type()),
                Column::new("primary_region", DataType::Text),
                Column::new("secondary_region", DataType::Text),
                Column::new("survival_goal", DataType::Text),
            ];
            Ok(ExecResult::rows(cols, rows, "SHOW REGIONS"))
        }
        RegionsTarget::All => show_all_regions(ctx, &cluster),
    }
}

/// One database's row of SHOW REGIONS FROM ALL DATABASES (and SHOW DATABASES' region
/// columns): name, regions, primary region, secondary region, survival goal.
pub(crate) fn database_summary(db: &DatabaseDesc) -> Row {
    match &db.regions {
        Some(rc) => vec![
            text(&db.name),
            text_array(&rc.regions),
            text(&rc.primary),
            Datum::Null,
            text(rc.survival.as_str()),
        ],
        None => vec![
            text(&db.name),
            Datum::Array(Vec::new()),
            Datum::Null,
            Datum::Null,
            Datum::Null,
        ],
    }
}

/// SHOW REGIONS: every cluster region with the databases using it.
fn show_all_regions(
    ctx: &ExecContext,
    cluster: &BTreeMap<String, BTreeSet<String>>,
) -> Result<ExecResult> {
    let dbs = Catalog::list_databases(&ctx.txn)?;
    let mut rows = Vec::new();
    for (region, zones) in cluster {
        let using: Vec<String> = dbs
            .iter()
            .filter(|d| {
                d.regions
                    .as_ref()
                    .is_some_and(|rc| rc.regions.contains(region))
            })
            .map(|d| d.name.clone())
            .collect();
        let primary_of: Vec<String> = dbs
            .iter()
            .filter(|d| d.regions.as_ref().is_some_and(|rc| &rc.primary == region))
            .map(|d| d.name.clone())
            .collect();
        rows.push(vec![
            text(region),
            text_array(zones),
            text_array(&using),
            text_array(&primary_of),
            Datum::Array(Vec::new()),
        ]);
    }
    let cols = vec![
        Column::new("region", DataType::Text),
        Column::new("zones", text_array_type()),
        Column::new("database_names", text_array_type()),
        Column::new("primary_region_of", text_array_type()),
        Column::new("secondary_region_of", text_array_type()),
    ];
    Ok(ExecResult::rows(cols, rows, "SHOW REGIONS"))
}

/// SHOW SURVIVAL GOAL FROM DATABASE [d]: `zone`, `region`, or NULL without regions.
pub(super) fn show_survival_goal(ctx: &ExecContext, name: Option<&str>) -> Result<ExecResult> {
    let db = database_or_current(ctx, name)?;
    let goal = db
        .regions
        .as_ref()
        .map_or(Datum::Null, |rc| text(rc.survival.as_str()));
    let cols = vec![
        Column::new("database", DataType::Text),
        Column::new("survival_goal", DataType::Text),
    ];
    Ok(ExecResult::rows(
        cols,
        vec![vec![text(&db.name), goal]],
        "SHOW SURVIVAL GOAL",
    ))
}

/// CockroachDB's `raw_config_sql` text for a config applied to `target` (`TABLE t`).
pub(crate) fn raw_config_sql(target: &str, c: &SpanConfig) -> String {
    let mut lines = Vec::new();
    if c.global_reads {
        lines.push("global_reads = true".to_string());
    }
    lines.push(format!("num_replicas = {}", c.num_replicas));
    lines.push(format!("num_voters = {}", c.num_voters));
    lines.push(format!(
        "constraints = '{}'",
        zones::constraints_text(&c.constraints)
    ));
    lines.push(format!(
        "voter_constraints = '{}'",
        zones::voter_constraints_text(c)
    ));
    lines.push(format!(
        "lease_preferences = '{}'",
        zones::lease_preferences_text(c)
    ));
    format!(
        "ALTER {target} CONFIGURE ZONE USING\n\t{}",
        lines.join(",\n\t")
    )
}

/// The default zone's text (spans without a record: three voters anywhere).
fn default_config_sql() -> String {
    "ALTER RANGE default CONFIGURE ZONE USING\n\tnum_replicas = 3,\n\tconstraints = '[]',\n\t\
     lease_preferences = '[]'"
        .to_string()
}

fn zone_columns() -> Vec<Column> {
    vec![
        Column::new("target", DataType::Text),
        Column::new("raw_config_sql", DataType::Text),
    ]
}

/// SHOW ZONE CONFIGURATION FROM TABLE t | FROM DATABASE d, and SHOW ZONE CONFIGURATIONS
/// (every table record and every REGIONAL BY ROW partition record).
pub(super) fn show_zone(ctx: &ExecContext, target: &ZoneTarget) -> Result<ExecResult> {
    let rows = match target {
        ZoneTarget::Table(parts) => {
            let n = resolve_table_name(&object_name(parts), &ctx.database)?;
            let t = Catalog::must_table(&ctx.txn, &n.database, &n.name)?;
            let start = kv::keys::table_prefix(t.id);
            let end = kv::keys::prefix_end(&start).unwrap_or_default();
            let target = format!("TABLE {}.public.{}", n.database, t.name);
            let records = zones::read_records(&ctx.txn, &start, &end)?;
            match records.iter().find(|(s, _)| *s == start) {
                Some((_, c)) => vec![vec![text(&target), text(raw_config_sql(&target, c))]],
                None => vec![vec![text("RANGE default"), text(default_config_sql())]],
            }
        }
        ZoneTarget::Database(name) => {
            let db = Catalog::must_database(&ctx.txn, name)?;
            match &db.regions {
                Some(rc) => {
                    let c = zones::config_for(rc, &rc.primary, Vec::new(), false);
                    let target = format!("DATABASE {}", db.name);
                    vec![vec![text(&target), text(raw_config_sql(&target, &c))]]
                }
                None => vec![vec![text("RANGE default"), text(default_config_sql())]],
            }
        }
        ZoneTarget::All => all_zones(ctx)?,
    };
    Ok(ExecResult::rows(
        zone_columns(),
        rows,
        "SHOW ZONE CONFIGURATION",
    ))
}

fn all_zones(ctx: &ExecContext) -> Result<Vec<Row>> {
    let mut rows = vec![vec![text("RANGE default"), text(default_config_sql())]];
    for db in Catalog::list_databases(&ctx.txn)? {
        if db.regions.is_none() {
            continue;
        }
        for t in Catalog::list_tables_in(&ctx.txn, db.id)? {
            let start = kv::keys::table_prefix(t.id);
            let end = kv::keys::prefix_end(&start).unwrap_or_default();
            for (s, c) in zones::read_records(&ctx.txn, &start, &end)? {
                let target = if s == start {
                    format!("TABLE {}.public.{}", db.name, t.name)
                } else {
                    partition_target(&db.name, &t, &s, &c)
                };
                rows.push(vec![text(&target), text(raw_config_sql(&target, &c))]);
            }
        }
    }
    Ok(rows)
}

/// `PARTITION "r" OF INDEX db.public.t@idx` for a REGIONAL BY ROW partition record.
fn partition_target(
    db: &str,
    t: &crate::catalog::TableDesc,
    start: &[u8],
    c: &SpanConfig,
) -> String {
    let index = t
        .all_indexes()
        .find(|i| start.starts_with(&kv::keys::index_prefix(t.id, i.id)))
        .map_or("?", |i| i.name.as_str());
    let region = c.lease_preferences.first().map_or("?", String::as_str);
    format!(
        "PARTITION \"{region}\" OF INDEX {db}.public.{}@{index}",
        t.name
    )
}
