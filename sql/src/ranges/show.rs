//! `SHOW RANGES [FROM TABLE t | FROM INDEX t@i | FROM DATABASE d]`: the ranges overlapping
//! the object's key span, as the [`txn::TxnSource`] reports them.

use super::parse::ShowTarget;
use super::pretty::{Frame, KeyPrinter};
use crate::catalog::names::resolve_database_name;
use crate::catalog::{Catalog, TableDesc};
use crate::context::{Column, ExecContext, ExecResult};
use crate::types::{DataType, Datum, Row};
use crate::Result;
use kv::keys;
use std::collections::{HashMap, HashSet};
use txn::RangeInfo;

/// The result columns of `SHOW RANGES`.
pub fn columns() -> Vec<Column> {
    vec![
        Column::new("start_key", DataType::Text),
        Column::new("end_key", DataType::Text),
        Column::new("range_id", DataType::Int8),
        Column::new("replicas", DataType::Array(Box::new(DataType::Int8))),
        Column::new(
            "replica_localities",
            DataType::Array(Box::new(DataType::Text)),
        ),
        Column::new("lease_holder", DataType::Int8),
        Column::new("lease_holder_locality", DataType::Text),
        Column::new("voting_replicas", DataType::Array(Box::new(DataType::Int8))),
        Column::new(
            "non_voting_replicas",
            DataType::Array(Box::new(DataType::Int8)),
        ),
    ]
}

/// A key span `[start, end)`.
type Span = (Vec<u8>, Option<Vec<u8>>);

fn table_span(t: &TableDesc) -> Span {
    let start = keys::table_prefix(t.id);
    let end = keys::prefix_end(&start);
    (start, end)
}

/// Runs `SHOW RANGES` for `target`.
pub fn show_ranges(ctx: &ExecContext, target: &ShowTarget) -> Result<ExecResult> {
    let (spans, frame) = match target {
        ShowTarget::Current => (database_spans(ctx, &ctx.database)?, None),
        ShowTarget::Database(name) => {
            let db = resolve_database_name(name)?;
            (database_spans(ctx, &db)?, None)
        }
        ShowTarget::Table(name) => {
            let t = super::resolve_table(ctx, name)?;
            let (start, end) = table_span(&t);
            let frame = Frame {
                start: start.clone(),
                end: end.clone(),
                kind: "Table",
            };
            (vec![(start, end)], Some(frame))
        }
        ShowTarget::Index(r) => {
            let (t, idx) = super::resolve_index(ctx, r)?;
            let start = keys::index_prefix(t.id, idx.id);
            let end = keys::prefix_end(&start);
            let frame = Frame {
                start: start.clone(),
                end: end.clone(),
                kind: "Index",
            };
            (vec![(start, end)], Some(frame))
        }
    };
    let ranges = overlapping_ranges(ctx, &spans)?;
    let localities = node_localities(ctx)?;
    let mut printer = KeyPrinter::new(&ctx.txn);
    let mut rows: Vec<Row> = Vec::with_capacity(ranges.len());
    for r in &ranges {
        let (start, end) = match &frame {
            Some(f) => (
                printer.relative(Some(&r.start), false, f),
                printer.relative(r.end.as_deref(), true, f),
            ),
            None => (printer.start(&r.start), printer.end(r.end.as_deref())),
        };
        rows.push(range_row(start, end, r, &localities));
    }
    Ok(ExecResult::rows(columns(), rows, "SHOW"))
}

/// One output row.
fn range_row(start: String, end: String, r: &RangeInfo, localities: &HashMap<u64, String>) -> Row {
    let locality = |n: &u64| match localities.get(n) {
        Some(l) => Datum::Text(l.clone()),
        None => Datum::Null,
    };
    // `replicas` lists every replica, voting or not, as CockroachDB's does; the last two
    // columns tell them apart.
    let all: Vec<u64> = r.replicas.iter().chain(&r.non_voters).copied().collect();
    let ids = |v: &[u64]| Datum::Array(v.iter().map(|n| int(*n)).collect());
    vec![
        Datum::Text(start),
        Datum::Text(end),
        int(r.range_id),
        ids(&all),
        Datum::Array(all.iter().map(locality).collect()),
        r.leaseholder.map_or(Datum::Null, int),
        r.leaseholder.as_ref().map_or(Datum::Null, locality),
        ids(&r.replicas),
        ids(&r.non_voters),
    ]
}

/// A node or range id as INT8 (ids above i64::MAX, which no allocator hands out, saturate).
pub(super) fn int(v: u64) -> Datum {
    Datum::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The spans of every table of database `db` (3D000 if it does not exist).
fn database_spans(ctx: &ExecContext, db: &str) -> Result<Vec<Span>> {
    Catalog::must_database(&ctx.txn, db)?;
    Ok(Catalog::list_tables(&ctx.txn, db)?
        .iter()
        .map(|t| table_span(t))
        .collect())
}

/// The ranges overlapping any of `spans`, each once, in key order. The source's answer is
/// filtered again here, so a source that returns more than asked for is harmless.
pub(super) fn overlapping_ranges(ctx: &ExecContext, spans: &[Span]) -> Result<Vec<RangeInfo>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (start, end) in spans {
        for r in ctx.txns.ranges(start, end.as_deref())? {
            if overlaps(&r, start, end.as_deref()) && seen.insert(r.range_id) {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| a.start.cmp(&b.start));
    Ok(out)
}

/// Whether range `r` shares a key with `[start, end)`.
fn overlaps(r: &RangeInfo, start: &[u8], end: Option<&[u8]>) -> bool {
    let starts_before_end = end.is_none_or(|e| r.start.as_slice() < e);
    let ends_after_start = r.end.as_deref().is_none_or(|e| e > start);
    starts_before_end && ends_after_start
}

/// Node id -> locality, from the source's node list (empty on a single node).
pub(super) fn node_localities(ctx: &ExecContext) -> Result<HashMap<u64, String>> {
    Ok(ctx
        .txns
        .nodes()?
        .into_iter()
        .map(|n| (n.node_id, n.locality))
        .collect())
}
