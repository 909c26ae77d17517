//! Arrays: `DataType::Array(elem)` / `Datum::Array(items)`.
//!
//! PostgreSQL's catalogs and the queries tools send against them are full of arrays
//! (`pg_database.datacl`, `pg_class.reloptions`, `pg_index.indkey`, `= ANY(...)`,
//! `ARRAY(SELECT ...)`), so Meridian has them as values: this module has their OIDs, their
//! text form (`{1,2,NULL}`, `{"a b",c}`) in both directions, the binary wire format,
//! comparison (element by element, then by length, as PostgreSQL's btree order does) and
//! casts (`'{1,2}'::int2[]`, `int4[]::int8[]`, `text[]::text`).
//!
//! IMPLEMENTATION CAVEATS
//! - One dimension only, lower bound 1: `'{{1,2},{3,4}}'` and `'[0:1]={1,2}'` are rejected
//!   (0A000), and `array_upper(a, 2)` is NULL.
//! - Arrays are values, not storable column types: CREATE TABLE with an array column fails
//!   with 0A000 (the row and key encodings have no array form yet).

use super::{DataType, Datum};
use crate::error::code;
use crate::{Error, Result};
use std::cmp::Ordering;

/// The OID of `elem[]` (0 when PostgreSQL has no such array type).
pub fn array_oid(elem: &DataType) -> u32 {
    match elem {
        DataType::Bool => 1000,
        DataType::Bytea => 1001,
        DataType::Int2 => 1005,
        DataType::Int4 => 1007,
        DataType::Text | DataType::Unknown => 1009,
        DataType::Char(_) => 1014,
        DataType::Varchar(_) => 1015,
        DataType::Int8 => 1016,
        DataType::Float4 => 1021,
        DataType::Float8 => 1022,
        DataType::Timestamp => 1115,
        DataType::Date => 1182,
        DataType::TimestampTz => 1185,
        DataType::Interval => 1187,
        DataType::Numeric(_) => 1231,
        DataType::Uuid => 2951,
        DataType::Jsonb => 3807,
        DataType::RegClass => 2210,
        DataType::RegType => 2211,
        DataType::RegNamespace => 4090,
        DataType::RegProc => 1008,
        DataType::Array(_) => 0,
    }
}

/// The element type of the array type with OID `oid` (`oid[]` 1028 and `name[]` 1003 read
/// as int8[] and text[], as Meridian represents oid and name).
pub fn elem_of_array_oid(oid: u32) -> Option<DataType> {
    Some(match oid {
        1000 => DataType::Bool,
        1001 => DataType::Bytea,
        1005 => DataType::Int2,
        1007 => DataType::Int4,
        1009 | 1003 => DataType::Text,
        1014 => DataType::Char(1),
        1015 => DataType::Varchar(None),
        1016 | 1028 => DataType::Int8,
        1021 => DataType::Float4,
        1022 => DataType::Float8,
        1115 => DataType::Timestamp,
        1182 => DataType::Date,
        1185 => DataType::TimestampTz,
        1187 => DataType::Interval,
        1231 => DataType::Numeric(None),
        2951 => DataType::Uuid,
        3807 => DataType::Jsonb,
        2210 => DataType::RegClass,
        2211 => DataType::RegType,
        4090 => DataType::RegNamespace,
        1008 => DataType::RegProc,
        _ => return None,
    })
}

fn element_text(d: &Datum, elem: &DataType) -> Option<String> {
    match (d, elem) {
        // Reg types print as names only where a catalog is at hand (see exec); here: numbers.
        (Datum::Int(i), _) => Some(i.to_string()),
        _ => d.to_pg_text(elem),
    }
}

/// Whether an element's text must be double-quoted in array output.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_ascii_whitespace())
}

/// PostgreSQL's text output of an array: `{1,2,NULL}`, `{"a b",c}`, `{}`.
pub fn format_array(items: &[Datum], elem: &DataType) -> String {
    let mut out = String::from("{");
    for (i, d) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match element_text(d, elem) {
            None => out.push_str("NULL"),
            Some(s) if needs_quotes(&s) => {
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            Some(s) => out.push_str(&s),
        }
    }
    out.push('}');
    out
}

fn malformed(s: &str, detail: &str) -> Error {
    Error::new(
        code::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: \"{s}\""),
    )
    .with_detail(detail.to_string())
}

/// Parses PostgreSQL's array input syntax (`{1,2}`, `{"a b",NULL}`, `{}`) into elements of
/// type `elem`.
pub fn parse_array(s: &str, elem: &DataType) -> Result<Vec<Datum>> {
    let t = s.trim();
    if t.starts_with('[') {
        return Err(Error::unsupported(
            "array literals with explicit bounds are not supported",
        ));
    }
    let body = t
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or_else(|| {
            malformed(
                s,
                "Array value must start with \"{\" or dimension information.",
            )
        })?;
    let mut items = Vec::new();
    if body.trim().is_empty() {
        return Ok(items);
    }
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut text = String::new();
        let mut quoted = false;
        match chars.peek() {
            Some('{') => {
                return Err(Error::unsupported(
                    "multidimensional arrays are not supported",
                ))
            }
            Some('"') => {
                quoted = true;
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => text.push(c),
                            None => return Err(malformed(s, "Unexpected end of input.")),
                        },
                        Some(c) => text.push(c),
                        None => return Err(malformed(s, "Unexpected end of input.")),
                    }
                }
                while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    chars.next();
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    if matches!(c, '{' | '}' | '"') {
                        return Err(malformed(s, "Unexpected array element."));
                    }
                    chars.next();
                    if c == '\\' {
                        match chars.next() {
                            Some(e) => text.push(e),
                            None => return Err(malformed(s, "Unexpected end of input.")),
                        }
                    } else {
                        text.push(c);
                    }
                }
                text = text.trim_end().to_string();
                if text.is_empty() {
                    return Err(malformed(s, "Unexpected \",\" character."));
                }
            }
        }
        items.push(if !quoted && text.eq_ignore_ascii_case("NULL") {
            Datum::Null
        } else {
            Datum::from_pg_text(&text, elem)?
        });
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(_) => return Err(malformed(s, "Unexpected array element.")),
        }
    }
    Ok(items)
}

/// Element-by-element comparison (NULL elements sort last), then by length.
pub(crate) fn cmp_elements(a: &[Datum], b: &[Datum]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.total_cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Casts an array value: text to array (parsing), array to text (formatting), and array to
/// array element by element. None when neither side is an array.
pub fn cast_array(
    d: Datum,
    from: &DataType,
    to: &DataType,
    explicit: bool,
) -> Option<Result<Datum>> {
    match (d, from, to) {
        (Datum::Array(items), DataType::Array(fe), DataType::Array(te)) => Some(
            items
                .into_iter()
                .map(|x| super::cast(x, fe, te, explicit))
                .collect::<Result<Vec<_>>>()
                .map(Datum::Array),
        ),
        (Datum::Array(items), DataType::Array(fe), t) if t.is_string() => {
            Some(Ok(Datum::Text(format_array(&items, fe))))
        }
        (Datum::Text(s), _, DataType::Array(te)) => Some(parse_array(&s, te).map(Datum::Array)),
        (Datum::Array(_), f, t) | (_, f, t @ DataType::Array(_)) if f != t => {
            Some(Err(Error::new(
                code::CANNOT_COERCE,
                format!("cannot cast type {} to {}", f.pg_name(), t.pg_name()),
            )))
        }
        _ => None,
    }
}

/// The binary wire form: ndim, has-null flag, element OID, (length, lower bound) per
/// dimension, then each element as a length-prefixed binary value (-1 for NULL).
pub fn to_binary(items: &[Datum], elem: &DataType) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let ndim: i32 = if items.is_empty() { 0 } else { 1 };
    out.extend_from_slice(&ndim.to_be_bytes());
    out.extend_from_slice(&i32::from(items.iter().any(Datum::is_null)).to_be_bytes());
    out.extend_from_slice(&elem.oid().to_be_bytes());
    if ndim == 1 {
        let n = i32::try_from(items.len())
            .map_err(|_| Error::new(code::PROGRAM_LIMIT_EXCEEDED, "array too large"))?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
    }
    for d in items {
        match d.to_pg_binary(elem)? {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                let n = i32::try_from(b.len())
                    .map_err(|_| Error::new(code::PROGRAM_LIMIT_EXCEEDED, "array too large"))?;
                out.extend_from_slice(&n.to_be_bytes());
                out.extend_from_slice(&b);
            }
        }
    }
    Ok(out)
}

/// Reads the binary wire form (one dimension).
pub fn from_binary(b: &[u8], elem: &DataType) -> Result<Datum> {
    let bad = || {
        Error::new(
            code::INVALID_BINARY_REPRESENTATION,
            "invalid array binary representation",
        )
    };
    let mut pos = 0usize;
    let next_i32 = |b: &[u8], pos: &mut usize| -> Result<i32> {
        let v = b.get(*pos..*pos + 4).ok_or_else(bad)?;
        *pos += 4;
        Ok(i32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    };
    let ndim = next_i32(b, &mut pos)?;
    let _has_null = next_i32(b, &mut pos)?;
    let _oid = next_i32(b, &mut pos)?;
    if ndim == 0 {
        return Ok(Datum::Array(Vec::new()));
    }
    if ndim != 1 {
        return Err(Error::unsupported(
            "multidimensional arrays are not supported",
        ));
    }
    let n = next_i32(b, &mut pos)?;
    let _lower = next_i32(b, &mut pos)?;
    let mut items = Vec::with_capacity(n.clamp(0, 1024) as usize);
    for _ in 0..n.max(0) {
        let len = next_i32(b, &mut pos)?;
        if len < 0 {
            items.push(Datum::Null);
            continue;
        }
        let start = pos;
        let end = start.checked_add(len as usize).ok_or_else(bad)?;
        let chunk = b.get(start..end).ok_or_else(bad)?;
        items.push(Datum::from_pg_binary(chunk, elem)?);
        pos = end;
    }
    Ok(Datum::Array(items))
}
