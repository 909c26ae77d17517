//! String functions: length, case, trimming, padding, searching and splitting, with
//! PostgreSQL's character (not byte) semantics and its errors for bad lengths and positions.

use super::{is_int, is_text, Call};
use crate::error::code;
use crate::types::{DataType, Datum};
use crate::{Error, Result};

/// The names this module implements.
pub(crate) const NAMES: &[&str] = &[
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "lower",
    "upper",
    "substr",
    "substring",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "replace",
    "concat",
    "concat_ws",
    "left",
    "right",
    "strpos",
    "position",
    "lpad",
    "rpad",
    "repeat",
    "reverse",
    "split_part",
    "initcap",
    "md5",
    "ascii",
    "chr",
    "starts_with",
    "to_hex",
    "quote_ident",
    "quote_literal",
    "translate",
];

/// Largest string a function may build (PostgreSQL's 1 GB field limit).
const MAX_STRING_BYTES: usize = (1 << 30) - 1;

pub(crate) fn resolve(name: &str, a: &[DataType]) -> Option<Result<DataType>> {
    use DataType as T;
    let bytea = |i: usize| a.get(i) == Some(&T::Bytea);
    let ty = match (name, a.len()) {
        ("length" | "octet_length" | "bit_length", 1) if is_text(&a[0]) || bytea(0) => T::Int4,
        ("char_length" | "character_length", 1) if is_text(&a[0]) => T::Int4,
        ("lower" | "upper" | "initcap" | "reverse" | "quote_ident" | "quote_literal", 1)
            if is_text(&a[0]) =>
        {
            T::Text
        }
        ("md5", 1) if is_text(&a[0]) || bytea(0) => T::Text,
        ("trim" | "btrim" | "ltrim" | "rtrim", 1) if is_text(&a[0]) => T::Text,
        ("trim" | "btrim" | "ltrim" | "rtrim", 2) if is_text(&a[0]) && is_text(&a[1]) => T::Text,
        ("substr" | "substring", 2 | 3) if bytea(0) && a[1..].iter().all(is_int) => T::Bytea,
        ("substr" | "substring", 2 | 3) if is_text(&a[0]) && a[1..].iter().all(is_int) => T::Text,
        ("replace" | "translate", 3) if a.iter().all(is_text) => T::Text,
        ("concat", _) => T::Text,
        ("concat_ws", n) if n >= 1 && is_text(&a[0]) => T::Text,
        ("left" | "right" | "repeat", 2) if is_text(&a[0]) && is_int(&a[1]) => T::Text,
        ("strpos" | "position", 2) if is_text(&a[0]) && is_text(&a[1]) => T::Int4,
        ("lpad" | "rpad", 2) if is_text(&a[0]) && is_int(&a[1]) => T::Text,
        ("lpad" | "rpad", 3) if is_text(&a[0]) && is_int(&a[1]) && is_text(&a[2]) => T::Text,
        ("split_part", 3) if is_text(&a[0]) && is_text(&a[1]) && is_int(&a[2]) => T::Text,
        ("ascii", 1) if is_text(&a[0]) => T::Int4,
        ("chr", 1) if is_int(&a[0]) => T::Text,
        ("starts_with", 2) if is_text(&a[0]) && is_text(&a[1]) => T::Bool,
        ("to_hex", 1) if is_int(&a[0]) => T::Text,
        _ => return None,
    };
    Some(Ok(ty))
}

pub(crate) fn eval(c: &Call) -> Option<Result<Datum>> {
    if !NAMES.contains(&c.name) {
        return None;
    }
    Some(eval_inner(c))
}

fn text(s: String) -> Result<Datum> {
    if s.len() > MAX_STRING_BYTES {
        return Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            "requested length too large",
        ));
    }
    Ok(Datum::Text(s))
}

fn eval_inner(c: &Call) -> Result<Datum> {
    let n = c.args.len();
    match c.name {
        "length" | "char_length" | "character_length" => match &c.args[0] {
            Datum::Bytes(b) => Ok(Datum::Int(b.len() as i64)),
            _ => Ok(Datum::Int(c.text(0)?.chars().count() as i64)),
        },
        "octet_length" | "bit_length" => {
            let bytes = match &c.args[0] {
                Datum::Bytes(b) => b.len(),
                _ => c.text(0)?.len(),
            } as i64;
            Ok(Datum::Int(if c.name == "bit_length" {
                bytes * 8
            } else {
                bytes
            }))
        }
        "lower" => text(c.text(0)?.to_lowercase()),
        "upper" => text(c.text(0)?.to_uppercase()),
        "initcap" => text(initcap(&c.text(0)?)),
        "reverse" => text(c.text(0)?.chars().rev().collect()),
        "quote_ident" => text(quote_ident(&c.text(0)?)),
        "quote_literal" => text(format!("'{}'", c.text(0)?.replace('\'', "''"))),
        "md5" => {
            let bytes = match &c.args[0] {
                Datum::Bytes(b) => b.clone(),
                _ => c.text(0)?.into_bytes(),
            };
            text(super::md5::hex(&bytes))
        }
        "trim" | "btrim" | "ltrim" | "rtrim" => {
            let s = c.text(0)?;
            let set: Vec<char> = if n == 2 {
                c.text(1)?.chars().collect()
            } else {
                vec![' ']
            };
            let in_set = |ch: char| set.contains(&ch);
            text(match c.name {
                "ltrim" => s.trim_start_matches(in_set).to_string(),
                "rtrim" => s.trim_end_matches(in_set).to_string(),
                _ => s.trim_matches(in_set).to_string(),
            })
        }
        "substr" | "substring" => substr(c),
        "replace" => {
            let (s, from, to) = (c.text(0)?, c.text(1)?, c.text(2)?);
            text(if from.is_empty() {
                s
            } else {
                s.replace(&from, &to)
            })
        }
        "translate" => text(translate(&c.text(0)?, &c.text(1)?, &c.text(2)?)),
        "concat" => {
            let mut out = String::new();
            for i in 0..n {
                if !c.args[i].is_null() {
                    out.push_str(&c.text(i)?);
                }
            }
            text(out)
        }
        "concat_ws" => {
            if c.args[0].is_null() {
                return Ok(Datum::Null);
            }
            let sep = c.text(0)?;
            let parts: Vec<String> = (1..n)
                .filter(|i| !c.args[*i].is_null())
                .map(|i| c.text(i))
                .collect::<Result<_>>()?;
            text(parts.join(&sep))
        }
        "left" | "right" => {
            let s: Vec<char> = c.text(0)?.chars().collect();
            let k = c.int(1)?;
            let len = s.len() as i64;
            let take = if k >= 0 { k.min(len) } else { (len + k).max(0) } as usize;
            text(if c.name == "left" {
                s[..take].iter().collect()
            } else {
                s[s.len() - take..].iter().collect()
            })
        }
        "strpos" | "position" => {
            let (s, sub) = if c.name == "strpos" {
                (c.text(0)?, c.text(1)?)
            } else {
                (c.text(1)?, c.text(0)?)
            };
            Ok(Datum::Int(match s.find(&sub) {
                Some(byte) => s[..byte].chars().count() as i64 + 1,
                None => 0,
            }))
        }
        "lpad" | "rpad" => pad(c),
        "repeat" => {
            let s = c.text(0)?;
            let k = c.int(1)?.max(0) as usize;
            if s.len().saturating_mul(k) > MAX_STRING_BYTES {
                return Err(Error::new(
                    code::PROGRAM_LIMIT_EXCEEDED,
                    "requested length too large",
                ));
            }
            text(s.repeat(k))
        }
        "split_part" => split_part(&c.text(0)?, &c.text(1)?, c.int(2)?),
        "ascii" => Ok(Datum::Int(
            c.text(0)?.chars().next().map_or(0, |ch| ch as i64),
        )),
        "chr" => chr(c.int(0)?),
        "starts_with" => Ok(Datum::Bool(c.text(0)?.starts_with(&c.text(1)?))),
        "to_hex" => {
            let v = c.int(0)?;
            text(match c.ty(0) {
                DataType::Int8 => format!("{:x}", v),
                _ => format!("{:x}", v as i32),
            })
        }
        _ => Err(Error::internal(format!(
            "string function {} not dispatched",
            c.name
        ))),
    }
}

fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for ch in s.chars() {
        if ch.is_alphanumeric() {
            if in_word {
                out.extend(ch.to_lowercase());
            } else {
                out.extend(ch.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(ch);
            in_word = false;
        }
    }
    out
}

fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

fn translate(s: &str, from: &str, to: &str) -> String {
    let from: Vec<char> = from.chars().collect();
    let to: Vec<char> = to.chars().collect();
    s.chars()
        .filter_map(|ch| match from.iter().position(|f| *f == ch) {
            Some(i) => to.get(i).copied(),
            None => Some(ch),
        })
        .collect()
}

/// substr(s, start [, count]) with PostgreSQL's handling of starts before 1.
fn substr(c: &Call) -> Result<Datum> {
    let start = c.int(1)?;
    let count = if c.args.len() == 3 {
        Some(c.int(2)?)
    } else {
        None
    };
    if count.is_some_and(|k| k < 0) {
        return Err(Error::new("22011", "negative substring length not allowed"));
    }
    let from = start.max(1);
    let end = count.map(|k| start.saturating_add(k)); // exclusive, 1-based
    let range = |len: usize| -> (usize, usize) {
        let lo = ((from - 1) as usize).min(len);
        let hi = match end {
            Some(e) if e <= from => lo,
            Some(e) => ((e - 1) as usize).min(len),
            None => len,
        };
        (lo, hi.max(lo))
    };
    match &c.args[0] {
        Datum::Bytes(b) => {
            let (lo, hi) = range(b.len());
            Ok(Datum::Bytes(b[lo..hi].to_vec()))
        }
        _ => {
            let chars: Vec<char> = c.text(0)?.chars().collect();
            let (lo, hi) = range(chars.len());
            text(chars[lo..hi].iter().collect())
        }
    }
}

/// lpad/rpad: fill to `len` characters, or truncate to it.
fn pad(c: &Call) -> Result<Datum> {
    let s: Vec<char> = c.text(0)?.chars().collect();
    let len = c.int(1)?.max(0) as usize;
    if len > MAX_STRING_BYTES {
        return Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            "requested length too large",
        ));
    }
    let fill: Vec<char> = if c.args.len() == 3 {
        c.text(2)?.chars().collect()
    } else {
        vec![' ']
    };
    if s.len() >= len || fill.is_empty() {
        return text(s[..len.min(s.len())].iter().collect());
    }
    let padding: String = fill.iter().cycle().take(len - s.len()).collect();
    let body: String = s.iter().collect();
    text(if c.name == "lpad" {
        padding + &body
    } else {
        body + &padding
    })
}

fn split_part(s: &str, delim: &str, field: i64) -> Result<Datum> {
    if field == 0 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "field position must not be zero",
        ));
    }
    let parts: Vec<&str> = if delim.is_empty() {
        vec![s]
    } else {
        s.split(delim).collect()
    };
    let idx = if field > 0 {
        field - 1
    } else {
        parts.len() as i64 + field
    };
    Ok(Datum::Text(
        usize::try_from(idx)
            .ok()
            .and_then(|i| parts.get(i))
            .map_or(String::new(), |p| p.to_string()),
    ))
}

fn chr(v: i64) -> Result<Datum> {
    if v == 0 {
        return Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            "null character not permitted",
        ));
    }
    if v < 0 {
        return Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            "character number must be positive",
        ));
    }
    match u32::try_from(v).ok().and_then(char::from_u32) {
        Some(ch) => Ok(Datum::Text(ch.to_string())),
        None => Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            format!("requested character too large for encoding: {v}"),
        )),
    }
}
