//! Array functions: `array_to_string`, `array_length`, `array_upper`, `array_lower`,
//! `cardinality`, `array_position`, `array_append`, `array_prepend`, `array_cat`,
//! `string_to_array`.
//!
//! Arrays are one-dimensional with lower bound 1 (see `types::array`), so dimension
//! arguments other than 1 give NULL, as PostgreSQL does for a dimension an array lacks, and
//! an empty array has no dimensions at all (`array_length('{}', 1)` is NULL).

use super::Call;
use crate::types::{DataType, Datum};
use crate::{Error, Result};

/// The functions this module implements.
pub(crate) const NAMES: &[&str] = &[
    "array_to_string",
    "array_length",
    "array_upper",
    "array_lower",
    "cardinality",
    "array_position",
    "array_append",
    "array_prepend",
    "array_cat",
    "string_to_array",
];

fn elem_of(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Array(e) => Some((**e).clone()),
        DataType::Unknown => Some(DataType::Text),
        _ => None,
    }
}

/// Result type; None when `name` is not an array function or the arguments do not fit.
pub(crate) fn resolve(name: &str, a: &[DataType]) -> Option<Result<DataType>> {
    if !NAMES.contains(&name) {
        return None;
    }
    let int_like = |t: &DataType| t.is_integer() || *t == DataType::Unknown;
    let arr0 = a.first().and_then(elem_of);
    let ty = match (name, a) {
        ("array_to_string", [_, s] | [_, s, _])
            if arr0.is_some() && (s.is_string() || *s == DataType::Unknown) =>
        {
            DataType::Text
        }
        ("array_length" | "array_upper" | "array_lower", [_, d])
            if arr0.is_some() && int_like(d) =>
        {
            DataType::Int4
        }
        ("cardinality", [_]) if arr0.is_some() => DataType::Int4,
        ("array_position", [_, _]) if arr0.is_some() => DataType::Int4,
        ("array_append", [_, _]) | ("array_cat", [_, _]) if arr0.is_some() => a[0].clone(),
        ("array_prepend", [_, arr]) => match elem_of(arr) {
            Some(_) => arr.clone(),
            None => return None,
        },
        ("string_to_array", [_, _]) => DataType::Array(Box::new(DataType::Text)),
        _ => return None,
    };
    Some(Ok(ty))
}

fn items<'a>(c: &'a Call, i: usize) -> Result<&'a [Datum]> {
    match c.args.get(i) {
        Some(Datum::Array(v)) => Ok(v),
        _ => Err(Error::internal(format!(
            "{}: argument {i} is not an array",
            c.name
        ))),
    }
}

fn len_i32(n: usize) -> Datum {
    Datum::Int(n as i64)
}

/// Evaluates an array function; None when `c.name` is not one.
pub(crate) fn eval(c: &Call) -> Option<Result<Datum>> {
    if !NAMES.contains(&c.name) {
        return None;
    }
    Some(eval_inner(c))
}

fn eval_inner(c: &Call) -> Result<Datum> {
    let elem = elem_of(c.ty(0)).unwrap_or(DataType::Text);
    Ok(match c.name {
        "array_to_string" => {
            let sep = c.text(1)?;
            let null_as = match c.args.get(2) {
                Some(Datum::Null) | None => None,
                Some(_) => Some(c.text(2)?),
            };
            let mut parts = Vec::new();
            for d in items(c, 0)? {
                match d.to_pg_text(&elem) {
                    Some(s) => parts.push(s),
                    None => {
                        if let Some(n) = &null_as {
                            parts.push(n.clone());
                        }
                    }
                }
            }
            Datum::Text(parts.join(&sep))
        }
        "array_length" | "array_upper" => {
            let v = items(c, 0)?;
            if c.int(1)? != 1 || v.is_empty() {
                Datum::Null
            } else {
                len_i32(v.len())
            }
        }
        "array_lower" => {
            let v = items(c, 0)?;
            if c.int(1)? != 1 || v.is_empty() {
                Datum::Null
            } else {
                Datum::Int(1)
            }
        }
        "cardinality" => len_i32(items(c, 0)?.len()),
        "array_position" => {
            let needle = c.args.get(1).cloned().unwrap_or(Datum::Null);
            let pos = items(c, 0)?
                .iter()
                .position(|d| d.total_cmp(&needle) == std::cmp::Ordering::Equal);
            match pos {
                Some(p) => len_i32(p + 1),
                None => Datum::Null,
            }
        }
        "array_append" => {
            let mut v = items(c, 0)?.to_vec();
            v.push(c.args.get(1).cloned().unwrap_or(Datum::Null));
            Datum::Array(v)
        }
        "array_prepend" => {
            let mut v = vec![c.args.first().cloned().unwrap_or(Datum::Null)];
            v.extend(items(c, 1)?.iter().cloned());
            Datum::Array(v)
        }
        "array_cat" => {
            let mut v = items(c, 0)?.to_vec();
            v.extend(items(c, 1)?.iter().cloned());
            Datum::Array(v)
        }
        "string_to_array" => {
            let s = c.text(0)?;
            let sep = c.text(1)?;
            let parts: Vec<Datum> = if s.is_empty() {
                Vec::new()
            } else if sep.is_empty() {
                vec![Datum::Text(s)]
            } else {
                s.split(sep.as_str())
                    .map(|p| Datum::Text(p.to_string()))
                    .collect()
            };
            Datum::Array(parts)
        }
        _ => {
            return Err(Error::internal(format!(
                "{}: not an array function",
                c.name
            )))
        }
    })
}
