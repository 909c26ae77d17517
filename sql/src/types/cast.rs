//! Casts between types and the common-type rule, following PostgreSQL's pg_cast.
//!
//! Three cast contexts exist in PostgreSQL: implicit (in expressions), assignment (INSERT and
//! UPDATE targets) and explicit (CAST / `::`). [`can_cast`] with `explicit = false` answers for
//! assignment, which includes every implicit cast; [`can_cast_implicit`] answers for
//! expressions. Implicit: numeric promotion int2 < int4 < int8 < numeric < float4 < float8,
//! date -> timestamp -> timestamptz, among the string types, and `unknown` (an untyped
//! literal) to anything. Assignment adds the narrowing numeric casts, timestamp(tz) -> date,
//! and anything -> string. Explicit adds string -> anything (input functions), bool <-> int4
//! and jsonb -> bool/numeric.
//!
//! Length rules: assigning an over-long string to VARCHAR(n)/CHAR(n) fails with 22001 unless
//! the excess is spaces; an explicit cast truncates silently. CHAR(n) values are stored
//! blank-padded; CHAR -> TEXT strips trailing blanks. Float -> integer rounds half to even
//! (rint), numeric -> integer rounds half away from zero, both range-checked (22003).

use super::numeric::{apply_typmod, overflow};
use super::text_in::int_bounds;
use super::{DataType, Datum};
use crate::error::code;
use crate::{Error, Result};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use rust_decimal::prelude::*;

/// The "<type> out of range" error for an integer type.
pub(crate) fn int_out_of_range(ty: &DataType) -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{} out of range", ty.pg_base_name()),
    )
}

/// Range-checks an integer for `ty` (smallint/integer/bigint).
pub(crate) fn check_int(v: i64, ty: &DataType) -> Result<i64> {
    let (lo, hi) = int_bounds(ty);
    if v < lo || v > hi {
        return Err(int_out_of_range(ty));
    }
    Ok(v)
}

fn cannot_cast(from: &DataType, to: &DataType) -> Error {
    Error::new(
        code::CANNOT_COERCE,
        format!(
            "cannot cast type {} to {}",
            from.pg_base_name(),
            to.pg_base_name()
        ),
    )
}

/// Converts `d` of type `from` to type `to`. `explicit` selects CAST semantics (silent string
/// truncation) over assignment semantics (22001).
pub fn cast(d: Datum, from: &DataType, to: &DataType, explicit: bool) -> Result<Datum> {
    if d.is_null() {
        return Ok(Datum::Null);
    }
    if let Some(r) = super::array::cast_array(d.clone(), from, to, explicit) {
        return r;
    }
    // OID-valued types relabel integers both ways (names need the catalog: exec::pgcompat).
    if (to.is_reg() && (from.is_integer() || from.is_reg())) || (from.is_reg() && to.is_integer()) {
        return match d {
            Datum::Int(i) => Ok(Datum::Int(i)),
            other => Err(cannot_cast(&datum_type(&other), to)),
        };
    }
    if to.is_string() {
        let s = match d {
            Datum::Text(s) if matches!(from, DataType::Char(_)) => {
                s.trim_end_matches(' ').to_string()
            }
            Datum::Text(s) => s,
            other => cast_text(&other, from),
        };
        return Ok(Datum::Text(fit_string(s, to, explicit)?));
    }
    if matches!(
        from,
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Unknown
    ) || matches!(d, Datum::Text(_))
    {
        return match d {
            Datum::Text(s) => Datum::from_pg_text(&s, to),
            other => Err(cannot_cast(&datum_type(&other), to)),
        };
    }
    match to {
        DataType::Int2 | DataType::Int4 | DataType::Int8 => to_int(d, from, to),
        DataType::Float4 | DataType::Float8 => to_float(d, from, to),
        DataType::Numeric(typmod) => {
            Ok(Datum::Decimal(apply_typmod(to_decimal(d, from)?, *typmod)?))
        }
        DataType::Bool => match d {
            Datum::Bool(b) => Ok(Datum::Bool(b)),
            Datum::Int(i) if from.is_integer() => Ok(Datum::Bool(i != 0)),
            Datum::Json(j) => match *j {
                serde_json::Value::Bool(b) => Ok(Datum::Bool(b)),
                other => Err(json_cast_err(&other, "boolean")),
            },
            _ => Err(cannot_cast(from, to)),
        },
        DataType::Date => match d {
            Datum::Date(v) => Ok(Datum::Date(v)),
            Datum::Timestamp(t) => Ok(Datum::Date(timestamp_to_date(t))),
            Datum::TimestampTz(t) => Ok(Datum::Date(timestamp_to_date(t.naive_utc()))),
            _ => Err(cannot_cast(from, to)),
        },
        DataType::Timestamp => match d {
            Datum::Timestamp(t) => Ok(Datum::Timestamp(t)),
            Datum::Date(v) => Ok(Datum::Timestamp(date_to_timestamp(v))),
            Datum::TimestampTz(t) => Ok(Datum::Timestamp(t.naive_utc())),
            _ => Err(cannot_cast(from, to)),
        },
        DataType::TimestampTz => match d {
            Datum::TimestampTz(t) => Ok(Datum::TimestampTz(t)),
            Datum::Timestamp(t) => Ok(Datum::TimestampTz(Utc.from_utc_datetime(&t))),
            Datum::Date(v) => Ok(Datum::TimestampTz(
                Utc.from_utc_datetime(&date_to_timestamp(v)),
            )),
            _ => Err(cannot_cast(from, to)),
        },
        DataType::Interval => match d {
            Datum::Interval(i) => Ok(Datum::Interval(i)),
            _ => Err(cannot_cast(from, to)),
        },
        DataType::Uuid => match d {
            Datum::Uuid(u) => Ok(Datum::Uuid(u)),
            _ => Err(cannot_cast(from, to)),
        },
        DataType::Bytea => match d {
            Datum::Bytes(b) => Ok(Datum::Bytes(b)),
            _ => Err(cannot_cast(from, to)),
        },
        DataType::Jsonb => match d {
            Datum::Json(j) => Ok(Datum::Json(j)),
            _ => Err(cannot_cast(from, to)),
        },
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Unknown => {
            Ok(Datum::Text(d.to_pg_text(from).unwrap_or_default()))
        }
        DataType::RegClass
        | DataType::RegType
        | DataType::RegNamespace
        | DataType::RegProc
        | DataType::Array(_) => Err(cannot_cast(from, to)),
    }
}

/// A value's text for a cast to a string type: the output function, except that booleans
/// become `true`/`false` (PostgreSQL's bool -> text cast, unlike boolout's `t`/`f`).
pub(crate) fn cast_text(d: &Datum, ty: &DataType) -> String {
    match d {
        Datum::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        other => other.to_pg_text(ty).unwrap_or_default(),
    }
}

/// The declared type a datum variant most plausibly has (for error messages).
pub(crate) fn datum_type(d: &Datum) -> DataType {
    match d {
        Datum::Bool(_) => DataType::Bool,
        Datum::Int(_) => DataType::Int8,
        Datum::Float(_) => DataType::Float8,
        Datum::Decimal(_) => DataType::Numeric(None),
        Datum::Bytes(_) => DataType::Bytea,
        Datum::Date(_) => DataType::Date,
        Datum::Timestamp(_) => DataType::Timestamp,
        Datum::TimestampTz(_) => DataType::TimestampTz,
        Datum::Interval(_) => DataType::Interval,
        Datum::Uuid(_) => DataType::Uuid,
        Datum::Json(_) => DataType::Jsonb,
        Datum::Text(_) | Datum::Null => DataType::Text,
        Datum::Array(items) => DataType::Array(Box::new(
            items
                .iter()
                .find(|d| !d.is_null())
                .map(datum_type)
                .unwrap_or(DataType::Text),
        )),
    }
}

fn timestamp_to_date(t: NaiveDateTime) -> NaiveDate {
    match t {
        NaiveDateTime::MAX => NaiveDate::MAX,
        NaiveDateTime::MIN => NaiveDate::MIN,
        t => t.date(),
    }
}

/// Midnight of a date (±infinity preserved).
pub(crate) fn date_to_timestamp(d: NaiveDate) -> NaiveDateTime {
    match d {
        NaiveDate::MAX => NaiveDateTime::MAX,
        NaiveDate::MIN => NaiveDateTime::MIN,
        d => d.and_time(NaiveTime::MIN),
    }
}

fn json_cast_err(v: &serde_json::Value, target: &str) -> Error {
    let kind = match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "numeric",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    Error::new(
        code::INVALID_PARAMETER_VALUE,
        format!("cannot cast jsonb {kind} to type {target}"),
    )
}

fn to_int(d: Datum, from: &DataType, to: &DataType) -> Result<Datum> {
    let v = match d {
        Datum::Int(i) => i,
        Datum::Float(f) => {
            let r = f.round_ties_even();
            // i64::MAX as f64 rounds up to 2^63, so compare against the exact bound.
            if r.is_nan()
                || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r)
            {
                return Err(int_out_of_range(to));
            }
            r as i64
        }
        Datum::Decimal(x) => x
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
            .to_i64()
            .ok_or_else(|| int_out_of_range(to))?,
        Datum::Bool(b) => b as i64,
        Datum::Json(j) => match *j {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => i,
                None => return to_int(Datum::Float(n.as_f64().unwrap_or(f64::NAN)), from, to),
            },
            other => return Err(json_cast_err(&other, to.pg_base_name())),
        },
        _ => return Err(cannot_cast(from, to)),
    };
    Ok(Datum::Int(check_int(v, to)?))
}

/// float8 -> float4 with PostgreSQL's overflow/underflow errors.
pub(crate) fn to_float4(f: f64) -> Result<f64> {
    let r = f as f32;
    if r.is_infinite() && f.is_finite() {
        return Err(Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: overflow",
        ));
    }
    if r == 0.0 && f != 0.0 {
        return Err(Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: underflow",
        ));
    }
    Ok(r as f64)
}

fn to_float(d: Datum, from: &DataType, to: &DataType) -> Result<Datum> {
    let f = match d {
        Datum::Float(f) => f,
        Datum::Int(i) => i as f64,
        Datum::Decimal(x) => x.to_f64().ok_or_else(overflow)?,
        Datum::Json(j) => match *j {
            serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            other => return Err(json_cast_err(&other, to.pg_base_name())),
        },
        _ => return Err(cannot_cast(from, to)),
    };
    Ok(Datum::Float(if *to == DataType::Float4 {
        to_float4(f)?
    } else {
        f
    }))
}

fn to_decimal(d: Datum, from: &DataType) -> Result<Decimal> {
    match d {
        Datum::Decimal(x) => Ok(x),
        Datum::Int(i) => Ok(Decimal::from(i)),
        Datum::Float(f) => float_to_decimal(f, *from == DataType::Float4),
        Datum::Json(j) => match *j {
            serde_json::Value::Number(n) => Decimal::from_str_exact(&n.to_string())
                .or_else(|_| float_to_decimal(n.as_f64().unwrap_or(f64::NAN), false)),
            other => Err(json_cast_err(&other, "numeric")),
        },
        _ => Err(cannot_cast(from, &DataType::Numeric(None))),
    }
}

/// float -> numeric as PostgreSQL does it: through the float's 15 (float4: 6) significant
/// digit decimal form, so 0.1::float8::numeric is 0.1.
pub(crate) fn float_to_decimal(f: f64, is_float4: bool) -> Result<Decimal> {
    if f.is_nan() {
        return Err(Error::unsupported("cannot convert NaN to numeric"));
    }
    if f.is_infinite() {
        return Err(Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "cannot convert infinity to numeric",
        ));
    }
    let digits = if is_float4 { 6 } else { 15 };
    let s = format!("{:.*e}", digits - 1, f);
    let d = match super::numeric::parse_decimal(&s) {
        Some(r) => r?,
        None => return Err(overflow()),
    };
    Ok(d.normalize())
}

/// Enforces a VARCHAR(n)/CHAR(n) length; pads CHAR(n). Assignment fails with 22001 unless
/// the excess characters are all spaces; explicit casts truncate.
pub(crate) fn fit_string(s: String, to: &DataType, explicit: bool) -> Result<String> {
    let (n, pad) = match to {
        DataType::Varchar(Some(n)) => (*n as usize, false),
        DataType::Char(n) => (*n as usize, true),
        _ => return Ok(s),
    };
    let len = s.chars().count();
    if len > n {
        let cut = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
        if !explicit && !s[cut..].chars().all(|c| c == ' ') {
            return Err(Error::new(
                code::STRING_DATA_RIGHT_TRUNCATION,
                format!("value too long for type {}", to.pg_name()),
            ));
        }
        return Ok(s[..cut].to_string());
    }
    if pad && len < n {
        return Ok(super::text_out::pad_char(&s, n as u32));
    }
    Ok(s)
}

/// Whether PostgreSQL casts `from` to `to` implicitly (in expressions).
pub fn can_cast_implicit(from: &DataType, to: &DataType) -> bool {
    if from == to || *from == DataType::Unknown {
        return true;
    }
    if let (Some(a), Some(b)) = (from.numeric_rank(), to.numeric_rank()) {
        return a <= b;
    }
    if from.is_string() && to.is_string() {
        return true;
    }
    if (from.is_reg() && to.is_integer()) || (from.is_integer() && to.is_reg()) {
        return true;
    }
    if let (DataType::Array(a), DataType::Array(b)) = (from, to) {
        return can_cast_implicit(a, b);
    }
    matches!(
        (from, to),
        (DataType::Date, DataType::Timestamp | DataType::TimestampTz)
            | (DataType::Timestamp, DataType::TimestampTz)
    )
}

/// Whether a cast exists: in assignment context (`explicit = false`, which includes the
/// implicit casts) or for CAST/`::` (`explicit = true`).
pub fn can_cast(from: &DataType, to: &DataType, explicit: bool) -> bool {
    if can_cast_implicit(from, to) {
        return true;
    }
    if from.is_numeric() && to.is_numeric() {
        return true;
    }
    if to.is_string() {
        return true;
    }
    if let (DataType::Array(a), DataType::Array(b)) = (from, to) {
        return can_cast(a, b, explicit);
    }
    if matches!(
        (from, to),
        (DataType::Timestamp | DataType::TimestampTz, DataType::Date)
            | (DataType::TimestampTz, DataType::Timestamp)
    ) {
        return true;
    }
    if !explicit {
        return false;
    }
    from.is_string()
        || matches!(
            (from, to),
            (DataType::Bool, DataType::Int4)
                | (DataType::Int4, DataType::Bool)
                | (DataType::Jsonb, DataType::Bool)
        )
        || (*from == DataType::Jsonb && to.is_numeric())
}

/// The type values of types `a` and `b` are resolved to (UNION, CASE, IN, COALESCE,
/// comparisons): unknown adopts the other side; numerics promote; strings unify to the
/// shared type or text; date < timestamp < timestamptz. 42804 when there is none.
pub fn common_type(a: &DataType, b: &DataType) -> Result<DataType> {
    if a == b {
        return Ok(a.clone());
    }
    match (a, b) {
        (DataType::Unknown, other) | (other, DataType::Unknown) => return Ok(other.clone()),
        _ => {}
    }
    if let (Some(ra), Some(rb)) = (a.numeric_rank(), b.numeric_rank()) {
        if let (DataType::Numeric(_), DataType::Numeric(_)) = (a, b) {
            return Ok(DataType::Numeric(None));
        }
        return Ok(if ra >= rb { a.clone() } else { b.clone() });
    }
    if a.is_string() && b.is_string() {
        return Ok(match (a, b) {
            (DataType::Varchar(_), DataType::Varchar(_)) => DataType::Varchar(None),
            (DataType::Char(_), DataType::Char(_)) => DataType::Char(a_len(a).max(a_len(b))),
            _ => DataType::Text,
        });
    }
    if a.is_reg() && b.is_integer() || a.is_integer() && b.is_reg() {
        return Ok(DataType::Int8);
    }
    if let (DataType::Array(x), DataType::Array(y)) = (a, b) {
        return Ok(DataType::Array(Box::new(common_type(x, y)?)));
    }
    if a.is_datetime() && b.is_datetime() {
        return Ok(
            if *a == DataType::TimestampTz || *b == DataType::TimestampTz {
                DataType::TimestampTz
            } else {
                DataType::Timestamp
            },
        );
    }
    Err(Error::new(
        code::DATATYPE_MISMATCH,
        format!(
            "types {} and {} cannot be matched",
            a.pg_base_name(),
            b.pg_base_name()
        ),
    ))
}

fn a_len(t: &DataType) -> u32 {
    match t {
        DataType::Char(n) => *n,
        _ => 1,
    }
}
