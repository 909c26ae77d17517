//! Order-preserving key encoding.
//!
//! SQL index keys are byte strings whose bytewise order must be the order of the values they
//! encode, so that an index range scan is a key range scan. Each function here appends one value
//! to a key buffer; the decoders consume one value from the front of a byte slice.
//!
//! # Format
//!
//! Every value except the unsigned ids of key prefixes ([`encode_u64_asc`]) starts with a type tag
//! byte. Values of one column share a tag, so the tag never decides an order between two
//! non-NULL values of a column; it makes NULL distinguishable and lets a decoder reject bytes of
//! the wrong type. The ascending (`Asc`) encodings are:
//!
//! ```text
//! bool     0x10 then 0x00 | 0x01
//! i64      0x20 then 8 bytes big-endian with the sign bit flipped
//! f64      0x30 then 8 bytes: IEEE bits, all flipped when negative, else the sign bit flipped
//!          (-0.0 is written as 0.0 and every NaN as the one canonical NaN, above +Infinity)
//! decimal  0x40 (negative) | 0x41 (zero) | 0x42 (positive); for non-zero values the magnitude
//!          0.d1d2...dn x 10^e (d1 != 0, dn != 0) as: (e + 128) in one byte, then the digits in
//!          pairs, one byte per pair (pair value + 1, the last pair padded with a 0 digit),
//!          then 0x00; a negative value writes the complement of its magnitude's bytes
//! bytes    0x50 then the bytes with 0x00 escaped as 0x00 0xff, then the terminator 0x00 0x01
//! string   0x51 then the UTF-8 bytes, escaped and terminated like bytes
//! NULL     0xf0
//! ```
//!
//! The `Desc` encoding of a value is the bitwise complement of its `Asc` encoding, tag included.
//!
//! # Invariants
//!
//! - Every encoding is self-delimiting and no encoding is a proper prefix of another of the
//!   same direction. Hence a tuple of values encodes as the concatenation of its values'
//!   encodings and compares lexicographically, column by column, and complementing an encoding
//!   reverses its order against every other encoding (the first differing byte decides, and the
//!   complement flips that comparison).
//! - Equal values encode to equal bytes (1.0 and 1.00, -0.0 and 0.0, all NaNs), so a unique index
//!   and a point lookup agree with SQL equality.
//! - NULL's tag is above every value tag, so NULL sorts after every value in `Asc` and, being
//!   complemented, before every value in `Desc`: PostgreSQL's default `NULLS LAST` for ascending
//!   and `NULLS FIRST` for descending order.
//! - Decoders never panic: malformed, truncated or mistyped input returns [`Error::Decode`] and
//!   leaves the input untouched.
//!
//! Dates and timestamps encode as i64 (days, microseconds), UUIDs as bytes (see the SQL layer).
//!
//! HAZARD: this is the on-disk format of every index. Changing any byte here silently corrupts
//! the order of existing stores; the golden files in `kv/tests/testdata/encoding` make such a
//! change visible in review.
//!
//! IMPLEMENTATION CAVEATS
//! - Integers are fixed width (9 bytes with the tag); a variable-length integer encoding would
//!   make small keys shorter.
//! - Decimals cover rust_decimal's range (28 fractional digits, 96-bit mantissa); PostgreSQL's
//!   numeric NaN and Infinity have no representation in rust_decimal and so none here.
//! - Strings compare bytewise (the C collation), not by a locale's collation.

use crate::{Error, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The sort direction of one key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Ascending; NULL sorts after every value.
    Asc,
    /// Descending; NULL sorts before every value.
    Desc,
}

impl Direction {
    /// The mask XORed onto every byte of an encoding in this direction.
    fn mask(self) -> u8 {
        match self {
            Direction::Asc => 0x00,
            Direction::Desc => 0xff,
        }
    }
}

/// Type tags of the ascending encodings (see the module docs).
mod tag {
    pub const BOOL: u8 = 0x10;
    pub const INT: u8 = 0x20;
    pub const FLOAT: u8 = 0x30;
    pub const DECIMAL_NEG: u8 = 0x40;
    pub const DECIMAL_ZERO: u8 = 0x41;
    pub const DECIMAL_POS: u8 = 0x42;
    pub const BYTES: u8 = 0x50;
    pub const STRING: u8 = 0x51;
    pub const NULL: u8 = 0xf0;
}

/// Escape byte written after a 0x00 data byte in bytes/strings.
const ESCAPED_ZERO: u8 = 0xff;
/// Second byte of the bytes/string terminator (after 0x00).
const TERMINATOR: u8 = 0x01;
/// Bias added to a decimal's exponent so it fits one unsigned byte.
const DECIMAL_EXP_BIAS: i32 = 128;
/// Terminator of a decimal's digit pairs (pair bytes are 1..=100).
const DECIMAL_END: u8 = 0x00;

/// Complements the bytes of `buf` from `start` on when `dir` is `Desc`.
fn finish(buf: &mut [u8], start: usize, dir: Direction) {
    if dir == Direction::Desc {
        for b in &mut buf[start..] {
            *b = !*b;
        }
    }
}

/// Appends the NULL marker: after every value in `Asc`, before every value in `Desc`.
pub fn encode_null(buf: &mut Vec<u8>, dir: Direction) {
    buf.push(tag::NULL ^ dir.mask());
}

/// Appends a boolean (false < true).
pub fn encode_bool(buf: &mut Vec<u8>, v: bool, dir: Direction) {
    buf.push(tag::BOOL ^ dir.mask());
    buf.push(u8::from(v) ^ dir.mask());
}

/// Appends a signed integer.
pub fn encode_i64(buf: &mut Vec<u8>, v: i64, dir: Direction) {
    let start = buf.len();
    buf.push(tag::INT);
    buf.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
    finish(buf, start, dir);
}

/// Appends an unsigned integer so that byte order equals numeric order: 8 bytes big-endian and
/// no tag. Used for table and index ids in key prefixes.
pub fn encode_u64_asc(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// The order-preserving bit pattern of a float: -0.0 as 0.0, every NaN as the canonical NaN,
/// which sorts above +Infinity (PostgreSQL's order).
fn float_key_bits(v: f64) -> u64 {
    let v = if v.is_nan() {
        f64::NAN
    } else if v == 0.0 {
        0.0
    } else {
        v
    };
    let bits = v.to_bits();
    if bits & (1 << 63) != 0 {
        !bits
    } else {
        bits ^ (1 << 63)
    }
}

/// Appends a float: -0.0 equals 0.0, NaN sorts above +Infinity (PostgreSQL).
pub fn encode_f64(buf: &mut Vec<u8>, v: f64, dir: Direction) {
    let start = buf.len();
    buf.push(tag::FLOAT);
    buf.extend_from_slice(&float_key_bits(v).to_be_bytes());
    finish(buf, start, dir);
}

/// The significant decimal digits (no leading or trailing zeros) and exponent `e` of a non-zero
/// decimal's magnitude, such that |v| = 0.d1d2...dn x 10^e.
fn decimal_digits(v: &Decimal) -> (Vec<u8>, i32) {
    let digits: Vec<u8> = v
        .mantissa()
        .unsigned_abs()
        .to_string()
        .bytes()
        .map(|c| c - b'0')
        .collect();
    let exp = digits.len() as i32 - v.scale() as i32;
    let significant = digits.len() - digits.iter().rev().take_while(|&&d| d == 0).count();
    (digits[..significant].to_vec(), exp)
}

/// Appends a decimal. Numerically equal values (1.0 and 1.00) encode identically.
pub fn encode_decimal(buf: &mut Vec<u8>, v: &Decimal, dir: Direction) {
    let start = buf.len();
    if v.is_zero() {
        buf.push(tag::DECIMAL_ZERO);
        finish(buf, start, dir);
        return;
    }
    let negative = v.is_sign_negative();
    buf.push(if negative {
        tag::DECIMAL_NEG
    } else {
        tag::DECIMAL_POS
    });
    let magnitude_start = buf.len();
    let (digits, exp) = decimal_digits(v);
    // rust_decimal magnitudes lie in [1e-28, 8e28), so exp is in -27..=29.
    buf.push((exp + DECIMAL_EXP_BIAS) as u8);
    for pair in digits.chunks(2) {
        let low = pair.get(1).copied().unwrap_or(0);
        buf.push(pair[0] * 10 + low + 1);
    }
    buf.push(DECIMAL_END);
    if negative {
        finish(buf, magnitude_start, Direction::Desc);
    }
    finish(buf, start, dir);
}

/// Appends escaped bytes and the terminator, without a tag.
fn encode_escaped(buf: &mut Vec<u8>, v: &[u8]) {
    for &b in v {
        buf.push(b);
        if b == 0 {
            buf.push(ESCAPED_ZERO);
        }
    }
    buf.push(0x00);
    buf.push(TERMINATOR);
}

/// Appends a byte string, self-delimiting and prefix-safe: "a" < "a\0" < "b".
pub fn encode_bytes(buf: &mut Vec<u8>, v: &[u8], dir: Direction) {
    let start = buf.len();
    buf.push(tag::BYTES);
    encode_escaped(buf, v);
    finish(buf, start, dir);
}

/// Appends a string (bytewise UTF-8 order, i.e. code point order).
pub fn encode_str(buf: &mut Vec<u8>, v: &str, dir: Direction) {
    let start = buf.len();
    buf.push(tag::STRING);
    encode_escaped(buf, v.as_bytes());
    finish(buf, start, dir);
}

/// Reads bytes of one direction from a copy of the input, undoing the `Desc` complement.
/// Decoders commit the consumed position back to the caller's slice only on success.
struct Reader<'a> {
    rest: &'a [u8],
    mask: u8,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8], dir: Direction) -> Self {
        Reader {
            rest: input,
            mask: dir.mask(),
        }
    }

    fn byte(&mut self, what: &str) -> Result<u8> {
        let (&b, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| Error::Decode(format!("key ends inside {what}")))?;
        self.rest = rest;
        Ok(b ^ self.mask)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        if self.rest.len() < 8 {
            return Err(Error::Decode(format!("key ends inside {what}")));
        }
        let (head, rest) = self.rest.split_at(8);
        self.rest = rest;
        let mut raw = [0u8; 8];
        for (dst, src) in raw.iter_mut().zip(head) {
            *dst = src ^ self.mask;
        }
        Ok(u64::from_be_bytes(raw))
    }

    fn expect_tag(&mut self, expected: u8, what: &str) -> Result<()> {
        let got = self.byte(what)?;
        if got != expected {
            return Err(Error::Decode(format!(
                "expected {what} (tag {expected:#04x}), found tag {got:#04x}"
            )));
        }
        Ok(())
    }

    /// Reads escaped bytes up to and including the terminator.
    fn escaped(&mut self, what: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let b = self.byte(what)?;
            if b != 0 {
                out.push(b);
                continue;
            }
            match self.byte(what)? {
                ESCAPED_ZERO => out.push(0),
                TERMINATOR => return Ok(out),
                other => {
                    return Err(Error::Decode(format!(
                        "bad escape 0x00 {other:#04x} in {what}"
                    )))
                }
            }
        }
    }
}

/// Runs a decoder on the front of `input`, advancing it only when the decoder succeeds.
fn decode_with<T>(
    input: &mut &[u8],
    dir: Direction,
    f: impl FnOnce(&mut Reader) -> Result<T>,
) -> Result<T> {
    let mut r = Reader::new(input, dir);
    let v = f(&mut r)?;
    *input = r.rest;
    Ok(v)
}

/// Whether the next value is NULL; consumes the marker when it is.
pub fn decode_is_null(input: &mut &[u8], dir: Direction) -> bool {
    match input.split_first() {
        Some((&b, rest)) if b ^ dir.mask() == tag::NULL => {
            *input = rest;
            true
        }
        _ => false,
    }
}

/// Decodes a boolean written by [`encode_bool`].
pub fn decode_bool(input: &mut &[u8], dir: Direction) -> Result<bool> {
    decode_with(input, dir, |r| {
        r.expect_tag(tag::BOOL, "bool")?;
        match r.byte("bool")? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Error::Decode(format!("bad bool byte {b:#04x}"))),
        }
    })
}

/// Decodes a signed integer written by [`encode_i64`].
pub fn decode_i64(input: &mut &[u8], dir: Direction) -> Result<i64> {
    decode_with(input, dir, |r| {
        r.expect_tag(tag::INT, "integer")?;
        Ok((r.u64("integer")? ^ (1 << 63)) as i64)
    })
}

/// Decodes an unsigned id written by [`encode_u64_asc`].
pub fn decode_u64_asc(input: &mut &[u8]) -> Result<u64> {
    decode_with(input, Direction::Asc, |r| r.u64("unsigned id"))
}

/// Decodes a float written by [`encode_f64`] (-0.0 comes back as 0.0).
pub fn decode_f64(input: &mut &[u8], dir: Direction) -> Result<f64> {
    decode_with(input, dir, |r| {
        r.expect_tag(tag::FLOAT, "float")?;
        let key = r.u64("float")?;
        let bits = if key & (1 << 63) != 0 {
            key ^ (1 << 63)
        } else {
            !key
        };
        Ok(f64::from_bits(bits))
    })
}

/// Decodes a decimal written by [`encode_decimal`], normalized (no trailing fractional zeros).
pub fn decode_decimal(input: &mut &[u8], dir: Direction) -> Result<Decimal> {
    decode_with(input, dir, |r| {
        let negative = match r.byte("decimal")? {
            tag::DECIMAL_ZERO => return Ok(Decimal::ZERO),
            tag::DECIMAL_POS => false,
            tag::DECIMAL_NEG => true,
            got => {
                return Err(Error::Decode(format!(
                    "expected decimal, found tag {got:#04x}"
                )))
            }
        };
        if negative {
            r.mask = !r.mask;
        }
        let magnitude = decode_decimal_magnitude(r)?;
        Ok(if negative { -magnitude } else { magnitude })
    })
}

/// Decodes the exponent and digit pairs of a non-zero decimal (ascending form).
fn decode_decimal_magnitude(r: &mut Reader) -> Result<Decimal> {
    const WHAT: &str = "decimal";
    let exp = i32::from(r.byte(WHAT)?) - DECIMAL_EXP_BIAS;
    let mut mantissa: i128 = 0;
    let mut ndigits: i32 = 0;
    let mut last_digit = 0u8;
    loop {
        let b = r.byte(WHAT)?;
        if b == DECIMAL_END {
            break;
        }
        if b > 100 {
            return Err(Error::Decode(format!("bad decimal digit pair {b:#04x}")));
        }
        let pair = b - 1;
        if ndigits == 0 && pair < 10 {
            return Err(Error::Decode("decimal digits start with a zero".into()));
        }
        for d in [pair / 10, pair % 10] {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(d)))
                .filter(|_| ndigits < 40)
                .ok_or_else(|| Error::Decode("decimal has too many digits".into()))?;
            ndigits += 1;
            last_digit = d;
        }
    }
    if mantissa == 0 || ndigits == 0 {
        return Err(Error::Decode("non-zero decimal without digits".into()));
    }
    // The last pair may be padded with one 0 digit; drop it (the digits' true last is non-zero).
    if last_digit == 0 {
        mantissa /= 10;
        ndigits -= 1;
    }
    // |v| = 0.<digits> x 10^exp = mantissa x 10^(exp - ndigits)
    let shift = exp - ndigits;
    let out_of_range = || Error::Decode("decimal out of range".into());
    if shift >= 0 {
        let factor = 10i128.checked_pow(shift as u32).ok_or_else(out_of_range)?;
        let m = mantissa.checked_mul(factor).ok_or_else(out_of_range)?;
        Decimal::try_from_i128_with_scale(m, 0).map_err(|_| out_of_range())
    } else {
        Decimal::try_from_i128_with_scale(mantissa, (-shift) as u32).map_err(|_| out_of_range())
    }
}

/// Decodes a byte string written by [`encode_bytes`].
pub fn decode_bytes(input: &mut &[u8], dir: Direction) -> Result<Vec<u8>> {
    decode_with(input, dir, |r| {
        r.expect_tag(tag::BYTES, "bytes")?;
        r.escaped("bytes")
    })
}

/// Decodes a string written by [`encode_str`]; invalid UTF-8 is a decode error.
pub fn decode_str(input: &mut &[u8], dir: Direction) -> Result<String> {
    decode_with(input, dir, |r| {
        r.expect_tag(tag::STRING, "string")?;
        String::from_utf8(r.escaped("string")?)
            .map_err(|_| Error::Decode("string key is not valid UTF-8".into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn enc_dec(v: &Decimal, dir: Direction) -> Vec<u8> {
        let mut b = Vec::new();
        encode_decimal(&mut b, v, dir);
        b
    }

    #[test]
    fn decimal_equal_values_encode_equal() {
        assert_eq!(
            enc_dec(&dec("1.0"), Direction::Asc),
            enc_dec(&dec("1.00"), Direction::Asc)
        );
        assert_eq!(
            enc_dec(&dec("100"), Direction::Asc),
            enc_dec(&dec("100.000"), Direction::Asc)
        );
        assert_eq!(
            enc_dec(&dec("-0.00"), Direction::Asc),
            enc_dec(&dec("0"), Direction::Asc)
        );
    }

    #[test]
    fn decimal_round_trips_extremes() {
        for s in [
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "12.5",
            "-0.5",
        ] {
            for dir in [Direction::Asc, Direction::Desc] {
                let v = dec(s);
                let b = enc_dec(&v, dir);
                let mut input = &b[..];
                assert_eq!(decode_decimal(&mut input, dir).unwrap(), v, "{s}");
                assert!(input.is_empty());
            }
        }
    }

    #[test]
    fn failed_decode_leaves_input_alone() {
        let mut b = Vec::new();
        encode_str(&mut b, "abc", Direction::Asc);
        b.truncate(b.len() - 1);
        let mut input = &b[..];
        assert!(matches!(
            decode_str(&mut input, Direction::Asc),
            Err(Error::Decode(_))
        ));
        assert_eq!(input.len(), b.len());
        assert!(decode_i64(&mut input, Direction::Asc).is_err());
        assert!(!decode_is_null(&mut input, Direction::Asc));
    }
}
