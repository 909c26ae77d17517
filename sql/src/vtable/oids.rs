//! Stable object identifiers for catalog objects.
//!
//! PostgreSQL tools pass OIDs between queries (`\d t` first finds the table's OID, then asks
//! pg_attribute for `attrelid = '<oid>'`), so an object's OID must be the same in every query
//! and computable back to the object. Tables get a block of 1000 OIDs: the table itself, then
//! its indexes (primary first), then its constraints.

/// The bootstrap superuser's OID (PostgreSQL's value; Meridian's `root`).
pub const ROOT_USER: i64 = 10;
/// pg_catalog's namespace OID.
pub const PG_CATALOG_NAMESPACE: i64 = 11;
/// The `public` schema's OID.
pub const PUBLIC_NAMESPACE: i64 = 2200;
/// information_schema's namespace OID.
pub const INFORMATION_SCHEMA_NAMESPACE: i64 = 13_000;
/// The btree access method.
pub const BTREE_AM: i64 = 403;
/// The heap access method.
pub const HEAP_AM: i64 = 2;
/// pg_default tablespace.
pub const DEFAULT_TABLESPACE: i64 = 1663;
/// pg_class's own OID (classoid of relations).
pub const PG_CLASS_OID: i64 = 1259;

/// The name of a fixed namespace OID (`regnamespace` output); None for others.
pub fn namespace_name(oid: i64) -> Option<&'static str> {
    match oid {
        PG_CATALOG_NAMESPACE => Some("pg_catalog"),
        PUBLIC_NAMESPACE => Some("public"),
        INFORMATION_SCHEMA_NAMESPACE => Some("information_schema"),
        _ => None,
    }
}

/// The OID of a fixed namespace by name.
pub fn namespace_oid(name: &str) -> Option<i64> {
    match name {
        "pg_catalog" => Some(PG_CATALOG_NAMESPACE),
        "public" => Some(PUBLIC_NAMESPACE),
        "information_schema" => Some(INFORMATION_SCHEMA_NAMESPACE),
        _ => None,
    }
}

const TABLE_BASE: i64 = 1_000_000;
const TABLE_STRIDE: i64 = 1000;
const CONSTRAINT_OFFSET: i64 = 500;
const DATABASE_BASE: i64 = 16_000;

/// A table's OID.
pub fn table(table_id: u64) -> i64 {
    TABLE_BASE + (table_id as i64).saturating_mul(TABLE_STRIDE)
}

/// The OID of a table's `n`th index (0 = primary, then secondary indexes in order).
pub fn index(table_id: u64, n: usize) -> i64 {
    table(table_id) + 1 + n as i64
}

/// The OID of a table's `n`th constraint.
pub fn constraint(table_id: u64, n: usize) -> i64 {
    table(table_id) + CONSTRAINT_OFFSET + n as i64
}

/// A table's row type OID (pg_class.reltype).
pub fn row_type(table_id: u64) -> i64 {
    table(table_id) + TABLE_STRIDE - 1
}

/// A database's OID.
pub fn database(db_id: u64) -> i64 {
    DATABASE_BASE + db_id as i64
}

/// What an OID in a table's block names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// The table.
    Table(u64),
    /// Index number `n` of the table (0 = primary).
    Index(u64, usize),
    /// Constraint number `n` of the table.
    Constraint(u64, usize),
}

/// Decodes a table-block OID.
pub fn decode(oid: i64) -> Option<Object> {
    if oid < TABLE_BASE {
        return None;
    }
    let rel = oid - TABLE_BASE;
    let table_id = (rel / TABLE_STRIDE) as u64;
    let off = rel % TABLE_STRIDE;
    Some(match off {
        0 => Object::Table(table_id),
        o if o < CONSTRAINT_OFFSET => Object::Index(table_id, (o - 1) as usize),
        o if o < TABLE_STRIDE - 1 => Object::Constraint(table_id, (o - CONSTRAINT_OFFSET) as usize),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_round_trip() {
        assert_eq!(decode(table(7)), Some(Object::Table(7)));
        assert_eq!(decode(index(7, 0)), Some(Object::Index(7, 0)));
        assert_eq!(decode(index(7, 3)), Some(Object::Index(7, 3)));
        assert_eq!(decode(constraint(7, 2)), Some(Object::Constraint(7, 2)));
        assert_eq!(decode(row_type(7)), None);
        assert_eq!(decode(23), None);
    }
}
