//! Table tests for operators: result types, values as PostgreSQL 15 prints them, and errors.

use super::*;
use crate::error::code;
use DataType as T;

/// Evaluates `l op r` from text literals of the given types and returns (type, text output).
fn run(op: BinaryOp, l: &str, lt: T, r: &str, rt: T) -> crate::Result<(T, Option<String>)> {
    let lv = if l == "NULL" {
        Datum::Null
    } else {
        Datum::from_pg_text(l, &lt)?
    };
    let rv = if r == "NULL" {
        Datum::Null
    } else {
        Datum::from_pg_text(r, &rt)?
    };
    let out = binary_op_type(op, &lt, &rt)?;
    let v = eval_binary(op, &lv, &lt, &rv, &rt, &out)?;
    Ok((out.clone(), v.to_pg_text(&out)))
}

fn ok(op: BinaryOp, l: &str, lt: T, r: &str, rt: T) -> String {
    match run(op, l, lt.clone(), r, rt.clone()) {
        Ok((_, v)) => v.unwrap_or_else(|| "NULL".into()),
        Err(e) => panic!("{l} {op:?} {r} ({lt:?}, {rt:?}): {e:?}"),
    }
}

fn err(op: BinaryOp, l: &str, lt: T, r: &str, rt: T) -> (&'static str, String) {
    match run(op, l, lt, r, rt) {
        Ok(v) => panic!("expected error, got {v:?}"),
        Err(e) => (e.code, e.message),
    }
}

#[test]
fn arithmetic_values() {
    use BinaryOp::*;
    let n = || T::Numeric(None);
    let cases: Vec<(BinaryOp, &str, T, &str, T, &str)> = vec![
        (Plus, "1", T::Int4, "2", T::Int4, "3"),
        (Divide, "7", T::Int4, "2", T::Int4, "3"),
        (Divide, "-7", T::Int4, "2", T::Int4, "-3"),
        (Modulo, "-7", T::Int4, "3", T::Int4, "-1"),
        (Plus, "1", T::Int4, "1.5", n(), "2.5"),
        (Multiply, "1.50", n(), "2.0", n(), "3.000"),
        (Divide, "1", n(), "3", n(), "0.33333333333333333333"),
        (Divide, "10", n(), "4", n(), "2.5000000000000000"),
        (Divide, "1", T::Int4, "3.0", n(), "0.33333333333333333333"),
        (Modulo, "10.5", n(), "3", n(), "1.5"),
        (
            Plus,
            "0.1",
            T::Float8,
            "0.2",
            T::Float8,
            "0.30000000000000004",
        ),
        (Divide, "1", T::Float8, "3", T::Float8, "0.3333333333333333"),
        (Plus, "1.5", T::Float4, "1", T::Float4, "2.5"),
        (Multiply, "2", T::Int4, "1.5", T::Float8, "3"),
        (Pow, "2", T::Int4, "10", T::Int4, "1024"),
        (Pow, "2", n(), "3", n(), "8.0000000000000000"),
        (Pow, "2", T::Float8, "0.5", T::Float8, "1.4142135623730951"),
        (BitAnd, "12", T::Int4, "10", T::Int4, "8"),
        (BitOr, "12", T::Int4, "10", T::Int4, "14"),
        (BitXor, "12", T::Int4, "10", T::Int4, "6"),
        (ShiftLeft, "1", T::Int4, "4", T::Int4, "16"),
        (ShiftRight, "-16", T::Int8, "2", T::Int4, "-4"),
        (Plus, "2024-01-31", T::Date, "1", T::Int4, "2024-02-01"),
        (Minus, "2024-03-01", T::Date, "2024-02-01", T::Date, "29"),
        (
            Plus,
            "2024-01-31",
            T::Date,
            "1 mon",
            T::Interval,
            "2024-02-29 00:00:00",
        ),
        (
            Plus,
            "2024-01-31 10:00",
            T::Timestamp,
            "1 day 02:00",
            T::Interval,
            "2024-02-01 12:00:00",
        ),
        (
            Minus,
            "2024-03-31 10:00+00",
            T::TimestampTz,
            "1 mon",
            T::Interval,
            "2024-02-29 10:00:00+00",
        ),
        (
            Minus,
            "2024-01-02 01:00",
            T::Timestamp,
            "2024-01-01",
            T::Timestamp,
            "1 day 01:00:00",
        ),
        (
            Minus,
            "2024-01-01",
            T::Timestamp,
            "2024-01-02 01:00",
            T::Timestamp,
            "-1 days -01:00:00",
        ),
        (
            Plus,
            "1 day",
            T::Interval,
            "2 hours",
            T::Interval,
            "1 day 02:00:00",
        ),
        (
            Minus,
            "1 day",
            T::Interval,
            "2 days",
            T::Interval,
            "-1 days",
        ),
        (
            Multiply,
            "1 day 01:00:00",
            T::Interval,
            "2",
            T::Int4,
            "2 days 02:00:00",
        ),
        (
            Multiply,
            "1 mon",
            T::Interval,
            "1.5",
            T::Float8,
            "1 mon 15 days",
        ),
        (Divide, "1 day", T::Interval, "2", T::Int4, "12:00:00"),
        (Divide, "3 mons", T::Interval, "2", T::Int4, "1 mon 15 days"),
        (Concat, "abc", T::Text, "def", T::Text, "abcdef"),
        (Concat, "n=", T::Text, "42", T::Int4, "n=42"),
        (Concat, "1.50", n(), "x", T::Varchar(None), "1.50x"),
        (Concat, "ab ", T::Char(3), "c", T::Text, "abc"),
        (Concat, "x", T::Text, "true", T::Bool, "xtrue"),
        (Concat, "abc", T::Text, "NULL", T::Text, "NULL"),
        (Concat, "\\x01", T::Bytea, "\\x02", T::Bytea, "\\x0102"),
        (
            Concat,
            "{\"a\":1}",
            T::Jsonb,
            "{\"b\":2}",
            T::Jsonb,
            "{\"a\": 1, \"b\": 2}",
        ),
        (Concat, "[1]", T::Jsonb, "[2]", T::Jsonb, "[1, 2]"),
        (
            JsonGet,
            "{\"a\": {\"b\": 1}}",
            T::Jsonb,
            "a",
            T::Text,
            "{\"b\": 1}",
        ),
        (JsonGetText, "{\"a\": \"x\"}", T::Jsonb, "a", T::Text, "x"),
        (JsonGetText, "{\"a\": null}", T::Jsonb, "a", T::Text, "NULL"),
        (JsonGet, "[1, 2, 3]", T::Jsonb, "-1", T::Int4, "3"),
        (JsonGet, "[1, 2, 3]", T::Jsonb, "5", T::Int4, "NULL"),
        (
            JsonGetText,
            "{\"a\": [1, 2]}",
            T::Jsonb,
            "a",
            T::Text,
            "[1, 2]",
        ),
        (Plus, "NULL", T::Int4, "1", T::Int4, "NULL"),
    ];
    for (op, l, lt, r, rt, want) in cases {
        assert_eq!(
            ok(op, l, lt.clone(), r, rt.clone()),
            want,
            "{l} {op:?} {r} ({lt:?}, {rt:?})"
        );
    }
}

#[test]
fn result_types() {
    use BinaryOp::*;
    let ty =
        |op, l: T, r: T| binary_op_type(op, &l, &r).unwrap_or_else(|e| panic!("{op:?}: {e:?}"));
    assert_eq!(ty(Plus, T::Int2, T::Int2), T::Int2);
    assert_eq!(ty(Plus, T::Int2, T::Int4), T::Int4);
    assert_eq!(ty(Plus, T::Int4, T::Int8), T::Int8);
    assert_eq!(
        ty(Plus, T::Int4, T::Numeric(Some((5, 2)))),
        T::Numeric(None)
    );
    assert_eq!(ty(Plus, T::Numeric(None), T::Float4), T::Float8);
    assert_eq!(ty(Plus, T::Float4, T::Float4), T::Float4);
    assert_eq!(ty(Plus, T::Unknown, T::Int4), T::Int4);
    assert_eq!(ty(Plus, T::TimestampTz, T::Unknown), T::TimestampTz);
    assert_eq!(ty(Minus, T::TimestampTz, T::Unknown), T::Interval);
    assert_eq!(ty(Minus, T::Date, T::Date), T::Int4);
    assert_eq!(ty(Plus, T::Date, T::Interval), T::Timestamp);
    assert_eq!(ty(Eq, T::Int4, T::Float8), T::Bool);
    assert_eq!(ty(Eq, T::Varchar(Some(3)), T::Text), T::Bool);
    assert_eq!(ty(Eq, T::Unknown, T::Unknown), T::Bool);
    assert_eq!(ty(Concat, T::Unknown, T::Unknown), T::Text);
    assert_eq!(ty(Concat, T::Int4, T::Text), T::Text);
    assert_eq!(ty(Pow, T::Int4, T::Int4), T::Float8);
    assert_eq!(ty(Pow, T::Int4, T::Numeric(None)), T::Numeric(None));
    assert_eq!(ty(JsonGetText, T::Jsonb, T::Unknown), T::Text);
    assert_eq!(ty(ShiftLeft, T::Int8, T::Int4), T::Int8);
    assert_eq!(
        unary_op_type(UnaryOp::Minus, &T::Int2).expect("neg"),
        T::Int2
    );
    assert_eq!(
        unary_op_type(UnaryOp::Not, &T::Unknown).expect("not"),
        T::Bool
    );
}

#[test]
fn operator_errors() {
    use BinaryOp::*;
    let e = binary_op_type(Plus, &T::Text, &T::Int4).expect_err("text + int");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            code::UNDEFINED_FUNCTION,
            "operator does not exist: text + integer"
        )
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("No operator matches the given name and argument types. You might need to add explicit type casts.")
    );
    let e = binary_op_type(Eq, &T::Int4, &T::Text).expect_err("int = text");
    assert_eq!(e.message, "operator does not exist: integer = text");
    let e = binary_op_type(Modulo, &T::Float8, &T::Int4).expect_err("float % int");
    assert_eq!(
        e.message,
        "operator does not exist: double precision % integer"
    );
    let e = binary_op_type(Concat, &T::Int4, &T::Int4).expect_err("int || int");
    assert_eq!(e.message, "operator does not exist: integer || integer");
    let e = binary_op_type(And, &T::Int4, &T::Bool).expect_err("int AND bool");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            code::DATATYPE_MISMATCH,
            "argument of AND must be type boolean, not type integer"
        )
    );
    let e = unary_op_type(UnaryOp::Minus, &T::Text).expect_err("-text");
    assert_eq!(e.message, "operator does not exist: - text");

    let n = || T::Numeric(None);
    let cases: Vec<(BinaryOp, &str, T, &str, T, &str, &str)> = vec![
        (
            Plus,
            "2147483647",
            T::Int4,
            "1",
            T::Int4,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "integer out of range",
        ),
        (
            Multiply,
            "32767",
            T::Int2,
            "2",
            T::Int2,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "smallint out of range",
        ),
        (
            Minus,
            "-9223372036854775808",
            T::Int8,
            "1",
            T::Int8,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "bigint out of range",
        ),
        (
            Divide,
            "-2147483648",
            T::Int4,
            "-1",
            T::Int4,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "integer out of range",
        ),
        (
            Divide,
            "1",
            T::Int4,
            "0",
            T::Int4,
            code::DIVISION_BY_ZERO,
            "division by zero",
        ),
        (
            Modulo,
            "1",
            T::Int8,
            "0",
            T::Int8,
            code::DIVISION_BY_ZERO,
            "division by zero",
        ),
        (
            Divide,
            "1",
            n(),
            "0",
            n(),
            code::DIVISION_BY_ZERO,
            "division by zero",
        ),
        (
            Divide,
            "1",
            T::Float8,
            "0",
            T::Float8,
            code::DIVISION_BY_ZERO,
            "division by zero",
        ),
        (
            Multiply,
            "1e300",
            T::Float8,
            "1e300",
            T::Float8,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: overflow",
        ),
        (
            Multiply,
            "1e30",
            T::Float4,
            "1e30",
            T::Float4,
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: overflow",
        ),
        (
            Pow,
            "0",
            T::Float8,
            "-1",
            T::Float8,
            "2201F",
            "zero raised to a negative power is undefined",
        ),
        (
            Pow,
            "-8",
            T::Float8,
            "0.5",
            T::Float8,
            "2201F",
            "a negative number raised to a non-integer power yields a complex result",
        ),
        (
            Like,
            "a",
            T::Text,
            "a\\",
            T::Text,
            code::INVALID_ESCAPE_SEQUENCE,
            "LIKE pattern must not end with escape character",
        ),
    ];
    for (op, l, lt, r, rt, c, m) in cases {
        assert_eq!(
            err(op, l, lt.clone(), r, rt.clone()),
            (c, m.to_string()),
            "{l} {op:?} {r}"
        );
    }
    let e = eval_unary(UnaryOp::Minus, &Datum::Int(i32::MIN as i64), &T::Int4).expect_err("-min");
    assert_eq!(e.message, "integer out of range");
}

#[test]
fn comparisons_and_logic() {
    use BinaryOp::*;
    let t = "t".to_string();
    let f = "f".to_string();
    assert_eq!(ok(Eq, "1", T::Int4, "1.0", T::Numeric(None)), t);
    assert_eq!(ok(Lt, "1", T::Int8, "1.5", T::Float8), t);
    assert_eq!(ok(Eq, "ab", T::Char(4), "ab", T::Text), t);
    assert_eq!(ok(Eq, "ab ", T::Text, "ab", T::Text), f);
    assert_eq!(ok(Gt, "b", T::Text, "abc", T::Varchar(None)), t);
    assert_eq!(
        ok(Eq, "2024-01-01", T::Date, "2024-01-01 00:00", T::Timestamp),
        t
    );
    assert_eq!(ok(Eq, "1 mon", T::Interval, "30 days", T::Interval), t);
    assert_eq!(ok(Eq, "5", T::Unknown, "5", T::Int4), t);
    assert_eq!(ok(Lt, "NaN", T::Float8, "Infinity", T::Float8), f);
    assert_eq!(ok(NotEq, "NULL", T::Int4, "1", T::Int4), "NULL");
    let and =
        |a: Datum, b: Datum| eval_binary(And, &a, &T::Bool, &b, &T::Bool, &T::Bool).expect("and");
    let or =
        |a: Datum, b: Datum| eval_binary(Or, &a, &T::Bool, &b, &T::Bool, &T::Bool).expect("or");
    assert_eq!(and(Datum::Null, Datum::Bool(false)), Datum::Bool(false));
    assert!(and(Datum::Null, Datum::Bool(true)).is_null());
    assert_eq!(or(Datum::Null, Datum::Bool(true)), Datum::Bool(true));
    assert!(or(Datum::Null, Datum::Bool(false)).is_null());
    assert!(eval_unary(UnaryOp::Not, &Datum::Null, &T::Bool)
        .expect("not")
        .is_null());
    assert_eq!(
        eval_unary(UnaryOp::Not, &Datum::Bool(true), &T::Bool).expect("not"),
        Datum::Bool(false)
    );
    assert_eq!(
        eval_unary(UnaryOp::BitNot, &Datum::Int(5), &T::Int4).expect("~"),
        Datum::Int(-6)
    );
}

#[test]
fn like_patterns() {
    let cases: &[(&str, &str, bool, bool)] = &[
        ("hello", "h%", false, true),
        ("hello", "%llo", false, true),
        ("hello", "h_llo", false, true),
        ("hello", "h_lo", false, false),
        ("hello", "%", false, true),
        ("", "%", false, true),
        ("", "_", false, false),
        ("HeLLo", "hello", true, true),
        ("HeLLo", "hello", false, false),
        ("50%", "50\\%", false, true),
        ("500", "50\\%", false, false),
        ("a_b", "a\\_b", false, true),
        ("axb", "a\\_b", false, false),
        ("mississippi", "%iss%ppi", false, true),
        ("mississippi", "m%s%s%s%i", false, true),
        ("abc", "a%%c", false, true),
        ("ÄbC", "äb_", true, true),
    ];
    for (s, p, ci, want) in cases {
        assert_eq!(
            like_match(s, p, *ci).expect("pattern"),
            *want,
            "{s:?} LIKE {p:?}"
        );
    }
    let (c, _) = err(BinaryOp::Like, "a", T::Text, "\\", T::Text);
    assert_eq!(c, code::INVALID_ESCAPE_SEQUENCE);
    assert_eq!(ok(BinaryOp::NotLike, "abc", T::Text, "a%", T::Text), "f");
    assert_eq!(
        ok(BinaryOp::ILike, "ABC", T::Varchar(None), "a%", T::Unknown),
        "t"
    );
}
