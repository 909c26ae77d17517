//! PostgreSQL's catalog functions: the ones psql and drivers call that need to know the
//! catalog (`pg_table_is_visible`, `format_type`, `pg_get_indexdef`, ...), and the lookups
//! behind `::regclass` / `::regtype` casts.
//!
//! The planner calls [`call_catalog_function`] for function names it does not implement;
//! `None` means "not a catalog function either" (the planner then reports 42883).

use super::oids::{self, Object};
use super::pg_catalog::{constraints, indexes, tables, TYPES};
use crate::catalog::{IndexDesc, TableDesc};
use crate::context::ExecContext;
use crate::types::{DataType, Datum};
use crate::{Error, Result};
use std::sync::Arc;

/// The return type of a catalog function, for the planner's type checking; None when `name`
/// is not one of them.
pub fn catalog_function_type(name: &str) -> Option<DataType> {
    let name = name
        .strip_prefix("pg_catalog.")
        .unwrap_or(name)
        .to_ascii_lowercase();
    Some(match name.as_str() {
        "pg_table_is_visible"
        | "pg_type_is_visible"
        | "pg_function_is_visible"
        | "pg_relation_is_publishable"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege"
        | "has_column_privilege"
        | "pg_has_role"
        | "pg_is_in_recovery" => DataType::Bool,
        "format_type"
        | "pg_get_indexdef"
        | "pg_get_constraintdef"
        | "pg_get_expr"
        | "pg_get_userbyid"
        | "obj_description"
        | "col_description"
        | "shobj_description"
        | "pg_encoding_to_char"
        | "pg_get_statisticsobjdef_columns"
        | "pg_get_viewdef"
        | "pg_tablespace_location"
        | "current_database"
        | "current_schema"
        | "version"
        | "pg_get_serial_sequence"
        | "current_user"
        | "session_user"
        | "pg_size_pretty" => DataType::Text,
        "pg_backend_pid" => DataType::Int4,
        "pg_relation_size"
        | "pg_total_relation_size"
        | "pg_table_size"
        | "pg_indexes_size"
        | "pg_database_size" => DataType::Int8,
        _ => return None,
    })
}

/// Evaluates catalog function `name` on `args`; None when `name` is not one.
pub fn call_catalog_function(
    ctx: &ExecContext,
    name: &str,
    args: &[Datum],
) -> Option<Result<Datum>> {
    let name = name
        .strip_prefix("pg_catalog.")
        .unwrap_or(name)
        .to_ascii_lowercase();
    catalog_function_type(&name)?;
    Some(eval(ctx, &name, args))
}

fn int_arg(args: &[Datum], i: usize) -> Option<i64> {
    match args.get(i) {
        Some(Datum::Int(v)) => Some(*v),
        Some(Datum::Text(s)) => s.trim().parse().ok(),
        Some(Datum::Decimal(d)) => d.to_string().parse().ok(),
        _ => None,
    }
}

fn text(s: impl Into<String>) -> Datum {
    Datum::Text(s.into())
}

fn eval(ctx: &ExecContext, name: &str, args: &[Datum]) -> Result<Datum> {
    // Strict functions: NULL in, NULL out.
    let strict = !matches!(
        name,
        "current_database"
            | "current_schema"
            | "version"
            | "pg_backend_pid"
            | "pg_is_in_recovery"
            | "current_user"
            | "session_user"
    );
    if strict && args.first().is_some_and(Datum::is_null) {
        return Ok(Datum::Null);
    }
    Ok(match name {
        "pg_table_is_visible" => Datum::Bool(relation(ctx, int_arg(args, 0))?.is_some()),
        "pg_type_is_visible"
        | "pg_function_is_visible"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege"
        | "has_column_privilege"
        | "pg_has_role" => Datum::Bool(true),
        "pg_relation_is_publishable" | "pg_is_in_recovery" => Datum::Bool(false),
        "format_type" => match int_arg(args, 0) {
            Some(oid) => text(format_type(oid, int_arg(args, 1).unwrap_or(-1))),
            None => Datum::Null,
        },
        "pg_get_userbyid" => match int_arg(args, 0) {
            Some(oids::ROOT_USER) => text(ctx.user.clone()),
            Some(other) => text(format!("unknown (OID={other})")),
            None => Datum::Null,
        },
        "pg_get_indexdef" => match relation(ctx, int_arg(args, 0))? {
            Some((t, Object::Index(_, n))) => {
                let col = int_arg(args, 1).unwrap_or(0);
                index_by_number(&t, n).map_or(Datum::Null, |ix| {
                    if col > 0 {
                        ix.columns
                            .get(col as usize - 1)
                            .and_then(|(p, _)| t.columns.get(*p))
                            .map_or(Datum::Null, |c| text(quote_ident(&c.name)))
                    } else {
                        text(index_def(&t, n, ix))
                    }
                })
            }
            _ => Datum::Null,
        },
        "pg_get_constraintdef" => match relation(ctx, int_arg(args, 0))? {
            Some((t, Object::Constraint(_, k))) => constraints(&t)
                .get(k)
                .map_or(Datum::Null, |c| text(constraint_def(&t, c))),
            _ => Datum::Null,
        },
        // Defaults and CHECK expressions are stored as SQL text already.
        "pg_get_expr" => args.first().cloned().unwrap_or(Datum::Null),
        "pg_encoding_to_char" => text(if int_arg(args, 0) == Some(6) {
            "UTF8"
        } else {
            ""
        }),
        "pg_tablespace_location" => text(""),
        "obj_description"
        | "col_description"
        | "shobj_description"
        | "pg_get_statisticsobjdef_columns"
        | "pg_get_viewdef"
        | "pg_get_serial_sequence" => Datum::Null,
        "current_database" => text(ctx.database.clone()),
        "current_schema" => text("public"),
        "current_user" | "session_user" => text(ctx.user.clone()),
        "version" => text(version()),
        "pg_backend_pid" => Datum::Int(0),
        "pg_relation_size"
        | "pg_total_relation_size"
        | "pg_table_size"
        | "pg_indexes_size"
        | "pg_database_size" => Datum::Int(0),
        "pg_size_pretty" => match int_arg(args, 0) {
            Some(n) => text(size_pretty(n)),
            None => Datum::Null,
        },
        other => {
            return Err(Error::internal(format!(
                "catalog function {other} not dispatched"
            )))
        }
    })
}

/// The `version()` string: PostgreSQL-shaped, so tools that parse it find "PostgreSQL 15.0".
pub fn version() -> String {
    format!(
        "PostgreSQL 15.0 (Meridian {}) on {}-{}, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

fn index_by_number(t: &TableDesc, n: usize) -> Option<&IndexDesc> {
    if n == 0 {
        Some(&t.primary)
    } else {
        t.indexes.get(n - 1)
    }
}

/// The table (in the current database) an OID belongs to, and what it names.
fn relation(ctx: &ExecContext, oid: Option<i64>) -> Result<Option<(Arc<TableDesc>, Object)>> {
    let Some(obj) = oid.and_then(oids::decode) else {
        return Ok(None);
    };
    let table_id = match obj {
        Object::Table(id) | Object::Index(id, _) | Object::Constraint(id, _) => id,
    };
    Ok(tables(ctx)?
        .into_iter()
        .find(|t| t.id == table_id)
        .map(|t| (t, obj)))
}

/// `format_type(oid, typmod)`.
pub fn format_type(oid: i64, typmod: i64) -> String {
    let base = match DataType::from_oid(oid as u32) {
        Some(DataType::Varchar(_)) if typmod >= 4 => {
            return format!("character varying({})", typmod - 4);
        }
        Some(DataType::Char(_)) if typmod >= 4 => return format!("character({})", typmod - 4),
        Some(DataType::Char(_)) => return "character".to_string(),
        Some(DataType::Numeric(_)) if typmod >= 4 => {
            let m = typmod - 4;
            return format!("numeric({},{})", (m >> 16) & 0xffff, m & 0xffff);
        }
        Some(t) if oid != 19 && oid != 114 => t.pg_base_name().to_string(),
        _ => match TYPES.iter().find(|t| t.0 == oid) {
            Some((_, name, ..)) => match *name {
                "name" | "oid" | "regclass" | "regtype" | "regproc" | "int2vector"
                | "oidvector" | "json" | "char" => {
                    if *name == "char" {
                        "\"char\"".to_string()
                    } else {
                        name.to_string()
                    }
                }
                other => other.to_string(),
            },
            None => match TYPES.iter().find(|t| t.5 == oid) {
                Some((elem, ..)) => format!("{}[]", format_type(*elem, -1)),
                None => "???".to_string(),
            },
        },
    };
    base
}

fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_lowercase() || (i > 0 && c.is_ascii_digit()));
    if plain && !name.is_empty() {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn column_list(t: &TableDesc, cols: &[usize]) -> String {
    cols.iter()
        .map(|p| {
            t.columns
                .get(*p)
                .map_or_else(|| "?".to_string(), |c| quote_ident(&c.name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `pg_get_indexdef`: `CREATE UNIQUE INDEX t_pkey ON public.t USING btree (a, b DESC)`.
pub fn index_def(t: &TableDesc, n: usize, ix: &IndexDesc) -> String {
    let cols = ix
        .columns
        .iter()
        .map(|(p, d)| {
            let name = t
                .columns
                .get(*p)
                .map_or_else(|| "?".to_string(), |c| quote_ident(&c.name));
            if *d == kv::encoding::Direction::Desc {
                format!("{name} DESC")
            } else {
                name
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let unique = if n == 0 || ix.unique { "UNIQUE " } else { "" };
    format!(
        "CREATE {unique}INDEX {} ON public.{} USING btree ({cols})",
        quote_ident(&ix.name),
        quote_ident(&t.name)
    )
}

fn constraint_def(t: &TableDesc, c: &super::pg_catalog::ConInfo) -> String {
    match c.kind {
        'p' => format!("PRIMARY KEY ({})", column_list(t, &c.cols)),
        'u' => format!("UNIQUE ({})", column_list(t, &c.cols)),
        _ => format!("CHECK (({}))", c.expr.clone().unwrap_or_default()),
    }
}

/// `pg_size_pretty(bigint)`, PostgreSQL 15's algorithm: bytes below 10 kB, then the largest
/// unit keeping the number under 20 thousand, rounded half away from zero.
pub fn size_pretty(size: i64) -> String {
    const UNITS: [(&str, i64, bool, u32); 5] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
    ];
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = size;
    for (i, (name, limit, round, bits)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1);
        if size.abs() < *limit || next.is_none() {
            if *round {
                size = half_rounded(size);
            }
            return format!("{size} {name}");
        }
        if let Some((_, _, next_round, next_bits)) = next {
            let shift = next_bits - bits - u32::from(*next_round) + u32::from(*round);
            size /= 1i64 << shift;
        }
    }
    format!("{size} bytes")
}

/// `'name'::regclass`: the OID of table or index `name` (optionally `public.`-qualified) in
/// the current database; 42P01 when there is none.
pub fn regclass_oid(ctx: &ExecContext, name: &str) -> Result<i64> {
    let name = name.trim();
    let name = name.strip_prefix("public.").unwrap_or(name);
    let name = if name.starts_with('"') && name.ends_with('"') && name.len() >= 2 {
        name[1..name.len() - 1].replace("\"\"", "\"")
    } else {
        name.to_lowercase()
    };
    for t in tables(ctx)? {
        if t.name == name {
            return Ok(oids::table(t.id));
        }
        for (n, ix) in indexes(&t) {
            if ix.name == name {
                return Ok(oids::index(t.id, n));
            }
        }
    }
    Err(Error::new(
        crate::error::code::UNDEFINED_TABLE,
        format!("relation \"{name}\" does not exist"),
    ))
}

/// `oid::regclass::text`: the relation's name, or the number when no relation has it.
pub fn regclass_name(ctx: &ExecContext, oid: i64) -> Result<String> {
    Ok(match relation(ctx, Some(oid))? {
        Some((t, Object::Table(_))) => quote_ident(&t.name),
        Some((t, Object::Index(_, n))) => {
            index_by_number(&t, n).map_or_else(|| oid.to_string(), |ix| quote_ident(&ix.name))
        }
        _ => oid.to_string(),
    })
}

/// `oid::regtype::text`: the type's SQL name.
pub fn regtype_name(oid: i64) -> String {
    match format_type(oid, -1).as_str() {
        "???" => oid.to_string(),
        s => s.to_string(),
    }
}

/// `'name'::regtype`: a type's OID from its SQL or internal name.
pub fn regtype_oid(name: &str) -> Result<i64> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
    for &(oid, typname, ..) in TYPES {
        if typname == n || format_type(oid, -1) == n {
            return Ok(oid);
        }
    }
    let alias = match n {
        "int" | "integer" => 23,
        "bigint" => 20,
        "smallint" => 21,
        "boolean" => 16,
        "real" => 700,
        "double precision" | "float" => 701,
        "decimal" => 1700,
        "character varying" => 1043,
        "character" => 1042,
        _ => {
            return Err(Error::new(
                crate::error::code::UNDEFINED_OBJECT,
                format!("type \"{n}\" does not exist"),
            ))
        }
    };
    Ok(alias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_type_matches_postgres() {
        assert_eq!(format_type(23, -1), "integer");
        assert_eq!(format_type(1043, 14), "character varying(10)");
        assert_eq!(format_type(1700, ((10 << 16) | 2) + 4), "numeric(10,2)");
        assert_eq!(format_type(1114, -1), "timestamp without time zone");
        assert_eq!(format_type(1007, -1), "integer[]");
        assert_eq!(format_type(19, -1), "name");
        assert_eq!(format_type(424242, -1), "???");
        assert_eq!(regtype_oid("integer").unwrap(), 23);
        assert_eq!(regtype_oid("int4").unwrap(), 23);
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(8_388_608), "8192 kB");
        assert_eq!(size_pretty(1_073_741_824), "1024 MB");
    }
}
