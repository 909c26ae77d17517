//! Table tests for sql::func: results as PostgreSQL 15 prints them, and its errors.

use super::*;
use crate::error::code;
use chrono::TimeZone;
use DataType as T;

/// (function, arguments, expected output).
type Case<'a> = (&'a str, Vec<(&'a str, T)>, &'a str);

fn ctx() -> FuncContext {
    FuncContext {
        txn_time: chrono::Utc
            .with_ymd_and_hms(2024, 3, 15, 10, 30, 0)
            .single()
            .expect("valid time"),
        database: "defaultdb".into(),
        user: "root".into(),
        regions: Default::default(),
    }
}

/// Calls `name` with arguments given as (text literal or "NULL", type); returns its text output.
fn call(name: &str, args: &[(&str, T)]) -> crate::Result<String> {
    let types: Vec<T> = args.iter().map(|(_, t)| t.clone()).collect();
    let vals = args
        .iter()
        .map(|(s, t)| {
            if *s == "NULL" {
                Ok(Datum::Null)
            } else {
                Datum::from_pg_text(s, t)
            }
        })
        .collect::<crate::Result<Vec<_>>>()?;
    let ret = resolve_function(name, &types)?;
    let v = eval_function(name, &vals, &types, &ctx())?;
    Ok(v.to_pg_text(&ret).unwrap_or_else(|| "NULL".into()))
}

fn ok(name: &str, args: &[(&str, T)]) -> String {
    call(name, args).unwrap_or_else(|e| panic!("{name}({args:?}): {e:?}"))
}

fn err(name: &str, args: &[(&str, T)]) -> (&'static str, String) {
    match call(name, args) {
        Ok(v) => panic!("{name}({args:?}) should fail, got {v}"),
        Err(e) => (e.code, e.message),
    }
}

fn s(v: &str) -> (&str, T) {
    (v, T::Text)
}

fn i(v: &str) -> (&str, T) {
    (v, T::Int4)
}

fn f(v: &str) -> (&str, T) {
    (v, T::Float8)
}

fn n(v: &str) -> (&str, T) {
    (v, T::Numeric(None))
}

fn ts(v: &str) -> (&str, T) {
    (v, T::Timestamp)
}

fn tz(v: &str) -> (&str, T) {
    (v, T::TimestampTz)
}

fn iv(v: &str) -> (&str, T) {
    (v, T::Interval)
}

fn j(v: &str) -> (&str, T) {
    (v, T::Jsonb)
}

#[test]
fn string_functions() {
    let cases: Vec<Case> = vec![
        ("length", vec![s("héllo")], "5"),
        ("char_length", vec![s("abc")], "3"),
        ("octet_length", vec![s("héllo")], "6"),
        ("length", vec![("ab  ", T::Char(4))], "2"),
        ("length", vec![("\\x0102", T::Bytea)], "2"),
        ("lower", vec![s("ÀBC")], "àbc"),
        ("upper", vec![s("abc")], "ABC"),
        ("substr", vec![s("hello"), i("2")], "ello"),
        ("substr", vec![s("hello"), i("2"), i("3")], "ell"),
        ("substring", vec![s("hello"), i("0"), i("3")], "he"),
        ("substr", vec![s("hello"), i("10")], ""),
        ("trim", vec![s("  x  ")], "x"),
        ("btrim", vec![s("xxaxx"), s("x")], "a"),
        ("ltrim", vec![s("  x ")], "x "),
        ("rtrim", vec![s("x  ")], "x"),
        ("rtrim", vec![s("abcxyx"), s("xy")], "abc"),
        ("replace", vec![s("abcabc"), s("b"), s("X")], "aXcaXc"),
        (
            "concat",
            vec![s("a"), ("NULL", T::Text), i("1"), ("t", T::Bool)],
            "a1t",
        ),
        (
            "concat_ws",
            vec![s(","), s("a"), ("NULL", T::Text), s("b")],
            "a,b",
        ),
        ("concat_ws", vec![("NULL", T::Text), s("a")], "NULL"),
        ("left", vec![s("hello"), i("2")], "he"),
        ("left", vec![s("hello"), i("-2")], "hel"),
        ("right", vec![s("hello"), i("2")], "lo"),
        ("right", vec![s("hello"), i("-2")], "llo"),
        ("strpos", vec![s("héllo"), s("llo")], "3"),
        ("strpos", vec![s("hello"), s("z")], "0"),
        ("position", vec![s("llo"), s("hello")], "3"),
        ("lpad", vec![s("hi"), i("5")], "   hi"),
        ("lpad", vec![s("hi"), i("5"), s("xy")], "xyxhi"),
        ("lpad", vec![s("hello"), i("2")], "he"),
        ("rpad", vec![s("hi"), i("5"), s("*")], "hi***"),
        ("repeat", vec![s("ab"), i("3")], "ababab"),
        ("repeat", vec![s("ab"), i("-1")], ""),
        ("reverse", vec![s("abc")], "cba"),
        ("split_part", vec![s("a,b,c"), s(","), i("2")], "b"),
        ("split_part", vec![s("a,b,c"), s(","), i("-1")], "c"),
        ("split_part", vec![s("a,b,c"), s(","), i("5")], ""),
        ("initcap", vec![s("hello wORLD-foo")], "Hello World-Foo"),
        ("md5", vec![s("abc")], "900150983cd24fb0d6963f7d28e17f72"),
        ("ascii", vec![s("A")], "65"),
        ("chr", vec![i("65")], "A"),
        ("starts_with", vec![s("hello"), s("he")], "t"),
        ("to_hex", vec![i("255")], "ff"),
        ("to_hex", vec![i("-1")], "ffffffff"),
        ("to_hex", vec![("-1", T::Int8)], "ffffffffffffffff"),
        ("upper", vec![("NULL", T::Text)], "NULL"),
        ("length", vec![("abc", T::Unknown)], "3"),
        ("quote_ident", vec![s("Foo")], "\"Foo\""),
        ("translate", vec![s("12345"), s("143"), s("ax")], "a2x5"),
    ];
    for (name, args, want) in cases {
        assert_eq!(ok(name, &args), want, "{name}({args:?})");
    }
    assert_eq!(
        err("substr", &[s("x"), i("1"), i("-1")]),
        ("22011", "negative substring length not allowed".into())
    );
    assert_eq!(
        err("split_part", &[s("x"), s(","), i("0")]).0,
        code::INVALID_PARAMETER_VALUE
    );
    assert_eq!(err("chr", &[i("0")]).1, "null character not permitted");
}

#[test]
fn math_functions() {
    let cases: Vec<Case> = vec![
        ("abs", vec![i("-5")], "5"),
        ("abs", vec![n("-1.50")], "1.50"),
        ("abs", vec![f("-2.5")], "2.5"),
        ("ceil", vec![n("1.2")], "2"),
        ("ceil", vec![f("-1.5")], "-1"),
        ("ceiling", vec![i("3")], "3"),
        ("floor", vec![n("-1.2")], "-2"),
        ("round", vec![n("2.5")], "3"),
        ("round", vec![n("-2.5")], "-3"),
        ("round", vec![f("2.5")], "2"),
        ("round", vec![f("3.5")], "4"),
        ("round", vec![n("3.14159"), i("2")], "3.14"),
        ("round", vec![n("1234.5"), i("-2")], "1200"),
        ("round", vec![i("5"), i("2")], "5.00"),
        ("trunc", vec![n("-3.789"), i("1")], "-3.7"),
        ("trunc", vec![f("3.9")], "3"),
        ("sqrt", vec![f("16")], "4"),
        ("sqrt", vec![i("2")], "1.4142135623730951"),
        ("sqrt", vec![n("2")], "1.414213562373095"),
        ("exp", vec![n("1")], "2.7182818284590452"),
        ("ln", vec![n("2")], "0.69314718055994531"),
        ("cbrt", vec![f("27")], "3"),
        ("power", vec![i("2"), i("10")], "1024"),
        ("pow", vec![f("2"), f("-1")], "0.5"),
        ("exp", vec![f("0")], "1"),
        ("ln", vec![f("1")], "0"),
        ("log", vec![f("100")], "2"),
        ("log10", vec![f("1000")], "3"),
        ("log", vec![n("2"), n("8")], "3.0000000000000000"),
        ("mod", vec![i("10"), i("3")], "1"),
        ("mod", vec![i("-10"), i("3")], "-1"),
        ("mod", vec![n("10.5"), n("3")], "1.5"),
        ("sign", vec![f("-3")], "-1"),
        ("sign", vec![n("0.5")], "1"),
        ("pi", vec![], "3.141592653589793"),
        ("degrees", vec![f("3.141592653589793")], "180"),
        ("radians", vec![f("180")], "3.141592653589793"),
        ("sin", vec![f("0")], "0"),
        ("cos", vec![f("0")], "1"),
        ("atan2", vec![f("1"), f("1")], "0.7853981633974483"),
        (
            "greatest",
            vec![i("1"), i("3"), ("NULL", T::Int4), i("2")],
            "3",
        ),
        ("least", vec![i("4"), n("2.5")], "2.5"),
        (
            "greatest",
            vec![("NULL", T::Int4), ("NULL", T::Int4)],
            "NULL",
        ),
        ("greatest", vec![s("apple"), s("banana")], "banana"),
        ("gcd", vec![i("12"), i("18")], "6"),
    ];
    for (name, args, want) in cases {
        assert_eq!(ok(name, &args), want, "{name}({args:?})");
    }
    assert_eq!(
        err("sqrt", &[f("-1")]),
        (
            "2201F",
            "cannot take square root of a negative number".into()
        )
    );
    assert_eq!(err("sqrt", &[n("-1")]).0, "2201F");
    assert_eq!(
        err("ln", &[f("0")]),
        ("2201E", "cannot take logarithm of zero".into())
    );
    assert_eq!(
        err("ln", &[f("-1")]),
        ("2201E", "cannot take logarithm of a negative number".into())
    );
    assert_eq!(
        err("mod", &[i("1"), i("0")]),
        (code::DIVISION_BY_ZERO, "division by zero".into())
    );
    assert_eq!(
        err("abs", &[("-2147483648", T::Int4)]).1,
        "integer out of range"
    );
    assert_eq!(err("exp", &[f("1000")]).1, "value out of range: overflow");
    assert_eq!(err("asin", &[f("2")]).1, "input is out of range");
    let r = ok("random", &[]).parse::<f64>().expect("float");
    assert!((0.0..1.0).contains(&r));
    assert_eq!(
        resolve_function("round", &[T::Int4]).expect("round"),
        T::Float8
    );
    assert_eq!(resolve_function("abs", &[T::Int2]).expect("abs"), T::Int2);
    let e = resolve_function("round", &[T::Float8, T::Int4]).expect_err("round(float8, int)");
    assert_eq!(
        e.message,
        "function round(double precision, integer) does not exist"
    );
}

#[test]
fn time_functions() {
    let cases: Vec<Case> = vec![
        ("now", vec![], "2024-03-15 10:30:00+00"),
        ("current_timestamp", vec![], "2024-03-15 10:30:00+00"),
        ("current_date", vec![], "2024-03-15"),
        ("localtimestamp", vec![], "2024-03-15 10:30:00"),
        (
            "date_trunc",
            vec![s("hour"), ts("2024-03-15 10:45:12.5")],
            "2024-03-15 10:00:00",
        ),
        (
            "date_trunc",
            vec![s("month"), ts("2024-03-15 10:45:12")],
            "2024-03-01 00:00:00",
        ),
        (
            "date_trunc",
            vec![s("week"), ts("2024-03-15 10:45:12")],
            "2024-03-11 00:00:00",
        ),
        (
            "date_trunc",
            vec![s("quarter"), ts("2024-05-15")],
            "2024-04-01 00:00:00",
        ),
        (
            "date_trunc",
            vec![s("year"), tz("2024-05-15 10:00+00")],
            "2024-01-01 00:00:00+00",
        ),
        (
            "date_trunc",
            vec![s("century"), ts("2024-05-15")],
            "2001-01-01 00:00:00",
        ),
        (
            "date_trunc",
            vec![s("day"), ("2024-05-15", T::Date)],
            "2024-05-15 00:00:00+00",
        ),
        (
            "date_trunc",
            vec![s("hour"), iv("1 day 02:30:00")],
            "1 day 02:00:00",
        ),
        (
            "date_part",
            vec![s("year"), ts("2024-03-15 10:45:12.5")],
            "2024",
        ),
        (
            "date_part",
            vec![s("second"), ts("2024-03-15 10:45:12.5")],
            "12.5",
        ),
        ("date_part", vec![s("dow"), ts("2024-03-17")], "0"),
        ("date_part", vec![s("isodow"), ts("2024-03-17")], "7"),
        ("date_part", vec![s("doy"), ts("2024-02-01")], "32"),
        ("date_part", vec![s("quarter"), ts("2024-11-01")], "4"),
        ("date_part", vec![s("week"), ts("2024-01-01")], "1"),
        ("date_part", vec![s("epoch"), ts("1970-01-02")], "86400"),
        ("date_part", vec![s("epoch"), iv("1 day 1 second")], "86401"),
        ("date_part", vec![s("hour"), iv("1 day 26:00:00")], "26"),
        ("date_part", vec![s("month"), ("2024-07-04", T::Date)], "7"),
        (
            "extract",
            vec![s("second"), ts("2024-03-15 10:45:12.5")],
            "12.500000",
        ),
        (
            "extract",
            vec![s("epoch"), ts("2024-01-01")],
            "1704067200.000000",
        ),
        ("extract", vec![s("year"), ts("2024-01-01")], "2024"),
        (
            "extract",
            vec![s("millisecond"), ts("2024-01-01 00:00:01.5")],
            "1500.000",
        ),
        (
            "extract",
            vec![s("epoch"), ("2024-01-01", T::Date)],
            "1704067200",
        ),
        (
            "age",
            vec![ts("2024-03-15"), ts("2023-01-20")],
            "1 year 1 mon 26 days",
        ),
        (
            "age",
            vec![ts("2023-01-20"), ts("2024-03-15")],
            "-1 years -1 mons -26 days",
        ),
        (
            "age",
            vec![ts("2024-03-15 12:00"), ts("2024-03-14 13:00")],
            "23:00:00",
        ),
        ("make_date", vec![i("2024"), i("2"), i("29")], "2024-02-29"),
        (
            "make_date",
            vec![i("-44"), i("3"), i("15")],
            "0044-03-15 BC",
        ),
        (
            "make_timestamp",
            vec![i("2024"), i("2"), i("29"), i("1"), i("2"), f("3.5")],
            "2024-02-29 01:02:03.5",
        ),
        ("to_timestamp", vec![f("0")], "1970-01-01 00:00:00+00"),
        (
            "to_timestamp",
            vec![f("1704067200.25")],
            "2024-01-01 00:00:00.25+00",
        ),
        ("justify_hours", vec![iv("27 hours")], "1 day 03:00:00"),
        ("justify_days", vec![iv("35 days")], "1 mon 5 days"),
    ];
    for (name, args, want) in cases {
        assert_eq!(ok(name, &args), want, "{name}({args:?})");
    }
    assert_eq!(
        err("date_trunc", &[s("fortnight"), ts("2024-01-01")]),
        (
            code::INVALID_PARAMETER_VALUE,
            "unit \"fortnight\" not recognized for type timestamp without time zone".into()
        )
    );
    assert_eq!(
        err("make_date", &[i("2023"), i("2"), i("29")]).1,
        "date field value out of range: 2023-02-29"
    );
    assert_eq!(
        err("to_timestamp", &[f("NaN")]).1,
        "timestamp cannot be NaN"
    );
}

#[test]
fn misc_functions() {
    let cases: Vec<Case> = vec![
        ("current_database", vec![], "defaultdb"),
        ("current_user", vec![], "root"),
        ("session_user", vec![], "root"),
        ("current_schema", vec![], "public"),
        ("jsonb_typeof", vec![j("{\"a\": 1}")], "object"),
        ("jsonb_typeof", vec![j("[1]")], "array"),
        ("jsonb_typeof", vec![j("null")], "null"),
        ("jsonb_array_length", vec![j("[1, 2, 3]")], "3"),
        ("to_jsonb", vec![s("x\"y")], "\"x\\\"y\""),
        ("to_jsonb", vec![i("5")], "5"),
        ("to_jsonb", vec![("t", T::Bool)], "true"),
        (
            "to_jsonb",
            vec![("2024-01-01 10:00", T::Timestamp)],
            "\"2024-01-01T10:00:00\"",
        ),
        (
            "jsonb_build_object",
            vec![s("b"), i("1"), s("a"), ("NULL", T::Int4)],
            "{\"a\": null, \"b\": 1}",
        ),
        (
            "jsonb_build_array",
            vec![i("1"), s("x"), ("NULL", T::Text)],
            "[1, \"x\", null]",
        ),
        ("pg_typeof", vec![("1", T::Int8)], "bigint"),
    ];
    for (name, args, want) in cases {
        assert_eq!(ok(name, &args), want, "{name}({args:?})");
    }
    assert!(ok("version", &[]).starts_with("PostgreSQL 15.0 (Meridian "));
    let u = ok("gen_random_uuid", &[]);
    assert_eq!((u.len(), &u[14..15]), (36, "4"));
    assert_eq!(
        err("jsonb_array_length", &[j("{}")]).1,
        "cannot get array length of a non-array"
    );
    assert_eq!(
        err("jsonb_build_object", &[s("a")]).1,
        "argument list must have even number of elements"
    );
    assert_eq!(
        err("jsonb_build_object", &[("NULL", T::Text), i("1")]).0,
        code::NULL_VALUE_NOT_ALLOWED
    );
}

#[test]
fn unknown_functions() {
    let e = resolve_function("foo", &[T::Int4, T::Text]).expect_err("foo");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            code::UNDEFINED_FUNCTION,
            "function foo(integer, text) does not exist"
        )
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("No function matches the given name and argument types. You might need to add explicit type casts.")
    );
    let e = resolve_function("length", &[T::Int4]).expect_err("length(int)");
    assert_eq!(e.message, "function length(integer) does not exist");
    assert!(is_function("LOWER"));
    assert!(!is_function("coalesce"));
}
