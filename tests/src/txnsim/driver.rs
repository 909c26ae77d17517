//! The driver: begins transactions on the gateways' coordinators, runs one operation of one
//! transaction per step (the RNG picks which), commits, rolls back and abandons them, and
//! interleaves the range changes and time steps of [`super::world`].
//!
//! A transaction's operations are list-append micro-operations over keys `k000..`: an append
//! reads the key's list (optionally locking it) and writes it back one element longer; a read
//! gets one key; a scan pages over a key span that may cross ranges; an undone append writes
//! under a savepoint and rolls back to it (its value must never be seen).

use super::world::{error_kind, SimTxn, World};
use crate::elle::{Op, Outcome};
use std::sync::Arc;
use txn::coord::KvTxnSource;
use txn::{Error, LockStrength, Transaction, TxnOptions, TxnSource};

/// Where a simulated transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnState {
    /// Open, its coordinator idle in the table.
    Live,
    /// Executing an operation (its coordinator is on the stack).
    Busy,
    /// Committed, failed or rolled back.
    Finished,
    /// Its coordinator crashed: it never sends anything again.
    Abandoned,
}

/// One planned operation.
#[derive(Debug, Clone)]
pub(crate) enum PlannedOp {
    Append {
        key: u64,
        value: u64,
        lock: bool,
    },
    Read {
        key: u64,
        lock: Option<LockStrength>,
    },
    Scan {
        from: u64,
        to: u64,
        page: usize,
        lock: Option<LockStrength>,
    },
    UndoneAppend {
        key: u64,
        value: u64,
    },
}

/// The key of list `k`.
pub(crate) fn key_bytes(k: u64) -> Vec<u8> {
    format!("k{k:03}").into_bytes()
}

fn parse_key(raw: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(raw).ok()?;
    s.strip_prefix('k')?.parse().ok()
}

fn parse_list(raw: &[u8]) -> std::result::Result<Vec<u64>, String> {
    let s = std::str::from_utf8(raw).map_err(|e| format!("value not UTF-8: {e}"))?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| {
            p.parse()
                .map_err(|e| format!("bad list element {p:?}: {e}"))
        })
        .collect()
}

fn encode_list(list: &[u64]) -> Vec<u8> {
    list.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}

/// A failed operation: the micro-operations recorded so far and the error.
type OpFailure = (Vec<Op>, Error);

impl World {
    /// Adds a transaction in `Busy` state on the stack; returns its index.
    fn push_new_txn(&self, gateway: usize, plan: Vec<PlannedOp>) -> usize {
        let mut rt = self.rt.lock();
        let idx = rt.txns.len();
        let began = rt.step;
        rt.txns.push(SimTxn {
            gateway,
            state: TxnState::Busy,
            coord: None,
            ops: Vec::new(),
            plan,
            header: None,
            id: None,
            last_beat_ms: 0,
            pending_pushes: 0,
            began,
            ended: None,
            commit_ts: None,
            outcome: None,
        });
        rt.stack.push(idx);
        rt.stats.begun += 1;
        idx
    }

    /// Begins a transaction on `source` with `plan`.
    pub(crate) fn begin(&self, source: &KvTxnSource, gateway: usize, plan: Vec<PlannedOp>) {
        let idx = self.push_new_txn(gateway, plan);
        let r = source.begin(TxnOptions::default());
        let mut rt = self.rt.lock();
        rt.stack.pop();
        let t = &mut rt.txns[idx];
        match r {
            Ok(c) => {
                t.coord = Some(c);
                t.state = TxnState::Live;
                t.last_beat_ms = self.virtual_ms();
                rt.trace.event(format!("begin T{idx} on gateway {gateway}"));
            }
            Err(e) => {
                t.state = TxnState::Finished;
                t.outcome = Some(Outcome::Failed);
                rt.trace
                    .event(format!("begin T{idx} failed: {}", error_kind(&e)));
            }
        }
    }

    /// Takes a live transaction's coordinator out of the table and puts it on the stack.
    fn take(&self, idx: usize) -> Option<Box<dyn Transaction>> {
        let mut rt = self.rt.lock();
        let t = rt.txns.get_mut(idx)?;
        if t.state != TxnState::Live {
            return None;
        }
        let c = t.coord.take()?;
        t.state = TxnState::Busy;
        rt.stack.push(idx);
        Some(c)
    }

    /// Runs the next operation of `idx`, or ends it (committing with probability
    /// `commit_p`) when its plan is done.
    pub(crate) fn step_txn(&self, idx: usize, commit_p: f64) {
        let Some(mut coord) = self.take(idx) else {
            return;
        };
        let (op, commit) = {
            let mut rt = self.rt.lock();
            let commit = rt.rng.chance(commit_p);
            let t = &mut rt.txns[idx];
            let op = (!t.plan.is_empty()).then(|| t.plan.remove(0));
            (op, commit)
        };
        let Some(op) = op else {
            self.end(idx, coord, commit);
            return;
        };
        match self.exec(&mut *coord, &op) {
            Ok(ops) => {
                let mut rt = self.rt.lock();
                rt.stack.pop();
                rt.trace.event(format!("T{idx} {ops:?}"));
                let t = &mut rt.txns[idx];
                t.ops.extend(ops);
                t.coord = Some(coord);
                t.state = TxnState::Live;
            }
            Err((ops, e)) => {
                {
                    let mut rt = self.rt.lock();
                    rt.trace
                        .event(format!("T{idx} {op:?} failed: {}", error_kind(&e)));
                    rt.txns[idx].ops.extend(ops);
                }
                self.note_error(&e);
                coord.rollback();
                self.finished(idx, Outcome::Failed, None, "rolled back after an error");
            }
        }
    }

    /// Ends a live transaction now (from a push: the holder finishes first).
    pub(crate) fn finish_txn(&self, idx: usize, commit: bool) {
        if let Some(coord) = self.take(idx) {
            self.end(idx, coord, commit);
        }
    }

    /// Commits or rolls back `coord` (on the stack as `idx`) and records the outcome.
    fn end(&self, idx: usize, coord: Box<dyn Transaction>, commit: bool) {
        if !commit {
            coord.rollback();
            self.finished(idx, Outcome::Failed, None, "rolled back");
            return;
        }
        match coord.commit() {
            Ok(ts) => self.finished(idx, Outcome::Ok, Some(ts), "committed"),
            Err(e) => {
                self.note_error(&e);
                let outcome = match &e {
                    Error::Retry { .. } | Error::BelowGcThreshold { .. } | Error::ReadOnly => {
                        Outcome::Failed
                    }
                    _ => Outcome::Unknown,
                };
                self.finished(idx, outcome, None, &format!("commit: {}", error_kind(&e)));
            }
        }
    }

    /// Records how `idx` ended and takes it off the stack.
    fn finished(&self, idx: usize, outcome: Outcome, ts: Option<kv::Timestamp>, how: &str) {
        let mut rt = self.rt.lock();
        rt.stack.pop();
        let step = rt.step;
        match outcome {
            Outcome::Ok => rt.stats.committed += 1,
            Outcome::Failed => rt.stats.failed += 1,
            Outcome::Unknown => rt.stats.unknown += 1,
        }
        let t = &mut rt.txns[idx];
        t.state = TxnState::Finished;
        t.outcome = Some(outcome);
        t.commit_ts = ts;
        t.ended = Some(step);
        let at = ts.map(|t| format!(" at {t}")).unwrap_or_default();
        rt.trace.event(format!("T{idx} {how}{at}"));
    }

    /// The coordinator of a live transaction crashes: it never sends anything again (not even
    /// its rollback); its registration for GC goes with its node.
    pub(crate) fn abandon(&self, idx: usize) {
        let mut rt = self.rt.lock();
        let step = rt.step;
        let Some(t) = rt.txns.get_mut(idx) else {
            return;
        };
        if t.state != TxnState::Live {
            return;
        }
        let coord = t.coord.take();
        t.state = TxnState::Abandoned;
        t.outcome = Some(Outcome::Failed);
        t.ended = Some(step);
        rt.graveyard.extend(coord);
        rt.reads.retain(|_, (owner, _)| *owner != Some(idx));
        rt.stats.abandoned += 1;
        rt.trace.event(format!("T{idx} abandoned"));
    }

    fn note_error(&self, e: &Error) {
        if let Error::Internal(m) = e {
            self.violation(format!("internal error from the transaction layer: {m}"));
        }
        let mut rt = self.rt.lock();
        let kind = match e {
            Error::Retry { reason, .. } => format!("{reason}"),
            other => error_kind(other),
        };
        *rt.stats.errors.entry(kind).or_default() += 1;
    }

    /// Executes one planned operation.
    fn exec(
        &self,
        c: &mut dyn Transaction,
        op: &PlannedOp,
    ) -> std::result::Result<Vec<Op>, OpFailure> {
        match *op {
            PlannedOp::Append { key, value, lock } => {
                let k = key_bytes(key);
                let read = if lock {
                    c.get_locking(&k, LockStrength::Exclusive)
                } else {
                    c.get(&k)
                };
                let mut list = self.list_of(read, key, &[])?;
                let mut ops = vec![Op::Read {
                    key,
                    values: Some(list.clone()),
                }];
                list.push(value);
                ops.push(Op::Append { key, value });
                c.put(k, encode_list(&list)).map_err(|e| (ops.clone(), e))?;
                Ok(ops)
            }
            PlannedOp::UndoneAppend { key, value } => {
                let k = key_bytes(key);
                let sp = c.savepoint();
                let mut list = self.list_of(c.get(&k), key, &[])?;
                let ops = vec![Op::Read {
                    key,
                    values: Some(list.clone()),
                }];
                list.push(value);
                c.put(k, encode_list(&list)).map_err(|e| (ops.clone(), e))?;
                c.rollback_to(sp);
                Ok(ops)
            }
            PlannedOp::Read { key, lock } => {
                let k = key_bytes(key);
                let read = match lock {
                    Some(s) => c.get_locking(&k, s),
                    None => c.get(&k),
                };
                let list = self.list_of(read, key, &[])?;
                Ok(vec![Op::Read {
                    key,
                    values: Some(list),
                }])
            }
            PlannedOp::Scan {
                from,
                to,
                page,
                lock,
            } => self.scan(c, from, to, page, lock),
        }
    }

    /// Decodes a point read's list; a malformed value is a violation (and fails the op).
    fn list_of(
        &self,
        read: txn::Result<Option<Vec<u8>>>,
        key: u64,
        done: &[Op],
    ) -> std::result::Result<Vec<u64>, OpFailure> {
        let raw = read.map_err(|e| (done.to_vec(), e))?;
        match raw {
            None => Ok(Vec::new()),
            Some(raw) => parse_list(&raw).map_err(|m| {
                self.violation(format!("key {key}: {m}"));
                (done.to_vec(), Error::Internal(m))
            }),
        }
    }

    /// Pages over `[from, to)`; every key of the span becomes one read (absent: empty).
    fn scan(
        &self,
        c: &mut dyn Transaction,
        from: u64,
        to: u64,
        page: usize,
        lock: Option<LockStrength>,
    ) -> std::result::Result<Vec<Op>, OpFailure> {
        let end = key_bytes(to);
        let mut start = key_bytes(from);
        let mut found = std::collections::BTreeMap::new();
        let max_pages = (to - from) as usize * 2 + 8;
        for _ in 0..max_pages {
            let p = match lock {
                Some(s) => c.scan_locking(&start, Some(&end), page, s),
                None => c.scan(&start, Some(&end), page),
            }
            .map_err(|e| (Vec::new(), e))?;
            for (k, v) in p.rows {
                let Some(key) = parse_key(&k).filter(|n| (from..to).contains(n)) else {
                    self.violation(format!(
                        "scan [{from}, {to}) returned key {}",
                        super::world::show_key(&k)
                    ));
                    return Err((Vec::new(), Error::Internal("scan out of span".into())));
                };
                let list = self.list_of(Ok(Some(v)), key, &[])?;
                if found.insert(key, list).is_some() {
                    self.violation(format!("scan [{from}, {to}) returned key {key} twice"));
                }
            }
            match p.resume {
                Some(r) if r.as_slice() < end.as_slice() => {
                    if r <= start {
                        self.violation(format!("scan resume key did not advance at {from}"));
                        return Err((Vec::new(), Error::Internal("scan stuck".into())));
                    }
                    start = r;
                }
                _ => {
                    return Ok((from..to)
                        .map(|key| Op::Read {
                            key,
                            values: Some(found.remove(&key).unwrap_or_default()),
                        })
                        .collect())
                }
            }
        }
        self.violation(format!(
            "scan [{from}, {to}) did not finish in {max_pages} pages"
        ));
        Err((Vec::new(), Error::Internal("scan too long".into())))
    }
}

/// The driver of one run: the gateways' transaction sources over the world.
pub(crate) struct Driver {
    pub(crate) world: Arc<World>,
    pub(crate) sources: Vec<KvTxnSource>,
    next_value: u64,
}

impl Driver {
    pub(crate) fn new(world: Arc<World>) -> Driver {
        let nodes = world.clocks.len();
        let sources = (0..world.cfg.gateways.max(1))
            .map(|g| {
                KvTxnSource::new(Arc::new(super::world::Gateway {
                    world: world.clone(),
                    node: g % nodes,
                }))
            })
            .collect();
        Driver {
            world,
            sources,
            next_value: 0,
        }
    }

    fn rng<T>(&self, f: impl FnOnce(&mut super::util::Rng) -> T) -> T {
        f(&mut self.world.rt.lock().rng)
    }

    /// A random plan of 1..=max_ops operations.
    pub(crate) fn plan(&mut self) -> Vec<PlannedOp> {
        let cfg = self.world.cfg.clone();
        let n = self.rng(|r| r.range(1, cfg.max_ops as u64));
        let mut plan = Vec::new();
        for _ in 0..n {
            self.next_value += 1;
            let value = self.next_value;
            let op = self.rng(|r| {
                let key = r.below(cfg.keys);
                let lock_strength = |r: &mut super::util::Rng| match r.below(4) {
                    0 => Some(LockStrength::Shared),
                    1 => Some(LockStrength::Exclusive),
                    _ => None,
                };
                match r.below(100) {
                    0..=44 => PlannedOp::Append {
                        key,
                        value,
                        lock: r.chance(0.3),
                    },
                    45..=74 => PlannedOp::Read {
                        key,
                        lock: lock_strength(r),
                    },
                    75..=92 => {
                        let from = r.below(cfg.keys);
                        let to = r.range(from + 1, cfg.keys);
                        PlannedOp::Scan {
                            from,
                            to,
                            page: r.range(1, 4) as usize,
                            lock: lock_strength(r),
                        }
                    }
                    _ => PlannedOp::UndoneAppend { key, value },
                }
            });
            plan.push(op);
        }
        plan
    }

    /// Begins a transaction on a random gateway.
    pub(crate) fn begin_random(&mut self) {
        let plan = self.plan();
        let g = self.rng(|r| r.below(self.sources.len() as u64)) as usize;
        self.world.begin(&self.sources[g], g, plan);
    }

    /// Indexes of live transactions.
    pub(crate) fn live(&self) -> Vec<usize> {
        let rt = self.world.rt.lock();
        rt.txns
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state == TxnState::Live)
            .map(|(i, _)| i)
            .collect()
    }
}
