//! Mathematical functions. As in PostgreSQL, most exist for double precision and numeric:
//! an integer argument resolves to the double precision version (float8 is the preferred
//! numeric type) except where only a numeric version exists (`log(b, x)`, 2-argument
//! `round`/`trunc`) or the function keeps the type (`abs`, `mod`, `greatest`/`least`).

use super::{is_int, is_num, Call};
use crate::error::code;
use crate::types::{cast, common_type, DataType, Datum};
use crate::{Error, Result};
use rust_decimal::prelude::*;
use rust_decimal::{Decimal, MathematicalOps, RoundingStrategy};

/// The names this module implements.
pub(crate) const NAMES: &[&str] = &[
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "sqrt", "cbrt", "power", "pow", "exp",
    "ln", "log", "log10", "mod", "sign", "pi", "random", "degrees", "radians", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "cot", "greatest", "least", "div", "gcd", "lcm",
];

fn is_numeric_ty(t: &DataType) -> bool {
    matches!(t, DataType::Numeric(_))
}

/// float8 unless the argument is numeric.
fn float_or_numeric(t: &DataType) -> DataType {
    if is_numeric_ty(t) {
        DataType::Numeric(None)
    } else {
        DataType::Float8
    }
}

pub(crate) fn resolve(name: &str, a: &[DataType]) -> Option<Result<DataType>> {
    use DataType as T;
    let all_num = a.iter().all(is_num);
    let ty = match (name, a.len()) {
        ("abs", 1) if all_num => match &a[0] {
            T::Unknown => T::Float8,
            T::Numeric(_) => T::Numeric(None),
            t => t.clone(),
        },
        (
            "ceil" | "ceiling" | "floor" | "round" | "trunc" | "sign" | "sqrt" | "exp" | "ln"
            | "log",
            1,
        ) if all_num => float_or_numeric(&a[0]),
        ("round" | "trunc", 2) if (is_int(&a[0]) || is_numeric_ty(&a[0])) && is_int(&a[1]) => {
            T::Numeric(None)
        }
        ("log", 2) if all_num && !a.iter().any(DataType::is_float) => T::Numeric(None),
        ("power" | "pow", 2) if all_num => {
            if a.iter().any(is_numeric_ty) && !a.iter().any(DataType::is_float) {
                T::Numeric(None)
            } else {
                T::Float8
            }
        }
        ("mod" | "div" | "gcd" | "lcm", 2) if all_num && !a.iter().any(DataType::is_float) => {
            if a.iter().all(is_int) && name != "div" {
                let t = match common_type(&a[0], &a[1]) {
                    Ok(t) => t,
                    Err(e) => return Some(Err(e)),
                };
                if t == T::Unknown {
                    T::Int4
                } else {
                    t
                }
            } else {
                T::Numeric(None)
            }
        }
        (
            "cbrt" | "log10" | "degrees" | "radians" | "sin" | "cos" | "tan" | "asin" | "acos"
            | "atan" | "cot",
            1,
        ) if all_num => {
            if name == "log10" {
                float_or_numeric(&a[0])
            } else {
                T::Float8
            }
        }
        ("atan2", 2) if all_num => T::Float8,
        ("pi" | "random", 0) => T::Float8,
        ("greatest" | "least", n) if n >= 1 => {
            let mut t = a[0].clone();
            for next in &a[1..] {
                t = match common_type(&t, next) {
                    Ok(t) => t,
                    Err(e) => return Some(Err(e)),
                };
            }
            if t == T::Unknown {
                T::Text
            } else {
                t
            }
        }
        _ => return None,
    };
    Some(Ok(ty))
}

pub(crate) fn eval(c: &Call) -> Option<Result<Datum>> {
    if !NAMES.contains(&c.name) {
        return None;
    }
    if matches!(c.name, "greatest" | "least") {
        return Some(greatest(c));
    }
    Some(if matches!(c.ret, DataType::Numeric(_)) {
        eval_numeric(c)
    } else {
        eval_other(c)
    })
}

fn float_err_overflow() -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow",
    )
}

fn out_of_range_input() -> Error {
    Error::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "input is out of range")
}

fn log_errors(x: f64) -> Result<()> {
    if x == 0.0 {
        return Err(Error::new("2201E", "cannot take logarithm of zero"));
    }
    if x < 0.0 {
        return Err(Error::new(
            "2201E",
            "cannot take logarithm of a negative number",
        ));
    }
    Ok(())
}

fn checked(v: f64, inputs_finite: bool) -> Result<Datum> {
    if v.is_infinite() && inputs_finite {
        return Err(float_err_overflow());
    }
    Ok(Datum::Float(v))
}

fn eval_other(c: &Call) -> Result<Datum> {
    match c.name {
        "abs" => match &c.args[0] {
            Datum::Int(i) => {
                let v = i
                    .checked_abs()
                    .ok_or_else(|| crate::types::int_out_of_range(c.ret))?;
                Ok(Datum::Int(crate::types::check_int(v, c.ret)?))
            }
            _ => Ok(Datum::Float(c.float(0)?.abs())),
        },
        "mod" | "gcd" | "lcm" => int_fn(c),
        "pi" => Ok(Datum::Float(std::f64::consts::PI)),
        "random" => Ok(Datum::Float(random())),
        "atan2" => Ok(Datum::Float(c.float(0)?.atan2(c.float(1)?))),
        "power" | "pow" => Ok(Datum::Float(crate::types::arith_float_pow(
            c.float(0)?,
            c.float(1)?,
        )?)),
        _ => float_fn(c.name, c.float(0)?),
    }
}

fn float_fn(name: &str, x: f64) -> Result<Datum> {
    let fin = x.is_finite();
    Ok(Datum::Float(match name {
        "ceil" | "ceiling" => x.ceil(),
        "floor" => x.floor(),
        "round" => x.round_ties_even(),
        "trunc" => x.trunc(),
        "sign" => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        "sqrt" => {
            if x < 0.0 {
                return Err(Error::new(
                    "2201F",
                    "cannot take square root of a negative number",
                ));
            }
            x.sqrt()
        }
        "cbrt" => x.cbrt(),
        "exp" => {
            let v = x.exp();
            if v == 0.0 && fin {
                return Err(Error::new(
                    code::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: underflow",
                ));
            }
            return checked(v, fin);
        }
        "ln" | "log" | "log10" => {
            log_errors(x)?;
            if name == "ln" {
                x.ln()
            } else {
                x.log10()
            }
        }
        "degrees" => return checked(x.to_degrees(), fin),
        "radians" => x.to_radians(),
        "sin" | "cos" | "tan" | "cot" if x.is_infinite() => return Err(out_of_range_input()),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "cot" => 1.0 / x.tan(),
        "asin" | "acos" if !(-1.0..=1.0).contains(&x) => return Err(out_of_range_input()),
        "asin" => x.asin(),
        "acos" => x.acos(),
        "atan" => x.atan(),
        other => {
            return Err(Error::internal(format!(
                "math function {other} not dispatched"
            )))
        }
    }))
}

/// A uniformly distributed f64 in [0, 1) from the OS RNG (via uuid's v4 generator).
fn random() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

fn int_fn(c: &Call) -> Result<Datum> {
    let (a, b) = (c.int(0)?, c.int(1)?);
    let oor = || crate::types::int_out_of_range(c.ret);
    let v = match c.name {
        "mod" => {
            if b == 0 {
                return Err(Error::new(code::DIVISION_BY_ZERO, "division by zero"));
            }
            a.checked_rem(b).unwrap_or(0)
        }
        "gcd" => gcd(a, b).ok_or_else(oor)?,
        _ => {
            let g = gcd(a, b).ok_or_else(oor)?;
            if g == 0 {
                0
            } else {
                (a / g)
                    .checked_mul(b)
                    .and_then(i64::checked_abs)
                    .ok_or_else(oor)?
            }
        }
    };
    Ok(Datum::Int(crate::types::check_int(v, c.ret)?))
}

fn gcd(a: i64, b: i64) -> Option<i64> {
    let (mut x, mut y) = (a.unsigned_abs(), b.unsigned_abs());
    while y != 0 {
        (x, y) = (y, x % y);
    }
    i64::try_from(x).ok()
}

fn greatest(c: &Call) -> Result<Datum> {
    let mut best: Option<Datum> = None;
    for (i, d) in c.args.iter().enumerate() {
        if d.is_null() {
            continue;
        }
        let v = cast(d.clone(), c.ty(i), c.ret, false)?;
        let better = match &best {
            None => true,
            Some(b) => {
                let ord = v.total_cmp(b);
                if c.name == "greatest" {
                    ord.is_gt()
                } else {
                    ord.is_lt()
                }
            }
        };
        if better {
            best = Some(v);
        }
    }
    Ok(best.unwrap_or(Datum::Null))
}

/// Rounds half away from zero to `places` digits (negative: left of the point).
fn round_places(x: Decimal, places: i64, strategy: RoundingStrategy) -> Result<Decimal> {
    if places >= 0 {
        let scale = places.min(28) as u32;
        let mut r = x.round_dp_with_strategy(scale, strategy);
        if r.scale() < scale {
            let mut p = r;
            p.rescale(scale);
            if p == r {
                r = p;
            }
        }
        return Ok(r);
    }
    let shift = (-places).min(28) as u32;
    let factor = Decimal::from_i128_with_scale(10i128.pow(shift), 0);
    let scaled = x
        .checked_div(factor)
        .ok_or_else(crate::types::numeric_overflow)?;
    let r = scaled.round_dp_with_strategy(0, strategy);
    r.checked_mul(factor)
        .ok_or_else(crate::types::numeric_overflow)
}

/// Rounds a transcendental result to PostgreSQL's scale: NUMERIC_MIN_SIG_DIGITS (16) minus
/// the result's decimal weight, and no less than the input's scale.
fn sig16(v: Decimal, min_scale: u32) -> Decimal {
    let dweight = if v.is_zero() {
        0
    } else {
        v.abs().to_f64().map_or(0, |f| f.log10().floor() as i64)
    };
    let scale = (16 - dweight).max(min_scale as i64).clamp(0, 28) as u32;
    crate::types::numeric_round(v, scale)
}

fn eval_numeric(c: &Call) -> Result<Datum> {
    let x = c.decimal(0)?;
    let ovf = crate::types::numeric_overflow;
    let v = match c.name {
        "abs" => x.abs(),
        "ceil" | "ceiling" => x.ceil(),
        "floor" => x.floor(),
        "round" | "trunc" => {
            let places = if c.args.len() == 2 { c.int(1)? } else { 0 };
            let strategy = if c.name == "round" {
                RoundingStrategy::MidpointAwayFromZero
            } else {
                RoundingStrategy::ToZero
            };
            round_places(x, places, strategy)?
        }
        "sign" => Decimal::from(x.signum().to_i64().unwrap_or(0)),
        "sqrt" => {
            if x.is_sign_negative() && !x.is_zero() {
                return Err(Error::new(
                    "2201F",
                    "cannot take square root of a negative number",
                ));
            }
            // numeric_sqrt: 16 digits minus half the argument's base-10000 weight in digits.
            let weight = crate::types::numeric_weight(&x) as i64;
            let sweight = (weight + 1) * 4 / 2 - 1;
            let scale = (16 - sweight).max(x.scale() as i64).clamp(0, 28) as u32;
            crate::types::numeric_round(x.sqrt().ok_or_else(ovf)?, scale)
        }
        "exp" => sig16(x.checked_exp().ok_or_else(ovf)?, x.scale()),
        "ln" | "log" | "log10" if c.args.len() == 1 => {
            log_errors(x.to_f64().unwrap_or(0.0))?;
            let v = if c.name == "ln" {
                x.checked_ln()
            } else {
                x.checked_log10()
            };
            sig16(v.ok_or_else(ovf)?, x.scale())
        }
        "log" => {
            let y = c.decimal(1)?;
            log_errors(x.to_f64().unwrap_or(0.0))?;
            log_errors(y.to_f64().unwrap_or(0.0))?;
            let lb = x.checked_ln().ok_or_else(ovf)?;
            if lb.is_zero() {
                return Err(Error::new(code::DIVISION_BY_ZERO, "division by zero"));
            }
            sig16(
                y.checked_ln()
                    .ok_or_else(ovf)?
                    .checked_div(lb)
                    .ok_or_else(ovf)?,
                x.scale().max(y.scale()),
            )
        }
        "power" | "pow" => crate::types::numeric_power(x, c.decimal(1)?)?,
        "mod" => {
            let y = c.decimal(1)?;
            if y.is_zero() {
                return Err(Error::new(code::DIVISION_BY_ZERO, "division by zero"));
            }
            x.checked_rem(y).ok_or_else(ovf)?
        }
        "div" => {
            let y = c.decimal(1)?;
            if y.is_zero() {
                return Err(Error::new(code::DIVISION_BY_ZERO, "division by zero"));
            }
            x.checked_div(y).ok_or_else(ovf)?.trunc()
        }
        other => {
            return Err(Error::internal(format!(
                "numeric function {other} not dispatched"
            )))
        }
    };
    Ok(Datum::Decimal(crate::types::numeric_round(v, v.scale())))
}
