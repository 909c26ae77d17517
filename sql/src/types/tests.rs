//! Table tests for sql::types: expected strings are what PostgreSQL 15 prints.

use super::*;
use crate::error::code;
use rust_decimal::Decimal;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

fn dec(s: &str) -> Datum {
    Datum::Decimal(Decimal::from_str(s).expect("decimal literal"))
}

fn text(s: &str) -> Datum {
    Datum::Text(s.to_string())
}

fn parse(s: &str, ty: &DataType) -> Datum {
    Datum::from_pg_text(s, ty).unwrap_or_else(|e| panic!("parse {s:?} as {ty:?}: {e:?}"))
}

fn out(s: &str, ty: &DataType) -> String {
    parse(s, ty).to_pg_text(ty).expect("not null")
}

fn err_code(r: crate::Result<impl std::fmt::Debug>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code,
    }
}

fn hash_of(d: &Datum) -> u64 {
    let mut h = DefaultHasher::new();
    d.hash(&mut h);
    h.finish()
}

#[test]
fn text_round_trips() {
    use DataType as T;
    let cases: &[(&str, DataType, &str)] = &[
        ("t", T::Bool, "t"),
        (" YES ", T::Bool, "t"),
        ("off", T::Bool, "f"),
        ("0", T::Bool, "f"),
        (" 42 ", T::Int4, "42"),
        ("-32768", T::Int2, "-32768"),
        ("+9223372036854775807", T::Int8, "9223372036854775807"),
        ("0.1", T::Float8, "0.1"),
        ("1e20", T::Float8, "1e+20"),
        ("1e15", T::Float8, "1e+15"),
        ("123456789012345", T::Float8, "123456789012345"),
        ("0.0001", T::Float8, "0.0001"),
        ("0.00001", T::Float8, "1e-05"),
        ("-0", T::Float8, "-0"),
        ("infinity", T::Float8, "Infinity"),
        ("-Infinity", T::Float8, "-Infinity"),
        ("nan", T::Float8, "NaN"),
        ("3.14159", T::Float4, "3.14159"),
        ("1000000", T::Float4, "1e+06"),
        ("100000", T::Float4, "100000"),
        ("1.50", T::Numeric(None), "1.50"),
        ("-0.00", T::Numeric(None), "0.00"),
        ("1.5e3", T::Numeric(None), "1500"),
        ("2.345", T::Numeric(Some((5, 2))), "2.35"),
        ("2.5", T::Numeric(Some((5, 0))), "3"),
        ("-2.5", T::Numeric(Some((5, 0))), "-3"),
        ("7", T::Numeric(Some((5, 2))), "7.00"),
        ("ab", T::Char(4), "ab  "),
        ("\\x0102FF", T::Bytea, "\\x0102ff"),
        ("a\\\\b\\001", T::Bytea, "\\x615c6201"),
        ("2024-01-31", T::Date, "2024-01-31"),
        ("01/31/2024", T::Date, "2024-01-31"),
        ("2024-01-31 10:00", T::Date, "2024-01-31"),
        ("0044-03-15 BC", T::Date, "0044-03-15 BC"),
        ("infinity", T::Date, "infinity"),
        ("epoch", T::Date, "1970-01-01"),
        ("2024-01-31 12:34:56", T::Timestamp, "2024-01-31 12:34:56"),
        (
            "2024-01-31T12:34:56.500",
            T::Timestamp,
            "2024-01-31 12:34:56.5",
        ),
        (
            "2024-01-31 12:34:56.1234567",
            T::Timestamp,
            "2024-01-31 12:34:56.123457",
        ),
        (
            "2024-01-31 12:34:56+05",
            T::Timestamp,
            "2024-01-31 12:34:56",
        ),
        ("2024-01-31", T::Timestamp, "2024-01-31 00:00:00"),
        ("2024-01-31 24:00:00", T::Timestamp, "2024-02-01 00:00:00"),
        (
            "2024-01-31 12:00:00+05:30",
            T::TimestampTz,
            "2024-01-31 06:30:00+00",
        ),
        (
            "2024-01-31T12:00:00Z",
            T::TimestampTz,
            "2024-01-31 12:00:00+00",
        ),
        (
            "2024-01-31 12:00:00-0800",
            T::TimestampTz,
            "2024-01-31 20:00:00+00",
        ),
        (
            "2024-01-31 12:00:00 UTC",
            T::TimestampTz,
            "2024-01-31 12:00:00+00",
        ),
        ("-infinity", T::TimestampTz, "-infinity"),
        (
            "1 year 2 months 3 days 4 hours 5 minutes 6 seconds",
            T::Interval,
            "1 year 2 mons 3 days 04:05:06",
        ),
        ("1 day 2 hours", T::Interval, "1 day 02:00:00"),
        ("2 hours 30 minutes", T::Interval, "02:30:00"),
        ("0", T::Interval, "00:00:00"),
        ("-1 days", T::Interval, "-1 days"),
        ("1-2", T::Interval, "1 year 2 mons"),
        ("P1DT2H", T::Interval, "1 day 02:00:00"),
        (
            "P1Y2M3DT4H5M6.5S",
            T::Interval,
            "1 year 2 mons 3 days 04:05:06.5",
        ),
        ("P2W", T::Interval, "14 days"),
        ("01:02:03", T::Interval, "01:02:03"),
        ("1 01:00:00", T::Interval, "1 day 01:00:00"),
        ("1.5 days", T::Interval, "1 day 12:00:00"),
        ("1.5 years", T::Interval, "1 year 6 mons"),
        ("@ 1 day ago", T::Interval, "-1 days"),
        ("-1 year 2 mons", T::Interval, "-10 mons"),
        ("-1 year 2 days", T::Interval, "-1 years +2 days"),
        ("1 day -01:00:00", T::Interval, "1 day -01:00:00"),
        ("90 seconds", T::Interval, "00:01:30"),
        ("10s", T::Interval, "00:00:10"),
        ("100 hours", T::Interval, "100:00:00"),
        ("1 week", T::Interval, "7 days"),
        (
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            T::Uuid,
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
        (
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
            T::Uuid,
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
        (
            "{\"b\":[1,2],\"a\":1}",
            T::Jsonb,
            "{\"a\": 1, \"b\": [1, 2]}",
        ),
        (
            "{\"aa\":1,\"b\":2,\"b\":3}",
            T::Jsonb,
            "{\"b\": 3, \"aa\": 1}",
        ),
        (
            "[1, \"x\", null, true, {}]",
            T::Jsonb,
            "[1, \"x\", null, true, {}]",
        ),
        ("\"a\\nb\"", T::Jsonb, "\"a\\nb\""),
    ];
    for (input, ty, want) in cases {
        assert_eq!(out(input, ty), *want, "input {input:?} as {ty:?}");
    }
}

#[test]
fn text_input_errors() {
    use DataType as T;
    let cases: &[(&str, DataType, &str, &str)] = &[
        (
            "abc",
            T::Int4,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type integer: \"abc\"",
        ),
        (
            "99999999999",
            T::Int4,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "value \"99999999999\" is out of range for type integer",
        ),
        (
            "40000",
            T::Int2,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "value \"40000\" is out of range for type smallint",
        ),
        (
            "1.5",
            T::Int8,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type bigint: \"1.5\"",
        ),
        (
            "",
            T::Int4,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type integer: \"\"",
        ),
        (
            "maybe",
            T::Bool,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type boolean: \"maybe\"",
        ),
        (
            "x1",
            T::Float8,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type double precision: \"x1\"",
        ),
        (
            "1e400",
            T::Float8,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "\"1e400\" is out of range for type double precision",
        ),
        (
            "1e40",
            T::Float4,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "\"1e40\" is out of range for type real",
        ),
        (
            "12a",
            T::Numeric(None),
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type numeric: \"12a\"",
        ),
        (
            "1000",
            T::Numeric(Some((5, 2))),
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "numeric field overflow",
        ),
        (
            "2024-13-01",
            T::Date,
            code::DATETIME_FIELD_OVERFLOW,
            "date/time field value out of range: \"2024-13-01\"",
        ),
        (
            "2023-02-29",
            T::Date,
            code::DATETIME_FIELD_OVERFLOW,
            "date/time field value out of range: \"2023-02-29\"",
        ),
        (
            "hello",
            T::Date,
            code::INVALID_DATETIME_FORMAT,
            "invalid input syntax for type date: \"hello\"",
        ),
        (
            "2024-01-01 25:00",
            T::Timestamp,
            code::DATETIME_FIELD_OVERFLOW,
            "date/time field value out of range: \"2024-01-01 25:00\"",
        ),
        (
            "2024-01-01 x",
            T::TimestampTz,
            code::INVALID_DATETIME_FORMAT,
            "invalid input syntax for type timestamp with time zone: \"2024-01-01 x\"",
        ),
        (
            "1 fortnight",
            T::Interval,
            code::INVALID_DATETIME_FORMAT,
            "invalid input syntax for type interval: \"1 fortnight\"",
        ),
        (
            "",
            T::Interval,
            code::INVALID_DATETIME_FORMAT,
            "invalid input syntax for type interval: \"\"",
        ),
        (
            "xyz",
            T::Uuid,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type uuid: \"xyz\"",
        ),
        (
            "{bad",
            T::Jsonb,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type json",
        ),
        (
            "\\x0g",
            T::Bytea,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid hexadecimal digit: \"g\"",
        ),
        (
            "\\x012",
            T::Bytea,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid hexadecimal data: odd number of digits",
        ),
        (
            "a\\9",
            T::Bytea,
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type bytea",
        ),
        (
            "abcd",
            T::Varchar(Some(3)),
            code::STRING_DATA_RIGHT_TRUNCATION,
            "value too long for type character varying(3)",
        ),
    ];
    for (input, ty, want_code, want_msg) in cases {
        let e = Datum::from_pg_text(input, ty).expect_err(input);
        assert_eq!(
            (e.code, e.message.as_str()),
            (*want_code, *want_msg),
            "input {input:?} as {ty:?}"
        );
    }
    let e = Datum::from_pg_text("123.456", &T::Numeric(Some((4, 2)))).expect_err("overflow");
    assert_eq!(
        e.detail.as_deref(),
        Some("A field with precision 4, scale 2 must round to an absolute value less than 10^2.")
    );
}

#[test]
fn binary_round_trips() {
    use DataType as T;
    let cases: &[(&str, DataType)] = &[
        ("true", T::Bool),
        ("-7", T::Int2),
        ("123456", T::Int4),
        ("-9223372036854775808", T::Int8),
        ("1.5", T::Float4),
        ("-2.25e100", T::Float8),
        ("0", T::Numeric(None)),
        ("0.00", T::Numeric(None)),
        ("1.50", T::Numeric(None)),
        ("-12345678.9012", T::Numeric(None)),
        ("10000", T::Numeric(None)),
        ("0.00001234", T::Numeric(None)),
        ("79228162514264337593543950335", T::Numeric(None)),
        ("héllo", T::Text),
        ("\\xdeadbeef", T::Bytea),
        ("2024-02-29", T::Date),
        ("1999-12-31", T::Date),
        ("infinity", T::Date),
        ("2024-01-31 12:34:56.789", T::Timestamp),
        ("1970-01-01 00:00:00+00", T::TimestampTz),
        ("-infinity", T::Timestamp),
        ("1 year 2 mons -3 days 04:05:06.7", T::Interval),
        ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", T::Uuid),
        ("{\"a\": [1, 2.5, \"x\"]}", T::Jsonb),
    ];
    for (input, ty) in cases {
        let d = parse(input, ty);
        let bytes = d.to_pg_binary(ty).expect("encode").expect("not null");
        let back = Datum::from_pg_binary(&bytes, ty).expect("decode");
        assert_eq!(back.to_pg_text(ty), d.to_pg_text(ty), "{input:?} as {ty:?}");
    }
    assert_eq!(Datum::Null.to_pg_binary(&T::Int4).expect("null"), None);
}

#[test]
fn binary_formats_match_postgres() {
    use DataType as T;
    let bin = |s: &str, ty: &DataType| {
        parse(s, ty)
            .to_pg_binary(ty)
            .expect("encode")
            .expect("not null")
    };
    assert_eq!(bin("1", &T::Int4), vec![0, 0, 0, 1]);
    assert_eq!(bin("t", &T::Bool), vec![1]);
    assert_eq!(bin("2000-01-02", &T::Date), vec![0, 0, 0, 1]);
    assert_eq!(
        bin("2000-01-01 00:00:01", &T::Timestamp),
        1_000_000i64.to_be_bytes().to_vec()
    );
    // numeric 12345.678: ndigits 3, weight 1, sign +, dscale 3, digits 1 2345 6780.
    assert_eq!(
        bin("12345.678", &T::Numeric(None)),
        vec![0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C]
    );
    // numeric -0.01: ndigits 1, weight -1, sign -, dscale 2, digits 100.
    assert_eq!(
        bin("-0.01", &T::Numeric(None)),
        vec![0, 1, 0xFF, 0xFF, 0x40, 0, 0, 2, 0, 100]
    );
    assert_eq!(bin("{}", &T::Jsonb), vec![1, b'{', b'}']);
    let iv = bin("1 mon 2 days 00:00:03", &T::Interval);
    assert_eq!(
        iv,
        [
            3_000_000i64.to_be_bytes().to_vec(),
            2i32.to_be_bytes().to_vec(),
            1i32.to_be_bytes().to_vec()
        ]
        .concat()
    );
}

#[test]
fn binary_rejects_malformed_input() {
    use DataType as T;
    let bad: &[(&[u8], DataType)] = &[
        (&[0, 1], T::Int4),
        (&[1, 2, 3], T::Int8),
        (&[], T::Bool),
        (&[0, 1, 0, 0, 0, 0, 0], T::Numeric(None)),
        (&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10], T::Numeric(None)),
        (&[0, 0, 0, 0, 0x12, 0x34, 0, 0], T::Numeric(None)),
        (&[0xFF, 0xFF, 0, 0, 0, 0, 0, 0], T::Numeric(None)),
        (&[2, b'{', b'}'], T::Jsonb),
        (&[1, 2, 3], T::Uuid),
        (&[0; 15], T::Interval),
    ];
    for (bytes, ty) in bad {
        assert_eq!(
            err_code(Datum::from_pg_binary(bytes, ty)),
            code::INVALID_BINARY_REPRESENTATION,
            "{bytes:?} as {ty:?}"
        );
    }
    assert_eq!(
        err_code(Datum::from_pg_binary(&[0xff, 0xfe], &T::Text)),
        "22021"
    );
}

#[test]
fn numeric_comparison_equality_and_hash() {
    let one = [Datum::Int(1), Datum::Float(1.0), dec("1"), dec("1.000")];
    for a in &one {
        for b in &one {
            assert_eq!(a, b);
            assert_eq!(hash_of(a), hash_of(b), "{a:?} vs {b:?}");
            assert_eq!(a.sql_cmp(b), Some(std::cmp::Ordering::Equal));
        }
    }
    assert!(Datum::Int(2) > Datum::Float(1.5));
    assert!(dec("1.5") < Datum::Int(2));
    assert!(Datum::Float(f64::NAN) > Datum::Float(f64::INFINITY));
    assert_eq!(Datum::Float(f64::NAN), Datum::Float(f64::NAN));
    assert_eq!(Datum::Float(-0.0), Datum::Float(0.0));
    assert_eq!(hash_of(&Datum::Float(-0.0)), hash_of(&Datum::Int(0)));
    assert!(Datum::Int(i64::MAX) < Datum::Float(9.3e18));
    assert!(Datum::Int(9_007_199_254_740_993) > Datum::Float(9_007_199_254_740_992.0));
    // NULL sorts last, equals NULL, and is unknown to SQL comparison.
    assert!(Datum::Null > Datum::Int(i64::MAX));
    assert_eq!(Datum::Null, Datum::Null);
    assert_eq!(Datum::Null.sql_cmp(&Datum::Null), None);
    assert_eq!(Datum::Int(1).sql_cmp(&Datum::Null), None);
    // Intervals: a month is 30 days.
    let m = parse("1 mon", &DataType::Interval);
    let d = parse("30 days", &DataType::Interval);
    assert_eq!(m, d);
    assert_eq!(hash_of(&m), hash_of(&d));
    // Dates compare with timestamps.
    let date = parse("2024-01-01", &DataType::Date);
    let ts = parse("2024-01-01 00:00:01", &DataType::Timestamp);
    assert_eq!(date.sql_cmp(&ts), Some(std::cmp::Ordering::Less));
    assert_eq!(Datum::Bool(true).truthy().expect("bool"), Some(true));
    assert_eq!(Datum::Null.truthy().expect("null"), None);
    assert_eq!(err_code(Datum::Int(1).truthy()), code::DATATYPE_MISMATCH);
}

#[test]
fn casts() {
    use DataType as T;
    let ok = |d: Datum, from: T, to: T, explicit: bool| -> String {
        let r = cast(d, &from, &to, explicit).unwrap_or_else(|e| panic!("cast to {to:?}: {e:?}"));
        r.to_pg_text(&to).unwrap_or_else(|| "NULL".into())
    };
    assert_eq!(ok(Datum::Float(2.5), T::Float8, T::Int4, true), "2");
    assert_eq!(ok(Datum::Float(3.5), T::Float8, T::Int4, true), "4");
    assert_eq!(ok(Datum::Float(-2.5), T::Float8, T::Int8, true), "-2");
    assert_eq!(ok(dec("2.5"), T::Numeric(None), T::Int4, true), "3");
    assert_eq!(ok(dec("-2.5"), T::Numeric(None), T::Int4, true), "-3");
    assert_eq!(
        ok(Datum::Float(0.1), T::Float8, T::Numeric(None), true),
        "0.1"
    );
    assert_eq!(
        ok(Datum::Float(1e20), T::Float8, T::Numeric(None), true),
        "100000000000000000000"
    );
    assert_eq!(
        ok(
            dec("3.14159"),
            T::Numeric(None),
            T::Numeric(Some((4, 2))),
            false
        ),
        "3.14"
    );
    assert_eq!(
        ok(Datum::Int(5), T::Int4, T::Numeric(Some((5, 2))), false),
        "5.00"
    );
    assert_eq!(ok(Datum::Int(1), T::Int4, T::Bool, true), "t");
    assert_eq!(ok(Datum::Bool(true), T::Bool, T::Int4, true), "1");
    assert_eq!(ok(Datum::Bool(true), T::Bool, T::Text, true), "true");
    assert_eq!(ok(Datum::Int(42), T::Int4, T::Text, false), "42");
    assert_eq!(
        ok(text("abcdef"), T::Text, T::Varchar(Some(3)), true),
        "abc"
    );
    assert_eq!(
        ok(text("abc   "), T::Text, T::Varchar(Some(3)), false),
        "abc"
    );
    assert_eq!(ok(text("ab"), T::Text, T::Char(3), false), "ab ");
    assert_eq!(ok(text("ab "), T::Char(3), T::Text, false), "ab");
    assert_eq!(ok(text("12"), T::Unknown, T::Int4, false), "12");
    assert_eq!(ok(text("{\"a\":1}"), T::Text, T::Jsonb, true), "{\"a\": 1}");
    assert_eq!(
        ok(parse("{\"a\": 1}", &T::Jsonb), T::Jsonb, T::Text, true),
        "{\"a\": 1}"
    );
    assert_eq!(
        ok(
            parse("2024-01-31 10:00", &T::Timestamp),
            T::Timestamp,
            T::Date,
            false
        ),
        "2024-01-31"
    );
    assert_eq!(
        ok(
            parse("2024-01-31", &T::Date),
            T::Date,
            T::TimestampTz,
            false
        ),
        "2024-01-31 00:00:00+00"
    );
    assert_eq!(
        ok(
            parse("2024-01-31 10:00+00", &T::TimestampTz),
            T::TimestampTz,
            T::Timestamp,
            false
        ),
        "2024-01-31 10:00:00"
    );
    assert_eq!(ok(Datum::Float(1.5), T::Float8, T::Text, true), "1.5");
    assert_eq!(ok(Datum::Float(0.1), T::Float8, T::Float4, true), "0.1");
    assert_eq!(ok(parse("42", &T::Jsonb), T::Jsonb, T::Int4, true), "42");
    assert_eq!(ok(Datum::Null, T::Int4, T::Text, false), "NULL");

    let err = |d: Datum, from: T, to: T, explicit: bool| {
        cast(d, &from, &to, explicit).expect_err("cast should fail")
    };
    let e = err(text("abcd"), T::Text, T::Varchar(Some(3)), false);
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            code::STRING_DATA_RIGHT_TRUNCATION,
            "value too long for type character varying(3)"
        )
    );
    let e = err(text("abcd"), T::Text, T::Char(3), false);
    assert_eq!(e.message, "value too long for type character(3)");
    let e = err(Datum::Int(40000), T::Int4, T::Int2, false);
    assert_eq!(
        (e.code, e.message.as_str()),
        (code::NUMERIC_VALUE_OUT_OF_RANGE, "smallint out of range")
    );
    let e = err(Datum::Float(3e9), T::Float8, T::Int4, false);
    assert_eq!(e.message, "integer out of range");
    let e = err(Datum::Float(f64::NAN), T::Float8, T::Int8, false);
    assert_eq!(e.message, "bigint out of range");
    let e = err(Datum::Float(1e300), T::Float8, T::Float4, false);
    assert_eq!(e.message, "value out of range: overflow");
    let e = err(
        dec("123.45"),
        T::Numeric(None),
        T::Numeric(Some((4, 2))),
        false,
    );
    assert_eq!(e.message, "numeric field overflow");
    let e = err(parse("\"x\"", &T::Jsonb), T::Jsonb, T::Int4, true);
    assert_eq!(e.message, "cannot cast jsonb string to type integer");
    let e = err(Datum::Int(1), T::Int4, T::Date, true);
    assert_eq!(
        (e.code, e.message.as_str()),
        (code::CANNOT_COERCE, "cannot cast type integer to date")
    );
}

#[test]
fn can_cast_and_common_type() {
    use DataType as T;
    assert!(can_cast_implicit(&T::Int2, &T::Int8));
    assert!(can_cast_implicit(&T::Int8, &T::Numeric(None)));
    assert!(!can_cast_implicit(&T::Float8, &T::Int4));
    assert!(can_cast(&T::Float8, &T::Int4, false));
    assert!(can_cast(&T::Int4, &T::Text, false));
    assert!(!can_cast(&T::Text, &T::Int4, false));
    assert!(can_cast(&T::Text, &T::Int4, true));
    assert!(can_cast(&T::Unknown, &T::Date, false));
    assert!(!can_cast(&T::Int8, &T::Bool, true));
    assert!(can_cast(&T::Int4, &T::Bool, true));
    assert!(!can_cast(&T::Date, &T::Int4, true));
    let ct = |a: T, b: T| common_type(&a, &b).expect("common type");
    assert_eq!(ct(T::Int2, T::Int4), T::Int4);
    assert_eq!(
        ct(T::Int8, T::Numeric(Some((5, 2)))),
        T::Numeric(Some((5, 2)))
    );
    assert_eq!(
        ct(T::Numeric(Some((5, 2))), T::Numeric(Some((6, 2)))),
        T::Numeric(None)
    );
    assert_eq!(ct(T::Numeric(None), T::Float4), T::Float4);
    assert_eq!(ct(T::Float4, T::Float8), T::Float8);
    assert_eq!(ct(T::Unknown, T::Date), T::Date);
    assert_eq!(ct(T::Unknown, T::Unknown), T::Unknown);
    assert_eq!(ct(T::Varchar(Some(3)), T::Text), T::Text);
    assert_eq!(ct(T::Date, T::Timestamp), T::Timestamp);
    assert_eq!(ct(T::Timestamp, T::TimestampTz), T::TimestampTz);
    let e = common_type(&T::Text, &T::Int4).expect_err("no common type");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            code::DATATYPE_MISMATCH,
            "types text and integer cannot be matched"
        )
    );
}

#[test]
fn datatype_metadata() {
    use DataType as T;
    for t in [
        T::Bool,
        T::Int2,
        T::Int4,
        T::Int8,
        T::Float4,
        T::Float8,
        T::Numeric(None),
        T::Text,
        T::Varchar(None),
        T::Bytea,
        T::Date,
        T::Timestamp,
        T::TimestampTz,
        T::Interval,
        T::Uuid,
        T::Jsonb,
        T::Unknown,
    ] {
        assert_eq!(T::from_oid(t.oid()), Some(t.clone()), "{t:?}");
    }
    assert_eq!(T::Varchar(Some(10)).pg_name(), "character varying(10)");
    assert_eq!(T::Numeric(Some((10, 2))).pg_name(), "numeric(10,2)");
    assert_eq!(T::Timestamp.pg_name(), "timestamp without time zone");
    assert_eq!(T::Char(1).pg_name(), "character(1)");
    assert_eq!(T::Int8.sql_name(), "INT8");
    assert_eq!(T::Varchar(Some(10)).sql_name(), "VARCHAR(10)");
    assert_eq!(T::Numeric(Some((10, 2))).typmod(), (10 << 16 | 2) + 4);
}

#[test]
fn from_sql_maps_postgres_names() {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;
    use DataType as T;
    let parse_ty = |s: &str| -> crate::Result<T> {
        let sql = format!("CREATE TABLE t (c {s})");
        let stmts =
            Parser::parse_sql(&PostgreSqlDialect {}, &sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        match &stmts[0] {
            sqlparser::ast::Statement::CreateTable(ct) => T::from_sql(&ct.columns[0].data_type),
            other => panic!("unexpected {other:?}"),
        }
    };
    let cases: &[(&str, T)] = &[
        ("SMALLINT", T::Int2),
        ("INT2", T::Int2),
        ("INT", T::Int4),
        ("INTEGER", T::Int4),
        ("INT4", T::Int4),
        ("BIGINT", T::Int8),
        ("INT8", T::Int8),
        ("SERIAL", T::Int4),
        ("BIGSERIAL", T::Int8),
        ("REAL", T::Float4),
        ("FLOAT4", T::Float4),
        ("DOUBLE PRECISION", T::Float8),
        ("FLOAT8", T::Float8),
        ("FLOAT", T::Float8),
        ("FLOAT(10)", T::Float4),
        ("NUMERIC", T::Numeric(None)),
        ("DECIMAL(10,2)", T::Numeric(Some((10, 2)))),
        ("NUMERIC(5)", T::Numeric(Some((5, 0)))),
        ("BOOL", T::Bool),
        ("BOOLEAN", T::Bool),
        ("TEXT", T::Text),
        ("STRING", T::Text),
        ("VARCHAR(20)", T::Varchar(Some(20))),
        ("VARCHAR", T::Varchar(None)),
        ("CHARACTER VARYING(5)", T::Varchar(Some(5))),
        ("CHAR(3)", T::Char(3)),
        ("CHAR", T::Char(1)),
        ("CHARACTER(2)", T::Char(2)),
        ("BYTEA", T::Bytea),
        ("BYTES", T::Bytea),
        ("DATE", T::Date),
        ("TIMESTAMP", T::Timestamp),
        ("TIMESTAMP WITHOUT TIME ZONE", T::Timestamp),
        ("TIMESTAMPTZ", T::TimestampTz),
        ("TIMESTAMP WITH TIME ZONE", T::TimestampTz),
        ("INTERVAL", T::Interval),
        ("UUID", T::Uuid),
        ("JSON", T::Jsonb),
        ("JSONB", T::Jsonb),
    ];
    for (sql, want) in cases {
        assert_eq!(
            parse_ty(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}")),
            *want,
            "{sql}"
        );
    }
    let e = parse_ty("foo").expect_err("unknown type");
    assert_eq!(
        (e.code, e.message.as_str()),
        (code::UNDEFINED_OBJECT, "type \"foo\" does not exist")
    );
    assert_eq!(
        parse_ty("TIME").expect_err("time").code,
        code::FEATURE_NOT_SUPPORTED
    );
    assert_eq!(
        parse_ty("NUMERIC(3,5)").expect_err("scale").code,
        code::INVALID_PARAMETER_VALUE
    );
    assert_eq!(
        parse_ty("VARCHAR(0)").expect_err("len").code,
        code::INVALID_PARAMETER_VALUE
    );
}

#[test]
fn robustness() {
    use DataType as T;
    // Huge exponents are a syntax error, not an allocation.
    assert_eq!(
        err_code(Datum::from_pg_text("1e-99999999999", &T::Numeric(None))),
        code::INVALID_TEXT_REPRESENTATION
    );
    assert_eq!(
        err_code(Datum::from_pg_text("1e5000", &T::Numeric(None))),
        code::INVALID_TEXT_REPRESENTATION
    );
    assert_eq!(
        err_code(Datum::from_pg_text("1e100", &T::Numeric(None))),
        code::NUMERIC_VALUE_OUT_OF_RANGE
    );
    // An integer datum sent as float8 is encoded as a float8.
    let b = Datum::Int(2)
        .to_pg_binary(&T::Float8)
        .expect("encode")
        .expect("not null");
    assert_eq!(b, 2.0f64.to_be_bytes().to_vec());
    let b = Datum::Int(2)
        .to_pg_binary(&T::Numeric(None))
        .expect("encode")
        .expect("not null");
    assert_eq!(
        Datum::from_pg_binary(&b, &T::Numeric(None)).expect("decode"),
        Datum::Int(2)
    );
    // Arbitrary bytes never panic the decoders.
    let types = [
        T::Bool,
        T::Int2,
        T::Int4,
        T::Int8,
        T::Float4,
        T::Float8,
        T::Numeric(None),
        T::Text,
        T::Bytea,
        T::Date,
        T::Timestamp,
        T::TimestampTz,
        T::Interval,
        T::Uuid,
        T::Jsonb,
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in 0..40usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        for t in &types {
            let _ = Datum::from_pg_binary(&bytes, t);
            let _ = Datum::from_pg_text(&String::from_utf8_lossy(&bytes), t);
        }
    }
}
