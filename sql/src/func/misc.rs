//! JSONB functions, UUID generation and session information (version(), current_user...).
//!
//! version() starts with "PostgreSQL 15.0" because psql and drivers parse that prefix to pick
//! protocol features; the Meridian version follows in parentheses.
//!
//! IMPLEMENTATION CAVEATS: to_jsonb of a NUMERIC goes through f64 unless the value is an
//! integer, so `to_jsonb(1.50)` is `1.5` (PostgreSQL keeps `1.50`); pg_backend_pid() returns
//! the server's process id, the same for every session.

use super::Call;
use crate::error::code;
use crate::types::{normalize_jsonb, DataType, Datum};
use crate::{Error, Result};
use rust_decimal::prelude::*;
use serde_json::Value;

/// The names this module implements.
pub(crate) const NAMES: &[&str] = &[
    "gen_random_uuid",
    "uuid_generate_v4",
    "version",
    "current_database",
    "current_catalog",
    "current_schema",
    "current_user",
    "session_user",
    "user",
    "current_role",
    "pg_backend_pid",
    "jsonb_typeof",
    "json_typeof",
    "jsonb_array_length",
    "json_array_length",
    "to_jsonb",
    "to_json",
    "jsonb_build_object",
    "json_build_object",
    "jsonb_build_array",
    "json_build_array",
    "pg_typeof",
    "jsonb_pretty",
];

fn is_json(t: &DataType) -> bool {
    matches!(t, DataType::Jsonb | DataType::Unknown)
}

pub(crate) fn resolve(name: &str, a: &[DataType]) -> Option<Result<DataType>> {
    use DataType as T;
    let ty = match (name, a.len()) {
        ("gen_random_uuid" | "uuid_generate_v4", 0) => T::Uuid,
        ("version" | "current_database" | "current_catalog" | "current_schema", 0) => T::Text,
        ("current_user" | "session_user" | "user" | "current_role", 0) => T::Text,
        ("pg_backend_pid", 0) => T::Int4,
        ("jsonb_typeof" | "json_typeof" | "jsonb_pretty", 1) if is_json(&a[0]) => T::Text,
        ("jsonb_array_length" | "json_array_length", 1) if is_json(&a[0]) => T::Int4,
        ("to_jsonb" | "to_json", 1) => T::Jsonb,
        (
            "jsonb_build_object" | "json_build_object" | "jsonb_build_array" | "json_build_array",
            _,
        ) => T::Jsonb,
        ("pg_typeof", 1) => T::Text,
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

/// The server version string.
pub fn version_string() -> String {
    format!(
        "PostgreSQL 15.0 (Meridian {}) on {}-unknown-linux-gnu, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

fn eval_inner(c: &Call) -> Result<Datum> {
    match c.name {
        "gen_random_uuid" | "uuid_generate_v4" => Ok(Datum::Uuid(uuid::Uuid::new_v4())),
        "version" => Ok(Datum::Text(version_string())),
        "current_database" | "current_catalog" => Ok(Datum::Text(c.ctx.database.clone())),
        "current_schema" => Ok(Datum::Text("public".into())),
        "current_user" | "session_user" | "user" | "current_role" => {
            Ok(Datum::Text(c.ctx.user.clone()))
        }
        "pg_backend_pid" => Ok(Datum::Int(std::process::id() as i64 & 0x7fff_ffff)),
        "pg_typeof" => Ok(Datum::Text(c.ty(0).pg_base_name().to_string())),
        "jsonb_typeof" | "json_typeof" => Ok(Datum::Text(
            match json_arg(c, 0)? {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            }
            .into(),
        )),
        "jsonb_pretty" => Ok(Datum::Text(
            serde_json::to_string_pretty(&json_arg(c, 0)?).unwrap_or_default(),
        )),
        "jsonb_array_length" | "json_array_length" => match json_arg(c, 0)? {
            Value::Array(a) => Ok(Datum::Int(a.len() as i64)),
            Value::Object(_) => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                "cannot get array length of a non-array",
            )),
            _ => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                "cannot get array length of a scalar",
            )),
        },
        "to_jsonb" | "to_json" => Ok(Datum::Json(Box::new(to_json(&c.args[0], c.ty(0))?))),
        "jsonb_build_array" | "json_build_array" => {
            let items = c
                .args
                .iter()
                .enumerate()
                .map(|(i, d)| to_json(d, c.ty(i)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Datum::Json(Box::new(Value::Array(items))))
        }
        "jsonb_build_object" | "json_build_object" => build_object(c),
        other => Err(Error::internal(format!("function {other} not dispatched"))),
    }
}

fn json_arg(c: &Call, i: usize) -> Result<Value> {
    match &c.args[i] {
        Datum::Json(j) => Ok((**j).clone()),
        Datum::Text(s) => crate::types::Datum::from_pg_text(s, &DataType::Jsonb).map(|d| match d {
            Datum::Json(j) => *j,
            _ => Value::Null,
        }),
        other => Err(Error::internal(format!("{}: not jsonb: {other:?}", c.name))),
    }
}

fn build_object(c: &Call) -> Result<Datum> {
    if c.args.len() & 1 == 1 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "argument list must have even number of elements",
        )
        .with_hint(format!(
            "The arguments of {}() must consist of alternating keys and values.",
            c.name
        )));
    }
    let mut map = serde_json::Map::new();
    for i in (0..c.args.len()).step_by(2) {
        if c.args[i].is_null() {
            return Err(Error::new(
                code::NULL_VALUE_NOT_ALLOWED,
                format!("argument {}: key must not be null", i + 1),
            ));
        }
        let key = c.text(i)?;
        map.insert(key, to_json(&c.args[i + 1], c.ty(i + 1))?);
    }
    Ok(Datum::Json(Box::new(normalize_jsonb(Value::Object(map)))))
}

/// A SQL value as JSON, as PostgreSQL's to_jsonb converts it.
pub(crate) fn to_json(d: &Datum, ty: &DataType) -> Result<Value> {
    Ok(match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Int(i) => Value::from(*i),
        Datum::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(_) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(*f as i64),
            Some(n) => Value::Number(n),
            None => Value::String(d.to_pg_text(ty).unwrap_or_default()),
        },
        Datum::Decimal(x) => {
            if x.fract().is_zero() {
                match x.to_i64() {
                    Some(i) => Value::from(i),
                    None => Value::from(x.to_f64().unwrap_or(0.0)),
                }
            } else {
                serde_json::Number::from_f64(x.to_f64().unwrap_or(0.0))
                    .map_or(Value::Null, Value::Number)
            }
        }
        Datum::Text(s) => Value::String(match ty {
            DataType::Char(n) => crate::types::Datum::Text(s.clone())
                .to_pg_text(&DataType::Char(*n))
                .unwrap_or_default(),
            _ => s.clone(),
        }),
        Datum::Json(j) => (**j).clone(),
        Datum::Timestamp(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        Datum::TimestampTz(t) => Value::String(
            t.naive_utc()
                .format("%Y-%m-%dT%H:%M:%S%.f+00:00")
                .to_string(),
        ),
        other => Value::String(other.to_pg_text(ty).unwrap_or_default()),
    })
}
