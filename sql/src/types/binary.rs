//! PostgreSQL binary wire format (the `typsend`/`typreceive` functions).
//!
//! Integers and floats are big-endian; bool is one byte; numeric is PostgreSQL's base-10000
//! form (ndigits, weight, sign, dscale, then the digits, all 16-bit); date is days and
//! timestamp(tz) microseconds since 2000-01-01 (±infinity as the extreme integers); interval
//! is microseconds (i64), days (i32), months (i32); uuid 16 bytes; text its UTF-8 bytes;
//! bytea raw; jsonb a version byte (1) followed by the text. Malformed input fails with 22P03,
//! never a panic.

use super::datetime::pg_epoch_date;
use super::numeric::{from_base10000, to_base10000};
use super::{DataType, Datum, Interval};
use crate::error::code;
use crate::{Error, Result};
use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;

fn bad(what: &str) -> Error {
    Error::new(
        code::INVALID_BINARY_REPRESENTATION,
        format!("incorrect binary data format: {what}"),
    )
}

fn pg_epoch() -> NaiveDateTime {
    pg_epoch_date().and_time(NaiveTime::MIN)
}

/// Microseconds since 2000-01-01 (±infinity as i64::MAX/MIN).
fn timestamp_micros(t: &NaiveDateTime) -> Result<i64> {
    match *t {
        NaiveDateTime::MAX => Ok(i64::MAX),
        NaiveDateTime::MIN => Ok(i64::MIN),
        t => (t - pg_epoch())
            .num_microseconds()
            .ok_or_else(|| Error::new(code::DATETIME_FIELD_OVERFLOW, "timestamp out of range")),
    }
}

fn timestamp_from_micros(m: i64) -> Result<NaiveDateTime> {
    match m {
        i64::MAX => Ok(NaiveDateTime::MAX),
        i64::MIN => Ok(NaiveDateTime::MIN),
        m => pg_epoch()
            .checked_add_signed(Duration::microseconds(m))
            .ok_or_else(|| bad("timestamp out of range")),
    }
}

impl Datum {
    /// The binary wire encoding of a value of type `ty`; None for NULL.
    pub fn to_pg_binary(&self, ty: &DataType) -> Result<Option<Vec<u8>>> {
        // A numeric value of another numeric variant than the type's (an uncast plan value)
        // is converted first, so the client never reads an int8's bytes as a float8.
        let mismatched = matches!(
            (self, ty),
            (
                Datum::Int(_),
                DataType::Float4 | DataType::Float8 | DataType::Numeric(_)
            ) | (
                Datum::Float(_),
                DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Numeric(_)
            ) | (
                Datum::Decimal(_),
                DataType::Int2
                    | DataType::Int4
                    | DataType::Int8
                    | DataType::Float4
                    | DataType::Float8
            )
        );
        if mismatched {
            let from = super::cast::datum_type(self);
            return super::cast(self.clone(), &from, ty, true)?.to_pg_binary(ty);
        }
        Ok(Some(match (self, ty) {
            (Datum::Null, _) => return Ok(None),
            (Datum::Bool(b), _) => vec![*b as u8],
            (Datum::Int(i), DataType::Int2) => i16::try_from(*i)
                .map_err(|_| Error::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "smallint out of range"))?
                .to_be_bytes()
                .to_vec(),
            (Datum::Int(i), DataType::Int4) => i32::try_from(*i)
                .map_err(|_| Error::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range"))?
                .to_be_bytes()
                .to_vec(),
            (Datum::Int(i), t) if t.is_reg() => (*i as u32).to_be_bytes().to_vec(),
            (Datum::Int(i), _) => i.to_be_bytes().to_vec(),
            (Datum::Float(f), DataType::Float4) => (*f as f32).to_be_bytes().to_vec(),
            (Datum::Float(f), _) => f.to_be_bytes().to_vec(),
            (Datum::Decimal(d), _) => {
                let (weight, digits, dscale) = to_base10000(d);
                let mut out = Vec::with_capacity(8 + digits.len() * 2);
                out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
                out.extend_from_slice(&weight.to_be_bytes());
                let sign = if d.is_sign_negative() && !d.is_zero() {
                    NUMERIC_NEG
                } else {
                    NUMERIC_POS
                };
                out.extend_from_slice(&sign.to_be_bytes());
                out.extend_from_slice(&dscale.to_be_bytes());
                for g in digits {
                    out.extend_from_slice(&g.to_be_bytes());
                }
                out
            }
            (Datum::Text(s), DataType::Char(n)) => super::text_out::pad_char(s, *n).into_bytes(),
            (Datum::Text(s), _) => s.as_bytes().to_vec(),
            (Datum::Bytes(b), _) => b.clone(),
            (Datum::Date(d), _) => {
                let days: i32 = match *d {
                    NaiveDate::MAX => i32::MAX,
                    NaiveDate::MIN => i32::MIN,
                    d => (d - pg_epoch_date()).num_days() as i32,
                };
                days.to_be_bytes().to_vec()
            }
            (Datum::Timestamp(t), _) => timestamp_micros(t)?.to_be_bytes().to_vec(),
            (Datum::TimestampTz(t), _) => timestamp_micros(&t.naive_utc())?.to_be_bytes().to_vec(),
            (Datum::Interval(i), _) => {
                let mut out = Vec::with_capacity(16);
                out.extend_from_slice(&i.micros.to_be_bytes());
                out.extend_from_slice(&i.days.to_be_bytes());
                out.extend_from_slice(&i.months.to_be_bytes());
                out
            }
            (Datum::Uuid(u), _) => u.as_bytes().to_vec(),
            (Datum::Json(j), _) => {
                let mut out = vec![1u8];
                out.extend_from_slice(super::text_out::jsonb_text(j).as_bytes());
                out
            }
            (Datum::Array(items), t) => {
                super::array::to_binary(items, t.array_elem().unwrap_or(&DataType::Text))?
            }
        }))
    }

    /// Decodes a binary wire value of type `ty` (22P03 on malformed input).
    pub fn from_pg_binary(b: &[u8], ty: &DataType) -> Result<Datum> {
        Ok(match ty {
            DataType::Bool => match b {
                [v] => Datum::Bool(*v != 0),
                _ => return Err(bad("bool must be 1 byte")),
            },
            DataType::Int2 => Datum::Int(i16::from_be_bytes(fixed(b, "int2")?) as i64),
            DataType::Int4 => Datum::Int(i32::from_be_bytes(fixed(b, "int4")?) as i64),
            DataType::Int8 => Datum::Int(i64::from_be_bytes(fixed(b, "int8")?)),
            DataType::Float4 => Datum::Float(f32::from_be_bytes(fixed(b, "float4")?) as f64),
            DataType::Float8 => Datum::Float(f64::from_be_bytes(fixed(b, "float8")?)),
            DataType::Numeric(typmod) => {
                let d = decode_numeric(b)?;
                Datum::Decimal(super::numeric::apply_typmod(d, *typmod)?)
            }
            DataType::Text | DataType::Unknown | DataType::Varchar(_) | DataType::Char(_) => {
                let s = std::str::from_utf8(b).map_err(|_| {
                    Error::new("22021", "invalid byte sequence for encoding \"UTF8\"")
                })?;
                Datum::from_pg_text(s, ty)?
            }
            DataType::Bytea => Datum::Bytes(b.to_vec()),
            DataType::Date => {
                let days = i32::from_be_bytes(fixed(b, "date")?);
                Datum::Date(match days {
                    i32::MAX => NaiveDate::MAX,
                    i32::MIN => NaiveDate::MIN,
                    d => pg_epoch_date()
                        .checked_add_signed(Duration::days(d as i64))
                        .ok_or_else(|| bad("date out of range"))?,
                })
            }
            DataType::Timestamp => Datum::Timestamp(timestamp_from_micros(i64::from_be_bytes(
                fixed(b, "timestamp")?,
            ))?),
            DataType::TimestampTz => {
                let t = timestamp_from_micros(i64::from_be_bytes(fixed(b, "timestamptz")?))?;
                Datum::TimestampTz(Utc.from_utc_datetime(&t))
            }
            DataType::Interval => {
                let raw: [u8; 16] = fixed(b, "interval")?;
                let mut m = [0u8; 8];
                m.copy_from_slice(&raw[..8]);
                let mut d = [0u8; 4];
                d.copy_from_slice(&raw[8..12]);
                let mut mo = [0u8; 4];
                mo.copy_from_slice(&raw[12..]);
                Datum::Interval(Interval {
                    micros: i64::from_be_bytes(m),
                    days: i32::from_be_bytes(d),
                    months: i32::from_be_bytes(mo),
                })
            }
            DataType::Uuid => Datum::Uuid(uuid::Uuid::from_bytes(fixed(b, "uuid")?)),
            DataType::Jsonb => match b.split_first() {
                Some((1, rest)) => {
                    let s = std::str::from_utf8(rest).map_err(|_| {
                        Error::new("22021", "invalid byte sequence for encoding \"UTF8\"")
                    })?;
                    Datum::Json(Box::new(super::text_in::parse_jsonb(s)?))
                }
                Some((v, _)) => return Err(bad(&format!("unsupported jsonb version number {v}"))),
                None => return Err(bad("empty jsonb value")),
            },
            DataType::RegClass | DataType::RegType | DataType::RegNamespace | DataType::RegProc => {
                Datum::Int(u32::from_be_bytes(fixed(b, "oid")?) as i64)
            }
            DataType::Array(elem) => super::array::from_binary(b, elem)?,
        })
    }
}

/// Exactly N bytes or 22P03.
fn fixed<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N]> {
    b.try_into()
        .map_err(|_| bad(&format!("{what} must be {N} bytes, got {}", b.len())))
}

fn decode_numeric(b: &[u8]) -> Result<rust_decimal::Decimal> {
    if b.len() < 8 {
        return Err(bad("numeric header too short"));
    }
    let word = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let ndigits = word(0) as i16;
    let weight = word(2) as i16;
    let sign = word(4);
    let dscale = word(6);
    if ndigits < 0 || b.len() != 8 + ndigits as usize * 2 {
        return Err(bad("numeric length does not match its digit count"));
    }
    if sign == 0xC000 || sign == 0xD000 || sign == 0xF000 {
        return Err(Error::unsupported(
            "NaN and infinite numeric values are not supported",
        ));
    }
    if sign != NUMERIC_POS && sign != NUMERIC_NEG {
        return Err(bad("invalid sign in external \"numeric\" value"));
    }
    if dscale > 0x3FFF {
        return Err(bad("invalid scale in external \"numeric\" value"));
    }
    let mut digits = Vec::with_capacity(ndigits as usize);
    for i in 0..ndigits as usize {
        let g = word(8 + i * 2) as i16;
        if !(0..10000).contains(&g) {
            return Err(bad("invalid digit in external \"numeric\" value"));
        }
        digits.push(g);
    }
    from_base10000(weight, &digits, sign == NUMERIC_NEG, dscale)
}
