//! Operators: result-type resolution ([`binary_op_type`], [`unary_op_type`]) and evaluation
//! ([`eval_binary`], [`eval_unary`]) with PostgreSQL's semantics.
//!
//! Type resolution is a simplified form of PostgreSQL's operator lookup: an `unknown` operand
//! (an untyped literal or parameter) takes the other operand's type, except where no such
//! operator exists and one other reading is obvious (`timestamp + '1 day'` reads the literal
//! as an interval, `interval * '2'` as float8). Arithmetic on two integers stays in the wider
//! integer type (int2 + int2 is int2, as in PostgreSQL), integer with numeric is numeric, and
//! anything with a float is float8 (float4 only when both sides are float4). A missing
//! operator fails with 42883 "operator does not exist: text + integer" and PostgreSQL's hint.
//!
//! Evaluation propagates NULL (except AND/OR, which use three-valued logic), checks overflow
//! per result type (22003 "integer out of range"...), and fails with 22012 on division by
//! zero for integers, numerics and floats alike. Comparisons involving CHAR(n) ignore
//! trailing blanks, as bpchar comparison does.

use super::arith;
use super::cast::cast;
use super::{DataType, Datum};
use crate::error::code;
use crate::{Error, Result};
use std::cmp::Ordering;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Multiply,
    /// `/`
    Divide,
    /// `%`
    Modulo,
    /// `=`
    Eq,
    /// `<>` / `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `||`
    Concat,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `#`
    BitXor,
    /// `<<`
    ShiftLeft,
    /// `>>`
    ShiftRight,
    /// `LIKE`
    Like,
    /// `NOT LIKE`
    NotLike,
    /// `ILIKE`
    ILike,
    /// `NOT ILIKE`
    NotILike,
    /// `->`
    JsonGet,
    /// `->>`
    JsonGetText,
    /// `^`
    Pow,
    /// `~` (POSIX regular expression match)
    RegexMatch,
    /// `~*` (case-insensitive regular expression match)
    RegexIMatch,
    /// `!~`
    NotRegexMatch,
    /// `!~*`
    NotRegexIMatch,
}

impl BinaryOp {
    /// The operator's name as PostgreSQL error messages print it.
    pub fn symbol(&self) -> &'static str {
        use BinaryOp::*;
        match self {
            Plus => "+",
            Minus => "-",
            Multiply => "*",
            Divide => "/",
            Modulo => "%",
            Eq => "=",
            NotEq => "<>",
            Lt => "<",
            LtEq => "<=",
            Gt => ">",
            GtEq => ">=",
            And => "AND",
            Or => "OR",
            Concat => "||",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "#",
            ShiftLeft => "<<",
            ShiftRight => ">>",
            Like => "~~",
            NotLike => "!~~",
            ILike => "~~*",
            NotILike => "!~~*",
            JsonGet => "->",
            JsonGetText => "->>",
            Pow => "^",
            RegexMatch => "~",
            RegexIMatch => "~*",
            NotRegexMatch => "!~",
            NotRegexIMatch => "!~*",
        }
    }

    /// Whether this is one of the six comparison operators.
    pub fn is_comparison(&self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | NotEq | Lt | LtEq | Gt | GtEq)
    }

    fn is_arithmetic(&self) -> bool {
        use BinaryOp::*;
        matches!(self, Plus | Minus | Multiply | Divide | Modulo)
    }
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Minus,
    /// `+x`
    Plus,
    /// `NOT x`
    Not,
    /// `~x`
    BitNot,
}

/// 42883 "operator does not exist: text + integer" with PostgreSQL's hint.
pub(crate) fn no_operator(op: &str, l: &DataType, r: &DataType) -> Error {
    Error::new(
        code::UNDEFINED_FUNCTION,
        format!("operator does not exist: {} {op} {}", l.pg_base_name(), r.pg_base_name()),
    )
    .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts.")
}

fn no_unary_operator(op: &str, t: &DataType) -> Error {
    Error::new(code::UNDEFINED_FUNCTION, format!("operator does not exist: {op} {}", t.pg_base_name()))
        .with_hint("No operator matches the given name and argument type. You might need to add an explicit type cast.")
}

fn not_unique(op: &str, l: &DataType, r: &DataType) -> Error {
    Error::new(
        "42725",
        format!(
            "operator is not unique: {} {op} {}",
            l.pg_base_name(),
            r.pg_base_name()
        ),
    )
    .with_hint(
        "Could not choose a best candidate operator. You might need to add explicit type casts.",
    )
}

/// Resolves `unknown` operands to concrete types for `op`.
fn resolve_unknown(op: BinaryOp, l: &DataType, r: &DataType) -> Result<(DataType, DataType)> {
    use DataType::Unknown;
    Ok(match (l, r) {
        (Unknown, Unknown) => {
            if op.is_arithmetic() || matches!(op, BinaryOp::Pow) || is_bitop(op) {
                return Err(not_unique(op.symbol(), l, r));
            }
            if matches!(op, BinaryOp::And | BinaryOp::Or) {
                (DataType::Bool, DataType::Bool)
            } else {
                (DataType::Text, DataType::Text)
            }
        }
        (Unknown, other) => (adopt(op, other, true), other.clone()),
        (other, Unknown) => (other.clone(), adopt(op, other, false)),
        _ => (l.clone(), r.clone()),
    })
}

fn is_bitop(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::BitAnd
            | BinaryOp::BitOr
            | BinaryOp::BitXor
            | BinaryOp::ShiftLeft
            | BinaryOp::ShiftRight
    )
}

/// The type an unknown operand takes opposite `other`.
fn adopt(op: BinaryOp, other: &DataType, unknown_is_left: bool) -> DataType {
    use BinaryOp::*;
    match (op, other) {
        (Plus, t) if t.is_datetime() => DataType::Interval,
        (Minus, DataType::Date) if !unknown_is_left => DataType::Date,
        (Multiply | Divide, DataType::Interval) => DataType::Float8,
        (Plus | Minus, DataType::Interval) if !unknown_is_left => DataType::Interval,
        (JsonGet | JsonGetText, DataType::Jsonb) if !unknown_is_left => DataType::Text,
        (Concat, DataType::Array(_)) => other.clone(),
        (RegexMatch | RegexIMatch | NotRegexMatch | NotRegexIMatch, _) => DataType::Text,
        (Concat, t) if !t.is_string() && *t != DataType::Bytea && *t != DataType::Jsonb => {
            DataType::Text
        }
        (Like | NotLike | ILike | NotILike, _) => DataType::Text,
        (ShiftLeft | ShiftRight, _) if !unknown_is_left => DataType::Int4,
        (And | Or, _) => DataType::Bool,
        _ => other.clone(),
    }
}

fn int_rank(t: &DataType) -> u8 {
    t.numeric_rank().unwrap_or(0)
}

/// The result type of `l op r`; 42883 when no such operator exists.
pub fn binary_op_type(op: BinaryOp, l: &DataType, r: &DataType) -> Result<DataType> {
    use BinaryOp::*;
    let (lt, rt) = resolve_unknown(op, l, r)?;
    let (l, r) = (&lt, &rt);
    let none = || no_operator(op.symbol(), l, r);
    match op {
        And | Or => {
            for t in [l, r] {
                if *t != DataType::Bool {
                    return Err(Error::new(
                        code::DATATYPE_MISMATCH,
                        format!(
                            "argument of {} must be type boolean, not type {}",
                            op.symbol(),
                            t.pg_base_name()
                        ),
                    ));
                }
            }
            Ok(DataType::Bool)
        }
        Eq | NotEq | Lt | LtEq | Gt | GtEq => {
            if comparable(l, r) {
                Ok(DataType::Bool)
            } else {
                Err(none())
            }
        }
        RegexMatch | RegexIMatch | NotRegexMatch | NotRegexIMatch => {
            if l.is_string() && r.is_string() {
                Ok(DataType::Bool)
            } else {
                Err(none())
            }
        }
        Like | NotLike | ILike | NotILike => {
            if (l.is_string() && r.is_string())
                || (*l == DataType::Bytea && *r == DataType::Bytea && matches!(op, Like | NotLike))
            {
                Ok(DataType::Bool)
            } else {
                Err(none())
            }
        }
        Concat => match (l, r) {
            (DataType::Array(a), DataType::Array(b)) => {
                Ok(DataType::Array(Box::new(super::common_type(a, b)?)))
            }
            (DataType::Array(a), e) | (e, DataType::Array(a)) if super::can_cast_implicit(e, a) => {
                Ok(DataType::Array(a.clone()))
            }
            (DataType::Bytea, DataType::Bytea) => Ok(DataType::Bytea),
            (DataType::Jsonb, DataType::Jsonb) => Ok(DataType::Jsonb),
            (a, b) if a.is_string() || b.is_string() => Ok(DataType::Text),
            _ => Err(none()),
        },
        Plus | Minus | Multiply | Divide | Modulo => arith_type(op, l, r).ok_or_else(none),
        BitAnd | BitOr | BitXor => {
            if l.is_integer() && r.is_integer() {
                Ok(if int_rank(l) >= int_rank(r) {
                    l.clone()
                } else {
                    r.clone()
                })
            } else {
                Err(none())
            }
        }
        ShiftLeft | ShiftRight => {
            if l.is_integer() && r.is_integer() {
                Ok(l.clone())
            } else {
                Err(none())
            }
        }
        JsonGet | JsonGetText => {
            if *l == DataType::Jsonb && (r.is_string() || r.is_integer()) {
                Ok(if op == JsonGet {
                    DataType::Jsonb
                } else {
                    DataType::Text
                })
            } else {
                Err(none())
            }
        }
        Pow => {
            if !(l.is_numeric() && r.is_numeric()) {
                return Err(none());
            }
            let has_numeric =
                matches!(l, DataType::Numeric(_)) || matches!(r, DataType::Numeric(_));
            Ok(if has_numeric && !l.is_float() && !r.is_float() {
                DataType::Numeric(None)
            } else {
                DataType::Float8
            })
        }
    }
}

/// Whether values of the two types can be compared with =, <, ...
pub(crate) fn comparable(l: &DataType, r: &DataType) -> bool {
    (l.is_numeric() && r.is_numeric())
        || (l.is_string() && r.is_string())
        || (l.is_datetime() && r.is_datetime())
        || std::mem::discriminant(l) == std::mem::discriminant(r)
        || ((l.is_integer() || l.is_reg()) && (r.is_integer() || r.is_reg()))
}

/// Result type of arithmetic, None when the operator does not exist.
fn arith_type(op: BinaryOp, l: &DataType, r: &DataType) -> Option<DataType> {
    use BinaryOp::*;
    use DataType as T;
    if l.is_numeric() && r.is_numeric() {
        if l.is_integer() && r.is_integer() {
            return Some(if int_rank(l) >= int_rank(r) {
                l.clone()
            } else {
                r.clone()
            });
        }
        if l.is_float() || r.is_float() {
            if op == Modulo {
                return None;
            }
            return Some(if *l == T::Float4 && *r == T::Float4 {
                T::Float4
            } else {
                T::Float8
            });
        }
        return Some(T::Numeric(None));
    }
    match (op, l, r) {
        (Plus, T::Date, i) | (Plus, i, T::Date) | (Minus, T::Date, i) if i.is_integer() => {
            Some(T::Date)
        }
        (Minus, T::Date, T::Date) => Some(T::Int4),
        (Plus, T::Date, T::Interval)
        | (Plus, T::Interval, T::Date)
        | (Minus, T::Date, T::Interval) => Some(T::Timestamp),
        (Plus, T::Timestamp, T::Interval)
        | (Plus, T::Interval, T::Timestamp)
        | (Minus, T::Timestamp, T::Interval) => Some(T::Timestamp),
        (Plus, T::TimestampTz, T::Interval)
        | (Plus, T::Interval, T::TimestampTz)
        | (Minus, T::TimestampTz, T::Interval) => Some(T::TimestampTz),
        (Minus, a, b) if a.is_datetime() && b.is_datetime() => Some(T::Interval),
        (Plus | Minus, T::Interval, T::Interval) => Some(T::Interval),
        (Multiply, T::Interval, n) | (Multiply, n, T::Interval) | (Divide, T::Interval, n)
            if n.is_numeric() =>
        {
            Some(T::Interval)
        }
        _ => None,
    }
}

/// Evaluates `l op r` (types `lt`, `rt`, result type `out` from [`binary_op_type`]).
pub fn eval_binary(
    op: BinaryOp,
    l: &Datum,
    lt: &DataType,
    r: &Datum,
    rt: &DataType,
    out: &DataType,
) -> Result<Datum> {
    use BinaryOp::*;
    if matches!(op, And | Or) {
        return eval_logic(op, l, r);
    }
    if l.is_null() || r.is_null() {
        return Ok(Datum::Null);
    }
    let (lt2, rt2) = resolve_unknown(op, lt, rt)?;
    let l = coerce_unknown(l, lt, &lt2)?;
    let r = coerce_unknown(r, rt, &rt2)?;
    let (l, r, lt, rt) = (l.as_ref(), r.as_ref(), &lt2, &rt2);
    match op {
        Eq | NotEq | Lt | LtEq | Gt | GtEq => compare(op, l, lt, r, rt),
        Like | NotLike | ILike | NotILike => {
            let matched = match (l, r) {
                (Datum::Text(s), Datum::Text(p)) => {
                    super::like_match(s, p, matches!(op, ILike | NotILike))?
                }
                (Datum::Bytes(s), Datum::Bytes(p)) => {
                    let s: String = s.iter().map(|b| *b as char).collect();
                    let p: String = p.iter().map(|b| *b as char).collect();
                    super::like_match(&s, &p, false)?
                }
                _ => return Err(no_operator(op.symbol(), lt, rt)),
            };
            Ok(Datum::Bool(matched != matches!(op, NotLike | NotILike)))
        }
        RegexMatch | RegexIMatch | NotRegexMatch | NotRegexIMatch => {
            let (Datum::Text(s), Datum::Text(p)) = (l, r) else {
                return Err(no_operator(op.symbol(), lt, rt));
            };
            let icase = matches!(op, RegexIMatch | NotRegexIMatch);
            let m = super::regex::regex_match(s, p, icase)?;
            Ok(Datum::Bool(
                m != matches!(op, NotRegexMatch | NotRegexIMatch),
            ))
        }
        Concat if matches!(out, DataType::Array(_)) => Ok(concat_arrays(l, lt, r, rt)),
        Concat => arith::concat(l, lt, r, rt),
        JsonGet | JsonGetText => Ok(arith::json_get(l, r, op == JsonGetText)),
        _ => arith::eval_arith(op, l, lt, r, rt, out),
    }
}

/// An unknown-typed text value parsed as the type it resolved to.
fn coerce_unknown<'a>(
    d: &'a Datum,
    declared: &DataType,
    resolved: &DataType,
) -> Result<std::borrow::Cow<'a, Datum>> {
    if (*declared == DataType::Unknown || declared.is_string())
        && !resolved.is_string()
        && *resolved != DataType::Unknown
    {
        if let Datum::Text(_) = d {
            return Ok(std::borrow::Cow::Owned(cast(
                d.clone(),
                &DataType::Unknown,
                resolved,
                true,
            )?));
        }
    }
    Ok(std::borrow::Cow::Borrowed(d))
}

fn eval_logic(op: BinaryOp, l: &Datum, r: &Datum) -> Result<Datum> {
    let l = l.truthy()?;
    let r = r.truthy()?;
    Ok(match (op, l, r) {
        (BinaryOp::And, Some(false), _) | (BinaryOp::And, _, Some(false)) => Datum::Bool(false),
        (BinaryOp::And, Some(true), Some(true)) => Datum::Bool(true),
        (BinaryOp::Or, Some(true), _) | (BinaryOp::Or, _, Some(true)) => Datum::Bool(true),
        (BinaryOp::Or, Some(false), Some(false)) => Datum::Bool(false),
        _ => Datum::Null,
    })
}

fn compare(op: BinaryOp, l: &Datum, lt: &DataType, r: &Datum, rt: &DataType) -> Result<Datum> {
    let bpchar = matches!(lt, DataType::Char(_)) || matches!(rt, DataType::Char(_));
    let ord = match (l, r) {
        (Datum::Text(a), Datum::Text(b)) if bpchar => {
            a.trim_end_matches(' ').cmp(b.trim_end_matches(' '))
        }
        _ => match l.sql_cmp(r) {
            Some(o) => o,
            None => return Err(no_operator(op.symbol(), lt, rt)),
        },
    };
    Ok(Datum::Bool(match op {
        BinaryOp::Eq => ord == Ordering::Equal,
        BinaryOp::NotEq => ord != Ordering::Equal,
        BinaryOp::Lt => ord == Ordering::Less,
        BinaryOp::LtEq => ord != Ordering::Greater,
        BinaryOp::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    }))
}

/// The result type of `op t`.
pub fn unary_op_type(op: UnaryOp, t: &DataType) -> Result<DataType> {
    match op {
        UnaryOp::Not => match t {
            DataType::Bool | DataType::Unknown => Ok(DataType::Bool),
            other => Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!(
                    "argument of NOT must be type boolean, not type {}",
                    other.pg_base_name()
                ),
            )),
        },
        UnaryOp::Minus | UnaryOp::Plus => match t {
            t if t.is_numeric() || *t == DataType::Interval => Ok(t.clone()),
            DataType::Unknown => Err(Error::new(
                "42725",
                format!(
                    "operator is not unique: {} unknown",
                    if op == UnaryOp::Minus { "-" } else { "+" }
                ),
            )),
            other => Err(no_unary_operator(
                if op == UnaryOp::Minus { "-" } else { "+" },
                other,
            )),
        },
        UnaryOp::BitNot => match t {
            t if t.is_integer() => Ok(t.clone()),
            other => Err(no_unary_operator("~", other)),
        },
    }
}

/// Evaluates `op v` for a value of type `t`.
pub fn eval_unary(op: UnaryOp, v: &Datum, t: &DataType) -> Result<Datum> {
    if v.is_null() {
        return Ok(Datum::Null);
    }
    let mismatch = || {
        no_unary_operator(
            match op {
                UnaryOp::Minus => "-",
                UnaryOp::Plus => "+",
                UnaryOp::Not => "NOT",
                UnaryOp::BitNot => "~",
            },
            t,
        )
    };
    match (op, v) {
        (UnaryOp::Not, Datum::Bool(b)) => Ok(Datum::Bool(!b)),
        (UnaryOp::Not, Datum::Text(s)) => Ok(Datum::Bool(!super::text_in::parse_bool(s)?)),
        (UnaryOp::Plus, d) => Ok(d.clone()),
        (UnaryOp::Minus, Datum::Int(i)) => {
            let ty = if t.is_integer() { t } else { &DataType::Int8 };
            let n = i
                .checked_neg()
                .ok_or_else(|| super::cast::int_out_of_range(ty))?;
            Ok(Datum::Int(super::cast::check_int(n, ty)?))
        }
        (UnaryOp::Minus, Datum::Float(f)) => Ok(Datum::Float(-f)),
        (UnaryOp::Minus, Datum::Decimal(d)) => {
            Ok(Datum::Decimal(super::numeric::normalize_zero(-*d)))
        }
        (UnaryOp::Minus, Datum::Interval(i)) => Ok(Datum::Interval(arith::neg_interval(i)?)),
        (UnaryOp::BitNot, Datum::Int(i)) => Ok(Datum::Int(!i)),
        _ => Err(mismatch()),
    }
}

/// `array || array`, `array || element`, `element || array`.
fn concat_arrays(l: &Datum, lt: &DataType, r: &Datum, rt: &DataType) -> Datum {
    let mut items = match (l, lt) {
        (Datum::Array(a), DataType::Array(_)) => a.clone(),
        (other, _) => vec![other.clone()],
    };
    match (r, rt) {
        (Datum::Array(b), DataType::Array(_)) => items.extend(b.iter().cloned()),
        (other, _) => items.push(other.clone()),
    }
    Datum::Array(items)
}
