//! An in-process sqllogictest runner for quick iteration on the query engine (the real
//! runner goes over pgwire, in tests/). Ignored by default; run with
//! `SLT_FILES=../shared/slt/sqlite/select1.test cargo test -p sql slt_in_process -- --ignored --nocapture`.

use crate::catalog::testutil;
use crate::context::ExecResult;
use crate::types::{DataType, Datum};
use crate::{ddl, exec, parser};

/// MD5 as hex, for sqllogictest's "values hashing to" (the same digest PostgreSQL's md5() uses).
fn md5_hex(data: &[u8]) -> String {
    crate::func::md5::hex(data)
}

fn format_value(d: &Datum, ty: &DataType, kind: char) -> String {
    if d.is_null() {
        return "NULL".into();
    }
    match kind {
        'I' => match d {
            Datum::Int(i) => i.to_string(),
            Datum::Float(f) => (f.trunc() as i64).to_string(),
            Datum::Decimal(x) => x.trunc().to_string(),
            other => other.to_pg_text(ty).unwrap_or_default(),
        },
        'R' => match d {
            Datum::Int(i) => format!("{:.3}", *i as f64),
            Datum::Float(f) => format!("{f:.3}"),
            Datum::Decimal(x) => format!("{:.3}", x.to_string().parse::<f64>().unwrap_or(0.0)),
            other => other.to_pg_text(ty).unwrap_or_default(),
        },
        _ => {
            let s = d.to_pg_text(ty).unwrap_or_default();
            if s.is_empty() {
                "(empty)".into()
            } else {
                s
            }
        }
    }
}

#[test]
#[ignore]
fn slt_in_process() {
    let files = std::env::var("SLT_FILES").unwrap_or_default();
    for file in files.split(',').filter(|f| !f.is_empty()) {
        run_file(file);
    }
}

fn run_file(file: &str) {
    let text = std::fs::read_to_string(file).expect("read slt file");
    let m = testutil::store();
    let ctx = testutil::context(&m);
    let lines: Vec<&str> = text.lines().collect();
    let (mut i, mut run, mut passed, mut threshold) = (0usize, 0usize, 0usize, 0usize);
    let verbose = std::env::var("SLT_VERBOSE").is_ok();
    while i < lines.len() {
        let line = lines[i].trim_end();
        i += 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("hash-threshold") => {
                threshold = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0)
            }
            Some("skipif") | Some("onlyif") => {
                let db = words.get(1).copied().unwrap_or("");
                let skip = (words[0] == "skipif" && db == "postgresql")
                    || (words[0] == "onlyif" && db != "postgresql");
                if skip {
                    while i < lines.len() && !lines[i].trim().is_empty() {
                        i += 1;
                    }
                }
            }
            Some("statement") => {
                let mut sql = String::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    sql.push_str(lines[i]);
                    sql.push('\n');
                    i += 1;
                }
                run += 1;
                let r = run_sql(&ctx, &sql);
                let want_ok = words.get(1) == Some(&"ok");
                if r.is_ok() == want_ok {
                    passed += 1;
                } else if verbose {
                    println!("FAIL statement {file}:{i}: {sql} -> {:?}", r.err());
                }
            }
            Some("query") => {
                let types: Vec<char> = words
                    .get(1)
                    .map(|t| t.chars().collect())
                    .unwrap_or_default();
                let sort = words.get(2).copied().unwrap_or("nosort");
                let mut sql = String::new();
                while i < lines.len() && lines[i].trim() != "----" && !lines[i].trim().is_empty() {
                    sql.push_str(lines[i]);
                    sql.push('\n');
                    i += 1;
                }
                let mut expected = Vec::new();
                if i < lines.len() && lines[i].trim() == "----" {
                    i += 1;
                    while i < lines.len() && !lines[i].trim().is_empty() {
                        expected.push(lines[i].trim().to_string());
                        i += 1;
                    }
                }
                run += 1;
                match run_sql(&ctx, &sql) {
                    Ok(rows) => {
                        let mut rows: Vec<Vec<String>> = rows
                            .into_iter()
                            .map(|r| {
                                r.iter()
                                    .enumerate()
                                    .map(|(k, (d, t))| {
                                        format_value(d, t, *types.get(k).unwrap_or(&'T'))
                                    })
                                    .collect()
                            })
                            .collect();
                        let mut values: Vec<String> = match sort {
                            "rowsort" => {
                                rows.sort();
                                rows.into_iter().flatten().collect()
                            }
                            "valuesort" => {
                                let mut v: Vec<String> = rows.into_iter().flatten().collect();
                                v.sort();
                                v
                            }
                            _ => rows.into_iter().flatten().collect(),
                        };
                        let _ = threshold;
                        let (got_flat, exp): (Vec<String>, Vec<String>) = if expected.len() == 1
                            && expected[0].contains("values hashing to")
                        {
                            let joined: String = values.iter().map(|v| format!("{v}\n")).collect();
                            (
                                vec![format!(
                                    "{} values hashing to {}",
                                    values.len(),
                                    md5_hex(joined.as_bytes())
                                )],
                                expected.clone(),
                            )
                        } else {
                            let exp = expected
                                .iter()
                                .flat_map(|l| {
                                    l.split_whitespace().map(str::to_string).collect::<Vec<_>>()
                                })
                                .collect();
                            let got = std::mem::take(&mut values)
                                .iter()
                                .flat_map(|l| {
                                    l.split_whitespace().map(str::to_string).collect::<Vec<_>>()
                                })
                                .collect();
                            (got, exp)
                        };
                        if got_flat == exp {
                            passed += 1;
                        } else if verbose {
                            println!(
                                "FAIL query {file}:{i}: {sql} -> got {got_flat:?} want {exp:?}"
                            );
                        }
                    }
                    Err(e) => {
                        if verbose {
                            println!("ERROR query {file}:{i}: {sql} -> {} {}", e.code, e.message);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    println!("{file}: {passed}/{run} passed");
}

type Rows = Vec<Vec<(Datum, DataType)>>;

fn run_sql(ctx: &crate::context::ExecContext, sql: &str) -> crate::Result<Rows> {
    let mut out = Vec::new();
    for stmt in parser::parse(sql)? {
        let res = match ddl::execute(ctx, &stmt)? {
            Some(r) => r,
            None => exec::execute(ctx, &stmt, &[])?,
        };
        out.clear();
        if let ExecResult::Rows { columns, rows, .. } = res {
            for r in rows {
                out.push(
                    r?.into_iter()
                        .zip(columns.iter().map(|c| c.ty.clone()))
                        .collect(),
                );
            }
        }
    }
    Ok(out)
}

#[test]
fn md5_matches_known_vectors() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
}
