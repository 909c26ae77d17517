//! Descriptors: the schema objects the catalog stores.
//!
//! A descriptor is the whole definition of one object (a database or a table with its
//! columns, indexes and constraints), stored as one KV value so that reading a table's schema is
//! one point read and changing it is one write in the DDL statement's transaction.
//!
//! Columns and indexes carry ids that are never reused within a table (`next_column_id`,
//! `next_index_id`): row values are keyed by column id and index data by index id, so a
//! dropped column's leftover bytes or a dropped index's leftover keys can never be mistaken for
//! a new object's.

use crate::types::DataType;
use kv::encoding::Direction;
use serde::{Deserialize, Serialize};

/// The id of every table's primary index (`/Table/<id>/1/...`).
pub const PRIMARY_INDEX_ID: u64 = 1;

/// The name of the hidden primary key column of tables created without a primary key.
pub const ROWID_COLUMN: &str = "rowid";

/// The default expression of the hidden `rowid` column and of SERIAL columns.
pub const UNIQUE_ROWID_DEFAULT: &str = "unique_rowid()";

/// A database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseDesc {
    /// Descriptor id (shared id space with tables).
    pub id: u64,
    /// Normalized name.
    pub name: String,
    /// The role that created it.
    pub owner: String,
    /// Its regions and survival goal when it is multi-region (`CREATE DATABASE ... PRIMARY
    /// REGION`); None for an ordinary database.
    pub regions: Option<RegionConfig>,
}

impl DatabaseDesc {
    /// Whether the database has regions.
    pub fn is_multi_region(&self) -> bool {
        self.regions.is_some()
    }
}

/// What a multi-region database survives (CockroachDB's survival goals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SurvivalGoal {
    /// `SURVIVE ZONE FAILURE` (the default): 3 voters in the home region.
    Zone,
    /// `SURVIVE REGION FAILURE`: 5 voters over at least 3 regions.
    Region,
}

impl SurvivalGoal {
    /// `zone` / `region`, as SHOW SURVIVAL GOAL prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            SurvivalGoal::Zone => "zone",
            SurvivalGoal::Region => "region",
        }
    }
}

/// A multi-region database's regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionConfig {
    /// The primary region (also in `regions`).
    pub primary: String,
    /// Every database region, sorted.
    pub regions: Vec<String>,
    /// The survival goal.
    pub survival: SurvivalGoal,
}

/// Where a table's data lives in a multi-region database (CockroachDB's table localities).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableLocality {
    /// `REGIONAL BY TABLE [IN "r"]`: home region `r`, or the primary region (None).
    RegionalByTable(Option<String>),
    /// `GLOBAL`: homed in the primary region, read locally everywhere.
    Global,
    /// `REGIONAL BY ROW [AS column]`: every row homed in the region its `column` names. The
    /// column is the first key column of every index, so each region's rows form their own
    /// key spans. `regions` are the database's regions (the column's allowed values),
    /// rewritten by ADD/DROP REGION.
    RegionalByRow {
        /// The partitioning column (`crdb_region` unless `AS column`).
        column: String,
        /// The allowed values.
        regions: Vec<String>,
    },
}

/// A table column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDesc {
    /// Column id: the key of the column's value in row encodings; never reused.
    pub id: u32,
    /// Normalized name.
    pub name: String,
    /// Declared type.
    pub ty: DataType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// DEFAULT expression as SQL text (parsed and bound by the planner when inserting).
    pub default_expr: Option<String>,
    /// Hidden columns (`rowid`) are left out of `SELECT *` and of INSERT's implicit column list.
    pub hidden: bool,
}

/// An index: the primary index (id 1, holding the rows) or a secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDesc {
    /// Index id, the second component of its keys.
    pub id: u64,
    /// Name (`<table>_pkey`, `<table>_<cols>_key`, `<table>_<cols>_idx`, or user-given).
    pub name: String,
    /// The key columns: position in [`TableDesc::columns`] and direction.
    pub columns: Vec<(usize, Direction)>,
    /// Whether the index enforces uniqueness (always true for the primary index).
    pub unique: bool,
    /// Whether the index was created by a UNIQUE constraint (vs CREATE UNIQUE INDEX): decides
    /// how SHOW CREATE TABLE prints it.
    pub constraint: bool,
}

/// A CHECK constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDesc {
    /// Constraint name (`<table>_<col>_check`, `<table>_check`, or user-given).
    pub name: String,
    /// The boolean expression as SQL text.
    pub expr: String,
}

/// A table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDesc {
    /// Descriptor id; the first component of the table's keys.
    pub id: u64,
    /// The database the table belongs to (schema is always `public`).
    pub db_id: u64,
    /// Normalized name.
    pub name: String,
    /// The role that created it.
    pub owner: String,
    /// Columns in definition order (hidden ones included).
    pub columns: Vec<ColumnDesc>,
    /// The primary index (id [`PRIMARY_INDEX_ID`], name `<table>_pkey`).
    pub primary: IndexDesc,
    /// Secondary indexes.
    pub indexes: Vec<IndexDesc>,
    /// CHECK constraints.
    pub checks: Vec<CheckDesc>,
    /// The id the next added column gets.
    pub next_column_id: u32,
    /// The id the next added index gets.
    pub next_index_id: u64,
    /// Incremented by every schema change (for caches keyed by id and version).
    pub version: u64,
    /// Its locality (None outside multi-region databases).
    pub locality: Option<TableLocality>,
}

impl TableDesc {
    /// The position and descriptor of the column named `name` (already normalized).
    pub fn column(&self, name: &str) -> Option<(usize, &ColumnDesc)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }

    /// The index with id `id`, primary included.
    pub fn index(&self, id: u64) -> Option<&IndexDesc> {
        self.all_indexes().find(|i| i.id == id)
    }

    /// The index named `name`, primary included.
    pub fn index_by_name(&self, name: &str) -> Option<&IndexDesc> {
        self.all_indexes().find(|i| i.name == name)
    }

    /// The primary index, then the secondary indexes.
    pub fn all_indexes(&self) -> impl Iterator<Item = &IndexDesc> {
        std::iter::once(&self.primary).chain(self.indexes.iter())
    }

    /// The columns a `SELECT *` shows, with their positions.
    pub fn visible_columns(&self) -> impl Iterator<Item = (usize, &ColumnDesc)> {
        self.columns.iter().enumerate().filter(|(_, c)| !c.hidden)
    }

    /// Whether the primary key is the hidden `rowid` column.
    pub fn has_hidden_rowid(&self) -> bool {
        self.primary.columns.len() == 1
            && self
                .columns
                .get(self.primary.columns[0].0)
                .is_some_and(|c| c.hidden)
    }

    /// The partitioning column's position and the allowed regions of a REGIONAL BY ROW
    /// table (None for other tables).
    pub fn row_partitioning(&self) -> Option<(usize, &[String])> {
        match &self.locality {
            Some(TableLocality::RegionalByRow { column, regions }) => {
                let (pos, _) = self.column(column)?;
                Some((pos, regions.as_slice()))
            }
            _ => None,
        }
    }

    /// The names of an index's key columns.
    pub fn index_column_names(&self, index: &IndexDesc) -> Vec<&str> {
        index
            .columns
            .iter()
            .map(|(pos, _)| self.columns.get(*pos).map_or("?", |c| c.name.as_str()))
            .collect()
    }
}
