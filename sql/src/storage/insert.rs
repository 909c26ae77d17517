//! Inserting rows, with the uniqueness checks of a whole batch in one read.
//!
//! A multi-row `INSERT` (the TPC-C loader's 1,000-row statements, New-Order's order lines)
//! must check every primary key and UNIQUE entry for a collision before writing it. Checking
//! row by row costs one KV round trip per row (a remote leaseholder's RPC each); here the
//! probe keys of all rows go out in one [`txn::Transaction::get_many`] (one request per range)
//! and collisions between rows of the same batch are found in memory. The outcome is the one
//! of inserting the rows one after another: the first row (in order) that fails a check,
//! of its own or against an existing row or an earlier row of the batch, decides the error,
//! and a row's uniqueness violation (23505) comes before a later row's NOT NULL or region
//! error.

use super::write::{
    check_not_null, check_region, check_shape, index_at, other_partitions, row_entries,
    unique_violation, IndexEntry,
};
use crate::catalog::TableDesc;
use crate::context::TxnRef;
use crate::types::Row;
use crate::Result;
use std::collections::HashSet;
use std::ops::Range;

/// Inserts a full row (all columns in table order, hidden ones included), maintaining every
/// index. Fails with 23505 on a primary key or unique index collision, 23502 on a NULL in a
/// NOT NULL column.
pub fn insert_row(txn: &TxnRef, t: &TableDesc, row: &Row) -> Result<()> {
    insert_rows(txn, t, std::slice::from_ref(row))
}

/// Inserts `rows` as [`insert_row`] would one after another, reading every uniqueness probe
/// in one batch (see the module doc). Nothing is written unless every row passes.
pub fn insert_rows(txn: &TxnRef, t: &TableDesc, rows: &[Row]) -> Result<()> {
    // The rows' own checks, in order: a failing row ends the batch, and its error stands
    // unless an earlier row collides.
    let mut entries: Vec<Vec<IndexEntry>> = Vec::with_capacity(rows.len());
    let mut failure = None;
    for row in rows {
        match own_checks(t, row) {
            Ok(e) => entries.push(e),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let probes = Probes::of(t, rows, &entries)?;
    let mut g = txn.lock();
    let found = if probes.keys.is_empty() {
        Vec::new()
    } else {
        g.get_many(&probes.keys)?
    };
    let mut written: HashSet<&[u8]> = HashSet::new();
    for (i, row_entries) in entries.iter().enumerate() {
        for (index, span) in probes.of_row(i) {
            let collides = span
                .clone()
                .any(|p| found[p].is_some() || written.contains(probes.keys[p].as_slice()));
            if collides {
                return Err(unique_violation(t, index_at(t, index), &rows[i]));
            }
        }
        written.extend(row_entries.iter().map(|e| e.key.as_slice()));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    for e in entries.into_iter().flatten() {
        g.put(e.key, e.value)?;
    }
    Ok(())
}

/// A row's checks that need no read, and its index entries (the primary entry first).
fn own_checks(t: &TableDesc, row: &Row) -> Result<Vec<IndexEntry>> {
    check_shape(t, row)?;
    check_not_null(t, row)?;
    check_region(t, row)?;
    row_entries(t, row)
}

/// The keys to read for a batch's uniqueness checks: for every unique entry of every row,
/// its own key and (REGIONAL BY ROW) the same key in the other regions' partitions.
struct Probes {
    keys: Vec<Vec<u8>>,
    /// Per row, per unique entry: (index position in `row_entries` order, its probes).
    checks: Vec<Vec<(usize, Range<usize>)>>,
}

impl Probes {
    fn of(t: &TableDesc, rows: &[Row], entries: &[Vec<IndexEntry>]) -> Result<Probes> {
        let mut keys = Vec::new();
        let mut checks = Vec::with_capacity(entries.len());
        for (row, row_entries) in rows.iter().zip(entries) {
            let mut mine = Vec::new();
            for (i, e) in row_entries.iter().enumerate().filter(|(_, e)| e.unique) {
                let from = keys.len();
                keys.push(e.key.clone());
                keys.extend(other_partitions(t, index_at(t, i), row, &e.key)?);
                mine.push((i, from..keys.len()));
            }
            checks.push(mine);
        }
        Ok(Probes { keys, checks })
    }

    fn of_row(&self, row: usize) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
        self.checks[row].iter().cloned()
    }
}
