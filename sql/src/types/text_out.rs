//! PostgreSQL text output (the `typoutput` functions), exactly as psql and drivers expect.
//!
//! Floats print the shortest string that round-trips (PostgreSQL 12+ with the default
//! extra_float_digits = 1): fixed notation when the decimal exponent is in [-4, 15) for
//! float8 and [-4, 6) for float4, otherwise `1e+20` style with at least two exponent digits.
//! NUMERIC keeps its scale ("1.50"). Timestamps print with the session time zone, which is
//! always UTC in Meridian ("+00"). Intervals use the `postgres` IntervalStyle. JSONB prints
//! with a space after ':' and ',' and keys in jsonb's order (shorter keys first).

use super::{DataType, Datum, Interval};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use std::fmt::Write;

impl Datum {
    /// PostgreSQL's text output for a value of type `ty`; None for NULL.
    pub fn to_pg_text(&self, ty: &DataType) -> Option<String> {
        Some(match self {
            Datum::Null => return None,
            Datum::Bool(b) => if *b { "t" } else { "f" }.to_string(),
            Datum::Int(i) => match ty {
                DataType::RegType => crate::vtable::functions::regtype_name(*i),
                DataType::RegNamespace => crate::vtable::oids::namespace_name(*i)
                    .map_or_else(|| i.to_string(), str::to_string),
                DataType::RegProc | DataType::RegClass if *i == 0 => "-".to_string(),
                _ => i.to_string(),
            },
            Datum::Float(f) => {
                if *ty == DataType::Float4 {
                    format_float4(*f as f32)
                } else {
                    format_float8(*f)
                }
            }
            Datum::Decimal(d) => super::numeric::normalize_zero(*d).to_string(),
            Datum::Text(s) => match ty {
                DataType::Char(n) => pad_char(s, *n),
                _ => s.clone(),
            },
            Datum::Bytes(b) => format_bytea(b),
            Datum::Date(d) => format_date(d),
            Datum::Timestamp(t) => format_timestamp(t),
            Datum::TimestampTz(t) => format_timestamptz(&t.naive_utc()),
            Datum::Interval(i) => format_interval(i),
            Datum::Uuid(u) => u.hyphenated().to_string(),
            Datum::Json(j) => jsonb_text(j),
            Datum::Array(items) => {
                super::array::format_array(items, ty.array_elem().unwrap_or(&DataType::Text))
            }
        })
    }
}

/// Blank-pads a CHAR(n) value to n characters.
pub(crate) fn pad_char(s: &str, n: u32) -> String {
    let len = s.chars().count();
    if len >= n as usize {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(n as usize - len))
    }
}

/// bytea in hex format: `\x0102ff`.
pub(crate) fn format_bytea(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + b.len() * 2);
    s.push_str("\\x");
    for byte in b {
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// float8 output.
pub fn format_float8(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    shortest(&format!("{f:e}"), 15)
}

/// float4 output.
pub fn format_float4(f: f32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    shortest(&format!("{f:e}"), 6)
}

/// Reformats Rust's shortest round-trip `d.ddde±x` output the way PostgreSQL's
/// double_to_shortest_decimal does: fixed notation for exponents in [-4, max_exp).
fn shortest(sci: &str, max_exp: i32) -> String {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..max_exp).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.push_str(&"0".repeat(int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

/// Year for display: chrono's proleptic year 0 is 1 BC.
fn year_and_era(year: i32) -> (i32, &'static str) {
    if year <= 0 {
        (1 - year, " BC")
    } else {
        (year, "")
    }
}

/// date output: `2024-01-31`, `0044-03-15 BC`, `infinity`.
pub(crate) fn format_date(d: &NaiveDate) -> String {
    if *d == NaiveDate::MAX {
        return "infinity".into();
    }
    if *d == NaiveDate::MIN {
        return "-infinity".into();
    }
    let (y, era) = year_and_era(d.year());
    format!("{y:04}-{:02}-{:02}{era}", d.month(), d.day())
}

fn format_time_part(out: &mut String, t: &NaiveDateTime) {
    let _ = write!(out, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    let micros = t.nanosecond() / 1000;
    if micros > 0 {
        let frac = format!("{micros:06}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

/// timestamp output: `2024-01-31 12:34:56.5`.
pub(crate) fn format_timestamp(t: &NaiveDateTime) -> String {
    if *t == NaiveDateTime::MAX {
        return "infinity".into();
    }
    if *t == NaiveDateTime::MIN {
        return "-infinity".into();
    }
    let (y, era) = year_and_era(t.year());
    let mut s = format!("{y:04}-{:02}-{:02} ", t.month(), t.day());
    format_time_part(&mut s, t);
    s.push_str(era);
    s
}

/// timestamptz output in UTC: `2024-01-31 12:34:56+00`.
pub(crate) fn format_timestamptz(t: &NaiveDateTime) -> String {
    if *t == NaiveDateTime::MAX {
        return "infinity".into();
    }
    if *t == NaiveDateTime::MIN {
        return "-infinity".into();
    }
    let (y, era) = year_and_era(t.year());
    let mut s = format!("{y:04}-{:02}-{:02} ", t.month(), t.day());
    format_time_part(&mut s, t);
    s.push_str("+00");
    s.push_str(era);
    s
}

/// interval output in the `postgres` IntervalStyle: `1 year 2 mons -3 days +04:05:06.5`.
pub fn format_interval(i: &Interval) -> String {
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    let years = i.months / 12;
    let mons = i.months % 12;
    for (value, unit) in [(years, "year"), (mons, "mon"), (i.days, "day")] {
        if value == 0 {
            continue;
        }
        let _ = write!(
            out,
            "{}{}{} {}{}",
            if is_zero { "" } else { " " },
            if is_before && value > 0 { "+" } else { "" },
            value,
            unit,
            if value != 1 { "s" } else { "" }
        );
        is_before = value < 0;
        is_zero = false;
    }
    if is_zero || i.micros != 0 {
        let minus = i.micros < 0;
        let abs = i.micros.unsigned_abs();
        let hours = abs / 3_600_000_000;
        let mins = (abs / 60_000_000) % 60;
        let secs = (abs / 1_000_000) % 60;
        let frac = abs % 1_000_000;
        let _ = write!(
            out,
            "{}{}{:02}:{:02}:{:02}",
            if is_zero { "" } else { " " },
            if minus {
                "-"
            } else if is_before {
                "+"
            } else {
                ""
            },
            hours,
            mins,
            secs
        );
        if frac > 0 {
            let f = format!("{frac:06}");
            out.push('.');
            out.push_str(f.trim_end_matches('0'));
        }
    }
    out
}

/// JSONB text output: `{"a": 1, "b": [1, 2]}`.
pub fn jsonb_text(v: &serde_json::Value) -> String {
    let mut s = String::new();
    write_json(&mut s, v);
    s
}

fn write_json(out: &mut String, v: &serde_json::Value) {
    match v {
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, item);
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_json(out, item);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}
