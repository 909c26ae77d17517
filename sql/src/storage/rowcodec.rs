//! Row values: the compact binary encoding of a table row stored as the primary index value.
//!
//! ```text
//! row    := 0x01 (format) { column_id:uvarint value }*     (NULL columns are omitted)
//! value  := tag payload
//!   0x01 false | 0x02 true
//!   0x03 int: zigzag varint          0x04 float: 8 bytes LE IEEE bits
//!   0x05 decimal: 16 bytes (rust_decimal::Decimal::serialize)
//!   0x06 text / 0x07 bytes / 0x0d json text: uvarint length + bytes
//!   0x08 date: zigzag varint days since 0001-01-01 (CE day 1)
//!   0x09 timestamp / 0x0a timestamptz: zigzag varint microseconds since the Unix epoch
//!   0x0b interval: zigzag varint months, days, micros
//!   0x0c uuid: 16 bytes
//! ```
//!
//! Why keyed by column id: a column added later is simply absent from old rows (it reads as
//! NULL, or the default is backfilled), and bytes of a dropped column are skipped by id. Why not
//! postcard: the tags make values self-describing (so unknown columns can be skipped), and JSON
//! values are stored as their text, since `serde_json::Value` does not round-trip through a
//! non-self-describing format.

use crate::catalog::TableDesc;
use crate::error::code;
use crate::types::{Datum, Interval, Row};
use crate::{Error, Result};
use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;

const FORMAT: u8 = 0x01;
const T_FALSE: u8 = 0x01;
const T_TRUE: u8 = 0x02;
const T_INT: u8 = 0x03;
const T_FLOAT: u8 = 0x04;
const T_DECIMAL: u8 = 0x05;
const T_TEXT: u8 = 0x06;
const T_BYTES: u8 = 0x07;
const T_DATE: u8 = 0x08;
const T_TIMESTAMP: u8 = 0x09;
const T_TIMESTAMPTZ: u8 = 0x0a;
const T_INTERVAL: u8 = 0x0b;
const T_UUID: u8 = 0x0c;
const T_JSON: u8 = 0x0d;

fn corrupt(what: &str) -> Error {
    Error::new(code::DATA_CORRUPTED, format!("malformed row value: {what}"))
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_len_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Encodes a full row (values in `t.columns` order) as the primary index value.
pub fn encode_row(t: &TableDesc, row: &[Datum]) -> Result<Vec<u8>> {
    if row.len() != t.columns.len() {
        return Err(Error::internal(format!(
            "row of {} values for table \"{}\" of {} columns",
            row.len(),
            t.name,
            t.columns.len()
        )));
    }
    let mut buf = Vec::with_capacity(16 + row.len() * 8);
    buf.push(FORMAT);
    for (col, d) in t.columns.iter().zip(row) {
        if d.is_null() {
            continue;
        }
        put_uvarint(&mut buf, u64::from(col.id));
        encode_value(&mut buf, d);
    }
    Ok(buf)
}

fn encode_value(buf: &mut Vec<u8>, d: &Datum) {
    match d {
        Datum::Null => {}
        Datum::Bool(b) => buf.push(if *b { T_TRUE } else { T_FALSE }),
        Datum::Int(i) => {
            buf.push(T_INT);
            put_varint(buf, *i);
        }
        Datum::Float(f) => {
            buf.push(T_FLOAT);
            buf.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Datum::Decimal(x) => {
            buf.push(T_DECIMAL);
            buf.extend_from_slice(&x.serialize());
        }
        Datum::Text(s) => {
            buf.push(T_TEXT);
            put_len_bytes(buf, s.as_bytes());
        }
        Datum::Bytes(b) => {
            buf.push(T_BYTES);
            put_len_bytes(buf, b);
        }
        // Array columns are rejected by CREATE TABLE (0A000); an array reaching storage is
        // kept in its text form rather than dropped.
        Datum::Array(items) => {
            buf.push(T_TEXT);
            let text = crate::types::array::format_array(items, &crate::types::DataType::Text);
            put_len_bytes(buf, text.as_bytes());
        }
        Datum::Date(x) => {
            buf.push(T_DATE);
            put_varint(buf, i64::from(chrono::Datelike::num_days_from_ce(x)));
        }
        Datum::Timestamp(t) => {
            buf.push(T_TIMESTAMP);
            put_varint(buf, t.and_utc().timestamp_micros());
        }
        Datum::TimestampTz(t) => {
            buf.push(T_TIMESTAMPTZ);
            put_varint(buf, t.timestamp_micros());
        }
        Datum::Interval(i) => {
            buf.push(T_INTERVAL);
            put_varint(buf, i64::from(i.months));
            put_varint(buf, i64::from(i.days));
            put_varint(buf, i.micros);
        }
        Datum::Uuid(u) => {
            buf.push(T_UUID);
            buf.extend_from_slice(u.as_bytes());
        }
        Datum::Json(j) => {
            buf.push(T_JSON);
            put_len_bytes(buf, j.to_string().as_bytes());
        }
    }
}

/// A cursor over encoded bytes; every read checks bounds.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| corrupt("truncated"))?;
        self.rest = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| corrupt("truncated"))
    }

    fn uvarint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt("varint too long"))
    }

    fn varint(&mut self) -> Result<i64> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32> {
        i32::try_from(self.varint()?).map_err(|_| corrupt("value out of range"))
    }

    fn len_bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.uvarint()?).map_err(|_| corrupt("length"))?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.len_bytes()?.to_vec()).map_err(|_| corrupt("invalid UTF-8"))
    }
}

/// Decodes a primary index value into a full row in `t.columns` order; columns absent from
/// the value (NULLs, and columns added after the row was written) are NULL.
pub fn decode_row(t: &TableDesc, value: &[u8]) -> Result<Row> {
    let mut r = Reader { rest: value };
    if r.byte()? != FORMAT {
        return Err(corrupt("unknown format"));
    }
    let mut row = vec![Datum::Null; t.columns.len()];
    // Columns are written in table order, so the next column usually follows the last one.
    let mut hint = 0;
    while !r.rest.is_empty() {
        let id = r.uvarint()?;
        let d = decode_value(&mut r)?;
        let pos = (hint..t.columns.len())
            .chain(0..hint)
            .find(|&p| u64::from(t.columns[p].id) == id);
        if let Some(p) = pos {
            row[p] = d;
            hint = p + 1;
        }
    }
    Ok(row)
}

fn decode_value(r: &mut Reader<'_>) -> Result<Datum> {
    Ok(match r.byte()? {
        T_FALSE => Datum::Bool(false),
        T_TRUE => Datum::Bool(true),
        T_INT => Datum::Int(r.varint()?),
        T_FLOAT => Datum::Float(f64::from_bits(u64::from_le_bytes(r.array()?))),
        T_DECIMAL => Datum::Decimal(Decimal::deserialize(r.array()?)),
        T_TEXT => Datum::Text(r.string()?),
        T_BYTES => Datum::Bytes(r.len_bytes()?.to_vec()),
        T_DATE => Datum::Date(
            NaiveDate::from_num_days_from_ce_opt(r.i32()?).ok_or_else(|| corrupt("date"))?,
        ),
        T_TIMESTAMP => Datum::Timestamp(
            DateTime::from_timestamp_micros(r.varint()?)
                .ok_or_else(|| corrupt("timestamp"))?
                .naive_utc(),
        ),
        T_TIMESTAMPTZ => Datum::TimestampTz(
            DateTime::from_timestamp_micros(r.varint()?).ok_or_else(|| corrupt("timestamp"))?,
        ),
        T_INTERVAL => Datum::Interval(Interval {
            months: r.i32()?,
            days: r.i32()?,
            micros: r.varint()?,
        }),
        T_UUID => Datum::Uuid(uuid::Uuid::from_bytes(r.array()?)),
        T_JSON => {
            let text = r.string()?;
            Datum::Json(Box::new(
                serde_json::from_str(&text).map_err(|_| corrupt("json"))?,
            ))
        }
        _ => return Err(corrupt("unknown value tag")),
    })
}
