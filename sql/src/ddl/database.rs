//! CREATE/DROP DATABASE, CREATE SCHEMA, DROP TABLE and TRUNCATE.

use super::DEPENDENT_OBJECTS_STILL_EXIST;
use crate::catalog::names::{
    resolve_database_name, resolve_table_name, schema_name, PUBLIC_SCHEMA,
};
use crate::catalog::{Catalog, TableDesc};
use crate::context::{ExecContext, ExecResult};
use crate::error::code;
use crate::storage;
use crate::{Error, Result};
use sqlparser::ast::{ObjectName, SchemaName, Truncate};
use std::sync::Arc;

/// SQLSTATE 42P06 duplicate_schema.
const DUPLICATE_SCHEMA: &str = "42P06";

/// CREATE DATABASE [IF NOT EXISTS] name.
pub(super) fn create_database(
    ctx: &ExecContext,
    name: &ObjectName,
    if_not_exists: bool,
) -> Result<ExecResult> {
    let name = resolve_database_name(name)?;
    if Catalog::database(&ctx.txn, &name)?.is_some() {
        if if_not_exists {
            return Ok(ExecResult::command("CREATE DATABASE"));
        }
        return Err(Error::new(
            code::DUPLICATE_DATABASE,
            format!("database \"{name}\" already exists"),
        ));
    }
    Catalog::create_database(&ctx.txn, &name, &ctx.user)?;
    Ok(ExecResult::command("CREATE DATABASE"))
}

/// CREATE SCHEMA: only `public` exists, so only `CREATE SCHEMA IF NOT EXISTS public` (a
/// no-op) succeeds.
pub(super) fn create_schema(name: &SchemaName, if_not_exists: bool) -> Result<ExecResult> {
    let schema = schema_name(name)?;
    if schema == PUBLIC_SCHEMA {
        if if_not_exists {
            return Ok(ExecResult::command("CREATE SCHEMA"));
        }
        return Err(Error::new(
            DUPLICATE_SCHEMA,
            format!("schema \"{schema}\" already exists"),
        ));
    }
    Err(Error::unsupported(
        "user-defined schemas are not supported; use the public schema",
    ))
}

/// DROP DATABASE [IF EXISTS] name [CASCADE]: refuses a database with tables unless CASCADE.
pub(super) fn drop_databases(
    ctx: &ExecContext,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<ExecResult> {
    for n in names {
        let name = resolve_database_name(n)?;
        let Some(db) = Catalog::database(&ctx.txn, &name)? else {
            if if_exists {
                continue;
            }
            return Err(crate::catalog::undefined_database(&name));
        };
        let tables = Catalog::list_tables_in(&ctx.txn, db.id)?;
        if !tables.is_empty() && !cascade {
            return Err(Error::new(
                DEPENDENT_OBJECTS_STILL_EXIST,
                format!("database \"{name}\" is not empty and RESTRICT was specified"),
            )
            .with_hint("use DROP DATABASE ... CASCADE to drop its tables too"));
        }
        for t in tables {
            drop_table(ctx, &t)?;
        }
        Catalog::drop_database(&ctx.txn, &db)?;
    }
    Ok(ExecResult::command("DROP DATABASE"))
}

/// DROP TABLE [IF EXISTS] t, ... [CASCADE] (nothing depends on tables yet).
pub(super) fn drop_tables(
    ctx: &ExecContext,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<ExecResult> {
    // Resolve every name first, so that a missing one drops nothing (PostgreSQL).
    let mut tables = Vec::with_capacity(names.len());
    for n in names {
        let name = resolve_table_name(n, &ctx.database)?;
        match Catalog::table(&ctx.txn, &name.database, &name.name)? {
            Some(t) => tables.push(t),
            None if if_exists => {}
            None => {
                return Err(Error::new(
                    code::UNDEFINED_TABLE,
                    format!("table \"{}\" does not exist", name.name),
                ))
            }
        }
    }
    for t in tables {
        drop_table(ctx, &t)?;
    }
    Ok(ExecResult::command("DROP TABLE"))
}

fn drop_table(ctx: &ExecContext, t: &TableDesc) -> Result<()> {
    Catalog::drop_table(&ctx.txn, t)?;
    storage::delete_table_data(&ctx.txn, t.id)?;
    crate::multiregion::zones::delete_table(&ctx.txn, t.id)?;
    Ok(())
}

/// TRUNCATE [TABLE] t, ...: deletes every row (and index entry) of each table.
pub(super) fn truncate(ctx: &ExecContext, stmt: &Truncate) -> Result<ExecResult> {
    let mut tables: Vec<Arc<TableDesc>> = Vec::new();
    for target in &stmt.table_names {
        let name = resolve_table_name(&target.name, &ctx.database)?;
        match Catalog::table(&ctx.txn, &name.database, &name.name)? {
            Some(t) => tables.push(t),
            None if stmt.if_exists => {}
            None => return Err(crate::catalog::undefined_table(&name.name)),
        }
    }
    for t in tables {
        ctx.check_cancel()?;
        storage::delete_table_data(&ctx.txn, t.id)?;
    }
    Ok(ExecResult::command("TRUNCATE"))
}
