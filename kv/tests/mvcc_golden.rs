//! Golden scripts for MVCC (kv/tests/testdata/mvcc/*.txt), run against both engines: the
//! expected output is the same for each.
//!
//! Commands:
//! - `put k=<key> v=<value> ts=<ms>[.<logical>]`: writes a version.
//! - `del k=<key> ts=<ts>`: writes a tombstone.
//! - `write ts=<ts> <key>=<value>|<key>=! ...`: one atomic multi-key write (`!` = delete).
//! - `get k=<key> ts=<ts>`: the newest version at or below ts (`get_version`).
//! - `scan [start=<key>] [end=<key>] ts=<ts> [limit=<n>]`: live values at ts.
//! - `gc before=<ts>`: garbage collection; prints how many versions were removed.
//! - `dump`: every stored version, newest first per key.
//! - `raw`: the engine's raw keys and values in hex (the on-disk layout).

mod golden;

use golden::{arg_bytes, fmt_bytes, hex, Command};
use kv::engine::{Engine, MemoryEngine, RocksEngine, Visit};
use kv::mvcc::Mvcc;
use kv::Timestamp;
use std::fmt::Write as _;
use std::sync::Arc;

fn parse_ts(cmd: &Command, name: &str) -> Result<Timestamp, String> {
    let raw = cmd.must(name)?;
    let (ms, logical) = raw.split_once('.').unwrap_or((raw, "0"));
    match (ms.parse::<u64>(), logical.parse::<u32>()) {
        (Ok(ms), Ok(l)) => Ok(Timestamp::from_parts(ms, l)),
        _ => Err(format!("line {}: bad timestamp {raw}", cmd.line)),
    }
}

fn fmt_ts(ts: Timestamp) -> String {
    if ts.logical() == 0 {
        ts.physical_ms().to_string()
    } else {
        ts.to_string()
    }
}

fn fmt_value(v: &Option<Vec<u8>>) -> String {
    match v {
        Some(v) => fmt_bytes(v),
        None => "<tombstone>".into(),
    }
}

fn run(mvcc: &Mvcc, cmd: &Command) -> Result<String, String> {
    let err = |e: kv::Error| e.to_string();
    let key = |name: &str| cmd.must(name).map(arg_bytes);
    match cmd.name.as_str() {
        "put" => {
            let write = (key("k")?, Some(key("v")?));
            mvcc.write(&[write], parse_ts(cmd, "ts")?, false)
                .map_err(err)?;
            Ok("ok".into())
        }
        "del" => {
            mvcc.write(&[(key("k")?, None)], parse_ts(cmd, "ts")?, false)
                .map_err(err)?;
            Ok("ok".into())
        }
        "write" => {
            let writes: Vec<_> = cmd
                .args
                .iter()
                .filter(|(k, _)| k != "ts")
                .map(|(k, v)| (arg_bytes(k), (v != "!").then(|| arg_bytes(v))))
                .collect();
            mvcc.write(&writes, parse_ts(cmd, "ts")?, false)
                .map_err(err)?;
            Ok("ok".into())
        }
        "get" => {
            let k = key("k")?;
            Ok(
                match mvcc.get_version(&k, parse_ts(cmd, "ts")?).map_err(err)? {
                    Some((ts, v)) => {
                        format!("{}@{} = {}", fmt_bytes(&k), fmt_ts(ts), fmt_value(&v))
                    }
                    None => format!("{}: no version", fmt_bytes(&k)),
                },
            )
        }
        "scan" => scan(mvcc, cmd),
        "gc" => {
            let n = mvcc.gc(parse_ts(cmd, "before")?).map_err(err)?;
            Ok(format!("removed {n}"))
        }
        "dump" => {
            let mut out = String::new();
            for (k, (ts, v)) in mvcc.scan_versions(b"", None, usize::MAX).map_err(err)? {
                let _ = writeln!(out, "{}@{} = {}", fmt_bytes(&k), fmt_ts(ts), fmt_value(&v));
            }
            Ok(if out.is_empty() {
                "<empty>".into()
            } else {
                out
            })
        }
        "raw" => {
            let mut out = String::new();
            mvcc.engine()
                .scan(b"", None, &mut |k, v| {
                    let _ = writeln!(out, "{} => {}", hex(k), hex(v));
                    Visit::Continue
                })
                .map_err(err)?;
            Ok(out)
        }
        other => Err(format!("line {}: unknown command {other}", cmd.line)),
    }
}

fn scan(mvcc: &Mvcc, cmd: &Command) -> Result<String, String> {
    let start = cmd.get("start").map(arg_bytes).unwrap_or_default();
    let end = cmd.get("end").map(arg_bytes);
    let limit = match cmd.get("limit") {
        Some(_) => cmd.must_parse("limit")?,
        None => usize::MAX,
    };
    let rows = mvcc
        .scan(&start, end.as_deref(), parse_ts(cmd, "ts")?, limit)
        .map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Ok("<empty>".into());
    }
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{} = {}", fmt_bytes(&k), fmt_bytes(&v));
    }
    Ok(out)
}

fn runner(engine: Arc<dyn Engine>) -> impl FnMut(&Command) -> Result<String, String> {
    let mvcc = Mvcc::new(engine);
    move |cmd| run(&mvcc, cmd)
}

#[test]
fn mvcc_scripts_memory_engine() {
    golden::run_dir("tests/testdata/mvcc", || {
        runner(Arc::new(MemoryEngine::new()))
    });
}

#[test]
fn mvcc_scripts_rocks_engine() {
    let mut dirs = Vec::new();
    golden::run_dir("tests/testdata/mvcc", || {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path()).unwrap();
        dirs.push(dir);
        runner(Arc::new(engine))
    });
}
