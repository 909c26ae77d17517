//! pgwire row encoding: turning a result row into a `DataRow` message on the wire, in text
//! and binary formats, for a TPC-C customer-like row (int8, text, numeric, timestamptz,
//! bytea) and for the `kv` workload's row (int8, 64-byte bytea).
//!
//! The server's own `data_row` (`sql/src/server/encode.rs`) is private to the crate, so this
//! bench repeats its loop over the public per-value encoders it calls, `Datum::to_pg_text` and
//! `Datum::to_pg_binary`, with the same length-prefixed framing, then encodes the pgwire
//! `DataRow` message into a buffer as the connection's codec does.

use bytes::{BufMut, BytesMut};
use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use pgwire::messages::data::DataRow;
use pgwire::messages::Message;
use rust_decimal::Decimal;
use sql::types::{DataType, Datum};
use std::hint::black_box;
use std::time::Duration;

#[derive(Clone, Copy)]
enum Format {
    Text,
    Binary,
}

/// Mirrors `sql::server::encode::data_row`, then writes the message.
fn encode_row(row: &[Datum], types: &[DataType], format: Format, out: &mut BytesMut) {
    let mut data = BytesMut::with_capacity(row.len() * 8);
    for (d, ty) in row.iter().zip(types) {
        let value = match format {
            Format::Text => d.to_pg_text(ty).map(String::into_bytes),
            Format::Binary => d.to_pg_binary(ty).expect("binary encoding"),
        };
        match value {
            Some(bytes) => {
                data.put_i32(bytes.len() as i32);
                data.put_slice(&bytes);
            }
            None => data.put_i32(-1),
        }
    }
    DataRow::new(data, row.len() as i16)
        .encode(out)
        .expect("encode DataRow");
}

fn customer_row() -> (Vec<Datum>, Vec<DataType>) {
    let row = vec![
        Datum::Int(2_123),
        Datum::Text("BARBARABLE".into()),
        Datum::Text("Ut8h3AKJd0xZfZ23".into()),
        Datum::Decimal(Decimal::new(-1_000_050, 2)),
        Datum::TimestampTz(Utc.with_ymd_and_hms(2026, 11, 26, 15, 4, 5).unwrap()),
        Datum::Null,
        Datum::Bytes(vec![7; 64]),
    ];
    let types = vec![
        DataType::Int8,
        DataType::Text,
        DataType::Varchar(Some(16)),
        DataType::Numeric(Some((12, 2))),
        DataType::TimestampTz,
        DataType::Text,
        DataType::Bytea,
    ];
    (row, types)
}

fn bench_rows(c: &mut Criterion) {
    let (customer, customer_types) = customer_row();
    let kv = vec![Datum::Int(4_242), Datum::Bytes(vec![0x5A; 64])];
    let kv_types = vec![DataType::Int8, DataType::Bytea];
    for (format, label) in [(Format::Text, "text"), (Format::Binary, "binary")] {
        c.bench_function(&format!("data_row_customer_7cols_{label}"), |b| {
            let mut out = BytesMut::with_capacity(512);
            b.iter(|| {
                out.clear();
                encode_row(black_box(&customer), &customer_types, format, &mut out);
                black_box(out.len())
            })
        });
        c.bench_function(&format!("data_row_kv_2cols_{label}"), |b| {
            let mut out = BytesMut::with_capacity(256);
            b.iter(|| {
                out.clear();
                encode_row(black_box(&kv), &kv_types, format, &mut out);
                black_box(out.len())
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_rows
}
criterion_main!(benches);
