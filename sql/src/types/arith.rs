//! Evaluation of arithmetic, concatenation and JSON access operators (the type rules live in
//! ops.rs). Integer arithmetic is checked in the result type's range; float arithmetic fails
//! on overflow/underflow as PostgreSQL's float8pl/float8mul do; numeric arithmetic uses
//! PostgreSQL's result scales (numeric.rs); date/time arithmetic follows timestamp.c
//! (month arithmetic clamps to the month's end, interval * factor cascades fractions down).

use super::cast::{check_int, date_to_timestamp, int_out_of_range, to_float4};
use super::datetime::{add_interval, timestamp_diff};
use super::numeric::{self, overflow};
use super::ops::{no_operator, BinaryOp};
use super::text_out::jsonb_text;
use super::{DataType, Datum, Interval};
use crate::error::code;
use crate::{Error, Result};
use chrono::{Duration, NaiveDateTime, TimeZone, Utc};
use rust_decimal::prelude::*;

fn div_zero() -> Error {
    Error::new(code::DIVISION_BY_ZERO, "division by zero")
}

fn float_overflow() -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow",
    )
}

fn float_underflow() -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: underflow",
    )
}

fn interval_oor() -> Error {
    Error::new(code::DATETIME_FIELD_OVERFLOW, "interval out of range")
}

fn as_f64(d: &Datum) -> Option<f64> {
    match d {
        Datum::Int(i) => Some(*i as f64),
        Datum::Float(f) => Some(*f),
        Datum::Decimal(x) => x.to_f64(),
        _ => None,
    }
}

fn as_decimal(d: &Datum) -> Option<Decimal> {
    match d {
        Datum::Int(i) => Some(Decimal::from(*i)),
        Datum::Decimal(x) => Some(*x),
        Datum::Float(f) => super::cast::float_to_decimal(*f, false).ok(),
        _ => None,
    }
}

/// Arithmetic, bitwise and power operators.
pub(crate) fn eval_arith(
    op: BinaryOp,
    l: &Datum,
    lt: &DataType,
    r: &Datum,
    rt: &DataType,
    out: &DataType,
) -> Result<Datum> {
    if let Some(res) = eval_datetime(op, l, r)? {
        return Ok(res);
    }
    let none = || no_operator(op.symbol(), lt, rt);
    match out {
        DataType::Int2 | DataType::Int4 | DataType::Int8 => match (l, r) {
            (Datum::Int(a), Datum::Int(b)) => Ok(Datum::Int(int_op(op, *a, *b, out)?)),
            _ => Err(none()),
        },
        DataType::Float4 | DataType::Float8 => {
            let (a, b) = (as_f64(l).ok_or_else(none)?, as_f64(r).ok_or_else(none)?);
            Ok(Datum::Float(float_op(op, a, b, *out == DataType::Float4)?))
        }
        DataType::Numeric(typmod) => {
            let (a, b) = (
                as_decimal(l).ok_or_else(none)?,
                as_decimal(r).ok_or_else(none)?,
            );
            let v = numeric_op(op, a, b)?;
            Ok(Datum::Decimal(numeric::apply_typmod(v, *typmod)?))
        }
        _ => Err(none()),
    }
}

fn int_op(op: BinaryOp, a: i64, b: i64, ty: &DataType) -> Result<i64> {
    use BinaryOp::*;
    let oor = || int_out_of_range(ty);
    let v = match op {
        Plus => a.checked_add(b).ok_or_else(oor)?,
        Minus => a.checked_sub(b).ok_or_else(oor)?,
        Multiply => a.checked_mul(b).ok_or_else(oor)?,
        Divide => {
            if b == 0 {
                return Err(div_zero());
            }
            a.checked_div(b).ok_or_else(oor)?
        }
        Modulo => {
            if b == 0 {
                return Err(div_zero());
            }
            // i64::MIN % -1 overflows in Rust; PostgreSQL returns 0.
            a.checked_rem(b).unwrap_or(0)
        }
        BitAnd => a & b,
        BitOr => a | b,
        BitXor => a ^ b,
        ShiftLeft | ShiftRight => return Ok(shift(op, a, b, ty)),
        _ => return Err(Error::internal(format!("not an integer operator: {op:?}"))),
    };
    check_int(v, ty)
}

/// Shifts in the operand's width, with C semantics for the count (as PostgreSQL's int4shl).
fn shift(op: BinaryOp, a: i64, b: i64, ty: &DataType) -> i64 {
    let left = op == BinaryOp::ShiftLeft;
    let n = b as u32;
    match ty {
        DataType::Int2 => {
            let v = a as i16;
            (if left {
                v.wrapping_shl(n)
            } else {
                v.wrapping_shr(n)
            }) as i64
        }
        DataType::Int4 => {
            let v = a as i32;
            (if left {
                v.wrapping_shl(n)
            } else {
                v.wrapping_shr(n)
            }) as i64
        }
        _ => {
            if left {
                a.wrapping_shl(n)
            } else {
                a.wrapping_shr(n)
            }
        }
    }
}

fn float_op(op: BinaryOp, a: f64, b: f64, float4: bool) -> Result<f64> {
    use BinaryOp::*;
    let v = match op {
        Plus => a + b,
        Minus => a - b,
        Multiply => a * b,
        Divide => {
            if b == 0.0 && !a.is_nan() {
                return Err(div_zero());
            }
            a / b
        }
        Pow => return float_pow(a, b),
        _ => return Err(Error::internal(format!("not a float operator: {op:?}"))),
    };
    if v.is_infinite() && a.is_finite() && b.is_finite() {
        return Err(float_overflow());
    }
    if op == Multiply && v == 0.0 && a != 0.0 && b != 0.0 {
        return Err(float_underflow());
    }
    if float4 {
        return to_float4(v);
    }
    Ok(v)
}

/// float8 `^` with PostgreSQL's domain errors.
pub(crate) fn float_pow(a: f64, b: f64) -> Result<f64> {
    if a == 0.0 && b < 0.0 {
        return Err(Error::new(
            "2201F",
            "zero raised to a negative power is undefined",
        ));
    }
    if a < 0.0 && b.fract() != 0.0 && b.is_finite() {
        return Err(Error::new(
            "2201F",
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    let v = a.powf(b);
    if v.is_infinite() && a.is_finite() && b.is_finite() {
        return Err(float_overflow());
    }
    if v == 0.0 && a != 0.0 && b.is_finite() {
        return Err(float_underflow());
    }
    Ok(v)
}

fn numeric_op(op: BinaryOp, a: Decimal, b: Decimal) -> Result<Decimal> {
    use BinaryOp::*;
    Ok(match op {
        Plus => a.checked_add(b).ok_or_else(overflow)?,
        Minus => a.checked_sub(b).ok_or_else(overflow)?,
        Multiply => a.checked_mul(b).ok_or_else(overflow)?,
        Divide => numeric::div(a, b)?,
        Modulo => {
            if b.is_zero() {
                return Err(div_zero());
            }
            a.checked_rem(b).ok_or_else(overflow)?
        }
        Pow => numeric::power(a, b)?,
        _ => return Err(Error::internal(format!("not a numeric operator: {op:?}"))),
    })
}

/// Negates an interval (22008 when a field overflows).
pub(crate) fn neg_interval(i: &Interval) -> Result<Interval> {
    Ok(Interval {
        months: i.months.checked_neg().ok_or_else(interval_oor)?,
        days: i.days.checked_neg().ok_or_else(interval_oor)?,
        micros: i.micros.checked_neg().ok_or_else(interval_oor)?,
    })
}

fn date_oor() -> Error {
    Error::new(code::DATETIME_FIELD_OVERFLOW, "date out of range")
}

fn infinite_diff() -> Error {
    Error::new(
        code::DATETIME_FIELD_OVERFLOW,
        "cannot subtract infinite timestamps",
    )
}

fn naive(d: &Datum) -> Option<NaiveDateTime> {
    match d {
        Datum::Date(v) => Some(date_to_timestamp(*v)),
        Datum::Timestamp(t) => Some(*t),
        Datum::TimestampTz(t) => Some(t.naive_utc()),
        _ => None,
    }
}

/// Date/time arithmetic; None when the operands are not date/time values.
fn eval_datetime(op: BinaryOp, l: &Datum, r: &Datum) -> Result<Option<Datum>> {
    use BinaryOp::*;
    use Datum as D;
    let res = match (op, l, r) {
        (Plus, D::Date(d), D::Int(n)) | (Plus, D::Int(n), D::Date(d)) => D::Date(
            d.checked_add_signed(Duration::days(*n))
                .ok_or_else(date_oor)?,
        ),
        (Minus, D::Date(d), D::Int(n)) => D::Date(
            d.checked_sub_signed(Duration::days(*n))
                .ok_or_else(date_oor)?,
        ),
        (Minus, D::Date(a), D::Date(b)) => {
            D::Int(check_int((*a - *b).num_days(), &DataType::Int4)?)
        }
        (Plus, D::Date(d), D::Interval(i)) | (Plus, D::Interval(i), D::Date(d)) => {
            D::Timestamp(add_interval(date_to_timestamp(*d), i)?)
        }
        (Minus, D::Date(d), D::Interval(i)) => {
            D::Timestamp(add_interval(date_to_timestamp(*d), &neg_interval(i)?)?)
        }
        (Plus, D::Timestamp(t), D::Interval(i)) | (Plus, D::Interval(i), D::Timestamp(t)) => {
            D::Timestamp(add_interval(*t, i)?)
        }
        (Minus, D::Timestamp(t), D::Interval(i)) => {
            D::Timestamp(add_interval(*t, &neg_interval(i)?)?)
        }
        (Plus, D::TimestampTz(t), D::Interval(i)) | (Plus, D::Interval(i), D::TimestampTz(t)) => {
            D::TimestampTz(Utc.from_utc_datetime(&add_interval(t.naive_utc(), i)?))
        }
        (Minus, D::TimestampTz(t), D::Interval(i)) => {
            D::TimestampTz(Utc.from_utc_datetime(&add_interval(t.naive_utc(), &neg_interval(i)?)?))
        }
        (Minus, a, b) if naive(a).is_some() && naive(b).is_some() => {
            let (a, b) = (naive(a).unwrap_or_default(), naive(b).unwrap_or_default());
            if [a, b]
                .iter()
                .any(|t| *t == NaiveDateTime::MAX || *t == NaiveDateTime::MIN)
            {
                return Err(infinite_diff());
            }
            D::Interval(timestamp_diff(a, b)?)
        }
        (Plus, D::Interval(a), D::Interval(b)) => D::Interval(Interval {
            months: a.months.checked_add(b.months).ok_or_else(interval_oor)?,
            days: a.days.checked_add(b.days).ok_or_else(interval_oor)?,
            micros: a.micros.checked_add(b.micros).ok_or_else(interval_oor)?,
        }),
        (Minus, D::Interval(a), D::Interval(b)) => D::Interval(Interval {
            months: a.months.checked_sub(b.months).ok_or_else(interval_oor)?,
            days: a.days.checked_sub(b.days).ok_or_else(interval_oor)?,
            micros: a.micros.checked_sub(b.micros).ok_or_else(interval_oor)?,
        }),
        (Multiply, D::Interval(i), n) | (Multiply, n, D::Interval(i)) if as_f64(n).is_some() => {
            D::Interval(interval_scale(i, as_f64(n).unwrap_or(1.0), false)?)
        }
        (Divide, D::Interval(i), n) if as_f64(n).is_some() => {
            let f = as_f64(n).unwrap_or(1.0);
            if f == 0.0 {
                return Err(div_zero());
            }
            D::Interval(interval_scale(i, f, true)?)
        }
        _ => return Ok(None),
    };
    Ok(Some(res))
}

/// PostgreSQL's interval_mul/interval_div: whole months and days scale, their fractions
/// cascade down (a month is 30 days, a day 24 hours), never up.
fn interval_scale(i: &Interval, factor: f64, divide: bool) -> Result<Interval> {
    let apply = |x: f64| if divide { x / factor } else { x * factor };
    let tsround = |x: f64| (x * 1e6).round_ties_even() / 1e6;
    let months_f = apply(i.months as f64);
    let days_f = apply(i.days as f64);
    if !(i32::MIN as f64..=i32::MAX as f64).contains(&months_f)
        || !(i32::MIN as f64..=i32::MAX as f64).contains(&days_f)
    {
        return Err(interval_oor());
    }
    let months = months_f as i32;
    let mut days = days_f as i32;
    let month_rem_days = tsround((months_f - months as f64) * 30.0);
    let mut sec_rem =
        tsround((days_f - days as f64 + month_rem_days - month_rem_days.trunc()) * 86400.0);
    if sec_rem.abs() >= 86400.0 {
        let whole = (sec_rem / 86400.0).trunc();
        days = days.checked_add(whole as i32).ok_or_else(interval_oor)?;
        sec_rem -= whole * 86400.0;
    }
    days = days
        .checked_add(month_rem_days as i32)
        .ok_or_else(interval_oor)?;
    let micros = (apply(i.micros as f64) + sec_rem * 1e6).round_ties_even();
    if !micros.is_finite() || micros.abs() >= 9.223_372_036_854_775e18 {
        return Err(interval_oor());
    }
    Ok(Interval {
        months,
        days,
        micros: micros as i64,
    })
}

/// `||`: text concatenation (a non-text operand is converted with its output function;
/// CHAR(n) loses its padding as in bpchar -> text), bytea and jsonb concatenation.
pub(crate) fn concat(l: &Datum, lt: &DataType, r: &Datum, rt: &DataType) -> Result<Datum> {
    match (l, r) {
        (Datum::Bytes(a), Datum::Bytes(b)) => {
            let mut v = a.clone();
            v.extend_from_slice(b);
            Ok(Datum::Bytes(v))
        }
        (Datum::Json(a), Datum::Json(b)) => Ok(Datum::Json(Box::new(json_concat(a, b)))),
        _ => {
            let text = |d: &Datum, t: &DataType| match (d, t) {
                (Datum::Text(s), DataType::Char(_)) => s.trim_end_matches(' ').to_string(),
                (Datum::Text(s), _) => s.clone(),
                _ => super::cast::cast_text(d, t),
            };
            Ok(Datum::Text(text(l, lt) + &text(r, rt)))
        }
    }
}

fn json_concat(a: &serde_json::Value, b: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as V;
    let out = match (a, b) {
        (V::Object(x), V::Object(y)) => {
            let mut m = x.clone();
            for (k, v) in y {
                m.insert(k.clone(), v.clone());
            }
            V::Object(m)
        }
        (V::Array(x), V::Array(y)) => V::Array(x.iter().chain(y).cloned().collect()),
        (V::Array(x), other) => V::Array(x.iter().cloned().chain([other.clone()]).collect()),
        (other, V::Array(y)) => V::Array(
            [other.clone()]
                .into_iter()
                .chain(y.iter().cloned())
                .collect(),
        ),
        (x, y) => V::Array(vec![x.clone(), y.clone()]),
    };
    super::text_in::normalize_jsonb(out)
}

/// `->` / `->>`: object field by key or array element by (possibly negative) index; NULL
/// when absent. `->>` returns strings unquoted and JSON null as SQL NULL.
pub(crate) fn json_get(l: &Datum, r: &Datum, as_text: bool) -> Datum {
    let Datum::Json(v) = l else {
        return Datum::Null;
    };
    let found = match (v.as_ref(), r) {
        (serde_json::Value::Object(m), Datum::Text(k)) => m.get(k.as_str()),
        (serde_json::Value::Array(a), Datum::Int(i)) => {
            let idx = if *i < 0 { a.len() as i64 + i } else { *i };
            usize::try_from(idx).ok().and_then(|i| a.get(i))
        }
        _ => None,
    };
    match found {
        None => Datum::Null,
        Some(v) if as_text => match v {
            serde_json::Value::Null => Datum::Null,
            serde_json::Value::String(s) => Datum::Text(s.clone()),
            other => Datum::Text(jsonb_text(other)),
        },
        Some(v) => Datum::Json(Box::new(v.clone())),
    }
}
