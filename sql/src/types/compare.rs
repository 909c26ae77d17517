//! Comparison and hashing of [`Datum`]s.
//!
//! Two orders exist. [`Datum::sql_cmp`] is SQL comparison: NULL compares as unknown (None),
//! numerics compare by value across Int/Float/Decimal, DATE compares with TIMESTAMP(TZ) by
//! promoting the date to midnight. [`Datum::total_cmp`] is the total order used for sorting,
//! grouping and hashing: NULL sorts last and equals NULL, and values of unrelated variants are
//! ordered by variant so the order is total.
//!
//! `Eq`/`Hash`/`Ord` follow `total_cmp`. Numerics hash by their value converted to f64 (with
//! -0 folded into 0 and one NaN), so `Int(1)`, `Float(1.0)` and `Decimal(1.00)` hash alike;
//! huge integers that share an f64 only collide. Intervals compare and hash by their total
//! span with a month as 30 days and a day as 24 hours, as PostgreSQL's interval_cmp does
//! (`'1 mon' = '30 days'`). Floats order NaN above every other value and equal to itself.
//!
//! IMPLEMENTATION CAVEATS: text compares bytewise (the C collation); JSONB orders by its
//! canonical text rather than PostgreSQL's jsonb ordering (equality is exact either way).
//! CHAR(n)'s trailing-space-insensitive comparison is done by the operators, which know the
//! type (see ops.rs), not here.

use super::{Datum, Interval};
use chrono::NaiveDateTime;
use rust_decimal::prelude::*;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

impl Datum {
    /// Whether this is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// SQL comparison: None if either side is NULL (or the two values are of unrelated types).
    pub fn sql_cmp(&self, other: &Datum) -> Option<Ordering> {
        if self.is_null() || other.is_null() {
            return None;
        }
        if let (Some(a), Some(b)) = (self.as_datetime(), other.as_datetime()) {
            return Some(a.cmp(&b));
        }
        if variant_rank(self) != variant_rank(other) {
            return None;
        }
        Some(self.total_cmp(other))
    }

    /// Total order for sorting and grouping: NULL last (and equal to NULL).
    pub fn total_cmp(&self, other: &Datum) -> Ordering {
        use Datum::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Greater,
            (_, Null) => Ordering::Less,
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Float(a), Float(b)) => float_cmp(*a, *b),
            (Decimal(a), Decimal(b)) => a.cmp(b),
            (Int(a), Float(b)) => int_float_cmp(*a, *b),
            (Float(a), Int(b)) => int_float_cmp(*b, *a).reverse(),
            (Int(a), Decimal(b)) => rust_decimal::Decimal::from(*a).cmp(b),
            (Decimal(a), Int(b)) => a.cmp(&rust_decimal::Decimal::from(*b)),
            (Float(a), Decimal(b)) => float_cmp(*a, b.to_f64().unwrap_or(f64::NAN)),
            (Decimal(a), Float(b)) => float_cmp(a.to_f64().unwrap_or(f64::NAN), *b),
            (Text(a), Text(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (Date(a), Date(b)) => a.cmp(b),
            (Timestamp(a), Timestamp(b)) => a.cmp(b),
            (TimestampTz(a), TimestampTz(b)) => a.cmp(b),
            (Interval(a), Interval(b)) => interval_span(a).cmp(&interval_span(b)),
            (Uuid(a), Uuid(b)) => a.cmp(b),
            (Json(a), Json(b)) => {
                if a == b {
                    Ordering::Equal
                } else {
                    a.to_string().cmp(&b.to_string())
                }
            }
            (Array(a), Array(b)) => super::array::cmp_elements(a, b),
            (a, b) => variant_rank(a).cmp(&variant_rank(b)),
        }
    }

    /// The truth value for WHERE/HAVING/CASE: Bool(b) -> Some(b), NULL -> None; anything else
    /// is a 42804 error (the planner should have rejected it).
    pub fn truthy(&self) -> crate::Result<Option<bool>> {
        match self {
            Datum::Bool(b) => Ok(Some(*b)),
            Datum::Null => Ok(None),
            other => Err(crate::Error::new(
                crate::error::code::DATATYPE_MISMATCH,
                format!(
                    "argument of WHERE must be type boolean, not {}",
                    variant_name(other)
                ),
            )),
        }
    }

    /// DATE, TIMESTAMP and TIMESTAMPTZ as a UTC timestamp, for cross-type comparison.
    fn as_datetime(&self) -> Option<NaiveDateTime> {
        match self {
            Datum::Date(d) => Some(d.and_time(chrono::NaiveTime::MIN)),
            Datum::Timestamp(t) => Some(*t),
            Datum::TimestampTz(t) => Some(t.naive_utc()),
            _ => None,
        }
    }
}

fn variant_name(d: &Datum) -> &'static str {
    match d {
        Datum::Null => "unknown",
        Datum::Bool(_) => "type boolean",
        Datum::Int(_) => "type integer",
        Datum::Float(_) => "type double precision",
        Datum::Decimal(_) => "type numeric",
        Datum::Text(_) => "type text",
        Datum::Bytes(_) => "type bytea",
        Datum::Date(_) => "type date",
        Datum::Timestamp(_) => "type timestamp without time zone",
        Datum::TimestampTz(_) => "type timestamp with time zone",
        Datum::Interval(_) => "type interval",
        Datum::Uuid(_) => "type uuid",
        Datum::Json(_) => "type jsonb",
        Datum::Array(_) => "type array",
    }
}

/// Variant order for values of unrelated types (numerics share one rank).
fn variant_rank(d: &Datum) -> u8 {
    match d {
        Datum::Bool(_) => 0,
        Datum::Int(_) | Datum::Float(_) | Datum::Decimal(_) => 1,
        Datum::Text(_) => 2,
        Datum::Bytes(_) => 3,
        Datum::Date(_) => 4,
        Datum::Timestamp(_) => 5,
        Datum::TimestampTz(_) => 6,
        Datum::Interval(_) => 7,
        Datum::Uuid(_) => 8,
        Datum::Json(_) => 9,
        Datum::Array(_) => 10,
        Datum::Null => 11,
    }
}

/// PostgreSQL float order: NaN above everything and equal to NaN; -0 equals 0.
pub(crate) fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Exact integer/float comparison (no rounding of large integers through f64).
fn int_float_cmp(i: i64, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Less;
    }
    // 2^63 as f64 is exact; anything at or beyond it is above every i64.
    if f >= 9_223_372_036_854_775_808.0 {
        return Ordering::Less;
    }
    if f < -9_223_372_036_854_775_808.0 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    match i.cmp(&(t as i64)) {
        Ordering::Equal => 0.0f64.partial_cmp(&(f - t)).unwrap_or(Ordering::Equal),
        o => o,
    }
}

/// An interval's span in microseconds with PostgreSQL's 30-day months and 24-hour days.
pub(crate) fn interval_span(i: &Interval) -> i128 {
    const DAY: i128 = 86_400_000_000;
    (i.months as i128 * 30 + i.days as i128) * DAY + i.micros as i128
}

/// The f64 a numeric hashes by.
fn numeric_hash_key(d: &Datum) -> Option<u64> {
    let f = match d {
        Datum::Int(i) => *i as f64,
        Datum::Float(f) => *f,
        Datum::Decimal(d) => d.to_f64().unwrap_or(f64::NAN),
        _ => return None,
    };
    Some(if f.is_nan() {
        f64::NAN.to_bits()
    } else if f == 0.0 {
        0
    } else {
        f.to_bits()
    })
}

impl PartialEq for Datum {
    fn eq(&self, other: &Self) -> bool {
        self.total_cmp(other) == Ordering::Equal
    }
}

impl Eq for Datum {}

impl PartialOrd for Datum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Datum {
    fn cmp(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
}

impl Hash for Datum {
    fn hash<H: Hasher>(&self, state: &mut H) {
        variant_rank(self).hash(state);
        if let Some(k) = numeric_hash_key(self) {
            k.hash(state);
            return;
        }
        match self {
            Datum::Null => {}
            Datum::Bool(b) => b.hash(state),
            Datum::Text(s) => s.hash(state),
            Datum::Bytes(b) => b.hash(state),
            Datum::Date(d) => d.hash(state),
            Datum::Timestamp(t) => t.hash(state),
            Datum::TimestampTz(t) => t.hash(state),
            Datum::Interval(i) => interval_span(i).hash(state),
            Datum::Uuid(u) => u.hash(state),
            Datum::Json(j) => super::text_out::jsonb_text(j).hash(state),
            Datum::Array(items) => {
                items.len().hash(state);
                for d in items {
                    d.hash(state);
                }
            }
            Datum::Int(_) | Datum::Float(_) | Datum::Decimal(_) => {}
        }
    }
}
