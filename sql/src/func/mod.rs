//! Built-in scalar functions with PostgreSQL's names, argument rules, results and errors.
//!
//! [`resolve_function`] picks the result type from the argument types at plan time (42883
//! `function foo(integer) does not exist` with PostgreSQL's hint when nothing matches), and
//! [`eval_function`] computes a value. Functions are strict (any NULL argument gives NULL)
//! unless PostgreSQL says otherwise: `concat`, `concat_ws` (NULL separator aside),
//! `greatest`/`least` (NULLs ignored) and the jsonb builders see their NULL arguments.
//! Arguments of type `unknown` (untyped literals) are accepted where text is, and are parsed
//! where a number or timestamp is expected. CHAR(n) arguments lose their padding first, as
//! PostgreSQL's implicit bpchar -> text cast does.
//!
//! The implementations are split by family: string.rs, math.rs, time.rs and misc.rs (JSON,
//! UUIDs, session information) and region.rs (gateway_region() and friends). `coalesce`, `nullif` and aggregates are not here: the planner
//! owns them. `position(sub, s)` takes its arguments in SQL's `POSITION(sub IN s)` order;
//! `strpos(s, sub)` in PostgreSQL's.
//!
//! IMPLEMENTATION CAVEATS: overload resolution is per-function rules rather than
//! PostgreSQL's general candidate search; numeric transcendental functions (sqrt, ln, exp,
//! log) compute through rust_decimal and pick result scales approximating PostgreSQL's;
//! date_part/extract and date_trunc work in UTC (the only session time zone).

mod array;
mod math;
pub(crate) mod md5;
mod misc;
pub mod region;
mod string;
#[cfg(test)]
mod tests;
mod time;
pub use time::FOLLOWER_READ_LAG_MS;

use crate::error::code;
use crate::types::{DataType, Datum};
use crate::{Error, Result};

/// What functions may read from the session and transaction.
#[derive(Debug, Clone)]
pub struct FuncContext {
    /// The transaction timestamp (now(), current_timestamp, current_date).
    pub txn_time: chrono::DateTime<chrono::Utc>,
    /// The current database (current_database()).
    pub database: String,
    /// The session user (current_user, session_user, user).
    pub user: String,
    /// The gateway's region and the database's regions (gateway_region() and friends).
    pub regions: region::RegionInfo,
}

/// The result type of `name(args)`; 42883 when no such function exists.
pub fn resolve_function(name: &str, args: &[DataType]) -> Result<DataType> {
    let lname = name.to_ascii_lowercase();
    let found = string::resolve(&lname, args)
        .or_else(|| math::resolve(&lname, args))
        .or_else(|| time::resolve(&lname, args))
        .or_else(|| misc::resolve(&lname, args))
        .or_else(|| region::resolve(&lname, args))
        .or_else(|| array::resolve(&lname, args));
    match found {
        Some(r) => r,
        None => Err(no_function(&lname, args)),
    }
}

/// Whether `name` is a built-in scalar function (for any arguments).
pub fn is_function(name: &str) -> bool {
    let lname = name.to_ascii_lowercase();
    string::NAMES.contains(&lname.as_str())
        || math::NAMES.contains(&lname.as_str())
        || time::NAMES.contains(&lname.as_str())
        || misc::NAMES.contains(&lname.as_str())
        || region::NAMES.contains(&lname.as_str())
        || array::NAMES.contains(&lname.as_str())
}

/// 42883 `function foo(integer, text) does not exist` with PostgreSQL's hint.
pub(crate) fn no_function(name: &str, args: &[DataType]) -> Error {
    let list: Vec<&str> = args.iter().map(|t| t.pg_base_name()).collect();
    Error::new(code::UNDEFINED_FUNCTION, format!("function {name}({}) does not exist", list.join(", ")))
        .with_hint("No function matches the given name and argument types. You might need to add explicit type casts.")
}

/// Functions that see NULL arguments instead of returning NULL for them.
const NON_STRICT: &[&str] = &[
    "concat",
    "concat_ws",
    "greatest",
    "least",
    "jsonb_build_object",
    "jsonb_build_array",
    "json_build_object",
    "json_build_array",
    "pg_typeof",
];

/// Evaluates `name(args)`; `arg_types` are the arguments' declared types.
pub fn eval_function(
    name: &str,
    args: &[Datum],
    arg_types: &[DataType],
    ctx: &FuncContext,
) -> Result<Datum> {
    let lname = name.to_ascii_lowercase();
    if args.len() != arg_types.len() {
        return Err(Error::internal(format!(
            "{lname}: {} arguments but {} argument types",
            args.len(),
            arg_types.len()
        )));
    }
    let ret = resolve_function(&lname, arg_types)?;
    if !NON_STRICT.contains(&lname.as_str()) && args.iter().any(Datum::is_null) {
        return Ok(Datum::Null);
    }
    // bpchar -> text strips the padding before any text function sees the value.
    let unpadded: Vec<Datum> = args
        .iter()
        .zip(arg_types.iter().chain(std::iter::repeat(&DataType::Text)))
        .map(|(d, t)| match (d, t) {
            (Datum::Text(s), DataType::Char(_)) => Datum::Text(s.trim_end_matches(' ').to_string()),
            _ => d.clone(),
        })
        .collect();
    let call = Call {
        name: &lname,
        args: &unpadded,
        types: arg_types,
        ret: &ret,
        ctx,
    };
    string::eval(&call)
        .or_else(|| math::eval(&call))
        .or_else(|| time::eval(&call))
        .or_else(|| misc::eval(&call))
        .or_else(|| region::eval(&call))
        .or_else(|| array::eval(&call))
        .unwrap_or_else(|| Err(no_function(&lname, arg_types)))
}

/// One function call being evaluated.
pub(crate) struct Call<'a> {
    pub name: &'a str,
    pub args: &'a [Datum],
    pub types: &'a [DataType],
    pub ret: &'a DataType,
    pub ctx: &'a FuncContext,
}

impl Call<'_> {
    /// The i-th argument's type (Unknown past the end).
    pub fn ty(&self, i: usize) -> &DataType {
        self.types.get(i).unwrap_or(&DataType::Unknown)
    }

    /// The i-th argument as text.
    pub fn text(&self, i: usize) -> Result<String> {
        match self.args.get(i) {
            Some(Datum::Text(s)) => Ok(s.clone()),
            Some(Datum::Null) | None => Err(Error::internal(format!(
                "{}: missing argument {i}",
                self.name
            ))),
            Some(d) => Ok(d.to_pg_text(self.ty(i)).unwrap_or_default()),
        }
    }

    /// The i-th argument as an integer (untyped literals are parsed).
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.args.get(i) {
            Some(Datum::Int(v)) => Ok(*v),
            Some(Datum::Text(s)) => crate::types::cast(
                Datum::Text(s.clone()),
                &DataType::Unknown,
                &DataType::Int8,
                true,
            )
            .and_then(|d| match d {
                Datum::Int(v) => Ok(v),
                _ => Err(Error::internal("integer cast")),
            }),
            Some(d @ (Datum::Float(_) | Datum::Decimal(_))) => {
                match crate::types::cast(d.clone(), self.ty(i), &DataType::Int4, false)? {
                    Datum::Int(v) => Ok(v),
                    _ => Err(Error::internal("integer cast")),
                }
            }
            _ => Err(Error::internal(format!(
                "{}: argument {i} is not an integer",
                self.name
            ))),
        }
    }

    /// The i-th argument as f64.
    pub fn float(&self, i: usize) -> Result<f64> {
        match self.args.get(i) {
            Some(Datum::Float(f)) => Ok(*f),
            Some(Datum::Int(v)) => Ok(*v as f64),
            Some(Datum::Decimal(d)) => {
                Ok(rust_decimal::prelude::ToPrimitive::to_f64(d).unwrap_or(f64::NAN))
            }
            Some(Datum::Text(s)) => {
                crate::types::Datum::from_pg_text(s, &DataType::Float8).map(|d| match d {
                    Datum::Float(f) => f,
                    _ => f64::NAN,
                })
            }
            _ => Err(Error::internal(format!(
                "{}: argument {i} is not a number",
                self.name
            ))),
        }
    }

    /// The i-th argument as a decimal.
    pub fn decimal(&self, i: usize) -> Result<rust_decimal::Decimal> {
        match self.args.get(i) {
            Some(Datum::Decimal(d)) => Ok(*d),
            Some(Datum::Int(v)) => Ok(rust_decimal::Decimal::from(*v)),
            Some(d @ (Datum::Float(_) | Datum::Text(_))) => {
                let from = if matches!(d, Datum::Text(_)) {
                    &DataType::Unknown
                } else {
                    self.ty(i)
                };
                match crate::types::cast(d.clone(), from, &DataType::Numeric(None), true)? {
                    Datum::Decimal(x) => Ok(x),
                    _ => Err(Error::internal("numeric cast")),
                }
            }
            _ => Err(Error::internal(format!(
                "{}: argument {i} is not a number",
                self.name
            ))),
        }
    }
}

/// Whether a type is accepted where PostgreSQL wants text (strings and untyped literals).
pub(crate) fn is_text(t: &DataType) -> bool {
    t.is_string() || *t == DataType::Unknown
}

/// Whether a type is accepted where PostgreSQL wants an integer.
pub(crate) fn is_int(t: &DataType) -> bool {
    t.is_integer() || *t == DataType::Unknown
}

/// Whether a type is accepted where PostgreSQL wants a number.
pub(crate) fn is_num(t: &DataType) -> bool {
    t.is_numeric() || *t == DataType::Unknown
}
