//! DDL and SHOW statements: schema changes through the catalog, and the SHOW statements that
//! describe the schema.
//!
//! Every statement runs in the session's transaction, so DDL is transactional: a table
//! created inside BEGIN ... ROLLBACK never existed. [`execute`] returns `None` for statements
//! that are not DDL/SHOW, so the session can try it first and fall through to the executor.
//!
//! Supported: CREATE TABLE [IF NOT EXISTS], DROP TABLE [IF EXISTS] [CASCADE], CREATE [UNIQUE]
//! INDEX [IF NOT EXISTS], DROP INDEX [IF EXISTS], CREATE/DROP DATABASE, CREATE SCHEMA public
//! (no-op), TRUNCATE, SHOW TABLES, SHOW COLUMNS FROM, SHOW CREATE TABLE, SHOW DATABASES, SHOW SCHEMAS,
//! SHOW INDEXES FROM (parsed by sqlparser as `ShowVariable ["indexes", "from", ...]`).
//!
//! IMPLEMENTATION CAVEATS
//! - Not supported (0A000): FOREIGN KEY, identity/generated columns, expression and partial
//!   indexes, INCLUDE, NULLS FIRST on ascending (and NULLS LAST on descending) index columns,
//!   CREATE TABLE AS / LIKE, TEMPORARY tables, ALTER TABLE, schemas other than `public`.
//! - `DROP INDEX t@idx` (CockroachDB's form) does not parse in sqlparser's PostgreSQL
//!   dialect; `DROP INDEX idx` and `DROP INDEX t_idx_owner.idx`-style names are resolved by
//!   searching the current database (index names are unique per database, as in PostgreSQL).
//! - DROP TABLE/TRUNCATE/DROP INDEX delete their data key by key through the transaction
//!   (see `storage`); no deferred GC job yet.
//! - SHOW TABLES' estimated_row_count is NULL (there are no table statistics yet).
//! - There are no dependent objects (views, foreign keys), so CASCADE on DROP TABLE changes
//!   nothing.

mod create_table;
mod database;
mod index;
mod show;
#[cfg(test)]
mod tests;

use crate::catalog::{Catalog, TableDesc};
use crate::context::{ExecContext, ExecResult, TxnRef};
use crate::error::code;
use crate::{Error, Result};
use sqlparser::ast::{ObjectType, Statement};
use std::collections::HashSet;

/// SQLSTATE 2BP01 dependent_objects_still_exist.
pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";

/// Runs `stmt` when it is a DDL or SHOW statement handled here; `None` otherwise.
///
/// A failing statement leaves no writes behind in the transaction (it runs under a
/// savepoint), so e.g. a CREATE UNIQUE INDEX whose backfill found duplicates has written no
/// index entries.
pub fn execute(ctx: &ExecContext, stmt: &Statement) -> Result<Option<ExecResult>> {
    let savepoint = ctx.txn.lock().savepoint();
    let result = dispatch(ctx, stmt);
    if result.is_err() {
        ctx.txn.lock().rollback_to(savepoint);
    }
    result
}

fn dispatch(ctx: &ExecContext, stmt: &Statement) -> Result<Option<ExecResult>> {
    let result = match stmt {
        Statement::CreateTable(ct) => create_table::create_table(ctx, ct)?,
        Statement::CreateIndex(ci) => index::create_index(ctx, ci)?,
        Statement::CreateDatabase {
            db_name,
            if_not_exists,
            ..
        } => database::create_database(ctx, db_name, *if_not_exists)?,
        Statement::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => database::create_schema(schema_name, *if_not_exists)?,
        Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => match object_type {
            ObjectType::Table => database::drop_tables(ctx, names, *if_exists)?,
            ObjectType::Index => index::drop_indexes(ctx, names, *if_exists, *cascade)?,
            ObjectType::Database => database::drop_databases(ctx, names, *if_exists, *cascade)?,
            ObjectType::Schema => {
                return Err(Error::unsupported("DROP SCHEMA is not supported"));
            }
            _ => return Ok(None),
        },
        Statement::Truncate(t) => database::truncate(ctx, t)?,
        Statement::AlterTable(_) => {
            return Err(Error::unsupported("ALTER TABLE is not supported yet"));
        }
        Statement::ShowTables { show_options, .. } => show::show_tables(ctx, show_options)?,
        Statement::ShowColumns { show_options, .. } => show::show_columns(ctx, show_options)?,
        Statement::ShowCreate { obj_type, obj_name } => show::show_create(ctx, obj_type, obj_name)?,
        Statement::ShowDatabases { .. } => show::show_databases(ctx)?,
        Statement::ShowSchemas { .. } => show::show_schemas(ctx)?,
        Statement::ShowVariable { variable } => match show::show_indexes(ctx, variable)? {
            Some(r) => r,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(result))
}

/// Whether a `SHOW <words>` that sqlparser parsed as a variable is one of ours (SHOW INDEXES
/// FROM t), so the session should route it to [`execute`] instead of its variables.
pub fn handles_show_variable(variable: &[sqlparser::ast::Ident]) -> bool {
    show::is_show_indexes(variable)
}

/// The names of every relation (table or index) of a database: PostgreSQL keeps tables and
/// indexes in one namespace per schema, so a new one must avoid all of them.
pub(crate) fn relation_names(txn: &TxnRef, db_id: u64) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    for t in Catalog::list_tables_in(txn, db_id)? {
        names.insert(t.name.clone());
        for idx in t.all_indexes() {
            names.insert(idx.name.clone());
        }
    }
    Ok(names)
}

/// `base`, or `base1`, `base2`... : the first name not in `taken` (PostgreSQL's
/// ChooseRelationName), which is then added to `taken`.
pub(crate) fn choose_name(base: &str, taken: &mut HashSet<String>) -> String {
    let mut name = base.to_string();
    let mut n = 0;
    while taken.contains(&name) {
        n += 1;
        name = format!("{base}{n}");
    }
    taken.insert(name.clone());
    name
}

/// 42P07 `relation "x" already exists`.
pub(crate) fn duplicate_relation(name: &str) -> Error {
    Error::new(
        code::DUPLICATE_TABLE,
        format!("relation \"{name}\" already exists"),
    )
}

/// A copy of `t` with its version bumped, for a schema change.
pub(crate) fn next_version(t: &TableDesc) -> TableDesc {
    let mut t = t.clone();
    t.version += 1;
    t
}
