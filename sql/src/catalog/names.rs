//! Name normalization and resolution.
//!
//! PostgreSQL folds unquoted identifiers to lower case and keeps quoted ones verbatim, so
//! `CREATE TABLE Foo` creates `foo` while `CREATE TABLE "Foo"` creates `Foo`. The catalog stores
//! normalized names; every caller turns sqlparser identifiers into names with
//! [`normalize_ident`] before looking anything up.
//!
//! Only the `public` schema holds user tables: `t`, `public.t` and `db.public.t` resolve;
//! any other schema is 3F000 `schema "s" does not exist`.

use crate::error::code;
use crate::{Error, Result};
use sqlparser::ast::{Ident, ObjectName, SchemaName};

/// The only schema of user tables.
pub const PUBLIC_SCHEMA: &str = "public";

/// A resolved table name: its database and its normalized name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// The database (normalized).
    pub database: String,
    /// The table name (normalized).
    pub name: String,
}

/// The catalog form of an identifier: unquoted ones folded to lower case (PostgreSQL).
pub fn normalize_ident(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

/// The normalized parts of an object name.
pub fn name_parts(name: &ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(normalize_ident)
                .ok_or_else(|| Error::syntax(format!("invalid name: {name}")))
        })
        .collect()
}

/// Resolves `t`, `public.t` or `db.public.t` against the current database.
pub fn resolve_table_name(name: &ObjectName, current_db: &str) -> Result<TableName> {
    let parts = name_parts(name)?;
    match parts.as_slice() {
        [t] => Ok(TableName {
            database: current_db.to_string(),
            name: t.clone(),
        }),
        [s, t] => {
            check_schema(s)?;
            Ok(TableName {
                database: current_db.to_string(),
                name: t.clone(),
            })
        }
        [db, s, t] => {
            check_schema(s)?;
            Ok(TableName {
                database: db.clone(),
                name: t.clone(),
            })
        }
        _ => Err(Error::syntax(format!(
            "improper qualified name (too many dotted names): {name}"
        ))),
    }
}

fn check_schema(s: &str) -> Result<()> {
    if s == PUBLIC_SCHEMA {
        Ok(())
    } else {
        Err(Error::new(
            code::INVALID_SCHEMA_NAME,
            format!("schema \"{s}\" does not exist"),
        ))
    }
}

/// Resolves a database name (a single identifier).
pub fn resolve_database_name(name: &ObjectName) -> Result<String> {
    let parts = name_parts(name)?;
    match parts.as_slice() {
        [db] => Ok(db.clone()),
        _ => Err(Error::syntax(format!("invalid database name: {name}"))),
    }
}

/// The normalized name of a schema in CREATE SCHEMA (`db.s` names schema `s`).
pub fn schema_name(name: &SchemaName) -> Result<String> {
    match name {
        SchemaName::Simple(n) | SchemaName::NamedAuthorization(n, _) => name_parts(n)?
            .pop()
            .ok_or_else(|| Error::syntax("missing schema name")),
        SchemaName::UnnamedAuthorization(id) => Ok(normalize_ident(id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(parts: &[(&str, Option<char>)]) -> ObjectName {
        ObjectName::from(
            parts
                .iter()
                .map(|(v, q)| match q {
                    Some(q) => Ident::with_quote(*q, *v),
                    None => Ident::new(*v),
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn unquoted_names_fold_to_lower_case() {
        let n = resolve_table_name(&obj(&[("Foo", None)]), "db").unwrap();
        assert_eq!(
            n,
            TableName {
                database: "db".into(),
                name: "foo".into()
            }
        );
        let n = resolve_table_name(&obj(&[("Foo", Some('"'))]), "db").unwrap();
        assert_eq!(n.name, "Foo");
    }

    #[test]
    fn only_public_schema_resolves() {
        let n = resolve_table_name(&obj(&[("PUBLIC", None), ("t", None)]), "db").unwrap();
        assert_eq!(n.name, "t");
        let n =
            resolve_table_name(&obj(&[("d2", None), ("public", None), ("t", None)]), "db").unwrap();
        assert_eq!(n.database, "d2");
        let e = resolve_table_name(&obj(&[("other", None), ("t", None)]), "db").unwrap_err();
        assert_eq!(e.code, code::INVALID_SCHEMA_NAME);
    }
}
