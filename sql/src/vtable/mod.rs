//! System tables computed from the catalog: `pg_catalog` and `information_schema`.
//!
//! PostgreSQL tools learn about a database by querying these: psql's `\d` family, drivers'
//! type introspection, ORMs' schema reflection. Each table is declared once ([`schema`]) with
//! PostgreSQL's column names and (approximated) types, and its rows are computed on demand from
//! the catalog as seen by the statement's transaction, so they are transactional like
//! everything else.
//!
//! Object identifiers are stable functions of descriptor ids ([`oids`]): a table's OID is
//! `1_000_000 + 1000 * table_id`, its indexes and constraints are numbered inside that block,
//! namespaces and types use PostgreSQL's own OIDs.
//!
//! Functions that need catalog knowledge (`pg_table_is_visible`, `format_type`,
//! `pg_get_indexdef`, `pg_get_constraintdef`, `pg_get_userbyid`...) are in [`functions`];
//! the planner routes unknown `pg_*` functions to [`call_catalog_function`].
//!
//! IMPLEMENTATION CAVEATS
//! - Types without a Meridian equivalent are approximated: `oid`, `regproc` and `xid` columns
//!   are INT8, `name` and `"char"` are TEXT. Array columns are real arrays (`aclitem[]` and
//!   option lists as text[], `polroles` as int8[], `conkey`/`confkey`/`prattrs` as int2[]),
//!   except the vectors `indkey`, `indclass`, `indoption`, `indcollation`, `proargtypes`,
//!   which stay TEXT in PostgreSQL's vector form (`1 2`) because their 0-based subscripts are
//!   not supported.
//! - pg_database_size and pg_relation_size report 0 (no per-object size accounting yet).
//! - Only the current database's tables appear in pg_class and friends (PostgreSQL's catalogs
//!   are per database too); pg_database lists all databases.
//! - pg_settings shows defaults, not the session's current values (the execution context does
//!   not carry the session's settings); `SHOW` gives the current values.
//! - pg_proc, pg_description, pg_views, pg_inherits, pg_policy, pg_statistic_ext, the
//!   publication tables, pg_enum, pg_range and pg_extension are empty: Meridian has none of
//!   those objects.

pub mod functions;
mod info_schema;
pub mod oids;
mod pg_catalog;
mod schema;

pub use functions::call_catalog_function;

use crate::context::{Column, ExecContext, VirtualTables};
use crate::types::Row;
use crate::Result;

/// The system tables of a Meridian node.
pub struct SystemTables;

impl VirtualTables for SystemTables {
    fn lookup(&self, schema: &str, name: &str) -> Option<Vec<Column>> {
        crate::ranges::vtables::lookup(schema, name)
            .or_else(|| schema::find(schema, name).map(schema::TableSpec::columns))
    }

    fn rows(&self, ctx: &ExecContext, schema: &str, name: &str) -> Result<Vec<Row>> {
        if let Some(rows) = crate::ranges::vtables::rows(ctx, schema, name) {
            return rows;
        }
        let spec = schema::find(schema, name).ok_or_else(|| {
            crate::Error::new(
                crate::error::code::UNDEFINED_TABLE,
                format!("relation \"{schema}.{name}\" does not exist"),
            )
        })?;
        let rows = match spec.schema {
            "information_schema" => info_schema::rows(ctx, spec)?,
            _ => pg_catalog::rows(ctx, spec)?,
        };
        Ok(rows.into_iter().map(|r| r.finish(spec)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_declares_columns() {
        for (schema, name) in [
            ("pg_catalog", "pg_class"),
            ("pg_catalog", "pg_attribute"),
            ("pg_catalog", "pg_type"),
            ("pg_catalog", "pg_namespace"),
            ("pg_catalog", "pg_index"),
            ("pg_catalog", "pg_database"),
            ("information_schema", "tables"),
            ("information_schema", "columns"),
        ] {
            let cols = SystemTables.lookup(schema, name).expect(name);
            assert!(!cols.is_empty(), "{name}");
        }
        assert!(SystemTables.lookup("pg_catalog", "no_such_table").is_none());
        assert!(SystemTables.lookup("PG_CATALOG", "PG_CLASS").is_some());
    }
}
