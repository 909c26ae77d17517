//! PostgreSQL text input (the `typinput` functions): what a string literal, a text-format
//! parameter or COPY data means for each type, with PostgreSQL's messages and SQLSTATEs
//! (22P02 invalid syntax, 22003 out of range, 22007/22008 for dates and times).
//!
//! JSONB input is normalised the way jsonb stores it: object keys sorted (shorter first, then
//! bytewise) and duplicates resolved to the last value, so output and equality match.

use super::datetime::{parse_datetime, parse_interval};
use super::numeric::{apply_typmod, parse_decimal};
use super::{DataType, Datum};
use crate::error::code;
use crate::{Error, Result};
use chrono::{NaiveDateTime, TimeZone, Utc};

pub(crate) fn invalid_syntax(tyname: &str, s: &str) -> Error {
    Error::new(
        code::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {tyname}: \"{s}\""),
    )
}

impl Datum {
    /// Parses PostgreSQL text input for `ty`.
    pub fn from_pg_text(s: &str, ty: &DataType) -> Result<Datum> {
        Ok(match ty {
            DataType::Bool => Datum::Bool(parse_bool(s)?),
            DataType::Int2 | DataType::Int4 | DataType::Int8 => Datum::Int(parse_int(s, ty)?),
            DataType::Float4 | DataType::Float8 => Datum::Float(parse_float(s, ty)?),
            DataType::Numeric(typmod) => {
                let d = match parse_decimal(s) {
                    Some(r) => r?,
                    None => return Err(invalid_syntax("numeric", s)),
                };
                Datum::Decimal(apply_typmod(d, *typmod)?)
            }
            DataType::Text | DataType::Unknown => Datum::Text(s.to_string()),
            DataType::Varchar(_) | DataType::Char(_) => {
                Datum::Text(super::cast::fit_string(s.to_string(), ty, false)?)
            }
            DataType::Bytea => Datum::Bytes(parse_bytea(s)?),
            DataType::Date => {
                let p = parse_datetime(s, "date")?;
                Datum::Date(match p.dt {
                    NaiveDateTime::MAX => chrono::NaiveDate::MAX,
                    NaiveDateTime::MIN => chrono::NaiveDate::MIN,
                    dt => dt.date(),
                })
            }
            DataType::Timestamp => {
                Datum::Timestamp(parse_datetime(s, "timestamp without time zone")?.dt)
            }
            DataType::TimestampTz => {
                let p = parse_datetime(s, "timestamp with time zone")?;
                let utc = match (p.dt, p.offset_secs) {
                    (NaiveDateTime::MAX | NaiveDateTime::MIN, _) | (_, None) => p.dt,
                    (dt, Some(off)) => dt - chrono::Duration::seconds(off as i64),
                };
                Datum::TimestampTz(Utc.from_utc_datetime(&utc))
            }
            DataType::Interval => Datum::Interval(parse_interval(s)?),
            DataType::Uuid => Datum::Uuid(parse_uuid(s).ok_or_else(|| invalid_syntax("uuid", s))?),
            DataType::Jsonb => Datum::Json(Box::new(parse_jsonb(s)?)),
            DataType::Array(elem) => Datum::Array(super::array::parse_array(s, elem)?),
            DataType::RegType => Datum::Int(reg_type_input(s)?),
            DataType::RegClass | DataType::RegNamespace | DataType::RegProc => {
                // Names need the catalog: the executor resolves them (exec::pgcompat); here
                // only the numeric form is accepted.
                Datum::Int(s.trim().parse().map_err(|_| {
                    Error::new(
                        code::FEATURE_NOT_SUPPORTED,
                        format!("cannot resolve {} name \"{s}\" here", ty.pg_base_name()),
                    )
                })?)
            }
        })
    }
}

/// boolean input: t/true/yes/on/1 and f/false/no/off/0, any case, unique prefixes allowed.
pub(crate) fn parse_bool(s: &str) -> Result<bool> {
    let t = s.trim().to_ascii_lowercase();
    let matches = |word: &str, min: usize| t.len() >= min && word.starts_with(t.as_str());
    if matches("true", 1) || matches("yes", 1) || matches("on", 2) || t == "1" {
        Ok(true)
    } else if matches("false", 1) || matches("no", 1) || matches("off", 2) || t == "0" {
        Ok(false)
    } else {
        Err(invalid_syntax("boolean", s))
    }
}

/// The (min, max) of an integer type.
pub(crate) fn int_bounds(ty: &DataType) -> (i64, i64) {
    match ty {
        DataType::Int2 => (i16::MIN as i64, i16::MAX as i64),
        DataType::Int4 => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Integer input: optional surrounding whitespace and sign, decimal digits.
pub(crate) fn parse_int(s: &str, ty: &DataType) -> Result<i64> {
    let tyname = ty.pg_base_name();
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_syntax(tyname, s));
    }
    let out_of_range = || {
        Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value \"{s}\" is out of range for type {tyname}"),
        )
    };
    let v: i64 = t.parse().map_err(|_| out_of_range())?;
    let (lo, hi) = int_bounds(ty);
    if v < lo || v > hi {
        return Err(out_of_range());
    }
    Ok(v)
}

/// Float input: decimal or exponent notation, NaN, [+-]Infinity/inf.
pub(crate) fn parse_float(s: &str, ty: &DataType) -> Result<f64> {
    let tyname = ty.pg_base_name();
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let valid_chars = t
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let v: f64 =
        if valid_chars { t.parse().ok() } else { None }.ok_or_else(|| invalid_syntax(tyname, s))?;
    let lower = t.to_ascii_lowercase();
    let literal_special = lower.contains("inf") || lower.contains("nan");
    let out_of_range = || {
        Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{s}\" is out of range for type {tyname}"),
        )
    };
    if v.is_infinite() && !literal_special {
        return Err(out_of_range());
    }
    let has_nonzero_digit = lower
        .split(['e'])
        .next()
        .is_some_and(|m| m.bytes().any(|b| (b'1'..=b'9').contains(&b)));
    if v == 0.0 && has_nonzero_digit {
        return Err(out_of_range());
    }
    if *ty == DataType::Float4 && !literal_special {
        let f = v as f32;
        if f.is_infinite() || (f == 0.0 && v != 0.0) {
            return Err(out_of_range());
        }
        return Ok(f as f64);
    }
    Ok(v)
}

/// uuid input as PostgreSQL accepts it: 32 hex digits, optionally in braces, with a hyphen
/// allowed after any group of four digits.
fn parse_uuid(s: &str) -> Option<uuid::Uuid> {
    let t = s.trim();
    let t = match t.strip_prefix('{') {
        Some(inner) => inner.strip_suffix('}')?,
        None => t,
    };
    let mut hex = String::with_capacity(32);
    let mut prev_hyphen = true;
    for c in t.chars() {
        if c == '-' {
            if prev_hyphen || hex.len() & 3 != 0 || hex.len() == 32 {
                return None;
            }
            prev_hyphen = true;
        } else {
            c.to_digit(16)?;
            hex.push(c);
            prev_hyphen = false;
        }
    }
    if hex.len() != 32 || prev_hyphen {
        return None;
    }
    uuid::Uuid::parse_str(&hex).ok()
}

/// bytea input: hex (`\x0102`) or escape format (`abc\\\001`).
pub(crate) fn parse_bytea(s: &str) -> Result<Vec<u8>> {
    if let Some(hex) = s.strip_prefix("\\x").or_else(|| s.strip_prefix("\\X")) {
        return parse_hex(hex);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if i + 4 <= b.len() && is_octal_escape(&b[i + 1..i + 4]) {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            return Err(Error::new(
                code::INVALID_TEXT_REPRESENTATION,
                "invalid input syntax for type bytea",
            ));
        }
    }
    Ok(out)
}

fn is_octal_escape(b: &[u8]) -> bool {
    b.len() == 3
        && (b'0'..=b'3').contains(&b[0])
        && b[1..].iter().all(|c| (b'0'..=b'7').contains(c))
}

fn parse_hex(hex: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(hex.len() / 2);
    let mut pending: Option<u8> = None;
    for c in hex.chars() {
        if pending.is_none() && c.is_ascii_whitespace() {
            continue;
        }
        let v = c.to_digit(16).ok_or_else(|| {
            Error::new(
                code::INVALID_TEXT_REPRESENTATION,
                format!("invalid hexadecimal digit: \"{c}\""),
            )
        })? as u8;
        match pending.take() {
            None => pending = Some(v),
            Some(hi) => out.push(hi * 16 + v),
        }
    }
    if pending.is_some() {
        return Err(Error::new(
            code::INVALID_TEXT_REPRESENTATION,
            "invalid hexadecimal data: odd number of digits",
        ));
    }
    Ok(out)
}

/// JSON input, normalised to jsonb's key order.
pub(crate) fn parse_jsonb(s: &str) -> Result<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| {
        Error::new(
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type json",
        )
        .with_detail(capitalize(&e.to_string()))
    })?;
    Ok(normalize_jsonb(v))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str() + ".",
        None => String::new(),
    }
}

/// Sorts object keys as jsonb stores them (shorter first, then bytewise), recursively.
/// serde_json already keeps the last of duplicate keys.
pub fn normalize_jsonb(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map
                .into_iter()
                .map(|(k, v)| (k, normalize_jsonb(v)))
                .collect();
            entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            serde_json::Value::Object(entries.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(normalize_jsonb).collect())
        }
        other => other,
    }
}

/// `regtype` input: an OID, or a type name as `format_type` or pg_type spell it.
fn reg_type_input(s: &str) -> Result<i64> {
    match s.trim().parse::<i64>() {
        Ok(oid) => Ok(oid),
        Err(_) => crate::vtable::functions::regtype_oid(s),
    }
}
