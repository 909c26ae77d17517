//! Golden files of the key encoding (kv/tests/testdata/encoding/*.txt): the exact bytes of
//! chosen values, so that any change of the on-disk format shows up in review.
//!
//! One command: `encode type=<bool|int|float|decimal|bytes|str|u64> dir=<asc|desc> <values...>`.
//! It prints each value with its encoding in hex (and what it decodes back to when that is
//! printed differently, e.g. `1.00` decodes as `1`), then the byte order of neighbours:
//! `order: a < b = c`. `NULL` is a value of every type except u64.

mod golden;

use golden::{arg_bytes, fmt_bytes, hex, Command};
use kv::encoding::*;
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::str::FromStr;

/// Encodes one value; returns the bytes and the decoded value printed back.
fn encode_one(ty: &str, dir: Direction, v: &str) -> Result<(Vec<u8>, String), String> {
    let mut buf = Vec::new();
    let bad = || format!("bad {ty} value {v:?}");
    if v == "NULL" && ty != "u64" {
        encode_null(&mut buf, dir);
        let mut input = &buf[..];
        assert!(decode_is_null(&mut input, dir) && input.is_empty());
        return Ok((buf, "NULL".into()));
    }
    let dec_err = |e: kv::Error| e.to_string();
    let back = match ty {
        "bool" => {
            encode_bool(&mut buf, v.parse().map_err(|_| bad())?, dir);
            decode_bool(&mut &buf[..], dir)
                .map_err(dec_err)?
                .to_string()
        }
        "int" => {
            encode_i64(&mut buf, v.parse().map_err(|_| bad())?, dir);
            decode_i64(&mut &buf[..], dir).map_err(dec_err)?.to_string()
        }
        "u64" => {
            encode_u64_asc(&mut buf, v.parse().map_err(|_| bad())?);
            decode_u64_asc(&mut &buf[..]).map_err(dec_err)?.to_string()
        }
        "float" => {
            let f: f64 = v.parse().map_err(|_| bad())?;
            encode_f64(&mut buf, f, dir);
            let back = decode_f64(&mut &buf[..], dir).map_err(dec_err)?;
            if back.to_bits() == f.to_bits() {
                v.to_string()
            } else {
                format!("{back:?}")
            }
        }
        "decimal" => {
            encode_decimal(&mut buf, &Decimal::from_str(v).map_err(|_| bad())?, dir);
            decode_decimal(&mut &buf[..], dir)
                .map_err(dec_err)?
                .to_string()
        }
        "bytes" => {
            encode_bytes(&mut buf, &arg_bytes(v), dir);
            fmt_bytes(&decode_bytes(&mut &buf[..], dir).map_err(dec_err)?)
        }
        "str" => {
            encode_str(&mut buf, v, dir);
            format!("{:?}", decode_str(&mut &buf[..], dir).map_err(dec_err)?)
        }
        other => return Err(format!("unknown type {other}")),
    };
    Ok((buf, back))
}

fn run(cmd: &Command) -> Result<String, String> {
    if cmd.name != "encode" {
        return Err(format!("line {}: unknown command {}", cmd.line, cmd.name));
    }
    let ty = cmd.must("type")?;
    let dir = match cmd.must("dir")? {
        "asc" => Direction::Asc,
        "desc" => Direction::Desc,
        other => return Err(format!("bad direction {other}")),
    };
    let values: Vec<&str> = cmd
        .args
        .iter()
        .filter(|(k, v)| v.is_empty() && k != "type" && k != "dir")
        .map(|(k, _)| k.as_str())
        .collect();
    let shown = |v: &str| match ty {
        _ if v == "NULL" => v.to_string(),
        "bytes" => fmt_bytes(&arg_bytes(v)),
        "str" => format!("{v:?}"),
        _ => v.to_string(),
    };
    let mut out = String::new();
    let mut encoded = Vec::new();
    for v in &values {
        let (bytes, back) = encode_one(ty, dir, v)?;
        let _ = write!(out, "{} -> {}", shown(v), hex(&bytes));
        if back != shown(v) {
            let _ = write!(out, " (decodes as {back})");
        }
        out.push('\n');
        encoded.push(bytes);
    }
    let mut order = String::from("order:");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            order.push_str(match encoded[i - 1].cmp(&encoded[i]) {
                std::cmp::Ordering::Less => " <",
                std::cmp::Ordering::Equal => " =",
                std::cmp::Ordering::Greater => " >",
            });
        }
        order.push(' ');
        order.push_str(&shown(v));
    }
    out.push_str(&order);
    Ok(out)
}

#[test]
fn encoding_golden_files() {
    golden::run_dir("tests/testdata/encoding", || run);
}
