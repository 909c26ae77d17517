//! Streaming scans of the primary index and of secondary indexes.
//!
//! A scan is a [`RowStream`] that pulls one page of at most [`SCAN_PAGE_ROWS`] KV pairs at a
//! time through `Transaction::scan` and resumes from the page's resume key, so memory holds one
//! page whatever the table's size. A secondary index scan turns each page of index entries
//! into rows by point lookups of their primary keys, all under one lock of the transaction
//! (the batch boundary a distributed transaction will turn into one multi-get request).
//!
//! A locking scan (`SELECT ... FOR UPDATE`, the reads of UPDATE/DELETE) reads the primary
//! index with `Transaction::scan_locking`, and a secondary index with a plain scan of the
//! entries followed by `Transaction::get_locking` of each primary row: the table rows are
//! what is locked, as in CockroachDB.
//!
//! A limited scan ([`scan_index_limited`], for a LIMIT pushed into the scan by the planner)
//! shares a [`RowBudget`] with its consumer, which counts down the rows it keeps (after the
//! scan's filter). Each page asks for no more rows than are still wanted (locking scans
//! exactly that many, so they lock no row beyond the LIMIT when nothing is filtered out;
//! plain scans grow their pages geometrically when rows are rejected), and the scan ends as
//! soon as nothing is wanted.

use super::check::{check_in_span, check_resume, decode_row_at};
use super::write::{dangling, primary_key};
use super::IndexSpan;
use crate::catalog::{IndexDesc, TableDesc};
use crate::context::{RowStream, TxnRef};
use crate::error::code;
use crate::types::Row;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use txn::LockStrength;

/// KV pairs fetched per page by scans.
pub const SCAN_PAGE_ROWS: usize = 1024;

/// Streams the rows of `spans` of the primary index, in primary key order within each span.
pub fn scan_primary(txn: &TxnRef, t: Arc<TableDesc>, spans: Vec<IndexSpan>) -> RowStream {
    scan_primary_paged(txn, t, spans, SCAN_PAGE_ROWS)
}

/// [`scan_primary`] with an explicit page size.
pub fn scan_primary_paged(
    txn: &TxnRef,
    t: Arc<TableDesc>,
    spans: Vec<IndexSpan>,
    page_rows: usize,
) -> RowStream {
    let primary = t.primary.clone();
    Box::new(IndexScan::new(txn, t, &primary, spans, page_rows, false))
}

/// [`scan_index`] that locks the rows it returns with `lock` (None: a plain scan).
pub fn scan_index_locking(
    txn: &TxnRef,
    t: Arc<TableDesc>,
    index_id: u64,
    spans: Vec<IndexSpan>,
    lock: Option<LockStrength>,
) -> RowStream {
    scan_index_with(txn, t, index_id, spans, SCAN_PAGE_ROWS, lock)
}

/// Rows a limited scan's consumer still wants; the consumer decrements it (see
/// [`consume_budget`]) for every row it keeps.
pub type RowBudget = Arc<AtomicUsize>;

/// Counts one kept row against `budget` (saturating at zero).
pub fn consume_budget(budget: &RowBudget) {
    let _ = budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// [`scan_index_locking`] that reads only as many rows as `budget` still wants (see the
/// module docs).
pub fn scan_index_limited(
    txn: &TxnRef,
    t: Arc<TableDesc>,
    index_id: u64,
    spans: Vec<IndexSpan>,
    lock: Option<LockStrength>,
    budget: RowBudget,
) -> RowStream {
    scan_index_budgeted(txn, t, index_id, spans, SCAN_PAGE_ROWS, lock, Some(budget))
}

/// Streams the full rows of `spans` of index `index_id` (the primary index too), in index
/// order within each span.
pub fn scan_index(
    txn: &TxnRef,
    t: Arc<TableDesc>,
    index_id: u64,
    spans: Vec<IndexSpan>,
) -> RowStream {
    scan_index_paged(txn, t, index_id, spans, SCAN_PAGE_ROWS)
}

/// [`scan_index`] with an explicit page size.
pub fn scan_index_paged(
    txn: &TxnRef,
    t: Arc<TableDesc>,
    index_id: u64,
    spans: Vec<IndexSpan>,
    page_rows: usize,
) -> RowStream {
    scan_index_with(txn, t, index_id, spans, page_rows, None)
}

fn scan_index_with(
    txn: &TxnRef,
    t: Arc<TableDesc>,
    index_id: u64,
    spans: Vec<IndexSpan>,
    page_rows: usize,
    lock: Option<LockStrength>,
) -> RowStream {
    scan_index_budgeted(txn, t, index_id, spans, page_rows, lock, None)
}

fn scan_index_budgeted(
    txn: &TxnRef,
    t: Arc<TableDesc>,
    index_id: u64,
    spans: Vec<IndexSpan>,
    page_rows: usize,
    lock: Option<LockStrength>,
    budget: Option<RowBudget>,
) -> RowStream {
    let Some(index) = t.index(index_id).cloned() else {
        let err = Error::new(
            code::UNDEFINED_OBJECT,
            format!("index {index_id} of table \"{}\" does not exist", t.name),
        );
        return Box::new(std::iter::once(Err(err)));
    };
    let secondary = index.id != t.primary.id;
    let mut scan = IndexScan::new(txn, t, &index, spans, page_rows, secondary);
    scan.lock = lock;
    scan.budget = budget;
    Box::new(scan)
}

struct IndexScan {
    txn: TxnRef,
    table: Arc<TableDesc>,
    /// Spans still to scan, clamped to the index.
    spans: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// The span being scanned: where its next page starts and where it ends.
    current: Option<(Vec<u8>, Vec<u8>)>,
    rows: VecDeque<Row>,
    page_rows: usize,
    /// Whether entries are secondary index entries (value = pk suffix) to look up.
    secondary: bool,
    /// Lock the rows read (primary keys) with this strength.
    lock: Option<LockStrength>,
    /// Rows the consumer still wants (limited scans).
    budget: Option<RowBudget>,
    /// Size asked for by the previous page (limited scans grow from it).
    last_page: usize,
    done: bool,
}

impl IndexScan {
    fn new(
        txn: &TxnRef,
        table: Arc<TableDesc>,
        index: &IndexDesc,
        spans: Vec<IndexSpan>,
        page_rows: usize,
        secondary: bool,
    ) -> Self {
        let full = super::full_index_span(&table, index);
        let index_end = full.end.unwrap_or_default();
        let spans = spans
            .into_iter()
            .map(|s| {
                let start = s.start.max(full.start.clone());
                let end = s
                    .end
                    .map_or(index_end.clone(), |e| e.min(index_end.clone()));
                (start, end)
            })
            .filter(|(s, e)| s < e)
            .collect();
        IndexScan {
            txn: txn.clone(),
            table,
            spans,
            current: None,
            rows: VecDeque::new(),
            page_rows: page_rows.max(1),
            secondary,
            lock: None,
            budget: None,
            last_page: 0,
            done: false,
        }
    }

    /// Rows to ask for in the next page; None when a limited scan's consumer wants no more.
    fn page_size(&mut self) -> Option<usize> {
        let Some(b) = &self.budget else {
            return Some(self.page_rows);
        };
        let wanted = b.load(Ordering::Relaxed);
        if wanted == 0 {
            return None;
        }
        // A locking scan never reads (locks) more than is still wanted; a plain one grows
        // its pages when its filter rejected rows, to bound the number of round trips.
        let n = if self.lock.is_some() {
            wanted
        } else {
            wanted.max(self.last_page.saturating_mul(2))
        };
        self.last_page = n.min(self.page_rows);
        Some(self.last_page)
    }

    /// Fetches the next non-empty page into `self.rows`; false when every span is done.
    fn fill(&mut self) -> Result<bool> {
        while self.rows.is_empty() {
            let Some(page_rows) = self.page_size() else {
                return Ok(false);
            };
            let (start, end) = match self.current.take() {
                Some(c) => c,
                None => match self.spans.pop_front() {
                    Some(s) => s,
                    None => return Ok(false),
                },
            };
            let mut g = self.txn.lock();
            let page = match (self.lock, self.secondary) {
                (Some(l), false) => g.scan_locking(&start, Some(&end), page_rows, l)?,
                _ => g.scan(&start, Some(&end), page_rows)?,
            };
            for (k, v) in page.rows {
                // Nothing outside the span asked for is decoded (see `check`).
                check_in_span(&self.table, &k, &start, &end)?;
                let row = if self.secondary {
                    let pk = primary_key(&self.table, &v);
                    let idx = &self.table.primary;
                    let row = match self.lock {
                        Some(l) => g.get_locking(&pk, l)?,
                        None => g.get(&pk)?,
                    };
                    let value = row.ok_or_else(|| dangling(&self.table, idx))?;
                    decode_row_at(&self.table, &pk, &value)?
                } else {
                    decode_row_at(&self.table, &k, &v)?
                };
                self.rows.push_back(row);
            }
            if let Some(r) = &page.resume {
                check_resume(&self.table, r, &start, &end)?;
            }
            self.current = page.resume.map(|r| (r, end));
        }
        Ok(true)
    }
}

impl Iterator for IndexScan {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        if self.done {
            return None;
        }
        if let Some(r) = self.rows.pop_front() {
            return Some(Ok(r));
        }
        match self.fill() {
            Ok(true) => self.rows.pop_front().map(Ok),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
