//! Golden scripts for the transaction protocol (txn/tests/testdata/concurrency/*.txt): one
//! scenario per file, showing each anomaly SERIALIZABLE forbids being prevented, and the
//! push, wait, deadlock and abandoned-transaction paths.
//!
//! The store has two ranges (split at "m"), a manual clock starting at 1000 ms (so timestamps
//! in the output are deterministic) and a transaction expiration of 300 ms.
//!
//! Commands:
//! - `begin t=<name>`: a coordinator transaction (what SQL uses).
//! - `get t= k= [lock]`, `scan t= start= end=`, `put t= k= v=`, `del t= k=`, `commit t=`,
//!   `rollback t=`: its operations (`lock` = a FOR UPDATE read).
//! - `raw-intent t= k= v=`: a raw transaction lays an intent through the range API, as a
//!   multi-range transaction does before committing; `raw-commit t=` / `raw-abort t=` finish it
//!   through its record. A raw transaction never heartbeats: it looks abandoned once expired.
//! - `async <command ...>`: runs a command in the background (it may block); `await t=` prints
//!   its result; `blocked t=` says whether it is still waiting (after 200 ms).
//! - `tick ms=`: advances the clock. `versions k=`: the key's intent and committed versions.
//!
//! `UPDATE_GOLDEN=1 cargo test -p txn --test concurrency_golden` rewrites the expected output.

#[path = "../../kv/tests/golden/mod.rs"]
mod golden;

use golden::{arg_bytes, fmt_bytes, Command};
use kv::engine::MemoryEngine;
use kv::mvcc::{Mvcc, TxnId, TxnMeta};
use kv::{Clock, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use txn::api::{Header, Request};
use txn::local::LocalTxnManager;
use txn::range::{RangeConfig, Router};
use txn::store::StoreConfig;
use txn::{LockStrength, Transaction, TxnOptions, TxnSource};

type Txn = Box<dyn Transaction>;

struct Raw {
    meta: TxnMeta,
    keys: Vec<Vec<u8>>,
}

struct Runner {
    m: Arc<LocalTxnManager>,
    clock: Arc<Clock>,
    txns: HashMap<String, Txn>,
    raws: HashMap<String, Raw>,
    pending: HashMap<String, JoinHandle<(Option<Txn>, String)>>,
    /// Once something waited, the clock has ticked a timing-dependent number of times (each
    /// push reads it), so later timestamps are not printed.
    waited: bool,
}

fn fmt_ts(ts: Timestamp) -> String {
    format!("{}.{}", ts.physical_ms(), ts.logical())
}

/// An error's text with transaction ids (random) replaced by `<txn>`.
fn err_text(e: &txn::Error) -> String {
    let text = format!("error: {e}");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("txn ") {
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let hex = rest.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if hex == 8 {
            out.push_str("<txn>");
            rest = &rest[8..];
        }
    }
    out.push_str(rest);
    out
}

/// Runs one coordinator command on `t`; returns the transaction (None once finished).
fn run_txn(mut t: Txn, cmd: &Command) -> Result<(Option<Txn>, String), String> {
    let key = || cmd.must("k").map(arg_bytes);
    let out = match cmd.name.as_str() {
        "get" => {
            let k = key()?;
            let r = if cmd.flag("lock") {
                t.get_locking(&k, LockStrength::Exclusive)
            } else {
                t.get(&k)
            };
            match r {
                Ok(Some(v)) => fmt_bytes(&v),
                Ok(None) => "<none>".into(),
                Err(e) => err_text(&e),
            }
        }
        "scan" => {
            let start = arg_bytes(cmd.must("start")?);
            let end = arg_bytes(cmd.must("end")?);
            let mut rows = Vec::new();
            let mut from = start;
            loop {
                match t.scan(&from, Some(&end), 100) {
                    Ok(page) => {
                        rows.extend(page.rows);
                        match page.resume {
                            Some(r) => from = r,
                            None => break,
                        }
                    }
                    Err(e) => return Ok((Some(t), err_text(&e))),
                }
            }
            let parts: Vec<String> = rows
                .iter()
                .map(|(k, v)| format!("{}={}", fmt_bytes(k), fmt_bytes(v)))
                .collect();
            format!("[{}]", parts.join(" "))
        }
        "put" | "del" => {
            let v = if cmd.name == "put" {
                Some(arg_bytes(cmd.must("v")?))
            } else {
                None
            };
            let r = match v {
                Some(v) => t.put(key()?, v),
                None => t.delete(key()?),
            };
            match r {
                Ok(()) => "ok".into(),
                Err(e) => err_text(&e),
            }
        }
        "commit" => {
            return Ok((
                None,
                match t.commit() {
                    Ok(ts) => format!("committed at {}", fmt_ts(ts)),
                    Err(e) => err_text(&e),
                },
            ))
        }
        "rollback" => {
            t.rollback();
            return Ok((None, "rolled back".into()));
        }
        other => return Err(format!("line {}: unknown command {other}", cmd.line)),
    };
    Ok((Some(t), out))
}

impl Runner {
    fn new() -> Runner {
        let clock = Arc::new(Clock::manual(1000, 500));
        let cfg = StoreConfig {
            range: RangeConfig {
                txn_expiration_ms: 300,
                sync: false,
            },
            split_keys: vec![b"m".to_vec()],
            gc_ttl: Duration::from_secs(3600),
        };
        let m = LocalTxnManager::with_config(
            Mvcc::new(Arc::new(MemoryEngine::new())),
            clock.clone(),
            cfg,
        );
        Runner {
            m: Arc::new(m),
            clock,
            txns: HashMap::new(),
            raws: HashMap::new(),
            pending: HashMap::new(),
            waited: false,
        }
    }

    fn raw_header(&self, name: &str) -> Result<Header, String> {
        let raw = self
            .raws
            .get(name)
            .ok_or_else(|| format!("no raw transaction {name}"))?;
        let now = self.clock.now();
        Ok(Header {
            txn: Some(raw.meta.clone()),
            read_ts: now,
            uncertainty_limit: now,
            ignored: Vec::new(),
            observed: Vec::new(),
        })
    }

    fn raw(&mut self, cmd: &Command) -> Result<String, String> {
        let name = cmd.must("t")?.to_string();
        match cmd.name.as_str() {
            "raw-intent" => {
                let k = arg_bytes(cmd.must("k")?);
                let v = arg_bytes(cmd.must("v")?);
                let now = self.clock.now();
                let id = TxnId(0xaaaa_0000 + self.raws.len() as u128 + 1);
                let raw = self.raws.entry(name.clone()).or_insert_with(|| Raw {
                    meta: TxnMeta {
                        id,
                        anchor: k.clone(),
                        write_ts: now,
                        min_ts: now,
                        priority: 1,
                    },
                    keys: Vec::new(),
                });
                raw.keys.push(k.clone());
                let h = self.raw_header(&name)?;
                let req = Request::Put {
                    writes: vec![(k, vec![(1, Some(v))])],
                };
                Ok(match self.m.store().route(&h, &req) {
                    Ok(r) => format!("intent at {}", fmt_ts(r.write_ts.unwrap_or_default())),
                    Err(e) => err_text(&e),
                })
            }
            "raw-commit" | "raw-abort" => {
                let h = self.raw_header(&name)?;
                let keys = self
                    .raws
                    .get(&name)
                    .map(|r| r.keys.clone())
                    .unwrap_or_default();
                let req = Request::EndTxn {
                    commit: cmd.name == "raw-commit",
                    one_phase: Vec::new(),
                    refreshed_to: None,
                    refresh_spans: Vec::new(),
                    lock_keys: keys,
                };
                Ok(match self.m.store().route(&h, &req) {
                    Ok(r) if cmd.name == "raw-commit" => {
                        format!("committed at {}", fmt_ts(r.write_ts.unwrap_or_default()))
                    }
                    Ok(_) => "aborted".into(),
                    Err(e) if cmd.name == "raw-abort" && e.is_retryable() => "aborted".into(),
                    Err(e) => err_text(&e),
                })
            }
            _ => unreachable!(),
        }
    }

    fn run(&mut self, cmd: &Command) -> Result<String, String> {
        match cmd.name.as_str() {
            "begin" => {
                let t = self
                    .m
                    .begin(TxnOptions::default())
                    .map_err(|e| e.to_string())?;
                let out = if self.waited {
                    "ok".to_string()
                } else {
                    format!("read_ts {}", fmt_ts(t.read_ts()))
                };
                self.txns.insert(cmd.must("t")?.to_string(), t);
                Ok(out)
            }
            "raw-intent" | "raw-commit" | "raw-abort" => self.raw(cmd),
            "tick" => {
                let ms: u64 = cmd.must_parse("ms")?;
                let to = self.clock.peek().physical_ms() + ms;
                self.clock.set_physical_ms(to);
                Ok(format!("clock {to}"))
            }
            "versions" => {
                let k = arg_bytes(cmd.must("k")?);
                let mvcc = self.m.mvcc();
                let mut out = Vec::new();
                if let Some(i) = mvcc.intent(&k).map_err(|e| e.to_string())? {
                    out.push(format!("intent of raw txn at {}", fmt_ts(i.txn.write_ts)));
                }
                let mut end = k.clone();
                end.push(0);
                for (_, (ts, v)) in mvcc
                    .scan_versions(&k, Some(&end), 100)
                    .map_err(|e| e.to_string())?
                {
                    let v = v.map(|v| fmt_bytes(&v)).unwrap_or("<deleted>".into());
                    out.push(format!("{} -> {v}", fmt_ts(ts)));
                }
                Ok(if out.is_empty() {
                    "<no versions>".into()
                } else {
                    out.join("\n")
                })
            }
            "async" => {
                self.waited = true;
                let Some((sub, _)) = cmd.args.first() else {
                    return Err(format!("line {}: async needs a command", cmd.line));
                };
                let inner = Command {
                    name: sub.clone(),
                    args: cmd.args[1..].to_vec(),
                    line: cmd.line,
                };
                let name = inner.must("t")?.to_string();
                if inner.name == "raw-intent" {
                    let k = arg_bytes(inner.must("k")?);
                    let v = arg_bytes(inner.must("v")?);
                    if let Some(raw) = self.raws.get_mut(&name) {
                        raw.keys.push(k.clone());
                    }
                    let h = self.raw_header(&name)?;
                    let m = self.m.clone();
                    let handle = std::thread::spawn(move || {
                        let req = Request::Put {
                            writes: vec![(k, vec![(2, Some(v))])],
                        };
                        let out = match m.store().route(&h, &req) {
                            Ok(_) => "intent written".to_string(),
                            Err(e) if e.is_retryable() => {
                                "retry error: TransactionAbortedError (deadlock victim)".to_string()
                            }
                            Err(e) => err_text(&e),
                        };
                        (None, out)
                    });
                    self.pending.insert(name, handle);
                    return Ok("started".into());
                }
                let t = self
                    .txns
                    .remove(&name)
                    .ok_or_else(|| format!("no transaction {name}"))?;
                let handle = std::thread::spawn(move || match run_txn(t, &inner) {
                    Ok(r) => r,
                    Err(e) => (None, e),
                });
                self.pending.insert(name, handle);
                Ok("started".into())
            }
            "await" | "blocked" => {
                let name = cmd.must("t")?.to_string();
                let limit = if cmd.name == "await" {
                    Duration::from_secs(20)
                } else {
                    Duration::from_millis(200)
                };
                let deadline = Instant::now() + limit;
                let done = loop {
                    let finished = self.pending.get(&name).is_none_or(|h| h.is_finished());
                    if finished || Instant::now() > deadline {
                        break finished;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                };
                if cmd.name == "blocked" {
                    return Ok(if done { "finished" } else { "blocked" }.into());
                }
                if !done {
                    return Ok("still blocked after 20s".into());
                }
                let h = self
                    .pending
                    .remove(&name)
                    .ok_or_else(|| format!("nothing started for {name}"))?;
                let (t, out) = h.join().map_err(|_| "async command panicked".to_string())?;
                if let Some(t) = t {
                    self.txns.insert(name, t);
                }
                Ok(out)
            }
            _ => {
                let name = cmd.must("t")?.to_string();
                let t = self
                    .txns
                    .remove(&name)
                    .ok_or_else(|| format!("no transaction {name}"))?;
                let (t, mut out) = run_txn(t, cmd)?;
                if let Some(t) = t {
                    self.txns.insert(name, t);
                }
                if self.waited && out.starts_with("committed at") {
                    out = "committed".into();
                }
                Ok(out)
            }
        }
    }
}

#[test]
fn concurrency_scripts() {
    golden::run_dir("tests/testdata/concurrency", || {
        let mut r = Runner::new();
        move |cmd: &Command| r.run(cmd)
    });
}
