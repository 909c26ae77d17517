//! Key encoding throughput: encoding and decoding a typical composite index key
//! (int, string, decimal) and each type on its own, ascending and descending, and a table's
//! primary-key row key (`/Table/<id>/<index>/<i64>`) as every SQL point read builds one.

use criterion::{criterion_group, criterion_main, Criterion};
use kv::encoding::*;
use rust_decimal::Decimal;
use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

fn encode_key(buf: &mut Vec<u8>, id: i64, name: &str, price: &Decimal, dir: Direction) {
    encode_i64(buf, id, dir);
    encode_str(buf, name, dir);
    encode_decimal(buf, price, dir);
}

fn bench_encoding(c: &mut Criterion) {
    let price = Decimal::from_str("1234.56").unwrap();
    let name = "customer-name-\0-with-a-zero";
    for (label, dir) in [("asc", Direction::Asc), ("desc", Direction::Desc)] {
        c.bench_function(&format!("encode_composite_{label}"), |b| {
            let mut buf = Vec::with_capacity(64);
            b.iter(|| {
                buf.clear();
                encode_key(
                    &mut buf,
                    black_box(42),
                    black_box(name),
                    black_box(&price),
                    dir,
                );
                black_box(&buf);
            })
        });
        let mut key = Vec::new();
        encode_key(&mut key, 42, name, &price, dir);
        c.bench_function(&format!("decode_composite_{label}"), |b| {
            b.iter(|| {
                let mut input = black_box(&key[..]);
                let id = decode_i64(&mut input, dir).unwrap();
                let s = decode_str(&mut input, dir).unwrap();
                let d = decode_decimal(&mut input, dir).unwrap();
                black_box((id, s, d))
            })
        });
    }
    c.bench_function("table_row_key_i64", |b| {
        b.iter(|| {
            let mut k = kv::keys::index_prefix(black_box(104), black_box(1));
            encode_i64(&mut k, black_box(123_456_789), Direction::Asc);
            black_box(k)
        })
    });
    c.bench_function("encode_i64_asc", |b| {
        let mut buf = Vec::with_capacity(16);
        b.iter(|| {
            buf.clear();
            encode_i64(&mut buf, black_box(-7), Direction::Asc);
            black_box(&buf);
        })
    });
    c.bench_function("encode_f64_asc", |b| {
        let mut buf = Vec::with_capacity(16);
        b.iter(|| {
            buf.clear();
            encode_f64(&mut buf, black_box(3.25), Direction::Asc);
            black_box(&buf);
        })
    });
    c.bench_function("encode_decimal_asc", |b| {
        let mut buf = Vec::with_capacity(32);
        b.iter(|| {
            buf.clear();
            encode_decimal(&mut buf, black_box(&price), Direction::Asc);
            black_box(&buf);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_encoding
}
criterion_main!(benches);
