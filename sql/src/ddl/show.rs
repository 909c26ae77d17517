//! SHOW TABLES, SHOW COLUMNS, SHOW CREATE TABLE, SHOW DATABASES and SHOW INDEXES, with
//! CockroachDB's result columns (so CockroachDB users and tools see what they expect).

use crate::catalog::names::{name_parts, resolve_table_name, PUBLIC_SCHEMA};
use crate::catalog::{Catalog, TableDesc};
use crate::context::{Column, ExecContext, ExecResult};
use crate::error::code;
use crate::types::{DataType, Datum, Row};
use crate::{Error, Result};
use kv::encoding::Direction;
use sqlparser::ast::{Ident, ObjectName, ShowCreateObject, ShowStatementOptions};

fn text(s: impl Into<String>) -> Datum {
    Datum::Text(s.into())
}

fn opt_text(s: Option<&str>) -> Datum {
    s.map_or(Datum::Null, |s| Datum::Text(s.to_string()))
}

fn columns(spec: &[(&str, DataType)]) -> Vec<Column> {
    spec.iter()
        .map(|(n, t)| Column::new(*n, t.clone()))
        .collect()
}

fn show_in_name(opts: &ShowStatementOptions) -> Option<&ObjectName> {
    opts.show_in.as_ref().and_then(|s| s.parent_name.as_ref())
}

/// SHOW TABLES [FROM db | FROM db.public | FROM public].
pub(super) fn show_tables(ctx: &ExecContext, opts: &ShowStatementOptions) -> Result<ExecResult> {
    let database = match show_in_name(opts) {
        None => ctx.database.clone(),
        Some(n) => {
            let parts = name_parts(n)?;
            match parts.as_slice() {
                [s] if s == PUBLIC_SCHEMA => ctx.database.clone(),
                [d] => d.clone(),
                [d, s] if s == PUBLIC_SCHEMA => d.clone(),
                [_, s] => {
                    return Err(Error::new(
                        code::INVALID_SCHEMA_NAME,
                        format!("schema \"{s}\" does not exist"),
                    ))
                }
                _ => return Err(Error::syntax(format!("invalid name: {n}"))),
            }
        }
    };
    Catalog::must_database(&ctx.txn, &database)?;
    let rows: Vec<Row> = Catalog::list_tables(&ctx.txn, &database)?
        .iter()
        .map(|t| {
            vec![
                text(PUBLIC_SCHEMA),
                text(&t.name),
                text("table"),
                text(&t.owner),
                Datum::Null,
                Datum::Null,
            ]
        })
        .collect();
    let cols = columns(&[
        ("schema_name", DataType::Text),
        ("table_name", DataType::Text),
        ("type", DataType::Text),
        ("owner", DataType::Text),
        ("estimated_row_count", DataType::Int8),
        ("locality", DataType::Text),
    ]);
    Ok(ExecResult::rows(cols, rows, "SHOW TABLES"))
}

fn show_table(ctx: &ExecContext, name: &ObjectName) -> Result<std::sync::Arc<TableDesc>> {
    let n = resolve_table_name(name, &ctx.database)?;
    Catalog::must_table(&ctx.txn, &n.database, &n.name)
}

/// SHOW COLUMNS FROM t.
pub(super) fn show_columns(ctx: &ExecContext, opts: &ShowStatementOptions) -> Result<ExecResult> {
    let name =
        show_in_name(opts).ok_or_else(|| Error::syntax("SHOW COLUMNS requires FROM <table>"))?;
    let t = show_table(ctx, name)?;
    let pk_cols: Vec<usize> = t.primary.columns.iter().map(|(p, _)| *p).collect();
    let rows: Vec<Row> = t
        .columns
        .iter()
        .enumerate()
        .map(|(pos, c)| {
            let indices: Vec<&str> = t
                .all_indexes()
                .filter(|i| {
                    i.id == t.primary.id
                        || pk_cols.contains(&pos)
                        || i.columns.iter().any(|(p, _)| *p == pos)
                })
                .map(|i| i.name.as_str())
                .collect();
            let ty = if t.row_partitioning().is_some_and(|(p, _)| p == pos) {
                crate::multiregion::REGION_TYPE_NAME.to_string()
            } else {
                c.ty.sql_name()
            };
            vec![
                text(&c.name),
                text(ty),
                Datum::Bool(c.nullable),
                opt_text(c.default_expr.as_deref()),
                text(""),
                text(format!("{{{}}}", indices.join(","))),
                Datum::Bool(c.hidden),
            ]
        })
        .collect();
    let cols = columns(&[
        ("column_name", DataType::Text),
        ("data_type", DataType::Text),
        ("is_nullable", DataType::Bool),
        ("column_default", DataType::Text),
        ("generation_expression", DataType::Text),
        ("indices", DataType::Text),
        ("is_hidden", DataType::Bool),
    ]);
    Ok(ExecResult::rows(cols, rows, "SHOW COLUMNS"))
}

/// SHOW CREATE TABLE t.
pub(super) fn show_create(
    ctx: &ExecContext,
    kind: &ShowCreateObject,
    name: &ObjectName,
) -> Result<ExecResult> {
    if !matches!(kind, ShowCreateObject::Table) {
        return Err(Error::unsupported(format!(
            "SHOW CREATE {kind} is not supported"
        )));
    }
    let t = show_table(ctx, name)?;
    let cols = columns(&[
        ("table_name", DataType::Text),
        ("create_statement", DataType::Text),
    ]);
    let row = vec![text(&t.name), text(create_statement(&t))];
    Ok(ExecResult::rows(cols, vec![row], "SHOW CREATE"))
}

/// Keywords that must be quoted when used as identifiers.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// An identifier as SQL: bare when it is a lower-case non-keyword, else double-quoted.
pub fn quote_ident(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn key_list(t: &TableDesc, cols: &[(usize, Direction)]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|(p, d)| {
            let name = t
                .columns
                .get(*p)
                .map_or("?".to_string(), |c| quote_ident(&c.name));
            let dir = if *d == Direction::Asc { "ASC" } else { "DESC" };
            format!("{name} {dir}")
        })
        .collect();
    parts.join(", ")
}

/// CockroachDB's SHOW CREATE TABLE text.
pub fn create_statement(t: &TableDesc) -> String {
    let mut lines: Vec<String> = Vec::new();
    let region_col = t.row_partitioning().map(|(p, _)| p);
    for (pos, c) in t.columns.iter().enumerate() {
        let ty = if Some(pos) == region_col {
            crate::multiregion::REGION_TYPE_NAME.to_string()
        } else {
            c.ty.sql_name()
        };
        let mut l = format!("{} {}", quote_ident(&c.name), ty);
        if c.hidden {
            l.push_str(" NOT VISIBLE");
        }
        l.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
        if let Some(d) = &c.default_expr {
            l.push_str(&format!(" DEFAULT {d}"));
            if Some(pos) == region_col {
                l.push_str(&format!("::{}", crate::multiregion::REGION_TYPE_NAME));
            }
        }
        lines.push(l);
    }
    lines.push(format!(
        "CONSTRAINT {} PRIMARY KEY ({})",
        quote_ident(&t.primary.name),
        key_list(t, user_columns(t, &t.primary.columns))
    ));
    for i in &t.indexes {
        let kind = if i.unique { "UNIQUE INDEX" } else { "INDEX" };
        lines.push(format!(
            "{kind} {} ({})",
            quote_ident(&i.name),
            key_list(t, user_columns(t, &i.columns))
        ));
    }
    for c in &t.checks {
        lines.push(format!(
            "CONSTRAINT {} CHECK ({})",
            quote_ident(&c.name),
            c.expr
        ));
    }
    format!(
        "CREATE TABLE {}.{} (\n\t{}\n){}",
        PUBLIC_SCHEMA,
        quote_ident(&t.name),
        lines.join(",\n\t"),
        locality_clause(t)
    )
}

/// An index's key columns without the implicit region column of a REGIONAL BY ROW table.
fn user_columns<'a>(t: &TableDesc, cols: &'a [(usize, Direction)]) -> &'a [(usize, Direction)] {
    match (t.row_partitioning(), cols.split_first()) {
        (Some((pos, _)), Some((first, rest))) if first.0 == pos && !rest.is_empty() => rest,
        _ => cols,
    }
}

/// ` LOCALITY ...` as CockroachDB prints it (empty outside multi-region databases).
fn locality_clause(t: &TableDesc) -> String {
    use crate::catalog::TableLocality as L;
    match &t.locality {
        None => String::new(),
        Some(L::RegionalByTable(None)) => " LOCALITY REGIONAL BY TABLE IN PRIMARY REGION".into(),
        Some(L::RegionalByTable(Some(r))) => {
            format!(
                " LOCALITY REGIONAL BY TABLE IN \"{}\"",
                r.replace('"', "\"\"")
            )
        }
        Some(L::Global) => " LOCALITY GLOBAL".into(),
        Some(L::RegionalByRow { column, .. }) if column == crate::multiregion::REGION_COLUMN => {
            " LOCALITY REGIONAL BY ROW".into()
        }
        Some(L::RegionalByRow { column, .. }) => {
            format!(" LOCALITY REGIONAL BY ROW AS {}", quote_ident(column))
        }
    }
}

/// SHOW DATABASES.
pub(super) fn show_databases(ctx: &ExecContext) -> Result<ExecResult> {
    let rows: Vec<Row> = Catalog::list_databases(&ctx.txn)?
        .into_iter()
        .map(|d| match &d.regions {
            Some(rc) => vec![
                text(&d.name),
                text(&d.owner),
                text(&rc.primary),
                text(format!("{{{}}}", rc.regions.join(","))),
                text(rc.survival.as_str()),
            ],
            None => vec![
                text(d.name),
                text(d.owner),
                Datum::Null,
                text("{}"),
                Datum::Null,
            ],
        })
        .collect();
    let cols = columns(&[
        ("database_name", DataType::Text),
        ("owner", DataType::Text),
        ("primary_region", DataType::Text),
        ("regions", DataType::Text),
        ("survival_goal", DataType::Text),
    ]);
    Ok(ExecResult::rows(cols, rows, "SHOW DATABASES"))
}

/// SHOW SCHEMAS (of the current database): the virtual schemas and `public`.
pub(super) fn show_schemas(ctx: &ExecContext) -> Result<ExecResult> {
    let db = Catalog::must_database(&ctx.txn, &ctx.database)?;
    let rows: Vec<Row> = [
        "crdb_internal",
        "information_schema",
        "pg_catalog",
        "public",
    ]
    .into_iter()
    .map(|s| {
        let owner = if s == PUBLIC_SCHEMA {
            opt_text(Some(&db.owner))
        } else {
            Datum::Null
        };
        vec![text(s), owner]
    })
    .collect();
    let cols = columns(&[("schema_name", DataType::Text), ("owner", DataType::Text)]);
    Ok(ExecResult::rows(cols, rows, "SHOW SCHEMAS"))
}

/// Whether `words` spell SHOW INDEXES|INDEX|KEYS FROM|IN ...
pub(super) fn is_show_indexes(words: &[Ident]) -> bool {
    let lower: Vec<String> = words
        .iter()
        .take(2)
        .map(|w| w.value.to_lowercase())
        .collect();
    matches!(
        lower.first().map(String::as_str),
        Some("indexes" | "index" | "keys")
    ) && matches!(lower.get(1).map(String::as_str), Some("from" | "in"))
}

/// SHOW INDEXES|INDEX|KEYS FROM|IN t, which sqlparser's PostgreSQL dialect parses as
/// `ShowVariable` with the words as identifiers. `None` when `words` is another SHOW.
pub(super) fn show_indexes(ctx: &ExecContext, words: &[Ident]) -> Result<Option<ExecResult>> {
    if !is_show_indexes(words) {
        return Ok(None);
    }
    if words.len() < 3 {
        return Err(Error::syntax("SHOW INDEXES requires FROM <table>"));
    }
    let name = ObjectName::from(words[2..].to_vec());
    let t = show_table(ctx, &name)?;
    let mut rows: Vec<Row> = Vec::new();
    for idx in t.all_indexes() {
        let mut seq = 0;
        let mut push = |rows: &mut Vec<Row>,
                        pos: usize,
                        dir: Option<Direction>,
                        storing: bool,
                        implicit: bool| {
            seq += 1;
            let col = t.columns.get(pos).map_or(String::new(), |c| c.name.clone());
            let dir = match dir {
                Some(Direction::Asc) => "ASC",
                Some(Direction::Desc) => "DESC",
                None => "N/A",
            };
            rows.push(vec![
                text(&t.name),
                text(&idx.name),
                Datum::Bool(!idx.unique),
                Datum::Int(seq),
                text(col),
                text(dir),
                Datum::Bool(storing),
                Datum::Bool(implicit),
                Datum::Bool(true),
            ]);
        };
        for (pos, dir) in &idx.columns {
            push(&mut rows, *pos, Some(*dir), false, false);
        }
        if idx.id == t.primary.id {
            // The primary index stores every other column.
            for pos in 0..t.columns.len() {
                if !idx.columns.iter().any(|(p, _)| *p == pos) {
                    push(&mut rows, pos, None, true, false);
                }
            }
        } else {
            // Secondary indexes carry the primary key columns they do not already have.
            for (pos, dir) in &t.primary.columns {
                if !idx.columns.iter().any(|(p, _)| p == pos) {
                    push(&mut rows, *pos, Some(*dir), false, true);
                }
            }
        }
    }
    let cols = columns(&[
        ("table_name", DataType::Text),
        ("index_name", DataType::Text),
        ("non_unique", DataType::Bool),
        ("seq_in_index", DataType::Int8),
        ("column_name", DataType::Text),
        ("direction", DataType::Text),
        ("storing", DataType::Bool),
        ("implicit", DataType::Bool),
        ("visible", DataType::Bool),
    ]);
    Ok(Some(ExecResult::rows(cols, rows, "SHOW INDEXES")))
}
