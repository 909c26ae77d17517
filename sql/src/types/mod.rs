//! SQL types and values.
//!
//! [`DataType`] is a column's or expression's declared type; [`Datum`] is one value. Several
//! types share a datum variant (SMALLINT/INT/BIGINT are all `Datum::Int`; TEXT/VARCHAR/CHAR are
//! all `Datum::Text`): the type, carried by the plan, decides range checks and output format.
//!
//! Submodules add the operations: casts, arithmetic and comparison with PostgreSQL's semantics
//! and errors, and the text forms PostgreSQL clients expect.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A SQL data type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    /// BOOL
    Bool,
    /// SMALLINT (int2)
    Int2,
    /// INT / INTEGER (int4)
    Int4,
    /// BIGINT (int8); CockroachDB's INT is int8, PostgreSQL's is int4: we follow PostgreSQL.
    Int8,
    /// REAL (float4)
    Float4,
    /// DOUBLE PRECISION (float8)
    Float8,
    /// NUMERIC / DECIMAL with optional (precision, scale).
    Numeric(Option<(u32, u32)>),
    /// TEXT
    Text,
    /// VARCHAR(n) (None: unbounded)
    Varchar(Option<u32>),
    /// CHAR(n) (blank-padded)
    Char(u32),
    /// BYTEA
    Bytea,
    /// DATE
    Date,
    /// TIMESTAMP (without time zone)
    Timestamp,
    /// TIMESTAMPTZ
    TimestampTz,
    /// INTERVAL
    Interval,
    /// UUID
    Uuid,
    /// JSONB (also accepted for JSON)
    Jsonb,
    /// The type of an untyped literal or parameter before inference (PostgreSQL's "unknown").
    Unknown,
    /// A one-dimensional array of the element type (`int4[]`, `text[]`); see [`array`].
    Array(Box<DataType>),
    /// `regclass`: a relation OID whose text form is the relation's name (values are `Datum::Int`).
    RegClass,
    /// `regtype`: a type OID whose text form is the type's name.
    RegType,
    /// `regnamespace`: a schema OID whose text form is the schema's name.
    RegNamespace,
    /// `regproc` / `regprocedure`: a function OID.
    RegProc,
}

/// A PostgreSQL interval: months, days and microseconds kept apart, as PostgreSQL does,
/// because a month has no fixed number of days and a day no fixed number of seconds (DST).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// Months (years are 12 months).
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds (hours, minutes, seconds).
    pub micros: i64,
}

/// One SQL value.
#[derive(Debug, Clone)]
pub enum Datum {
    /// NULL of any type.
    Null,
    /// BOOL
    Bool(bool),
    /// SMALLINT, INT, BIGINT
    Int(i64),
    /// REAL, DOUBLE PRECISION
    Float(f64),
    /// NUMERIC
    Decimal(Decimal),
    /// TEXT, VARCHAR, CHAR
    Text(String),
    /// BYTEA
    Bytes(Vec<u8>),
    /// DATE
    Date(NaiveDate),
    /// TIMESTAMP
    Timestamp(NaiveDateTime),
    /// TIMESTAMPTZ (stored in UTC)
    TimestampTz(DateTime<Utc>),
    /// INTERVAL
    Interval(Interval),
    /// UUID
    Uuid(Uuid),
    /// JSONB
    Json(Box<serde_json::Value>),
    /// An array (one-dimensional, lower bound 1); elements may be NULL.
    Array(Vec<Datum>),
}

/// A row of values.
pub type Row = Vec<Datum>;

mod arith;
pub mod array;
mod binary;
mod cast;
mod compare;
mod datatype;
mod datetime;
mod like;
mod numeric;
mod ops;
#[cfg(test)]
mod ops_tests;
pub mod regex;
#[cfg(test)]
mod tests;
mod text_in;
mod text_out;

pub(crate) use arith::float_pow as arith_float_pow;
pub use cast::{can_cast, can_cast_implicit, cast, common_type};
pub(crate) use cast::{check_int, date_to_timestamp, int_out_of_range};
pub(crate) use datetime::{add_interval, days_in_month};
pub use like::like_match;
pub(crate) use numeric::{
    overflow as numeric_overflow, power as numeric_power, round_to_scale as numeric_round,
    weight as numeric_weight,
};
pub use ops::{binary_op_type, eval_binary, eval_unary, unary_op_type, BinaryOp, UnaryOp};
pub use text_in::normalize_jsonb;
pub use text_out::{format_float4, format_float8, format_interval, jsonb_text};
