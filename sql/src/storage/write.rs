//! Writing rows: the primary index entry plus one entry per secondary index, with PRIMARY KEY,
//! UNIQUE and NOT NULL enforcement.
//!
//! Index entry layout (`/Table/<table>/<index>/...`, see [`super`] for the full picture):
//! - primary: key = pk columns, value = the encoded row;
//! - unique secondary, no NULL among its columns: key = index columns, value = pk suffix;
//! - unique secondary with a NULL (NULLs are distinct in PostgreSQL, so not constrained) and
//!   every non-unique secondary: key = index columns + pk suffix, value = pk suffix.
//!
//! Every uniqueness check of a row happens before any of its writes, so a violation leaves the
//! transaction's buffer untouched by that row.
//!
//! REGIONAL BY ROW tables (see `crate::multiregion`): every index starts with the region
//! column, so the KV key alone only makes a key unique within one region. The primary key and
//! UNIQUE indexes are unique across regions: a write also checks the same key in every other
//! region's partition ([`other_partitions`]; one point read per other region, skipped for a
//! single key column defaulting to `unique_rowid()` or `gen_random_uuid()`, unique by
//! construction, as CockroachDB does). The region value itself must be one of
//! the database's regions.

use super::check::decode_row_at;
use super::keycodec::encode_index_columns;
use super::rowcodec::encode_row;
use crate::catalog::{IndexDesc, TableDesc, UNIQUE_ROWID_DEFAULT};
use crate::context::TxnRef;
use crate::error::code;
use crate::types::{Datum, Row};
use crate::{Error, Result};

/// One KV entry of one index for one row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Whether another row may not have the same key (UNIQUE without NULLs, or primary).
    pub unique: bool,
}

/// The encoded primary key columns of `row` (the part after `/Table/<id>/1/`).
pub(crate) fn pk_suffix(t: &TableDesc, row: &[Datum]) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(16);
    encode_index_columns(&mut buf, t, &t.primary, row)?;
    Ok(buf)
}

/// The primary index key of `row`.
pub(crate) fn primary_key(t: &TableDesc, suffix: &[u8]) -> Vec<u8> {
    let mut k = kv::keys::index_prefix(t.id, t.primary.id);
    k.extend_from_slice(suffix);
    k
}

/// The entry of secondary index `idx` for `row`.
pub(crate) fn secondary_entry(
    t: &TableDesc,
    idx: &IndexDesc,
    row: &[Datum],
    pk: &[u8],
) -> Result<IndexEntry> {
    let mut key = kv::keys::index_prefix(t.id, idx.id);
    encode_index_columns(&mut key, t, idx, row)?;
    let has_null = idx
        .columns
        .iter()
        .any(|(p, _)| row.get(*p).is_none_or(Datum::is_null));
    let unique = idx.unique && !has_null;
    if !unique {
        key.extend_from_slice(pk);
    }
    Ok(IndexEntry {
        key,
        value: pk.to_vec(),
        unique,
    })
}

/// Every index entry of `row`: the primary entry first.
pub(crate) fn row_entries(t: &TableDesc, row: &[Datum]) -> Result<Vec<IndexEntry>> {
    let pk = pk_suffix(t, row)?;
    let mut out = Vec::with_capacity(1 + t.indexes.len());
    out.push(IndexEntry {
        key: primary_key(t, &pk),
        value: encode_row(t, row)?,
        unique: true,
    });
    for idx in &t.indexes {
        out.push(secondary_entry(t, idx, row, &pk)?);
    }
    Ok(out)
}

/// The key columns a user sees in `index`: without the leading region column of a
/// REGIONAL BY ROW table (CockroachDB's implicit partitioning column).
fn user_key_columns<'a>(
    t: &TableDesc,
    index: &'a IndexDesc,
) -> &'a [(usize, kv::encoding::Direction)] {
    match (t.row_partitioning(), index.columns.split_first()) {
        (Some((pos, _)), Some((first, rest))) if first.0 == pos && !rest.is_empty() => rest,
        _ => &index.columns,
    }
}

/// The default of UUID keys that are unique by construction.
const GEN_RANDOM_UUID_DEFAULT: &str = "gen_random_uuid()";

/// For a REGIONAL BY ROW table: the keys that `key` (the entry of `row` in `index`) would have
/// in every other region's partition. Empty for other tables, and for the hidden
/// `unique_rowid()` primary key.
pub(crate) fn other_partitions(
    t: &TableDesc,
    index: &IndexDesc,
    row: &[Datum],
    key: &[u8],
) -> Result<Vec<Vec<u8>>> {
    let Some((pos, regions)) = t.row_partitioning() else {
        return Ok(Vec::new());
    };
    if index.columns.first().map(|(p, _)| *p) != Some(pos) {
        return Ok(Vec::new());
    }
    if let [(p, _)] = user_key_columns(t, index) {
        // Generated unique values need no check (CockroachDB skips them too, by default).
        let generated = t.columns.get(*p).and_then(|c| c.default_expr.as_deref());
        if matches!(
            generated,
            Some(UNIQUE_ROWID_DEFAULT | GEN_RANDOM_UUID_DEFAULT)
        ) {
            return Ok(Vec::new());
        }
    }
    let (Some(col), Some(own_value)) = (t.columns.get(pos), row.get(pos)) else {
        return Err(Error::internal("region column out of range"));
    };
    let prefix = kv::keys::index_prefix(t.id, index.id);
    let mut own = prefix.clone();
    super::keycodec::encode_key_datum(&mut own, own_value, &col.ty, kv::encoding::Direction::Asc)?;
    let rest = key
        .strip_prefix(own.as_slice())
        .ok_or_else(|| Error::internal("index key without its region prefix"))?;
    let mut out = Vec::with_capacity(regions.len());
    for r in regions {
        let value = Datum::Text(r.clone());
        if &value == own_value {
            continue;
        }
        let mut k = prefix.clone();
        super::keycodec::encode_key_datum(&mut k, &value, &col.ty, kv::encoding::Direction::Asc)?;
        k.extend_from_slice(rest);
        out.push(k);
    }
    Ok(out)
}

/// 22P02 unless the region column of a REGIONAL BY ROW table's row names a database region.
pub(super) fn check_region(t: &TableDesc, row: &[Datum]) -> Result<()> {
    let Some((pos, regions)) = t.row_partitioning() else {
        return Ok(());
    };
    match row.get(pos) {
        Some(Datum::Text(r)) if regions.contains(r) => Ok(()),
        Some(d) => Err(Error::new(
            code::INVALID_TEXT_REPRESENTATION,
            format!(
                "invalid input value for enum crdb_internal_region: \"{}\"",
                d.to_pg_text(&crate::types::DataType::Text)
                    .unwrap_or_default()
            ),
        )
        .with_hint(format!("valid regions: {}", regions.join(", ")))),
        None => Err(Error::internal("region column out of range")),
    }
}

/// Whether `key` collides with an existing entry: the key itself, or (REGIONAL BY ROW) the
/// same key in another region's partition that is not one of `except`.
fn collides(
    g: &mut Box<dyn txn::Transaction>,
    t: &TableDesc,
    index: &IndexDesc,
    row: &[Datum],
    key: &[u8],
    except: &[&[u8]],
) -> Result<Option<Vec<u8>>> {
    if !except.contains(&key) && g.get(key)?.is_some() {
        return Ok(Some(key.to_vec()));
    }
    for k in other_partitions(t, index, row, key)? {
        if !except.contains(&k.as_slice()) && g.get(&k)?.is_some() {
            return Ok(Some(k));
        }
    }
    Ok(None)
}

/// 23505 with PostgreSQL's message and detail for a row that collides on `index`.
pub fn unique_violation(t: &TableDesc, index: &IndexDesc, row: &[Datum]) -> Error {
    let cols = user_key_columns(t, index);
    let names: Vec<&str> = cols
        .iter()
        .map(|(p, _)| t.columns.get(*p).map_or("?", |c| c.name.as_str()))
        .collect();
    let names = names.join(", ");
    let values: Vec<String> = cols
        .iter()
        .map(|(p, _)| match (row.get(*p), t.columns.get(*p)) {
            (Some(d), Some(c)) => d.to_pg_text(&c.ty).unwrap_or_else(|| "null".into()),
            _ => "?".into(),
        })
        .collect();
    Error::new(
        code::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            index.name
        ),
    )
    .with_detail(format!(
        "Key ({names})=({}) already exists.",
        values.join(", ")
    ))
}

/// 23502 for the first NOT NULL column of `row` holding NULL.
pub(super) fn check_not_null(t: &TableDesc, row: &[Datum]) -> Result<()> {
    for (c, d) in t.columns.iter().zip(row) {
        if !c.nullable && d.is_null() {
            let shown: Vec<String> = t
                .visible_columns()
                .map(|(p, col)| {
                    row.get(p)
                        .and_then(|d| d.to_pg_text(&col.ty))
                        .unwrap_or_else(|| "null".into())
                })
                .collect();
            return Err(Error::new(
                code::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    c.name, t.name
                ),
            )
            .with_detail(format!("Failing row contains ({}).", shown.join(", "))));
        }
    }
    Ok(())
}

pub(super) fn check_shape(t: &TableDesc, row: &[Datum]) -> Result<()> {
    if row.len() == t.columns.len() {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "row of {} values for table \"{}\" of {} columns",
            row.len(),
            t.name,
            t.columns.len()
        )))
    }
}

/// The index (primary first) whose entry `i` is in [`row_entries`] order.
pub(super) fn index_at(t: &TableDesc, i: usize) -> &IndexDesc {
    if i == 0 {
        &t.primary
    } else {
        &t.indexes[i - 1]
    }
}

/// Replaces `old` (as read) by `new`, rewriting only the index entries that changed. A
/// changed primary key moves the row (delete + insert), checked for collisions.
pub fn update_row(txn: &TxnRef, t: &TableDesc, old: &Row, new: &Row) -> Result<()> {
    check_shape(t, old)?;
    check_shape(t, new)?;
    check_not_null(t, new)?;
    check_region(t, new)?;
    let before = row_entries(t, old)?;
    let after = row_entries(t, new)?;
    let mut g = txn.lock();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if a.unique
            && a.key != b.key
            && collides(&mut g, t, index_at(t, i), new, &a.key, &[&b.key])?.is_some()
        {
            return Err(unique_violation(t, index_at(t, i), new));
        }
    }
    for (b, a) in before.iter().zip(&after) {
        if b.key != a.key {
            g.delete(b.key.clone())?;
        }
    }
    for (b, a) in before.into_iter().zip(after) {
        if b != a {
            g.put(a.key, a.value)?;
        }
    }
    Ok(())
}

/// Deletes a row (as read) and its entries in every index.
pub fn delete_row(txn: &TxnRef, t: &TableDesc, row: &Row) -> Result<()> {
    check_shape(t, row)?;
    let entries = row_entries(t, row)?;
    let mut g = txn.lock();
    for e in entries {
        g.delete(e.key)?;
    }
    Ok(())
}

/// The row whose primary key columns equal `pk` (in primary index column order).
pub fn get_by_primary_key(txn: &TxnRef, t: &TableDesc, pk: &[Datum]) -> Result<Option<Row>> {
    get_by_primary_key_locking(txn, t, pk, None)
}

/// [`get_by_primary_key`] that locks the row's key with `lock` (None: a plain read).
pub fn get_by_primary_key_locking(
    txn: &TxnRef,
    t: &TableDesc,
    pk: &[Datum],
    lock: Option<txn::LockStrength>,
) -> Result<Option<Row>> {
    let key = row_key_of(t, pk)?;
    let value = match lock {
        Some(l) => txn.lock().get_locking(&key, l)?,
        None => txn.lock().get(&key)?,
    };
    value.map(|v| decode_row_at(t, &key, &v)).transpose()
}

/// The KV key of the row with primary key `pk` (all its columns).
fn row_key_of(t: &TableDesc, pk: &[Datum]) -> Result<Vec<u8>> {
    if pk.len() != t.primary.columns.len() {
        return Err(Error::internal(format!(
            "{} values for the {}-column primary key of \"{}\"",
            pk.len(),
            t.primary.columns.len(),
            t.name
        )));
    }
    let mut suffix = Vec::with_capacity(16);
    super::keycodec::encode_index_values(&mut suffix, t, &t.primary, pk)?;
    Ok(primary_key(t, &suffix))
}

/// The rows with primary keys `pks` (each a full primary key; None: no such row), read with
/// one [`txn::Transaction::get_many`]: one request per range rather than one per key.
pub fn get_many_by_primary_key(
    txn: &TxnRef,
    t: &TableDesc,
    pks: &[Vec<Datum>],
) -> Result<Vec<Option<Row>>> {
    let keys = pks
        .iter()
        .map(|pk| row_key_of(t, pk))
        .collect::<Result<Vec<_>>>()?;
    let values = txn.lock().get_many(&keys)?;
    keys.iter()
        .zip(values)
        .map(|(k, v)| v.map(|v| decode_row_at(t, k, &v)).transpose())
        .collect()
}

/// The existing row that `row` would collide with on the primary key or a unique index, with
/// the id of that index (for ON CONFLICT and UPSERT). Checks the primary key first.
pub fn find_conflict(txn: &TxnRef, t: &TableDesc, row: &Row) -> Result<Option<(u64, Row)>> {
    check_shape(t, row)?;
    let entries = row_entries(t, row)?;
    let mut g = txn.lock();
    for (i, e) in entries.iter().enumerate() {
        if !e.unique {
            continue;
        }
        let Some(key) = collides(&mut g, t, index_at(t, i), row, &e.key, &[])? else {
            continue;
        };
        let Some(v) = g.get(&key)? else { continue };
        let (row_key, existing) = if i == 0 {
            (key, v)
        } else {
            let pk = primary_key(t, &v);
            let row = g.get(&pk)?.ok_or_else(|| dangling(t, index_at(t, i)))?;
            (pk, row)
        };
        return Ok(Some((
            index_at(t, i).id,
            decode_row_at(t, &row_key, &existing)?,
        )));
    }
    Ok(None)
}

/// XX001 for an index entry whose row is missing.
pub(crate) fn dangling(t: &TableDesc, idx: &IndexDesc) -> Error {
    Error::new(
        code::DATA_CORRUPTED,
        format!(
            "index \"{}\" of \"{}\" points at a missing row",
            idx.name, t.name
        ),
    )
}
