//! Rows of the information_schema tables.

use super::pg_catalog::{constraints, tables};
use super::schema::{RowBuilder, TableSpec};
use crate::catalog::Catalog;
use crate::context::ExecContext;
use crate::types::{DataType, Datum};
use crate::Result;

pub(super) fn rows(ctx: &ExecContext, spec: &TableSpec) -> Result<Vec<RowBuilder>> {
    Ok(match spec.name {
        "schemata" => schemata(ctx)?,
        "tables" => tables(ctx)?
            .into_iter()
            .map(|t| {
                RowBuilder::new()
                    .text("table_catalog", ctx.database.clone())
                    .text("table_schema", "public")
                    .text("table_name", t.name.clone())
                    .text("table_type", "BASE TABLE")
                    .text("is_insertable_into", "YES")
                    .text("is_typed", "NO")
            })
            .collect(),
        "columns" => columns(ctx)?,
        "table_constraints" => table_constraints(ctx)?,
        "key_column_usage" => key_column_usage(ctx)?,
        "character_sets" => vec![RowBuilder::new()
            .text("character_set_name", "UTF8")
            .text("character_repertoire", "UCS")
            .text("form_of_use", "UTF8")
            .text("default_collate_catalog", ctx.database.clone())],
        _ => Vec::new(),
    })
}

fn schemata(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for db in Catalog::list_databases(&ctx.txn)? {
        if db.name != ctx.database {
            continue;
        }
        for s in ["information_schema", "pg_catalog", "public"] {
            out.push(
                RowBuilder::new()
                    .text("catalog_name", db.name.clone())
                    .text("schema_name", s)
                    .text("schema_owner", ctx.user.clone()),
            );
        }
    }
    Ok(out)
}

/// information_schema's data_type spelling.
fn info_type(ty: &DataType) -> &'static str {
    match ty {
        DataType::Varchar(_) => "character varying",
        DataType::Char(_) => "character",
        DataType::Numeric(_) => "numeric",
        other => other.pg_base_name(),
    }
}

fn columns(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        let mut ordinal = 0;
        for c in t.columns.iter().filter(|c| !c.hidden) {
            ordinal += 1;
            let (char_len, num_prec, num_scale, radix) = match &c.ty {
                DataType::Varchar(Some(n)) | DataType::Char(n) => {
                    (Some(*n as i64), None, None, None)
                }
                DataType::Int2 => (None, Some(16), Some(0), Some(2)),
                DataType::Int4 => (None, Some(32), Some(0), Some(2)),
                DataType::Int8 => (None, Some(64), Some(0), Some(2)),
                DataType::Float4 => (None, Some(24), None, Some(2)),
                DataType::Float8 => (None, Some(53), None, Some(2)),
                DataType::Numeric(Some((p, s))) => {
                    (None, Some(*p as i64), Some(*s as i64), Some(10))
                }
                DataType::Numeric(None) => (None, None, None, Some(10)),
                _ => (None, None, None, None),
            };
            let opt = |v: Option<i64>| v.map(Datum::Int).unwrap_or(Datum::Null);
            out.push(
                RowBuilder::new()
                    .text("table_catalog", ctx.database.clone())
                    .text("table_schema", "public")
                    .text("table_name", t.name.clone())
                    .text("column_name", c.name.clone())
                    .int("ordinal_position", ordinal)
                    .set(
                        "column_default",
                        c.default_expr
                            .clone()
                            .map(Datum::Text)
                            .unwrap_or(Datum::Null),
                    )
                    .text("is_nullable", if c.nullable { "YES" } else { "NO" })
                    .text("data_type", info_type(&c.ty))
                    .set("character_maximum_length", opt(char_len))
                    .set("numeric_precision", opt(num_prec))
                    .set("numeric_precision_radix", opt(radix))
                    .set("numeric_scale", opt(num_scale))
                    .set("character_octet_length", Datum::Null)
                    .set("ordinal_position", Datum::Int(ordinal))
                    .set("numeric_precision", opt(num_prec))
                    .set(
                        "datetime_precision",
                        if c.ty.is_datetime() {
                            Datum::Int(6)
                        } else {
                            Datum::Null
                        },
                    )
                    .set("interval_precision", Datum::Null)
                    .set("maximum_cardinality", Datum::Null)
                    .text("udt_catalog", ctx.database.clone())
                    .text("udt_schema", "pg_catalog")
                    .text("udt_name", c.ty.pg_typname())
                    .text("dtd_identifier", ordinal.to_string())
                    .text("is_self_referencing", "NO")
                    .text("is_identity", "NO")
                    .text("is_generated", "NEVER")
                    .text("is_updatable", "YES"),
            );
        }
    }
    Ok(out)
}

fn table_constraints(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        for c in constraints(&t) {
            let kind = match c.kind {
                'p' => "PRIMARY KEY",
                'u' => "UNIQUE",
                _ => "CHECK",
            };
            out.push(
                RowBuilder::new()
                    .text("constraint_catalog", ctx.database.clone())
                    .text("constraint_schema", "public")
                    .text("constraint_name", c.name.clone())
                    .text("table_catalog", ctx.database.clone())
                    .text("table_schema", "public")
                    .text("table_name", t.name.clone())
                    .text("constraint_type", kind)
                    .text("is_deferrable", "NO")
                    .text("initially_deferred", "NO")
                    .text("enforced", "YES"),
            );
        }
    }
    Ok(out)
}

fn key_column_usage(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        for c in constraints(&t).into_iter().filter(|c| c.kind != 'c') {
            for (k, pos) in c.cols.iter().enumerate() {
                let Some(col) = t.columns.get(*pos) else {
                    continue;
                };
                out.push(
                    RowBuilder::new()
                        .text("constraint_catalog", ctx.database.clone())
                        .text("constraint_schema", "public")
                        .text("constraint_name", c.name.clone())
                        .text("table_catalog", ctx.database.clone())
                        .text("table_schema", "public")
                        .text("table_name", t.name.clone())
                        .text("column_name", col.name.clone())
                        .int("ordinal_position", k as i64 + 1)
                        .set("position_in_unique_constraint", Datum::Null),
                );
            }
        }
    }
    Ok(out)
}
