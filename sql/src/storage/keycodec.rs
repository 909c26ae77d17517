//! Index keys: SQL values turned into order-preserving key bytes (kv::encoding).
//!
//! The encoding is chosen by the column's declared type, not by the datum's variant, so that
//! every key of one column uses one encoding: an INT8 index probed with `Float(1.0)` or a
//! NUMERIC index probed with `Int(1)` find the same keys as the stored values. Values that
//! cannot be represented in the column's type fail with 42804 (the planner casts first).

use crate::catalog::{IndexDesc, TableDesc};
use crate::error::code;
use crate::types::{DataType, Datum, Interval};
use crate::{Error, Result};
use kv::encoding::{self as enc, Direction};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;

/// Microseconds in a day and in PostgreSQL's 30-day interval month.
const MICROS_PER_DAY: i128 = 86_400_000_000;
const DAYS_PER_MONTH: i128 = 30;

fn mismatch(d: &Datum, ty: &DataType) -> Error {
    Error::new(
        code::DATATYPE_MISMATCH,
        format!(
            "cannot use value {d:?} as an index key of type {}",
            ty.pg_name()
        ),
    )
}

/// Appends one value of a column of type `ty` to `buf`.
pub fn encode_key_datum(buf: &mut Vec<u8>, d: &Datum, ty: &DataType, dir: Direction) -> Result<()> {
    if d.is_null() {
        enc::encode_null(buf, dir);
        return Ok(());
    }
    match ty {
        DataType::Bool => match d {
            Datum::Bool(b) => enc::encode_bool(buf, *b, dir),
            _ => return Err(mismatch(d, ty)),
        },
        DataType::Int2 | DataType::Int4 | DataType::Int8 => {
            enc::encode_i64(buf, as_i64(d).ok_or_else(|| mismatch(d, ty))?, dir)
        }
        DataType::Float4 | DataType::Float8 => {
            let f = match d {
                Datum::Float(f) => *f,
                Datum::Int(i) => *i as f64,
                Datum::Decimal(x) => x.to_f64().ok_or_else(|| mismatch(d, ty))?,
                _ => return Err(mismatch(d, ty)),
            };
            enc::encode_f64(buf, f, dir)
        }
        DataType::Numeric(_) => {
            let x = match d {
                Datum::Decimal(x) => *x,
                Datum::Int(i) => Decimal::from(*i),
                Datum::Float(f) => Decimal::from_f64(*f).ok_or_else(|| mismatch(d, ty))?,
                _ => return Err(mismatch(d, ty)),
            };
            enc::encode_decimal(buf, &x, dir)
        }
        DataType::Char(_) => match d {
            // bpchar compares ignoring trailing blanks.
            Datum::Text(s) => enc::encode_str(buf, s.trim_end_matches(' '), dir),
            _ => return Err(mismatch(d, ty)),
        },
        DataType::Text | DataType::Varchar(_) => match d {
            Datum::Text(s) => enc::encode_str(buf, s, dir),
            _ => return Err(mismatch(d, ty)),
        },
        _ => encode_other(buf, d, ty, dir)?,
    }
    Ok(())
}

fn encode_other(buf: &mut Vec<u8>, d: &Datum, ty: &DataType, dir: Direction) -> Result<()> {
    match (ty, d) {
        (DataType::Bytea, Datum::Bytes(b)) => enc::encode_bytes(buf, b, dir),
        (DataType::Date, Datum::Date(x)) => {
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            enc::encode_i64(buf, (*x - epoch).num_days(), dir)
        }
        (DataType::Timestamp, Datum::Timestamp(t)) => {
            enc::encode_i64(buf, t.and_utc().timestamp_micros(), dir)
        }
        (DataType::TimestampTz, Datum::TimestampTz(t)) => {
            enc::encode_i64(buf, t.timestamp_micros(), dir)
        }
        // Mixed timestamp kinds: both are UTC-based in Meridian (the session zone is UTC).
        (DataType::Timestamp, Datum::TimestampTz(t)) => {
            enc::encode_i64(buf, t.timestamp_micros(), dir)
        }
        (DataType::TimestampTz, Datum::Timestamp(t)) => {
            enc::encode_i64(buf, t.and_utc().timestamp_micros(), dir)
        }
        (DataType::Interval, Datum::Interval(i)) => enc::encode_decimal(buf, &interval_key(i), dir),
        (DataType::Uuid, Datum::Uuid(u)) => enc::encode_bytes(buf, u.as_bytes(), dir),
        (DataType::Jsonb, Datum::Json(j)) => enc::encode_str(buf, &j.to_string(), dir),
        (DataType::Unknown, Datum::Text(s)) => enc::encode_str(buf, s, dir),
        _ => return Err(mismatch(d, ty)),
    }
    Ok(())
}

/// An integer-valued datum as i64 (floats and decimals only when integral).
fn as_i64(d: &Datum) -> Option<i64> {
    match d {
        Datum::Int(i) => Some(*i),
        Datum::Float(f) if f.fract() == 0.0 => {
            let i = *f as i64;
            ((i as f64) == *f).then_some(i)
        }
        Datum::Decimal(x) if x.fract().is_zero() => x.to_i64(),
        _ => None,
    }
}

/// PostgreSQL compares intervals by their total span with 30-day months and 24-hour days
/// (`'1 month' = '30 days'`), so the key is that span in microseconds.
fn interval_key(i: &Interval) -> Decimal {
    let total =
        (i.months as i128 * DAYS_PER_MONTH + i.days as i128) * MICROS_PER_DAY + i.micros as i128;
    // |total| < 2^31 * 31 * 8.64e10 + 2^63 < 2^96: always representable.
    Decimal::from_i128_with_scale(total, 0)
}

/// Appends the key columns of `index` taken from `row` (the full table row).
pub fn encode_index_columns(
    buf: &mut Vec<u8>,
    t: &TableDesc,
    index: &IndexDesc,
    row: &[Datum],
) -> Result<()> {
    for (pos, dir) in &index.columns {
        let col = column_at(t, *pos)?;
        let d = row
            .get(*pos)
            .ok_or_else(|| Error::internal("row shorter than its table"))?;
        encode_key_datum(buf, d, &col.ty, *dir)?;
    }
    Ok(())
}

/// Appends the first `values.len()` key columns of `index` from explicit values.
pub fn encode_index_values(
    buf: &mut Vec<u8>,
    t: &TableDesc,
    index: &IndexDesc,
    values: &[Datum],
) -> Result<()> {
    if values.len() > index.columns.len() {
        return Err(Error::internal(format!(
            "{} values for index \"{}\" of {} columns",
            values.len(),
            index.name,
            index.columns.len()
        )));
    }
    for ((pos, dir), d) in index.columns.iter().zip(values) {
        encode_key_datum(buf, d, &column_at(t, *pos)?.ty, *dir)?;
    }
    Ok(())
}

fn column_at(t: &TableDesc, pos: usize) -> Result<&crate::catalog::ColumnDesc> {
    t.columns.get(pos).ok_or_else(|| {
        Error::new(
            code::DATA_CORRUPTED,
            format!("table \"{}\": index column {pos} missing", t.name),
        )
    })
}
