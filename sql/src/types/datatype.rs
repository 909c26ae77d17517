//! [`DataType`] metadata: PostgreSQL OIDs, names as `format_type()` prints them, the names
//! SHOW CREATE TABLE prints, and the mapping from sqlparser's type syntax.
//!
//! PostgreSQL semantics throughout: `INT` is int4 (CockroachDB's int8 meaning is not followed),
//! `FLOAT` is float8, `FLOAT(p)` is float4 for p <= 24, `CHAR` without a length is `CHAR(1)`.
//! SERIAL types map to their integer type here; the DDL layer adds the default.
//!
//! IMPLEMENTATION CAVEATS: timestamp/interval precision modifiers (`TIMESTAMP(3)`,
//! `INTERVAL HOUR TO SECOND`) are accepted and ignored; NUMERIC precision above 28 is accepted
//! but values are limited to rust_decimal's 96-bit mantissa (about 28 digits).

use super::DataType;
use crate::error::code;
use crate::{Error, Result};
use sqlparser::ast::{self, CharacterLength, ExactNumberInfo, TimezoneInfo};

/// Largest length modifier PostgreSQL accepts for varchar/char.
const MAX_CHAR_LENGTH: u64 = 10_485_760;
/// Largest NUMERIC precision PostgreSQL accepts.
const MAX_NUMERIC_PRECISION: u64 = 1000;

impl DataType {
    /// The PostgreSQL type OID (what RowDescription and pg_type report).
    pub fn oid(&self) -> u32 {
        match self {
            DataType::Bool => 16,
            DataType::Int2 => 21,
            DataType::Int4 => 23,
            DataType::Int8 => 20,
            DataType::Float4 => 700,
            DataType::Float8 => 701,
            DataType::Numeric(_) => 1700,
            DataType::Text => 25,
            DataType::Varchar(_) => 1043,
            DataType::Char(_) => 1042,
            DataType::Bytea => 17,
            DataType::Date => 1082,
            DataType::Timestamp => 1114,
            DataType::TimestampTz => 1184,
            DataType::Interval => 1186,
            DataType::Uuid => 2950,
            DataType::Jsonb => 3802,
            DataType::Unknown => 705,
            DataType::RegClass => 2205,
            DataType::RegType => 2206,
            DataType::RegNamespace => 4089,
            DataType::RegProc => 24,
            DataType::Array(elem) => super::array::array_oid(elem),
        }
    }

    /// The type with the given OID (typmods unknown: unbounded varchar, unconstrained numeric).
    /// `json` (114) maps to JSONB and `name` (19) to TEXT.
    pub fn from_oid(oid: u32) -> Option<DataType> {
        Some(match oid {
            16 => DataType::Bool,
            21 => DataType::Int2,
            23 => DataType::Int4,
            20 => DataType::Int8,
            700 => DataType::Float4,
            701 => DataType::Float8,
            1700 => DataType::Numeric(None),
            25 | 19 => DataType::Text,
            1043 => DataType::Varchar(None),
            1042 => DataType::Char(1),
            17 => DataType::Bytea,
            1082 => DataType::Date,
            1114 => DataType::Timestamp,
            1184 => DataType::TimestampTz,
            1186 => DataType::Interval,
            2950 => DataType::Uuid,
            3802 | 114 => DataType::Jsonb,
            705 => DataType::Unknown,
            26 => DataType::Int8,
            2205 => DataType::RegClass,
            2206 => DataType::RegType,
            4089 => DataType::RegNamespace,
            24 | 2202 => DataType::RegProc,
            other => DataType::Array(Box::new(super::array::elem_of_array_oid(other)?)),
        })
    }

    /// The PostgreSQL type modifier (`atttypmod`): -1 when none.
    pub fn typmod(&self) -> i32 {
        match self {
            DataType::Varchar(Some(n)) | DataType::Char(n) => (*n as i32).saturating_add(4),
            DataType::Numeric(Some((p, s))) => {
                (((*p as i32) << 16) | (*s as i32)).saturating_add(4)
            }
            _ => -1,
        }
    }

    /// The type's storage size as pg_type.typlen reports it (-1 for variable length).
    pub fn typlen(&self) -> i16 {
        match self {
            DataType::Bool => 1,
            DataType::Int2 => 2,
            DataType::Int4 | DataType::Float4 | DataType::Date => 4,
            DataType::RegClass | DataType::RegType | DataType::RegNamespace | DataType::RegProc => {
                4
            }
            DataType::Int8 | DataType::Float8 | DataType::Timestamp | DataType::TimestampTz => 8,
            DataType::Interval | DataType::Uuid => 16,
            DataType::Unknown => -2,
            _ => -1,
        }
    }

    /// Converts sqlparser's type syntax (`INT`, `VARCHAR(10)`, `NUMERIC(10,2)`, `TIMESTAMPTZ`...).
    /// Unknown names fail with 42704 `type "x" does not exist`; types PostgreSQL has but
    /// Meridian does not (TIME, BIT, arrays...) with 0A000.
    pub fn from_sql(ty: &ast::DataType) -> Result<DataType> {
        use ast::DataType as A;
        Ok(match ty {
            A::Bool | A::Boolean => DataType::Bool,
            A::SmallInt(_) | A::Int2(_) | A::Int16 => DataType::Int2,
            A::Int(_) | A::Integer(_) | A::Int4(_) | A::Int32 | A::MediumInt(_) => DataType::Int4,
            A::BigInt(_) | A::Int8(_) | A::Int64 => DataType::Int8,
            A::Real | A::Float4 | A::Float32 => DataType::Float4,
            A::DoublePrecision | A::Float8 | A::Float64 => DataType::Float8,
            A::Double(info) => float_with_precision(info)?,
            A::Float(info) => float_with_precision(info)?,
            A::Numeric(info) | A::Decimal(info) | A::Dec(info) => numeric_from_info(info)?,
            A::Text | A::String(None) => DataType::Text,
            A::String(Some(n)) => DataType::Varchar(Some(char_length(*n, "varchar")?)),
            A::Varchar(len) | A::CharacterVarying(len) | A::CharVarying(len) | A::Nvarchar(len) => {
                match len {
                    None | Some(CharacterLength::Max) => DataType::Varchar(None),
                    Some(CharacterLength::IntegerLength { length, .. }) => {
                        DataType::Varchar(Some(char_length(*length, "varchar")?))
                    }
                }
            }
            A::Char(len) | A::Character(len) => match len {
                None => DataType::Char(1),
                Some(CharacterLength::Max) => DataType::Text,
                Some(CharacterLength::IntegerLength { length, .. }) => {
                    DataType::Char(char_length(*length, "char")?)
                }
            },
            A::Bytea | A::Bytes(_) | A::Blob(_) => DataType::Bytea,
            A::Date => DataType::Date,
            A::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
                DataType::Timestamp
            }
            A::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => DataType::TimestampTz,
            A::Datetime(_) | A::TimestampNtz(_) => DataType::Timestamp,
            A::Interval { .. } => DataType::Interval,
            A::Uuid => DataType::Uuid,
            A::JSON | A::JSONB => DataType::Jsonb,
            A::Custom(name, mods) => custom_type(name, mods)?,
            A::Regclass => DataType::RegClass,
            A::Array(def) => match def {
                ast::ArrayElemTypeDef::AngleBracket(t)
                | ast::ArrayElemTypeDef::SquareBracket(t, _)
                | ast::ArrayElemTypeDef::Parenthesis(t)
                | ast::ArrayElemTypeDef::ParenthesisNotNull(t)
                | ast::ArrayElemTypeDef::Qualified(t, _) => {
                    let elem = DataType::from_sql(t)?;
                    if matches!(elem, DataType::Array(_)) {
                        return Err(Error::unsupported(
                            "multidimensional arrays are not supported",
                        ));
                    }
                    DataType::Array(Box::new(elem))
                }
                ast::ArrayElemTypeDef::None => {
                    return Err(Error::unsupported("type array is not supported"))
                }
            },
            other => {
                return Err(Error::unsupported(format!(
                    "type {} is not supported",
                    other.to_string().to_lowercase()
                )))
            }
        })
    }

    /// The name `format_type()` prints, with its modifier: "integer",
    /// "character varying(10)", "numeric(10,2)", "timestamp without time zone".
    pub fn pg_name(&self) -> String {
        match self {
            DataType::Numeric(Some((p, s))) => format!("numeric({p},{s})"),
            DataType::Varchar(Some(n)) => format!("character varying({n})"),
            DataType::Char(n) => format!("character({n})"),
            DataType::Array(elem) => format!("{}[]", elem.pg_name()),
            other => other.pg_base_name().to_string(),
        }
    }

    /// The name without modifiers, as PostgreSQL error messages print types
    /// ("operator does not exist: character varying + integer").
    pub fn pg_base_name(&self) -> &'static str {
        match self {
            DataType::Bool => "boolean",
            DataType::Int2 => "smallint",
            DataType::Int4 => "integer",
            DataType::Int8 => "bigint",
            DataType::Float4 => "real",
            DataType::Float8 => "double precision",
            DataType::Numeric(_) => "numeric",
            DataType::Text => "text",
            DataType::Varchar(_) => "character varying",
            DataType::Char(_) => "character",
            DataType::Bytea => "bytea",
            DataType::Date => "date",
            DataType::Timestamp => "timestamp without time zone",
            DataType::TimestampTz => "timestamp with time zone",
            DataType::Interval => "interval",
            DataType::Uuid => "uuid",
            DataType::Jsonb => "jsonb",
            DataType::Unknown => "unknown",
            DataType::RegClass => "regclass",
            DataType::RegType => "regtype",
            DataType::RegNamespace => "regnamespace",
            DataType::RegProc => "regproc",
            DataType::Array(elem) => match **elem {
                DataType::Bool => "boolean[]",
                DataType::Int2 => "smallint[]",
                DataType::Int4 => "integer[]",
                DataType::Int8 => "bigint[]",
                DataType::Float8 => "double precision[]",
                DataType::Numeric(_) => "numeric[]",
                DataType::Text => "text[]",
                DataType::Varchar(_) => "character varying[]",
                _ => "anyarray",
            },
        }
    }

    /// The internal name pg_type.typname holds ("int4", "varchar", "bpchar", "timestamptz").
    pub fn pg_typname(&self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Int2 => "int2",
            DataType::Int4 => "int4",
            DataType::Int8 => "int8",
            DataType::Float4 => "float4",
            DataType::Float8 => "float8",
            DataType::Numeric(_) => "numeric",
            DataType::Text => "text",
            DataType::Varchar(_) => "varchar",
            DataType::Char(_) => "bpchar",
            DataType::Bytea => "bytea",
            DataType::Date => "date",
            DataType::Timestamp => "timestamp",
            DataType::TimestampTz => "timestamptz",
            DataType::Interval => "interval",
            DataType::Uuid => "uuid",
            DataType::Jsonb => "jsonb",
            DataType::Unknown => "unknown",
            DataType::RegClass => "regclass",
            DataType::RegType => "regtype",
            DataType::RegNamespace => "regnamespace",
            DataType::RegProc => "regproc",
            DataType::Array(elem) => match **elem {
                DataType::Bool => "_bool",
                DataType::Int2 => "_int2",
                DataType::Int4 => "_int4",
                DataType::Int8 => "_int8",
                DataType::Float4 => "_float4",
                DataType::Float8 => "_float8",
                DataType::Numeric(_) => "_numeric",
                DataType::Varchar(_) => "_varchar",
                _ => "_text",
            },
        }
    }

    /// The name SHOW CREATE TABLE prints (CockroachDB's spelling, which our parser reads back).
    pub fn sql_name(&self) -> String {
        match self {
            DataType::Bool => "BOOL".into(),
            DataType::Int2 => "INT2".into(),
            DataType::Int4 => "INT4".into(),
            DataType::Int8 => "INT8".into(),
            DataType::Float4 => "FLOAT4".into(),
            DataType::Float8 => "FLOAT8".into(),
            DataType::Numeric(None) => "DECIMAL".into(),
            DataType::Numeric(Some((p, s))) => format!("DECIMAL({p},{s})"),
            DataType::Text => "STRING".into(),
            DataType::Varchar(None) => "VARCHAR".into(),
            DataType::Varchar(Some(n)) => format!("VARCHAR({n})"),
            DataType::Char(n) => format!("CHAR({n})"),
            DataType::Bytea => "BYTES".into(),
            DataType::Date => "DATE".into(),
            DataType::Timestamp => "TIMESTAMP".into(),
            DataType::TimestampTz => "TIMESTAMPTZ".into(),
            DataType::Interval => "INTERVAL".into(),
            DataType::Uuid => "UUID".into(),
            DataType::Jsonb => "JSONB".into(),
            DataType::Unknown => "UNKNOWN".into(),
            DataType::RegClass => "REGCLASS".into(),
            DataType::RegType => "REGTYPE".into(),
            DataType::RegNamespace => "REGNAMESPACE".into(),
            DataType::RegProc => "REGPROC".into(),
            DataType::Array(elem) => format!("{}[]", elem.sql_name()),
        }
    }

    /// SMALLINT, INT, BIGINT.
    pub fn is_integer(&self) -> bool {
        matches!(self, DataType::Int2 | DataType::Int4 | DataType::Int8)
    }

    /// Integers, floats and NUMERIC.
    pub fn is_numeric(&self) -> bool {
        self.is_integer() || self.is_float() || matches!(self, DataType::Numeric(_))
    }

    /// REAL, DOUBLE PRECISION.
    pub fn is_float(&self) -> bool {
        matches!(self, DataType::Float4 | DataType::Float8)
    }

    /// TEXT, VARCHAR, CHAR.
    pub fn is_string(&self) -> bool {
        matches!(
            self,
            DataType::Text | DataType::Varchar(_) | DataType::Char(_)
        )
    }

    /// The OID-valued types regclass, regtype, regnamespace, regproc.
    pub fn is_reg(&self) -> bool {
        matches!(
            self,
            DataType::RegClass | DataType::RegType | DataType::RegNamespace | DataType::RegProc
        )
    }

    /// 0A000 for types that exist as values but cannot be stored in a column yet (arrays,
    /// the reg* OID types): the row and key encodings have no form for them.
    pub fn check_storable(&self) -> Result<()> {
        if matches!(self, DataType::Array(_)) || self.is_reg() {
            return Err(Error::unsupported(format!(
                "column type {} is not supported (arrays and OID alias types are values only)",
                self.pg_name()
            )));
        }
        Ok(())
    }

    /// The element type of an array type.
    pub fn array_elem(&self) -> Option<&DataType> {
        match self {
            DataType::Array(e) => Some(e),
            _ => None,
        }
    }

    /// DATE, TIMESTAMP, TIMESTAMPTZ.
    pub fn is_datetime(&self) -> bool {
        matches!(
            self,
            DataType::Date | DataType::Timestamp | DataType::TimestampTz
        )
    }

    /// Position in PostgreSQL's implicit numeric promotion chain
    /// (int2 < int4 < int8 < numeric < float4 < float8); None for non-numeric types.
    pub(crate) fn numeric_rank(&self) -> Option<u8> {
        Some(match self {
            DataType::Int2 => 0,
            DataType::Int4 => 1,
            DataType::Int8 => 2,
            DataType::Numeric(_) => 3,
            DataType::Float4 => 4,
            DataType::Float8 => 5,
            _ => return None,
        })
    }
}

fn char_length(n: u64, what: &str) -> Result<u32> {
    if n < 1 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("length for type {what} must be at least 1"),
        ));
    }
    if n > MAX_CHAR_LENGTH {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("length for type {what} cannot exceed {MAX_CHAR_LENGTH}"),
        ));
    }
    Ok(n as u32)
}

fn float_with_precision(info: &ExactNumberInfo) -> Result<DataType> {
    let p = match info {
        ExactNumberInfo::None => return Ok(DataType::Float8),
        ExactNumberInfo::Precision(p) | ExactNumberInfo::PrecisionAndScale(p, _) => *p,
    };
    match p {
        0 => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "precision for type float must be at least 1 bit",
        )),
        1..=24 => Ok(DataType::Float4),
        25..=53 => Ok(DataType::Float8),
        _ => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "precision for type float must be less than 54 bits",
        )),
    }
}

fn numeric_from_info(info: &ExactNumberInfo) -> Result<DataType> {
    let (p, s) = match *info {
        ExactNumberInfo::None => return Ok(DataType::Numeric(None)),
        ExactNumberInfo::Precision(p) => (p, 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => (p, s),
    };
    numeric_typmod(p as i64, s)
}

/// Validates NUMERIC(p,s) as PostgreSQL does (negative scales, new in 15, are not supported).
fn numeric_typmod(p: i64, s: i64) -> Result<DataType> {
    if p < 1 || p > MAX_NUMERIC_PRECISION as i64 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("NUMERIC precision {p} must be between 1 and {MAX_NUMERIC_PRECISION}"),
        ));
    }
    if s < 0 || s > p {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("NUMERIC scale {s} must be between 0 and precision {p}"),
        ));
    }
    Ok(DataType::Numeric(Some((p as u32, s as u32))))
}

/// Types sqlparser does not know by keyword arrive as `Custom` names.
fn custom_type(name: &ast::ObjectName, mods: &[ast::TypeModifier]) -> Result<DataType> {
    let last = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_lowercase())
        .unwrap_or_default();
    let nums: Vec<i64> = mods
        .iter()
        .filter_map(|m| match m {
            ast::TypeModifier::Number(n, _) => n.parse().ok(),
            _ => None,
        })
        .collect();
    Ok(match last.as_str() {
        "smallserial" | "serial2" | "int2" => DataType::Int2,
        "serial" | "serial4" | "int4" | "int" | "integer" => DataType::Int4,
        "bigserial" | "serial8" | "int8" | "bigint" | "oid" | "xid" => DataType::Int8,
        "regclass" => DataType::RegClass,
        "regtype" => DataType::RegType,
        "regnamespace" => DataType::RegNamespace,
        "regproc" | "regprocedure" => DataType::RegProc,
        "_int2" | "int2vector" => DataType::Array(Box::new(DataType::Int2)),
        "_int4" => DataType::Array(Box::new(DataType::Int4)),
        "_int8" | "_oid" | "oidvector" => DataType::Array(Box::new(DataType::Int8)),
        "_text" | "_name" => DataType::Array(Box::new(DataType::Text)),
        "float4" | "real" => DataType::Float4,
        "float8" | "float" => DataType::Float8,
        "numeric" | "decimal" => match nums.as_slice() {
            [] => DataType::Numeric(None),
            [p] => numeric_typmod(*p, 0)?,
            [p, s, ..] => numeric_typmod(*p, *s)?,
        },
        // CockroachDB's region enum is a string here (see crate::multiregion).
        "text" | "string" | "name" | "citext" | "crdb_internal_region" => DataType::Text,
        "varchar" => match nums.first() {
            None => DataType::Varchar(None),
            Some(n) => DataType::Varchar(Some(char_length((*n).max(0) as u64, "varchar")?)),
        },
        "bpchar" | "char" => match nums.first() {
            None => DataType::Char(1),
            Some(n) => DataType::Char(char_length((*n).max(0) as u64, "char")?),
        },
        "bool" | "boolean" => DataType::Bool,
        "bytea" | "bytes" => DataType::Bytea,
        "date" => DataType::Date,
        "timestamp" => DataType::Timestamp,
        "timestamptz" => DataType::TimestampTz,
        "interval" => DataType::Interval,
        "uuid" => DataType::Uuid,
        "json" | "jsonb" => DataType::Jsonb,
        "time" | "timetz" | "bit" | "varbit" | "money" | "inet" | "cidr" | "macaddr" | "xml"
        | "point" | "line" | "box" | "path" | "polygon" | "circle" | "tsvector" | "tsquery" => {
            return Err(Error::unsupported(format!("type {last} is not supported")))
        }
        _ => {
            return Err(Error::new(
                code::UNDEFINED_OBJECT,
                format!(
                    "type \"{}\" does not exist",
                    name.to_string().trim_matches('"')
                ),
            ))
        }
    })
}
