//! Human-readable keys, CockroachDB style: `/Table/104/1/42/"abc"`.
//!
//! A table key is `/Table/<table id>/<index id>` followed by the index's key columns decoded
//! with the column types and directions of the table's descriptor (read through the
//! statement's transaction, once per table), then, for a secondary index, the primary key
//! columns that complete its entries. Whatever cannot be decoded (a dropped table, a partial
//! value, bytes after the last column) is shown as `/0x<hex>`. Outside `/Table` the key space
//! is `/Min` (the empty key), `/Local/…`, `/Meta/…`, `/System/<kind>/…` and `/Max` (no end).
//!
//! Inside the span a `SHOW RANGES FROM TABLE|INDEX` asks about, keys are shown relative to it
//! (`…/1/42`, `…/42`; the span's own bounds as `…/<TableMin>` / `…/<TableMax>`, resp.
//! `<IndexMin>`/`<IndexMax>`); outside it as `<before:/Table/…>` / `<after:/Table/…>`.

use crate::catalog::{Catalog, TableDesc};
use crate::context::TxnRef;
use crate::types::{DataType, Datum};
use kv::encoding::{self as enc, Direction};
use kv::keys;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// Prints keys, caching the table descriptors it needs.
pub struct KeyPrinter<'a> {
    txn: &'a TxnRef,
    tables: HashMap<u64, Option<Arc<TableDesc>>>,
}

/// A span keys are shown relative to.
#[derive(Debug, Clone)]
pub struct Frame {
    /// First key of the span.
    pub start: Vec<u8>,
    /// First key after it.
    pub end: Option<Vec<u8>>,
    /// `Table` or `Index`: the names of the bounds (`<TableMin>`...).
    pub kind: &'static str,
}

impl<'a> KeyPrinter<'a> {
    /// A printer reading descriptors through `txn`.
    pub fn new(txn: &'a TxnRef) -> Self {
        KeyPrinter {
            txn,
            tables: HashMap::new(),
        }
    }

    /// The full pretty form of a range's start key.
    pub fn start(&mut self, key: &[u8]) -> String {
        if key.is_empty() {
            "/Min".into()
        } else {
            self.full(key)
        }
    }

    /// The full pretty form of a range's end key (`None`: the end of the key space).
    pub fn end(&mut self, key: Option<&[u8]>) -> String {
        match key {
            None => "/Max".into(),
            Some(k) => self.start(k),
        }
    }

    /// A range's start (`is_end` false) or end key relative to `frame`.
    pub fn relative(&mut self, key: Option<&[u8]>, is_end: bool, frame: &Frame) -> String {
        let kind = frame.kind;
        let Some(k) = key else {
            return format!("<after:{}>", self.end(None));
        };
        if k < frame.start.as_slice() || (k == frame.start.as_slice() && is_end) {
            return format!("<before:{}>", self.start(k));
        }
        if k == frame.start.as_slice() {
            return format!("…/<{kind}Min>");
        }
        match frame.end.as_deref() {
            Some(e) if k == e && is_end => format!("…/<{kind}Max>"),
            Some(e) if k >= e => format!("<after:{}>", self.start(k)),
            _ => {
                let full = self.full(k);
                let prefix = self.full(&frame.start);
                match full.strip_prefix(&prefix) {
                    Some(rest) => format!("…{rest}"),
                    None => full,
                }
            }
        }
    }

    /// The full pretty form of a non-empty key.
    pub fn full(&mut self, key: &[u8]) -> String {
        let Some((&first, rest)) = key.split_first() else {
            return "/Min".into();
        };
        match first {
            keys::TABLE_PREFIX => self.table_key(rest),
            keys::SYSTEM_PREFIX => match rest.split_first() {
                Some((kind, r)) => format!("/System/{kind}{}", hex_suffix(r)),
                None => "/System".into(),
            },
            keys::META_PREFIX => format!("/Meta{}", hex_suffix(rest)),
            keys::LOCAL_PREFIX => format!("/Local{}", hex_suffix(rest)),
            _ => hex_suffix(key),
        }
    }

    fn table_key(&mut self, mut rest: &[u8]) -> String {
        let mut out = String::from("/Table");
        let Ok(table_id) = enc::decode_u64_asc(&mut rest) else {
            out.push_str(&hex_suffix(rest));
            return out;
        };
        let _ = write!(out, "/{table_id}");
        let Ok(index_id) = enc::decode_u64_asc(&mut rest) else {
            out.push_str(&hex_suffix(rest));
            return out;
        };
        let _ = write!(out, "/{index_id}");
        if let Some(t) = self.table(table_id) {
            if let Some(idx) = t.index(index_id) {
                rest = append_columns(&mut out, rest, &t, &idx.columns);
                if idx.id != t.primary.id && !rest.is_empty() {
                    // A non-unique (or NULL-holding) entry ends with the primary key.
                    rest = append_columns(&mut out, rest, &t, &t.primary.columns);
                }
            }
        }
        out.push_str(&hex_suffix(rest));
        out
    }

    fn table(&mut self, id: u64) -> Option<Arc<TableDesc>> {
        let txn = self.txn;
        self.tables
            .entry(id)
            .or_insert_with(|| Catalog::table_by_id(txn, id).ok().flatten())
            .clone()
    }
}

/// Decodes `columns` from the front of `rest` onto `out` (stopping at the first value that
/// does not decode); returns what is left.
fn append_columns<'k>(
    out: &mut String,
    mut rest: &'k [u8],
    t: &TableDesc,
    columns: &[(usize, Direction)],
) -> &'k [u8] {
    for (pos, dir) in columns {
        if rest.is_empty() {
            break;
        }
        let Some(col) = t.columns.get(*pos) else {
            break;
        };
        match decode_key_datum(&mut rest, &col.ty, *dir) {
            Some(d) => {
                out.push('/');
                out.push_str(&show_datum(&d, &col.ty));
            }
            None => break,
        }
    }
    rest
}

/// `/0x<hex>`, or nothing for no bytes.
fn hex_suffix(b: &[u8]) -> String {
    if b.is_empty() {
        return String::new();
    }
    let mut s = String::from("/0x");
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Decodes one key value written by `storage::keycodec` for a column of type `ty`;
/// `None` (input untouched) when the bytes are not such a value.
pub fn decode_key_datum(input: &mut &[u8], ty: &DataType, dir: Direction) -> Option<Datum> {
    if enc::decode_is_null(input, dir) {
        return Some(Datum::Null);
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some(match ty {
        DataType::Bool => Datum::Bool(enc::decode_bool(input, dir).ok()?),
        DataType::Int2 | DataType::Int4 | DataType::Int8 => {
            Datum::Int(enc::decode_i64(input, dir).ok()?)
        }
        DataType::Float4 | DataType::Float8 => Datum::Float(enc::decode_f64(input, dir).ok()?),
        DataType::Numeric(_) => Datum::Decimal(enc::decode_decimal(input, dir).ok()?),
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Unknown => {
            Datum::Text(enc::decode_str(input, dir).ok()?)
        }
        DataType::Jsonb => Datum::Text(enc::decode_str(input, dir).ok()?),
        DataType::Bytea => Datum::Bytes(enc::decode_bytes(input, dir).ok()?),
        DataType::Uuid => {
            let mut probe = *input;
            let b = enc::decode_bytes(&mut probe, dir).ok()?;
            let u = uuid::Uuid::from_slice(&b).ok()?;
            *input = probe;
            Datum::Uuid(u)
        }
        DataType::Date => {
            let mut probe = *input;
            let days = enc::decode_i64(&mut probe, dir).ok()?;
            let d = epoch.checked_add_signed(chrono::Duration::try_days(days)?)?;
            *input = probe;
            Datum::Date(d)
        }
        DataType::Timestamp | DataType::TimestampTz => {
            let mut probe = *input;
            let micros = enc::decode_i64(&mut probe, dir).ok()?;
            let t = chrono::DateTime::from_timestamp_micros(micros)?;
            *input = probe;
            if *ty == DataType::Timestamp {
                Datum::Timestamp(t.naive_utc())
            } else {
                Datum::TimestampTz(t)
            }
        }
        // Intervals are keyed by their total span: show that number of microseconds.
        DataType::Interval => Datum::Decimal(enc::decode_decimal(input, dir).ok()?),
        _ => return None,
    })
}

/// One decoded key value as CockroachDB prints it: numbers bare, strings double-quoted,
/// NULL as `NULL`, other types in their PostgreSQL text form.
fn show_datum(d: &Datum, ty: &DataType) -> String {
    match d {
        Datum::Null => "NULL".into(),
        Datum::Text(s) => format!("{s:?}"),
        Datum::Bool(b) => b.to_string(),
        Datum::Decimal(x) if *ty == DataType::Interval => format!("{x}us"),
        Datum::Bytes(b) => format!("\"\\x{}\"", hex_suffix(b).trim_start_matches("/0x")),
        other => other.to_pg_text(ty).unwrap_or_default(),
    }
}
