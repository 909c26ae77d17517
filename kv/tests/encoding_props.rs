//! Property tests of the order-preserving key encoding: byte order equals SQL order for every
//! type in both directions (single values and tuples of mixed types with NULLs), every value
//! round-trips, and decoders survive arbitrary bytes.

use kv::encoding::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::cmp::Ordering;

/// A SQL value of one of the encodable types (None = NULL).
#[derive(Debug, Clone)]
enum Val {
    Bool(bool),
    Int(i64),
    Float(f64),
    Dec(Decimal),
    Bytes(Vec<u8>),
    Str(String),
}

/// The column types a tuple may have.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Bool,
    Int,
    Float,
    Dec,
    Bytes,
    Str,
}

/// PostgreSQL's float order: -0.0 == 0.0, NaN equal to itself and greater than everything.
fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap(),
    }
}

fn val_cmp(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
        (Val::Int(a), Val::Int(b)) => a.cmp(b),
        (Val::Float(a), Val::Float(b)) => float_cmp(*a, *b),
        (Val::Dec(a), Val::Dec(b)) => a.cmp(b),
        (Val::Bytes(a), Val::Bytes(b)) => a.cmp(b),
        (Val::Str(a), Val::Str(b)) => a.cmp(b),
        _ => panic!("values of different types compared: {a:?} {b:?}"),
    }
}

/// SQL order of one column: NULLS LAST ascending, NULLS FIRST descending.
fn col_cmp(a: &Option<Val>, b: &Option<Val>, dir: Direction) -> Ordering {
    let asc = match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => val_cmp(a, b),
    };
    match dir {
        Direction::Asc => asc,
        Direction::Desc => asc.reverse(),
    }
}

fn encode(buf: &mut Vec<u8>, v: &Option<Val>, dir: Direction) {
    match v {
        None => encode_null(buf, dir),
        Some(Val::Bool(b)) => encode_bool(buf, *b, dir),
        Some(Val::Int(i)) => encode_i64(buf, *i, dir),
        Some(Val::Float(f)) => encode_f64(buf, *f, dir),
        Some(Val::Dec(d)) => encode_decimal(buf, d, dir),
        Some(Val::Bytes(b)) => encode_bytes(buf, b, dir),
        Some(Val::Str(s)) => encode_str(buf, s, dir),
    }
}

fn enc1(v: &Option<Val>, dir: Direction) -> Vec<u8> {
    let mut buf = Vec::new();
    encode(&mut buf, v, dir);
    buf
}

/// Decodes one value of type `ty` (or NULL), asserting its SQL equality with `expected`.
fn decode_and_check(input: &mut &[u8], ty: Ty, dir: Direction, expected: &Option<Val>) {
    if decode_is_null(input, dir) {
        assert!(expected.is_none(), "decoded NULL, expected {expected:?}");
        return;
    }
    let got = match ty {
        Ty::Bool => Val::Bool(decode_bool(input, dir).unwrap()),
        Ty::Int => Val::Int(decode_i64(input, dir).unwrap()),
        Ty::Float => Val::Float(decode_f64(input, dir).unwrap()),
        Ty::Dec => Val::Dec(decode_decimal(input, dir).unwrap()),
        Ty::Bytes => Val::Bytes(decode_bytes(input, dir).unwrap()),
        Ty::Str => Val::Str(decode_str(input, dir).unwrap()),
    };
    let expected = expected.as_ref().expect("decoded a value, expected NULL");
    assert_eq!(
        val_cmp(&got, expected),
        Ordering::Equal,
        "{got:?} != {expected:?}"
    );
}

fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE),
        Just(-f64::MIN_POSITIVE),
        Just(f64::MAX),
        Just(f64::MIN),
        (-1000i32..1000).prop_map(|i| f64::from(i) / 8.0),
    ]
}

fn any_decimal() -> impl Strategy<Value = Decimal> {
    let max = (1i128 << 96) - 1;
    prop_oneof![
        (-max..=max, 0u32..=28).prop_map(|(m, s)| Decimal::from_i128_with_scale(m, s)),
        // Small mantissas with trailing zeros and varied scales: many numerically equal pairs.
        (-2000i128..2000, 0u32..=6).prop_map(|(m, s)| Decimal::from_i128_with_scale(m * 100, s)),
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        Just(Decimal::from_i128_with_scale(1, 28)),
        Just(Decimal::from_i128_with_scale(-1, 28)),
    ]
}

fn small_bytes() -> impl Strategy<Value = Vec<u8>> {
    // Few distinct byte values so that prefixes, 0x00 and 0xff collide often.
    prop::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(0xff), Just(b'a'), any::<u8>()],
        0..6,
    )
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof!["[a\\x00\\x01é😀]{0,5}", any::<String>()]
}

fn any_ty() -> impl Strategy<Value = Ty> {
    prop_oneof![
        Just(Ty::Bool),
        Just(Ty::Int),
        Just(Ty::Float),
        Just(Ty::Dec),
        Just(Ty::Bytes),
        Just(Ty::Str),
    ]
}

fn val_of(ty: Ty) -> BoxedStrategy<Option<Val>> {
    let v: BoxedStrategy<Val> = match ty {
        Ty::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Ty::Int => prop_oneof![any::<i64>(), -3i64..3, Just(i64::MIN), Just(i64::MAX)]
            .prop_map(Val::Int)
            .boxed(),
        Ty::Float => any_float().prop_map(Val::Float).boxed(),
        Ty::Dec => any_decimal().prop_map(Val::Dec).boxed(),
        Ty::Bytes => small_bytes().prop_map(Val::Bytes).boxed(),
        Ty::Str => any_string().prop_map(Val::Str).boxed(),
    };
    prop::option::weighted(0.85, v).boxed()
}

fn any_dir() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Asc), Just(Direction::Desc)]
}

/// Column types and directions of a key.
type Schema = Vec<(Ty, Direction)>;
/// One row of key values (None = NULL).
type Row = Vec<Option<Val>>;

/// A schema and two rows of it.
fn two_rows() -> impl Strategy<Value = (Schema, Row, Row)> {
    prop::collection::vec((any_ty(), any_dir()), 1..4).prop_flat_map(|schema| {
        let row = schema.iter().map(|&(ty, _)| val_of(ty)).collect::<Vec<_>>();
        (Just(schema), row.clone(), row)
    })
}

/// Two values of one type, often close to each other.
fn same_type_pair() -> impl Strategy<Value = (Ty, Option<Val>, Option<Val>)> {
    any_ty().prop_flat_map(|ty| (Just(ty), val_of(ty), val_of(ty)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn single_values_order_and_round_trip((ty, a, b) in same_type_pair(), dir in any_dir()) {
        let (ea, eb) = (enc1(&a, dir), enc1(&b, dir));
        prop_assert_eq!(ea.cmp(&eb), col_cmp(&a, &b, dir), "{:?} vs {:?} ({:?})", a, b, dir);
        for (v, e) in [(&a, &ea), (&b, &eb)] {
            let mut input = &e[..];
            decode_and_check(&mut input, ty, dir, v);
            prop_assert!(input.is_empty(), "trailing bytes after {:?}", v);
        }
    }

    #[test]
    fn tuples_order_and_round_trip((schema, a, b) in two_rows()) {
        let enc_row = |row: &[Option<Val>]| {
            let mut buf = Vec::new();
            for (v, &(_, dir)) in row.iter().zip(&schema) {
                encode(&mut buf, v, dir);
            }
            buf
        };
        let (ea, eb) = (enc_row(&a), enc_row(&b));
        let expected = a
            .iter()
            .zip(&b)
            .zip(&schema)
            .map(|((x, y), &(_, dir))| col_cmp(x, y, dir))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal);
        prop_assert_eq!(ea.cmp(&eb), expected);
        let mut input = &ea[..];
        for (v, &(ty, dir)) in a.iter().zip(&schema) {
            decode_and_check(&mut input, ty, dir, v);
        }
        prop_assert!(input.is_empty());
    }

    #[test]
    fn decimal_equality_is_byte_equality(a in any_decimal(), b in any_decimal(), dir in any_dir()) {
        let (ea, eb) = (enc1(&Some(Val::Dec(a)), dir), enc1(&Some(Val::Dec(b)), dir));
        prop_assert_eq!(a == b, ea == eb);
        let mut input = &ea[..];
        let back = decode_decimal(&mut input, dir).unwrap();
        prop_assert_eq!(back, a);
        prop_assert_eq!(back.to_string(), a.normalize().to_string());
    }

    #[test]
    fn u64_ids_order_and_round_trip(a in any::<u64>(), b in any::<u64>()) {
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        encode_u64_asc(&mut ea, a);
        encode_u64_asc(&mut eb, b);
        prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
        let mut input = &ea[..];
        prop_assert_eq!(decode_u64_asc(&mut input).unwrap(), a);
        prop_assert!(input.is_empty());
    }

    #[test]
    fn decoders_never_panic_on_random_bytes(raw in prop::collection::vec(any::<u8>(), 0..40), dir in any_dir()) {
        decode_all(&raw, dir);
    }

    #[test]
    fn decoders_never_panic_on_damaged_encodings(
        (ty, v, _) in same_type_pair(),
        dir in any_dir(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let e = enc1(&v, dir);
        let _ = ty;
        decode_all(&e[..cut.index(e.len() + 1)], dir);
        let mut damaged = e.clone();
        let i = flip.index(damaged.len());
        damaged[i] ^= xor;
        decode_all(&damaged, dir);
    }
}

/// Runs every decoder on `raw`; each must either fail with a decode error (input untouched)
/// or succeed having consumed part of the input.
fn decode_all(raw: &[u8], dir: Direction) {
    macro_rules! check {
        ($call:expr) => {{
            let mut input = raw;
            match $call(&mut input) {
                Ok(_) => assert!(input.len() < raw.len() || raw.is_empty()),
                Err(kv::Error::Decode(_)) => assert_eq!(input.len(), raw.len()),
                Err(e) => panic!("unexpected error kind: {e}"),
            }
        }};
    }
    check!(|i: &mut &[u8]| decode_bool(i, dir));
    check!(|i: &mut &[u8]| decode_i64(i, dir));
    check!(|i: &mut &[u8]| decode_f64(i, dir));
    check!(|i: &mut &[u8]| decode_decimal(i, dir));
    check!(|i: &mut &[u8]| decode_bytes(i, dir));
    check!(|i: &mut &[u8]| decode_str(i, dir));
    check!(decode_u64_asc);
    let mut input = raw;
    let _ = decode_is_null(&mut input, dir);
}

#[test]
fn documented_orders_hold() {
    let asc = Direction::Asc;
    let b = |v: &[u8]| enc1(&Some(Val::Bytes(v.to_vec())), asc);
    assert!(b(b"a") < b(b"a\0"));
    assert!(b(b"a\0") < b(b"b"));
    assert!(b(b"") < b(b"\0"));
    let f = |v: f64| enc1(&Some(Val::Float(v)), asc);
    assert_eq!(f(-0.0), f(0.0));
    assert!(f(f64::INFINITY) < f(f64::NAN));
    assert_eq!(f(f64::NAN), f(-f64::NAN));
    assert!(f(f64::NEG_INFINITY) < f(f64::MIN));
    let null = enc1(&None, asc);
    assert!(f(f64::NAN) < null);
    assert!(enc1(&None, Direction::Desc) < enc1(&Some(Val::Float(f64::NAN)), Direction::Desc));
}
