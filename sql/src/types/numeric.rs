//! NUMERIC helpers: PostgreSQL's typmod rounding and overflow check, its result scales for
//! division and power, and its base-10000 digit representation (used by the binary wire
//! format and by the scale rules, which PostgreSQL states in base-10000 digits).
//!
//! IMPLEMENTATION CAVEATS: values are rust_decimal `Decimal`s (96-bit mantissa, scale <= 28),
//! so NUMERIC holds about 28 significant digits, not PostgreSQL's 131072; results that need
//! more fail with 22003 "value overflows numeric format", and result scales PostgreSQL would
//! make larger than 28 are capped. NaN and ±Infinity numerics are not representable.

use crate::error::code;
use crate::{Error, Result};
use rust_decimal::prelude::*;
use rust_decimal::RoundingStrategy;

/// PostgreSQL's NUMERIC_MIN_SIG_DIGITS: division and power keep at least this many digits.
const MIN_SIG_DIGITS: i32 = 16;
/// The largest scale a `Decimal` can carry.
pub(crate) const MAX_SCALE: u32 = 28;

/// 22003 "value overflows numeric format".
pub(crate) fn overflow() -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        "value overflows numeric format",
    )
}

/// Rounds half away from zero to `scale` digits (PostgreSQL's numeric rounding) and pads to
/// exactly that scale when the mantissa has room.
pub(crate) fn round_to_scale(d: Decimal, scale: u32) -> Decimal {
    let scale = scale.min(MAX_SCALE);
    let mut r = d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    if r.scale() < scale {
        let mut padded = r;
        padded.rescale(scale);
        // rescale silently drops digits when the mantissa overflows; keep it only if exact.
        if padded == r {
            r = padded;
        }
    }
    normalize_zero(r)
}

/// Clears the sign of a zero (PostgreSQL has no negative zero numeric).
pub(crate) fn normalize_zero(mut d: Decimal) -> Decimal {
    if d.is_zero() && d.is_sign_negative() {
        d.set_sign_positive(true);
    }
    d
}

/// Applies a NUMERIC(p,s) modifier: rounds to s digits, then fails with 22003
/// "numeric field overflow" when more than p-s integer digits remain.
pub(crate) fn apply_typmod(d: Decimal, typmod: Option<(u32, u32)>) -> Result<Decimal> {
    let Some((p, s)) = typmod else {
        return Ok(normalize_zero(d));
    };
    let r = round_to_scale(d, s);
    let max_int_digits = p.saturating_sub(s);
    if integer_digits(&r) > max_int_digits {
        return Err(
            Error::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow").with_detail(
                format!(
                    "A field with precision {p}, scale {s} must round to an absolute value less than {}.",
                    if max_int_digits == 0 { "1".to_string() } else { format!("10^{max_int_digits}") }
                ),
            ),
        );
    }
    Ok(r)
}

/// Number of digits before the decimal point, ignoring leading zeros (0 for |d| < 1).
pub(crate) fn integer_digits(d: &Decimal) -> u32 {
    let t = d.abs().trunc();
    if t.is_zero() {
        return 0;
    }
    let m = t.mantissa().unsigned_abs() / 10u128.pow(t.scale());
    m.checked_ilog10().map_or(0, |l| l + 1)
}

/// PostgreSQL's base-10000 form of a value: (weight of the first group, groups, dscale).
/// Leading and trailing zero groups are stripped, as numeric_send does.
pub(crate) fn to_base10000(d: &Decimal) -> (i16, Vec<i16>, u16) {
    let scale = d.scale();
    let digits = d.mantissa().unsigned_abs().to_string();
    let (int_part, frac_part) = if digits.len() > scale as usize {
        let split = digits.len() - scale as usize;
        (digits[..split].to_string(), digits[split..].to_string())
    } else {
        (
            "0".to_string(),
            format!("{:0>width$}", digits, width = scale as usize),
        )
    };
    let int_pad = (4 - int_part.len() % 4) % 4;
    let int_s = format!("{}{}", "0".repeat(int_pad), int_part);
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let frac_s = format!("{}{}", frac_part, "0".repeat(frac_pad));
    let mut groups: Vec<i16> = Vec::new();
    for chunk in int_s
        .as_bytes()
        .chunks(4)
        .chain(frac_s.as_bytes().chunks(4))
    {
        let v = chunk
            .iter()
            .fold(0i16, |acc, b| acc * 10 + (b - b'0') as i16);
        groups.push(v);
    }
    let mut weight = (int_s.len() / 4) as i16 - 1;
    let lead = groups.iter().take_while(|g| **g == 0).count();
    if lead == groups.len() {
        return (0, Vec::new(), scale as u16);
    }
    groups.drain(..lead);
    weight -= lead as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    (weight, groups, scale as u16)
}

/// Rebuilds a value from base-10000 groups (the binary wire format), with `dscale` digits
/// after the decimal point.
pub(crate) fn from_base10000(
    weight: i16,
    groups: &[i16],
    negative: bool,
    dscale: u16,
) -> Result<Decimal> {
    let mut int_s = String::new();
    let mut frac_s = String::new();
    for (i, g) in groups.iter().enumerate() {
        let w = weight as i32 - i as i32;
        let s = format!("{g:04}");
        if w >= 0 {
            int_s.push_str(&s);
        } else {
            if frac_s.is_empty() {
                frac_s.push_str(&"0000".repeat((-w - 1) as usize));
            }
            frac_s.push_str(&s);
        }
    }
    if weight as i32 >= groups.len() as i32 {
        int_s.push_str(&"0000".repeat((weight as i32 + 1 - groups.len() as i32) as usize));
    }
    let dscale = dscale as usize;
    if frac_s.len() < dscale {
        frac_s.push_str(&"0".repeat(dscale - frac_s.len()));
    }
    let int_s = int_s.trim_start_matches('0');
    let int_s = if int_s.is_empty() { "0" } else { int_s };
    let text = if dscale > 0 {
        format!(
            "{}{}.{}",
            if negative { "-" } else { "" },
            int_s,
            &frac_s[..dscale]
        )
    } else {
        format!("{}{}", if negative { "-" } else { "" }, int_s)
    };
    let exact = Decimal::from_str_exact(&text).map_err(|_| overflow())?;
    // Digits beyond dscale are dropped by numeric_send's rounding; round like numeric_recv.
    Ok(normalize_zero(exact))
}

/// The result scale PostgreSQL picks for `a / b` (select_div_scale): at least 16 significant
/// digits, and no fewer decimals than either input.
pub(crate) fn div_scale(a: &Decimal, b: &Decimal) -> u32 {
    let (w1, g1, s1) = to_base10000(a);
    let (w2, g2, s2) = to_base10000(b);
    let first1 = g1.first().copied().unwrap_or(0);
    let first2 = g2.first().copied().unwrap_or(0);
    let (w1, w2) = (
        if g1.is_empty() { 0 } else { w1 },
        if g2.is_empty() { 0 } else { w2 },
    );
    let mut qweight = w1 as i32 - w2 as i32;
    if first1 <= first2 {
        qweight -= 1;
    }
    let rscale = (MIN_SIG_DIGITS - qweight * 4)
        .max(s1 as i32)
        .max(s2 as i32)
        .max(0);
    (rscale as u32).min(MAX_SCALE)
}

/// Numeric division with PostgreSQL's result scale; 22012 on a zero divisor.
pub(crate) fn div(a: Decimal, b: Decimal) -> Result<Decimal> {
    if b.is_zero() {
        return Err(Error::new(code::DIVISION_BY_ZERO, "division by zero"));
    }
    let scale = div_scale(&a, &b);
    let q = a.checked_div(b).ok_or_else(overflow)?;
    Ok(round_to_scale(q, scale))
}

/// Numeric power with PostgreSQL's errors and (approximately) its result scale.
pub(crate) fn power(base: Decimal, exp: Decimal) -> Result<Decimal> {
    if base.is_zero() && exp.is_sign_negative() && !exp.is_zero() {
        return Err(Error::new(
            "2201F",
            "zero raised to a negative power is undefined",
        ));
    }
    if base.is_sign_negative() && !base.is_zero() && exp.fract() != Decimal::ZERO {
        return Err(Error::new(
            "2201F",
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    let result = if exp.fract().is_zero() {
        let e = exp.to_i64().ok_or_else(overflow)?;
        base.checked_powi(e).ok_or_else(overflow)?
    } else {
        base.checked_powd(exp).ok_or_else(overflow)?
    };
    let bf = base.abs().to_f64().unwrap_or(1.0);
    let ef = exp.to_f64().unwrap_or(0.0);
    let weight = if bf > 0.0 {
        (ef * bf.log10()).trunc() as i32
    } else {
        0
    };
    let rscale = (MIN_SIG_DIGITS - weight)
        .max(base.scale() as i32)
        .max(exp.scale() as i32)
        .max(0) as u32;
    Ok(round_to_scale(result, rscale))
}

/// Parses a numeric literal, including exponent notation ("1.5e3"); None when it is not one.
pub(crate) fn parse_decimal(s: &str) -> Option<std::result::Result<Decimal, Error>> {
    let t = s.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits_ok = !mant.is_empty()
        && mant != "."
        && mant.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mant.matches('.').count() <= 1;
    if !digits_ok {
        return None;
    }
    let exp_val: i64 = match exp {
        Some(e) => match e.parse() {
            Ok(v) => v,
            Err(_) => return None,
        },
        None => 0,
    };
    // PostgreSQL rejects exponents beyond its precision limit as a syntax error.
    if exp_val.abs() > 1000 {
        return None;
    }
    let negative = t.starts_with('-');
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    // Shift the decimal point by the exponent, textually, so no precision is lost.
    let mut all: String = format!("{ip}{fp}");
    let mut point = ip.len() as i64 + exp_val;
    if point < 0 {
        all = format!("{}{}", "0".repeat((-point) as usize), all);
        point = 0;
    }
    if point as usize > all.len() {
        if point > 1000 {
            return Some(Err(overflow()));
        }
        all.push_str(&"0".repeat(point as usize - all.len()));
    }
    let (i2, f2) = all.split_at(point as usize);
    let i2 = i2.trim_start_matches('0');
    let mut f2 = f2.to_string();
    let text = format!(
        "{}{}",
        if i2.is_empty() { "0" } else { i2 },
        if f2.is_empty() {
            String::new()
        } else {
            format!(".{f2}")
        }
    );
    match Decimal::from_str_exact(&text) {
        Ok(d) => Some(Ok(if negative { normalize_zero(-d) } else { d })),
        Err(_) => {
            // Too many fraction digits: round to what fits, as long as the integer part fits.
            if i2.len() > 28 {
                return Some(Err(overflow()));
            }
            let keep = 28usize.saturating_sub(i2.len()).min(f2.len());
            f2.truncate(keep + 1);
            let text = format!("{}.{}", if i2.is_empty() { "0" } else { i2 }, f2);
            match Decimal::from_str(&text) {
                Ok(d) => {
                    let r = d.round_dp_with_strategy(
                        keep as u32,
                        RoundingStrategy::MidpointAwayFromZero,
                    );
                    Some(Ok(if negative { normalize_zero(-r) } else { r }))
                }
                Err(_) => Some(Err(overflow())),
            }
        }
    }
}

/// The base-10000 weight of a value's first non-zero group (0 for zero).
pub(crate) fn weight(d: &Decimal) -> i16 {
    let (w, groups, _) = to_base10000(d);
    if groups.is_empty() {
        0
    } else {
        w
    }
}
