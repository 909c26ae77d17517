//! Table storage: how rows and index entries map onto KV pairs.
//!
//! ```text
//! /Table/<table_id>/1/<pk cols>                       -> row value (every column, by column id)
//! /Table/<table_id>/<idx>/<idx cols>                  -> pk suffix   (UNIQUE, no NULL in idx cols)
//! /Table/<table_id>/<idx>/<idx cols><pk suffix>       -> pk suffix   (non-unique, or a NULL present)
//! ```
//! Key columns use kv::encoding's order-preserving encoding with each index column's direction
//! ([`keycodec`]), so an index range is a key range. The primary index value is the compact
//! row encoding of [`rowcodec`]. Secondary index values hold the pk suffix in every case so a
//! lookup never has to decode key bytes.
//!
//! Unique indexes follow PostgreSQL: NULLs are distinct, so an entry with a NULL in its
//! columns is keyed with the primary key appended and never collides.
//!
//! IMPLEMENTATION CAVEATS
//! - Deleting a table's or an index's data (DROP, TRUNCATE) deletes every key through the
//!   transaction ([`delete_span`]), so it costs one buffered delete per key and its memory is
//!   proportional to the data; a KV range-delete (and CockroachDB's deferred GC job) is future
//!   work.
//! - Index lookups during a secondary index scan are one `get` per row, batched only in the
//!   sense that a page of lookups happens under one lock of the transaction (no multi-get in
//!   the Transaction trait yet).
//! - JSONB keys encode the JSON text: equality works, the order is not PostgreSQL's jsonb order.

mod check;
#[cfg(test)]
mod check_tests;
mod insert;
pub mod keycodec;
pub mod rowcodec;
pub mod scan;
#[cfg(test)]
mod tests;
pub mod write;

pub use insert::{insert_row, insert_rows};
pub use scan::{
    consume_budget, scan_index, scan_index_limited, scan_index_locking, scan_index_paged,
    scan_primary, scan_primary_paged, RowBudget, SCAN_PAGE_ROWS,
};
pub use write::{
    delete_row, find_conflict, get_by_primary_key, get_by_primary_key_locking,
    get_many_by_primary_key, unique_violation, update_row,
};

use crate::catalog::{IndexDesc, TableDesc};
use crate::context::TxnRef;
use crate::types::Datum;
use crate::Result;
use std::sync::atomic::{AtomicI64, Ordering};

/// A span of one index in key bytes: `[start, end)`, `end = None` meaning the index's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpan {
    /// First key (inclusive).
    pub start: Vec<u8>,
    /// End key (exclusive); None: to the end of the index.
    pub end: Option<Vec<u8>>,
}

impl IndexSpan {
    /// The span of every key starting with `prefix` (an equality constraint).
    pub fn prefix(prefix: Vec<u8>) -> IndexSpan {
        let end = kv::keys::prefix_end(&prefix);
        IndexSpan { start: prefix, end }
    }
}

/// The key prefix of `index` with its first `values.len()` columns equal to `values` (encoded
/// with each column's type and direction). `IndexSpan::prefix` of it is the equality span;
/// its bytes also bound range spans (`prefix_end` for "greater than").
pub fn index_key_prefix(t: &TableDesc, index: &IndexDesc, values: &[Datum]) -> Result<Vec<u8>> {
    let mut k = kv::keys::index_prefix(t.id, index.id);
    keycodec::encode_index_values(&mut k, t, index, values)?;
    Ok(k)
}

/// Every key of `index`.
pub fn full_index_span(t: &TableDesc, index: &IndexDesc) -> IndexSpan {
    IndexSpan::prefix(kv::keys::index_prefix(t.id, index.id))
}

/// Page size of [`delete_span`].
const DELETE_PAGE: usize = 1024;

/// Deletes every key in `[start, end)` through the transaction; returns how many.
pub fn delete_span(txn: &TxnRef, start: &[u8], end: Option<&[u8]>) -> Result<u64> {
    let mut from = start.to_vec();
    let mut n = 0;
    loop {
        let mut g = txn.lock();
        let page = g.scan(&from, end, DELETE_PAGE)?;
        // Never delete a key the scan should not have returned (see `check`).
        for (k, _) in &page.rows {
            check::check_delete_page(Some(k), None, &from, end)?;
        }
        check::check_delete_page(None, page.resume.as_deref(), &from, end)?;
        for (k, _) in page.rows {
            g.delete(k)?;
            n += 1;
        }
        match page.resume {
            Some(r) => from = r,
            None => return Ok(n),
        }
    }
}

/// Deletes all data of a table (every index).
pub fn delete_table_data(txn: &TxnRef, table_id: u64) -> Result<u64> {
    let prefix = kv::keys::table_prefix(table_id);
    delete_span(txn, &prefix, kv::keys::prefix_end(&prefix).as_deref())
}

/// Deletes all entries of one index.
pub fn delete_index_data(txn: &TxnRef, t: &TableDesc, index: &IndexDesc) -> Result<u64> {
    let span = full_index_span(t, index);
    delete_span(txn, &span.start, span.end.as_deref())
}

/// Writes the entries of the (new) secondary index `index` for every row of `t`, checking
/// uniqueness: the backfill of CREATE INDEX.
pub fn backfill_index(
    txn: &TxnRef,
    t: std::sync::Arc<TableDesc>,
    index: &IndexDesc,
) -> Result<u64> {
    let span = full_index_span(&t, &t.primary);
    let rows = scan_primary(txn, t.clone(), vec![span]);
    let mut n = 0;
    for row in rows {
        let row = row?;
        let pk = write::pk_suffix(&t, &row)?;
        let e = write::secondary_entry(&t, index, &row, &pk)?;
        let mut g = txn.lock();
        if e.unique && g.get(&e.key)?.is_some() {
            return Err(duplicate_in_new_index(&t, index, &row));
        }
        g.put(e.key, e.value)?;
        n += 1;
    }
    Ok(n)
}

/// PostgreSQL's error when a new unique index finds duplicates:
/// `could not create unique index "i"`, detail `Key (a)=(1) is duplicated.`
fn duplicate_in_new_index(t: &TableDesc, index: &IndexDesc, row: &[Datum]) -> crate::Error {
    let e = unique_violation(t, index, row);
    let detail = e
        .detail
        .unwrap_or_default()
        .replace("already exists.", "is duplicated.");
    crate::Error::new(
        crate::error::code::UNIQUE_VIOLATION,
        format!("could not create unique index \"{}\"", index.name),
    )
    .with_detail(detail)
}

/// Process-wide state of [`unique_rowid`]: the last id handed out.
static LAST_ROWID: AtomicI64 = AtomicI64::new(0);

/// Bits of a rowid below the timestamp (CockroachDB: 15 bits of node id).
const ROWID_NODE_BITS: u32 = 15;
/// This node's id in rowids (single node for now).
const ROWID_NODE_ID: i64 = 1;

/// A unique, roughly time-ordered INT8: the default of hidden `rowid` columns and of SERIAL
/// columns (CockroachDB's `unique_rowid()`): 10-microsecond wall-clock units shifted left 15
/// bits, or'ed with the node id, and strictly increasing within the process even if the wall
/// clock steps back.
pub fn unique_rowid() -> i64 {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let candidate = ((micros / 10) << ROWID_NODE_BITS) | ROWID_NODE_ID;
    let mut last = LAST_ROWID.load(Ordering::Relaxed);
    loop {
        let next = if candidate > last {
            candidate
        } else {
            last + (1 << ROWID_NODE_BITS)
        };
        match LAST_ROWID.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => last = actual,
        }
    }
}
