//! Decoding descriptors written before multi-region (descriptor format 1).
//!
//! postcard is not self-describing, so adding fields to [`DatabaseDesc`] (its regions) and
//! [`TableDesc`] (its locality) changed the encoding: new descriptors are written with format
//! byte 2 and format-1 descriptors are decoded here into the new types, without regions or
//! locality. A format-1 descriptor is rewritten as format 2 the next time DDL changes it.

use super::desc::{CheckDesc, ColumnDesc, DatabaseDesc, IndexDesc, TableDesc};
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct DatabaseDescV1 {
    id: u64,
    name: String,
    owner: String,
}

#[derive(Deserialize)]
pub(super) struct TableDescV1 {
    id: u64,
    db_id: u64,
    name: String,
    owner: String,
    columns: Vec<ColumnDesc>,
    primary: IndexDesc,
    indexes: Vec<IndexDesc>,
    checks: Vec<CheckDesc>,
    next_column_id: u32,
    next_index_id: u64,
    version: u64,
}

/// A format-1 descriptor.
#[derive(Deserialize)]
pub(super) enum DescriptorV1 {
    Database(DatabaseDescV1),
    Table(TableDescV1),
}

impl From<DescriptorV1> for super::Descriptor {
    fn from(d: DescriptorV1) -> Self {
        match d {
            DescriptorV1::Database(db) => super::Descriptor::Database(DatabaseDesc {
                id: db.id,
                name: db.name,
                owner: db.owner,
                regions: None,
            }),
            DescriptorV1::Table(t) => super::Descriptor::Table(TableDesc {
                id: t.id,
                db_id: t.db_id,
                name: t.name,
                owner: t.owner,
                columns: t.columns,
                primary: t.primary,
                indexes: t.indexes,
                checks: t.checks,
                next_column_id: t.next_column_id,
                next_index_id: t.next_index_id,
                version: t.version,
                locality: None,
            }),
        }
    }
}
