//! The catalog: databases and tables stored as descriptors in the KV keyspace.
//!
//! Why in the KV keyspace: the catalog then gets the same transactions, durability and (later)
//! replication as data, and DDL is transactional for free — a CREATE TABLE inside an explicit
//! transaction is invisible to others until COMMIT and vanishes on ROLLBACK. Every read and
//! write goes through the statement's transaction ([`TxnRef`]).
//!
//! Layout under `/System` ([`kv::keys::system_key`]):
//! ```text
//! /System/0x01/<parent_id u64>/<name bytes>  -> id (u64 BE)    namespace: parent 0 = databases
//! /System/0x02/<id u64>                      -> descriptor     (format byte + postcard)
//! /System/0x03/"desc_id"                     -> next id (u64 BE)
//! /System/0x03/"schema_gen"                  -> schema generation (see [`generation`])
//! ```
//! Databases and tables share one id space; user ids start at [`FIRST_USER_ID`].
//!
//! Names are stored normalized (see [`names`]): unquoted identifiers are folded to lower case
//! like PostgreSQL, so lookups here are exact byte comparisons of normalized names.
//!
//! Descriptor cache: every write of a namespace entry or descriptor also writes the schema
//! [`generation`] key in the same transaction; lookups read the generation through the
//! transaction (once per transaction: [`memo`]) and serve names and descriptors from the
//! process-wide [`cache`] filed under that generation, reading through the transaction only on
//! a miss. See those modules for why this is serializable and safe across nodes.
//!
//! IMPLEMENTATION CAVEATS
//! - Only the `public` schema exists; there are no schema descriptors.
//! - The generation is one key for the whole catalog: any DDL starts a new generation (every
//!   node's next lookups miss once), and every transaction that used the catalog has the key in
//!   its read set, so a transaction pushed above a concurrent DDL's commit fails its refresh
//!   (40001) even when the DDL touched another table. All DDL statements also conflict with each
//!   other on the key (one retries). CockroachDB leases per-descriptor versions instead; DDL is
//!   rare enough here that one key is the simpler correct choice.
//! - Listings (`list_databases`, `list_tables_in`) scan the namespace through the transaction
//!   (descriptors then come from the cache).
//! - The descriptor encoding is postcard behind a format byte; postcard is not self-describing,
//!   so a future field change must bump the format byte and convert old descriptors.
//! - Allocating an id reads and writes one counter key, so concurrent DDL statements conflict
//!   (one retries with 40001). DDL is rare; this is acceptable.

pub mod cache;
pub mod desc;
pub mod generation;
mod legacy;
pub mod memo;
pub mod names;
#[cfg(test)]
pub(crate) mod testutil;

pub use desc::{
    CheckDesc, ColumnDesc, DatabaseDesc, IndexDesc, RegionConfig, SurvivalGoal, TableDesc,
    TableLocality, PRIMARY_INDEX_ID, ROWID_COLUMN, UNIQUE_ROWID_DEFAULT,
};
pub use generation::Generation;
pub use names::{normalize_ident, resolve_table_name, TableName};

use crate::context::TxnRef;
use crate::error::code;
use crate::{Error, Result};
use cache::{CachedDesc, DescCache, GenEntries};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// System key kind of namespace entries.
const KIND_NAMESPACE: u8 = 0x01;
/// System key kind of descriptors.
const KIND_DESCRIPTOR: u8 = 0x02;
/// System key kind of counters.
const KIND_COUNTER: u8 = 0x03;
/// The counter that allocates descriptor ids.
const DESC_ID_COUNTER: &[u8] = b"desc_id";
/// Parent id of database namespace entries.
const ROOT_PARENT: u64 = 0;
/// The first id handed to a database or table (lower ids are reserved for system objects).
pub const FIRST_USER_ID: u64 = 100;
/// Format byte in front of every encoded descriptor (2 since database regions and table
/// localities; format 1 is still read: see [`legacy`]).
const DESC_FORMAT: u8 = 2;
/// The format before multi-region.
const DESC_FORMAT_V1: u8 = 1;
/// Scan page size for namespace listings.
const LIST_PAGE: usize = 256;

/// The owner of the databases created by [`bootstrap`].
pub const BOOTSTRAP_OWNER: &str = "root";

/// The databases created by [`bootstrap`].
pub const DEFAULT_DATABASES: &[&str] = &["defaultdb", "postgres", "system"];

#[derive(Serialize, Deserialize)]
enum Descriptor {
    Database(DatabaseDesc),
    Table(TableDesc),
}

impl From<Descriptor> for CachedDesc {
    fn from(d: Descriptor) -> Self {
        match d {
            Descriptor::Database(db) => CachedDesc::Database(db),
            Descriptor::Table(t) => CachedDesc::Table(Arc::new(t)),
        }
    }
}

fn namespace_key(parent: u64, name: &str) -> Vec<u8> {
    let mut rest = Vec::with_capacity(8 + name.len());
    kv::encoding::encode_u64_asc(&mut rest, parent);
    rest.extend_from_slice(name.as_bytes());
    kv::keys::system_key(KIND_NAMESPACE, &rest)
}

fn descriptor_key(id: u64) -> Vec<u8> {
    let mut rest = Vec::with_capacity(8);
    kv::encoding::encode_u64_asc(&mut rest, id);
    kv::keys::system_key(KIND_DESCRIPTOR, &rest)
}

fn counter_key(name: &[u8]) -> Vec<u8> {
    kv::keys::system_key(KIND_COUNTER, name)
}

fn decode_u64(bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::new(code::DATA_CORRUPTED, "catalog: malformed id value"))?;
    Ok(u64::from_be_bytes(arr))
}

fn encode_descriptor(d: &Descriptor) -> Result<Vec<u8>> {
    let mut out = vec![DESC_FORMAT];
    let body = postcard::to_stdvec(d)
        .map_err(|e| Error::internal(format!("catalog: encoding descriptor: {e}")))?;
    out.extend_from_slice(&body);
    Ok(out)
}

fn decode_descriptor(bytes: &[u8]) -> Result<Descriptor> {
    match bytes.split_first() {
        Some((&DESC_FORMAT, body)) => postcard::from_bytes(body).map_err(malformed),
        Some((&DESC_FORMAT_V1, body)) => postcard::from_bytes::<legacy::DescriptorV1>(body)
            .map(Descriptor::from)
            .map_err(malformed),
        _ => Err(Error::new(
            code::DATA_CORRUPTED,
            "catalog: unknown descriptor format",
        )),
    }
}

fn malformed(e: postcard::Error) -> Error {
    Error::new(
        code::DATA_CORRUPTED,
        format!("catalog: malformed descriptor: {e}"),
    )
}

/// 3D000 `database "x" does not exist`.
pub fn undefined_database(name: &str) -> Error {
    Error::new(
        code::UNDEFINED_DATABASE,
        format!("database \"{name}\" does not exist"),
    )
}

/// 42P01 `relation "x" does not exist`.
pub fn undefined_table(name: &str) -> Error {
    Error::new(
        code::UNDEFINED_TABLE,
        format!("relation \"{name}\" does not exist"),
    )
}

/// A stateless handle on the catalog: every call reads or writes through the transaction.
pub struct Catalog;

impl Catalog {
    /// The database named `name`.
    pub fn database(txn: &TxnRef, name: &str) -> Result<Option<DatabaseDesc>> {
        let Some(id) = Self::lookup_id(txn, ROOT_PARENT, name)? else {
            return Ok(None);
        };
        match Self::descriptor(txn, id)? {
            Some(CachedDesc::Database(db)) => Ok(Some(db)),
            _ => Err(Error::new(
                code::DATA_CORRUPTED,
                format!(
                    "catalog: namespace entry of database \"{name}\" has no database descriptor"
                ),
            )),
        }
    }

    /// The database named `name`, or 3D000.
    pub fn must_database(txn: &TxnRef, name: &str) -> Result<DatabaseDesc> {
        Self::database(txn, name)?.ok_or_else(|| undefined_database(name))
    }

    /// The database with descriptor id `id`, or XX001 when there is none.
    pub fn must_database_by_id(txn: &TxnRef, id: u64) -> Result<DatabaseDesc> {
        match Self::descriptor(txn, id)? {
            Some(CachedDesc::Database(db)) => Ok(db),
            _ => Err(Error::new(
                code::DATA_CORRUPTED,
                format!("catalog: descriptor {id} is not a database"),
            )),
        }
    }

    /// The table `name` of `database` (None when either does not exist).
    pub fn table(txn: &TxnRef, database: &str, name: &str) -> Result<Option<Arc<TableDesc>>> {
        let Some(db) = Self::database(txn, database)? else {
            return Ok(None);
        };
        let Some(id) = Self::lookup_id(txn, db.id, name)? else {
            return Ok(None);
        };
        Self::table_by_id(txn, id)
    }

    /// The table `name` of `database`, or 42P01 `relation "name" does not exist`.
    pub fn must_table(txn: &TxnRef, database: &str, name: &str) -> Result<Arc<TableDesc>> {
        Self::table(txn, database, name)?.ok_or_else(|| undefined_table(name))
    }

    /// The table with descriptor id `id`.
    pub fn table_by_id(txn: &TxnRef, id: u64) -> Result<Option<Arc<TableDesc>>> {
        match Self::descriptor(txn, id)? {
            Some(CachedDesc::Table(t)) => Ok(Some(t)),
            Some(CachedDesc::Database(_)) => Err(Error::new(
                code::DATA_CORRUPTED,
                format!("catalog: descriptor {id} is a database, not a table"),
            )),
            None => Ok(None),
        }
    }

    /// Every database, ordered by name.
    pub fn list_databases(txn: &TxnRef) -> Result<Vec<DatabaseDesc>> {
        let mut out = Vec::new();
        for id in Self::list_ids(txn, ROOT_PARENT)? {
            if let Some(CachedDesc::Database(db)) = Self::descriptor(txn, id)? {
                out.push(db);
            }
        }
        Ok(out)
    }

    /// Every table of `database`, ordered by name (empty when the database does not exist).
    pub fn list_tables(txn: &TxnRef, database: &str) -> Result<Vec<Arc<TableDesc>>> {
        let Some(db) = Self::database(txn, database)? else {
            return Ok(Vec::new());
        };
        Self::list_tables_in(txn, db.id)
    }

    /// Every table of the database with id `db_id`, ordered by name.
    pub fn list_tables_in(txn: &TxnRef, db_id: u64) -> Result<Vec<Arc<TableDesc>>> {
        let mut out = Vec::new();
        for id in Self::list_ids(txn, db_id)? {
            if let Some(t) = Self::table_by_id(txn, id)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Allocates a fresh descriptor id.
    pub fn allocate_id(txn: &TxnRef) -> Result<u64> {
        let key = counter_key(DESC_ID_COUNTER);
        let mut g = txn.lock();
        let next = match g.get(&key)? {
            Some(v) => decode_u64(&v)?,
            None => FIRST_USER_ID,
        };
        g.put(key, (next + 1).to_be_bytes().to_vec())?;
        Ok(next)
    }

    /// Creates a database owned by `owner` (the caller checked that the name is free).
    pub fn create_database(txn: &TxnRef, name: &str, owner: &str) -> Result<DatabaseDesc> {
        let id = Self::allocate_id(txn)?;
        let db = DatabaseDesc {
            id,
            name: name.to_string(),
            owner: owner.to_string(),
            regions: None,
        };
        let value = encode_descriptor(&Descriptor::Database(db.clone()))?;
        let mut g = txn.lock();
        generation::bump(&mut **g)?;
        g.put(namespace_key(ROOT_PARENT, name), id.to_be_bytes().to_vec())?;
        g.put(descriptor_key(id), value)?;
        Ok(db)
    }

    /// Overwrites a database's descriptor (its regions changed).
    pub fn write_database(txn: &TxnRef, db: &DatabaseDesc) -> Result<()> {
        let value = encode_descriptor(&Descriptor::Database(db.clone()))?;
        let mut g = txn.lock();
        generation::bump(&mut **g)?;
        g.put(descriptor_key(db.id), value)?;
        Ok(())
    }

    /// Removes a database's descriptor and name (its tables must be dropped first).
    pub fn drop_database(txn: &TxnRef, db: &DatabaseDesc) -> Result<()> {
        let mut g = txn.lock();
        generation::bump(&mut **g)?;
        g.delete(namespace_key(ROOT_PARENT, &db.name))?;
        g.delete(descriptor_key(db.id))?;
        Ok(())
    }

    /// Writes a new table's descriptor and name (the caller allocated `t.id` and checked
    /// that the name is free).
    pub fn create_table(txn: &TxnRef, t: &TableDesc) -> Result<()> {
        let value = encode_descriptor(&Descriptor::Table(t.clone()))?;
        let mut g = txn.lock();
        generation::bump(&mut **g)?;
        g.put(namespace_key(t.db_id, &t.name), t.id.to_be_bytes().to_vec())?;
        g.put(descriptor_key(t.id), value)?;
        Ok(())
    }

    /// Overwrites a table's descriptor (a schema change).
    pub fn write_table(txn: &TxnRef, t: &TableDesc) -> Result<()> {
        let value = encode_descriptor(&Descriptor::Table(t.clone()))?;
        let mut g = txn.lock();
        generation::bump(&mut **g)?;
        g.put(descriptor_key(t.id), value)?;
        Ok(())
    }

    /// Removes a table's descriptor and name (not its data: see `storage::delete_table_data`).
    pub fn drop_table(txn: &TxnRef, t: &TableDesc) -> Result<()> {
        let mut g = txn.lock();
        generation::bump(&mut **g)?;
        g.delete(namespace_key(t.db_id, &t.name))?;
        g.delete(descriptor_key(t.id))?;
        Ok(())
    }

    /// The schema generation as `txn` sees it (None: the key does not exist yet). Reading it
    /// puts it in the transaction's read set; plans and descriptors cached under this value
    /// are valid for the transaction.
    pub fn generation(txn: &TxnRef) -> Result<Option<Generation>> {
        generation::read(&mut **txn.lock())
    }

    /// The cache entries valid for `g`'s view of the catalog (None: no generation key yet, so
    /// nothing may be cached).
    fn entries(g: &mut dyn txn::Transaction) -> Result<Option<Arc<GenEntries>>> {
        Ok(generation::read(g)?.map(|gen| DescCache::global().at(gen)))
    }

    fn lookup_id(txn: &TxnRef, parent: u64, name: &str) -> Result<Option<u64>> {
        let mut g = txn.lock();
        let entries = Self::entries(&mut **g)?;
        if let Some(hit) = entries.as_ref().and_then(|e| e.name(parent, name)) {
            return Ok(hit);
        }
        let v = g.get(&namespace_key(parent, name))?;
        let id = v.map(|v| decode_u64(&v)).transpose()?;
        if let Some(e) = entries {
            e.put_name(parent, name, id);
        }
        Ok(id)
    }

    fn descriptor(txn: &TxnRef, id: u64) -> Result<Option<CachedDesc>> {
        let mut g = txn.lock();
        let entries = Self::entries(&mut **g)?;
        if let Some(hit) = entries.as_ref().and_then(|e| e.desc(id)) {
            return Ok(hit);
        }
        let v = g.get(&descriptor_key(id))?;
        let desc = v
            .map(|v| decode_descriptor(&v).map(CachedDesc::from))
            .transpose()?;
        if let Some(e) = entries {
            e.put_desc(id, desc.clone());
        }
        Ok(desc)
    }

    /// The ids of every namespace entry under `parent`, in name order.
    fn list_ids(txn: &TxnRef, parent: u64) -> Result<Vec<u64>> {
        let start = namespace_key(parent, "");
        let end = kv::keys::prefix_end(&start);
        let mut ids = Vec::new();
        let mut from = start;
        loop {
            let page = txn.lock().scan(&from, end.as_deref(), LIST_PAGE)?;
            for (_, v) in &page.rows {
                ids.push(decode_u64(v)?);
            }
            match page.resume {
                Some(r) => from = r,
                None => return Ok(ids),
            }
        }
    }
}

/// Creates the default databases (`defaultdb`, `postgres`, `system`) when missing, in one
/// transaction. Idempotent: the server calls it at every start.
pub fn bootstrap(txns: &dyn txn::TxnSource) -> Result<()> {
    let txn: TxnRef = Arc::new(parking_lot::Mutex::new(
        txns.begin(txn::TxnOptions::default())?,
    ));
    for name in DEFAULT_DATABASES {
        if Catalog::database(&txn, name)?.is_none() {
            Catalog::create_database(&txn, name, BOOTSTRAP_OWNER)?;
        }
    }
    // A store created before the schema generation existed gets the key now, so its
    // lookups can use the descriptor cache from the first statement.
    if Catalog::generation(&txn)?.is_none() {
        generation::bump(&mut **txn.lock())?;
    }
    let Ok(m) = Arc::try_unwrap(txn) else {
        return Err(Error::internal("bootstrap: transaction still shared"));
    };
    m.into_inner().commit()?;
    Ok(())
}
