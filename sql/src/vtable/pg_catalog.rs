//! Rows of the pg_catalog tables.

use super::oids;
use super::schema::{RowBuilder, TableSpec};
use crate::catalog::{Catalog, TableDesc};
use crate::context::ExecContext;
use crate::session::vars::Vars;
use crate::types::Datum;
use crate::Result;
use std::sync::Arc;

/// A builtin type as pg_type lists it: (oid, typname, typlen, typbyval, typcategory, array oid).
pub(super) const TYPES: &[(i64, &str, i64, bool, &str, i64)] = &[
    (16, "bool", 1, true, "B", 1000),
    (17, "bytea", -1, false, "U", 1001),
    (18, "char", 1, true, "Z", 1002),
    (19, "name", 64, false, "S", 1003),
    (20, "int8", 8, true, "N", 1016),
    (21, "int2", 2, true, "N", 1005),
    (22, "int2vector", -1, false, "A", 1006),
    (23, "int4", 4, true, "N", 1007),
    (24, "regproc", 4, true, "N", 1008),
    (25, "text", -1, false, "S", 1009),
    (26, "oid", 4, true, "N", 1028),
    (30, "oidvector", -1, false, "A", 1013),
    (114, "json", -1, false, "U", 199),
    (700, "float4", 4, true, "N", 1021),
    (701, "float8", 8, true, "N", 1022),
    (705, "unknown", -2, false, "X", 0),
    (1042, "bpchar", -1, false, "S", 1014),
    (1043, "varchar", -1, false, "S", 1015),
    (1082, "date", 4, true, "D", 1182),
    (1083, "time", 8, true, "D", 1183),
    (1114, "timestamp", 8, true, "D", 1115),
    (1184, "timestamptz", 8, true, "D", 1185),
    (1186, "interval", 16, false, "T", 1187),
    (1700, "numeric", -1, false, "N", 1231),
    (2205, "regclass", 4, true, "N", 2210),
    (2206, "regtype", 4, true, "N", 2211),
    (2950, "uuid", 16, false, "U", 2951),
    (3802, "jsonb", -1, false, "U", 3807),
];

/// A table's constraints in OID order: primary key, unique indexes, checks.
pub(super) struct ConInfo {
    pub name: String,
    /// 'p', 'u' or 'c'.
    pub kind: char,
    /// Index number (0 = primary) for 'p'/'u'.
    pub index: Option<usize>,
    /// Column positions.
    pub cols: Vec<usize>,
    /// CHECK expression text.
    pub expr: Option<String>,
}

/// Whether the primary index is only the hidden rowid (not shown to PostgreSQL tools).
pub(super) fn primary_is_hidden(t: &TableDesc) -> bool {
    t.primary
        .columns
        .iter()
        .all(|(pos, _)| t.columns.get(*pos).is_none_or(|c| c.hidden))
}

/// The table's indexes as (number, desc), primary first, hidden primary skipped.
pub(super) fn indexes(t: &TableDesc) -> Vec<(usize, &crate::catalog::IndexDesc)> {
    let mut out = Vec::new();
    if !primary_is_hidden(t) {
        out.push((0, &t.primary));
    }
    out.extend(t.indexes.iter().enumerate().map(|(i, ix)| (i + 1, ix)));
    out
}

/// See [`ConInfo`].
pub(super) fn constraints(t: &TableDesc) -> Vec<ConInfo> {
    let mut out = Vec::new();
    for (n, ix) in indexes(t) {
        if n == 0 || ix.unique {
            out.push(ConInfo {
                name: ix.name.clone(),
                kind: if n == 0 { 'p' } else { 'u' },
                index: Some(n),
                cols: ix.columns.iter().map(|(p, _)| *p).collect(),
                expr: None,
            });
        }
    }
    for c in &t.checks {
        out.push(ConInfo {
            name: c.name.clone(),
            kind: 'c',
            index: None,
            cols: Vec::new(),
            expr: Some(c.expr.clone()),
        });
    }
    out
}

/// The tables of the current database.
pub(super) fn tables(ctx: &ExecContext) -> Result<Vec<Arc<TableDesc>>> {
    Catalog::list_tables(&ctx.txn, &ctx.database)
}

fn namespace_of(_t: &TableDesc) -> i64 {
    oids::PUBLIC_NAMESPACE
}

pub(super) fn rows(ctx: &ExecContext, spec: &TableSpec) -> Result<Vec<RowBuilder>> {
    Ok(match spec.name {
        "pg_namespace" => namespaces(),
        "pg_class" => pg_class(ctx)?,
        "pg_attribute" => pg_attribute(ctx)?,
        "pg_type" => pg_type(),
        "pg_index" => pg_index(ctx)?,
        "pg_indexes" => pg_indexes(ctx)?,
        "pg_database" => pg_database(ctx)?,
        "pg_settings" => pg_settings(ctx),
        "pg_attrdef" => pg_attrdef(ctx)?,
        "pg_constraint" => pg_constraint(ctx)?,
        "pg_am" => vec![
            RowBuilder::new()
                .int("oid", oids::HEAP_AM)
                .text("amname", "heap")
                .text("amhandler", "heap_tableam_handler")
                .text("amtype", "t"),
            RowBuilder::new()
                .int("oid", oids::BTREE_AM)
                .text("amname", "btree")
                .text("amhandler", "bthandler")
                .text("amtype", "i"),
        ],
        "pg_roles" | "pg_authid" => vec![role_row(ctx)],
        "pg_user" => vec![RowBuilder::new()
            .text("usename", ctx.user.clone())
            .int("usesysid", oids::ROOT_USER)
            .bool("usecreatedb", true)
            .bool("usesuper", true)
            .bool("userepl", true)
            .bool("usebypassrls", true)
            .text("passwd", "********")],
        "pg_tables" => pg_tables(ctx)?,
        "pg_tablespace" => vec![
            RowBuilder::new()
                .int("oid", oids::DEFAULT_TABLESPACE)
                .text("spcname", "pg_default")
                .int("spcowner", oids::ROOT_USER),
            RowBuilder::new()
                .int("oid", 1664)
                .text("spcname", "pg_global")
                .int("spcowner", oids::ROOT_USER),
        ],
        "pg_collation" => vec![
            RowBuilder::new()
                .int("oid", 100)
                .text("collname", "default")
                .int("collnamespace", oids::PG_CATALOG_NAMESPACE)
                .int("collowner", oids::ROOT_USER)
                .text("collprovider", "d")
                .bool("collisdeterministic", true)
                .int("collencoding", -1),
            RowBuilder::new()
                .int("oid", 950)
                .text("collname", "C")
                .int("collnamespace", oids::PG_CATALOG_NAMESPACE)
                .int("collowner", oids::ROOT_USER)
                .text("collprovider", "c")
                .bool("collisdeterministic", true)
                .int("collencoding", -1)
                .text("collcollate", "C")
                .text("collctype", "C"),
        ],
        "pg_stat_activity" => vec![RowBuilder::new()
            .text("datname", ctx.database.clone())
            .text("usename", ctx.user.clone())
            .int("usesysid", oids::ROOT_USER)
            .text("state", "active")
            .text("backend_type", "client backend")],
        // Objects Meridian does not have.
        _ => Vec::new(),
    })
}

fn namespaces() -> Vec<RowBuilder> {
    [
        (oids::PG_CATALOG_NAMESPACE, "pg_catalog"),
        (oids::PUBLIC_NAMESPACE, "public"),
        (oids::INFORMATION_SCHEMA_NAMESPACE, "information_schema"),
    ]
    .into_iter()
    .map(|(oid, name)| {
        RowBuilder::new()
            .int("oid", oid)
            .text("nspname", name)
            .int("nspowner", oids::ROOT_USER)
    })
    .collect()
}

fn pg_class(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        let visible = t.columns.iter().filter(|c| !c.hidden).count();
        let base = || {
            RowBuilder::new()
                .int("relnamespace", namespace_of(&t))
                .int("relowner", oids::ROOT_USER)
                .text("relpersistence", "p")
                .text("relreplident", "d")
                .bool("relispopulated", true)
                .float_default()
        };
        let idx = indexes(&t);
        out.push(
            base()
                .int("oid", oids::table(t.id))
                .text("relname", t.name.clone())
                .int("reltype", oids::row_type(t.id))
                .int("relam", oids::HEAP_AM)
                .int("relfilenode", oids::table(t.id))
                .text("relkind", "r")
                .int("relnatts", visible as i64)
                .int("relchecks", t.checks.len() as i64)
                .bool("relhasindex", !idx.is_empty()),
        );
        for (n, ix) in idx {
            out.push(
                base()
                    .int("oid", oids::index(t.id, n))
                    .text("relname", ix.name.clone())
                    .int("relam", oids::BTREE_AM)
                    .int("relfilenode", oids::index(t.id, n))
                    .text("relkind", "i")
                    .int("relnatts", ix.columns.len() as i64),
            );
        }
    }
    Ok(out)
}

trait FloatDefault {
    fn float_default(self) -> Self;
}

impl FloatDefault for RowBuilder {
    /// reltuples = -1: "never analyzed", as PostgreSQL reports for a new table.
    fn float_default(self) -> Self {
        self.set("reltuples", Datum::Float(-1.0))
    }
}

fn pg_attribute(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        let defaults: Vec<bool> = t.columns.iter().map(|c| c.default_expr.is_some()).collect();
        for (pos, c) in t.columns.iter().enumerate() {
            if c.hidden {
                continue;
            }
            out.push(
                RowBuilder::new()
                    .int("attrelid", oids::table(t.id))
                    .text("attname", c.name.clone())
                    .int("atttypid", c.ty.oid() as i64)
                    .int("attstattarget", -1)
                    .int("attlen", c.ty.typlen() as i64)
                    .int("attnum", pos as i64 + 1)
                    .int("attcacheoff", -1)
                    .int("atttypmod", c.ty.typmod() as i64)
                    .bool("attbyval", c.ty.typlen() > 0 && c.ty.typlen() <= 8)
                    .text("attalign", "i")
                    .text("attstorage", if c.ty.typlen() > 0 { "p" } else { "x" })
                    .text("attcompression", "")
                    .bool("attnotnull", !c.nullable)
                    .bool("atthasdef", defaults[pos])
                    .text("attidentity", "")
                    .text("attgenerated", "")
                    .bool("attislocal", true)
                    .int("attcollation", if c.ty.is_string() { 100 } else { 0 }),
            );
        }
        for (n, ix) in indexes(&t) {
            for (k, (pos, _)) in ix.columns.iter().enumerate() {
                let Some(c) = t.columns.get(*pos) else {
                    continue;
                };
                out.push(
                    RowBuilder::new()
                        .int("attrelid", oids::index(t.id, n))
                        .text("attname", c.name.clone())
                        .int("atttypid", c.ty.oid() as i64)
                        .int("attlen", c.ty.typlen() as i64)
                        .int("attnum", k as i64 + 1)
                        .int("atttypmod", c.ty.typmod() as i64)
                        .text("attidentity", "")
                        .text("attgenerated", "")
                        .bool("attislocal", true),
                );
            }
        }
    }
    Ok(out)
}

fn pg_type() -> Vec<RowBuilder> {
    let mut out = Vec::new();
    for &(oid, name, len, byval, cat, array) in TYPES {
        let row = RowBuilder::new()
            .int("oid", oid)
            .text("typname", name)
            .int("typnamespace", oids::PG_CATALOG_NAMESPACE)
            .int("typowner", oids::ROOT_USER)
            .int("typlen", len)
            .bool("typbyval", byval)
            .text("typtype", "b")
            .text("typcategory", cat)
            .bool("typisdefined", true)
            .text("typdelim", ",")
            .int("typarray", array)
            .text("typinput", format!("{name}in"))
            .text("typoutput", format!("{name}out"))
            .text("typreceive", format!("{name}recv"))
            .text("typsend", format!("{name}send"))
            .text("typmodin", "-")
            .text("typmodout", "-")
            .text("typanalyze", "-")
            .text("typalign", if len == 8 { "d" } else { "i" })
            .text("typstorage", if len > 0 { "p" } else { "x" })
            .int("typtypmod", -1)
            .int("typcollation", if cat == "S" { 100 } else { 0 });
        out.push(row);
        if array != 0 {
            out.push(
                RowBuilder::new()
                    .int("oid", array)
                    .text("typname", format!("_{name}"))
                    .int("typnamespace", oids::PG_CATALOG_NAMESPACE)
                    .int("typowner", oids::ROOT_USER)
                    .int("typlen", -1)
                    .text("typtype", "b")
                    .text("typcategory", "A")
                    .bool("typisdefined", true)
                    .text("typdelim", ",")
                    .int("typelem", oid)
                    .text("typinput", "array_in")
                    .text("typoutput", "array_out")
                    .text("typreceive", "array_recv")
                    .text("typsend", "array_send")
                    .text("typmodin", "-")
                    .text("typmodout", "-")
                    .text("typanalyze", "array_typanalyze")
                    .text("typalign", "i")
                    .text("typstorage", "x")
                    .int("typtypmod", -1),
            );
        }
    }
    out
}

fn pg_index(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        for (n, ix) in indexes(&t) {
            let key: Vec<String> = ix
                .columns
                .iter()
                .map(|(p, _)| (p + 1).to_string())
                .collect();
            let options: Vec<&str> = ix
                .columns
                .iter()
                .map(|(_, d)| {
                    if *d == kv::encoding::Direction::Desc {
                        "3"
                    } else {
                        "0"
                    }
                })
                .collect();
            out.push(
                RowBuilder::new()
                    .int("indexrelid", oids::index(t.id, n))
                    .int("indrelid", oids::table(t.id))
                    .int("indnatts", ix.columns.len() as i64)
                    .int("indnkeyatts", ix.columns.len() as i64)
                    .bool("indisunique", n == 0 || ix.unique)
                    .bool("indisprimary", n == 0)
                    .bool("indimmediate", true)
                    .bool("indisvalid", true)
                    .bool("indisready", true)
                    .bool("indislive", true)
                    .text("indkey", key.join(" "))
                    .text("indcollation", vec!["0"; ix.columns.len()].join(" "))
                    .text("indclass", vec!["0"; ix.columns.len()].join(" "))
                    .text("indoption", options.join(" ")),
            );
        }
    }
    Ok(out)
}

fn pg_indexes(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        for (n, ix) in indexes(&t) {
            out.push(
                RowBuilder::new()
                    .text("schemaname", "public")
                    .text("tablename", t.name.clone())
                    .text("indexname", ix.name.clone())
                    .text("indexdef", super::functions::index_def(&t, n, ix)),
            );
        }
    }
    Ok(out)
}

fn pg_database(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    Ok(Catalog::list_databases(&ctx.txn)?
        .into_iter()
        .map(|d| {
            RowBuilder::new()
                .int("oid", oids::database(d.id))
                .text("datname", d.name.clone())
                .int("datdba", oids::ROOT_USER)
                .int("encoding", 6)
                .text("datlocprovider", "c")
                .bool("datallowconn", true)
                .int("datconnlimit", -1)
                .int("dattablespace", oids::DEFAULT_TABLESPACE)
                .text("datcollate", "C.UTF-8")
                .text("datctype", "C.UTF-8")
        })
        .collect())
}

fn pg_settings(ctx: &ExecContext) -> Vec<RowBuilder> {
    Vars::new(&ctx.user, &ctx.database)
        .all()
        .into_iter()
        .map(|s| {
            RowBuilder::new()
                .text("name", s.name)
                .text("setting", s.value.clone())
                .text("category", "Meridian")
                .text("short_desc", s.description)
                .text("context", "user")
                .text("vartype", "string")
                .text("source", "default")
                .text("boot_val", s.value.clone())
                .text("reset_val", s.value)
        })
        .collect()
}

fn pg_attrdef(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        for (pos, c) in t.columns.iter().enumerate() {
            if let (Some(def), false) = (&c.default_expr, c.hidden) {
                out.push(
                    RowBuilder::new()
                        .int("oid", oids::table(t.id) + 900 + pos as i64)
                        .int("adrelid", oids::table(t.id))
                        .int("adnum", pos as i64 + 1)
                        .text("adbin", def.clone()),
                );
            }
        }
    }
    Ok(out)
}

fn pg_constraint(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    let mut out = Vec::new();
    for t in tables(ctx)? {
        for (k, con) in constraints(&t).into_iter().enumerate() {
            let key: Vec<String> = con.cols.iter().map(|p| (p + 1).to_string()).collect();
            out.push(
                RowBuilder::new()
                    .int("oid", oids::constraint(t.id, k))
                    .text("conname", con.name.clone())
                    .int("connamespace", namespace_of(&t))
                    .text("contype", con.kind.to_string())
                    .bool("convalidated", true)
                    .int("conrelid", oids::table(t.id))
                    .int(
                        "conindid",
                        con.index.map(|n| oids::index(t.id, n)).unwrap_or(0),
                    )
                    .text("confupdtype", " ")
                    .text("confdeltype", " ")
                    .text("confmatchtype", " ")
                    .bool("conislocal", true)
                    .bool("connoinherit", true)
                    .set(
                        "conkey",
                        if key.is_empty() {
                            Datum::Null
                        } else {
                            Datum::Array(
                                key.iter()
                                    .map(|k| k.parse().map_or(Datum::Null, Datum::Int))
                                    .collect(),
                            )
                        },
                    )
                    .set("conbin", con.expr.map(Datum::Text).unwrap_or(Datum::Null)),
            );
        }
    }
    Ok(out)
}

fn role_row(ctx: &ExecContext) -> RowBuilder {
    RowBuilder::new()
        .int("oid", oids::ROOT_USER)
        .text("rolname", ctx.user.clone())
        .bool("rolsuper", true)
        .bool("rolinherit", true)
        .bool("rolcreaterole", true)
        .bool("rolcreatedb", true)
        .bool("rolcanlogin", true)
        .bool("rolreplication", true)
        .bool("rolbypassrls", true)
        .int("rolconnlimit", -1)
        .text("rolpassword", "********")
}

fn pg_tables(ctx: &ExecContext) -> Result<Vec<RowBuilder>> {
    Ok(tables(ctx)?
        .into_iter()
        .map(|t| {
            RowBuilder::new()
                .text("schemaname", "public")
                .text("tablename", t.name.clone())
                .text("tableowner", ctx.user.clone())
                .bool("hasindexes", !indexes(&t).is_empty())
        })
        .collect())
}
