//! Defensive checks on what the KV layer hands to the SQL read paths.
//!
//! The read paths decode whatever `(key, value)` pairs a transaction returns. A pair from
//! outside the requested span (a range-local key, another index's entry, a neighbouring
//! table's row) would otherwise be decoded as a row of the table being read: at best a
//! confusing `malformed row value` (XX001), at worst a wrong row returned to the client. So
//! every scanned key is checked against the span asked for (two byte-slice comparisons per
//! row), a page's resume key must move forward inside the span, and a value that does not
//! decode names the key it was read at. All of these are internal errors naming the key
//! (CockroachDB reports such invariant violations as XX000 assertion failures); nothing
//! outside the span is ever decoded.
//!
//! Seen in practice: a split racing with a request handed the request to the shrunk left-hand
//! range, whose scan answered "resume at my end", a key before the scan's start; the SQL scan
//! went on from there and decoded a neighbouring table's index entries as rows (XX001
//! `malformed row value: unknown format`). The transaction layer now refuses such requests
//! (`txn::range::Range::execute`); these checks stay as the last line of defence.
//!
//! IMPLEMENTATION CAVEATS
//! - Point reads (`Transaction::get`) return no key, so only their value is checked (it must
//!   decode, and the error names the key asked for).

use super::rowcodec::decode_row;
use crate::catalog::TableDesc;
use crate::types::Row;
use crate::{Error, Result};
use std::fmt::Write as _;

/// Bytes of a bad value shown in an error's detail.
const SHOWN_VALUE_BYTES: usize = 16;

/// XX000 unless `key` lies in `[start, end)`.
pub(crate) fn check_in_span(t: &TableDesc, key: &[u8], start: &[u8], end: &[u8]) -> Result<()> {
    if key >= start && key < end {
        return Ok(());
    }
    Err(Error::internal(format!(
        "scan of table \"{}\" returned key {} outside the requested span [{}, {})",
        t.name,
        describe_key(t, key),
        describe_key(t, start),
        describe_key(t, end)
    )))
}

/// XX000 unless the resume key of a page read from `[start, end)` lies in `(start, end]`
/// (anything else would re-read rows or read past the span).
pub(crate) fn check_resume(t: &TableDesc, resume: &[u8], start: &[u8], end: &[u8]) -> Result<()> {
    if resume > start && resume <= end {
        return Ok(());
    }
    Err(Error::internal(format!(
        "scan of table \"{}\" over [{}, {}) returned resume key {} outside the span",
        t.name,
        describe_key(t, start),
        describe_key(t, end),
        describe_key(t, resume)
    )))
}

/// XX000 unless `key`, returned by a scan of `[start, end)` (`end = None`: unbounded) that
/// deletes what it finds, lies in that span; `resume` likewise must move forward inside it.
/// Keys are shown in hex: the span need not belong to one table.
pub(crate) fn check_delete_page(
    key: Option<&[u8]>,
    resume: Option<&[u8]>,
    start: &[u8],
    end: Option<&[u8]>,
) -> Result<()> {
    let below_end = |k: &[u8], inclusive: bool| match end {
        None => true,
        Some(e) => k < e || (inclusive && k == e),
    };
    let bad = match (key, resume) {
        (Some(k), _) if k < start || !below_end(k, false) => Some(("key", k)),
        (None, Some(r)) if r <= start || !below_end(r, true) => Some(("resume key", r)),
        _ => None,
    };
    let Some((what, k)) = bad else {
        return Ok(());
    };
    let hex = |b: &[u8]| {
        let mut out = String::new();
        push_hex(&mut out, b);
        out
    };
    Err(Error::internal(format!(
        "scan of [{}, {}) for deletion returned {what} {} outside the span",
        hex(start),
        end.map_or_else(|| "/Max".to_string(), hex),
        hex(k)
    )))
}

/// [`decode_row`] of the value read at `key`; a value that does not decode is XX001 naming
/// the key, with the value's first bytes in the detail.
pub(crate) fn decode_row_at(t: &TableDesc, key: &[u8], value: &[u8]) -> Result<Row> {
    decode_row(t, value).map_err(|e| {
        let mut detail = format!(
            "value of {} bytes at {}: 0x",
            value.len(),
            describe_key(t, key)
        );
        for b in value.iter().take(SHOWN_VALUE_BYTES) {
            let _ = write!(detail, "{b:02x}");
        }
        if value.len() > SHOWN_VALUE_BYTES {
            detail.push_str("...");
        }
        Error::new(
            e.code,
            format!(
                "{} (table \"{}\", key {})",
                e.message,
                t.name,
                describe_key(t, key)
            ),
        )
        .with_detail(detail)
    })
}

/// A readable form of `key`: `/Table/<id>/<index>` with the key columns decoded when the key
/// belongs to an index of `t`, then any remaining bytes in hex; other keys in hex.
pub(crate) fn describe_key(t: &TableDesc, key: &[u8]) -> String {
    let mut out = String::new();
    let Some((&kv::keys::TABLE_PREFIX, mut rest)) = key.split_first() else {
        push_hex(&mut out, key);
        return out;
    };
    out.push_str("/Table");
    let mut ids = Vec::with_capacity(2);
    for _ in 0..2 {
        match kv::encoding::decode_u64_asc(&mut rest) {
            Ok(id) => {
                let _ = write!(out, "/{id}");
                ids.push(id);
            }
            Err(_) => break,
        }
    }
    if let [table_id, index_id] = ids.as_slice() {
        let index = (*table_id == t.id).then(|| t.index(*index_id)).flatten();
        if let Some(index) = index {
            for (pos, dir) in &index.columns {
                let Some(col) = t.columns.get(*pos) else {
                    break;
                };
                let mut probe = rest;
                match crate::ranges::pretty::decode_key_datum(&mut probe, &col.ty, *dir) {
                    Some(d) => {
                        let text = d.to_pg_text(&col.ty).unwrap_or_else(|| "NULL".into());
                        let _ = write!(out, "/{text:?}");
                        rest = probe;
                    }
                    None => break,
                }
            }
        }
    }
    if !rest.is_empty() {
        out.push('/');
        push_hex(&mut out, rest);
    }
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    out.push_str("0x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}
