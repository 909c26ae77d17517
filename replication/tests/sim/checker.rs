//! The checkers run on a healed, converged simulation.
//!
//! 1. Linearizability of every key, as a register with puts of unique values and reads, by a
//!    Wing-Gong-Lowe search: find an order of the operations, consistent with real time (an
//!    operation that completed before another was invoked comes first), in which every read
//!    returns the value of the last put before it (or nothing before any put). Completed puts
//!    and reads must all be placed; a put with an unknown outcome (timed out after being
//!    proposed) may be placed anywhere after its invocation, or left out; unanswered reads
//!    and never-proposed puts are left out. Reads are placed greedily as soon as they fit
//!    (always safe: a read does not change the state); puts are branched on, with memoization
//!    of (placed set, value). A key whose search exceeds its budget is counted as inconclusive
//!    rather than failed.
//! 2. Replica agreement: every voter of each range has applied the same index with the same
//!    hash chain of applied entries and holds the same data, in memory and in its engine.
//! 3. No acknowledged put is lost: its op id is in the range's applied set, and each key's
//!    final value was written by a put that was acknowledged or had an unknown outcome and that
//!    did not complete before an acknowledged put of that key started; a put that was never
//!    proposed was never applied.

use super::node::{load_range, RangeData};
use super::workload::{range_of, Kind, Op, Outcome};
use super::{Sim, Slot};
use std::collections::{BTreeMap, HashSet};

/// What the checkers looked at.
#[derive(Debug, Clone, Default)]
pub struct CheckStats {
    /// Operations in the per-key histories checked (completed puts and reads, unknown puts).
    pub ops: u64,
    pub keys: u64,
    pub inconclusive_keys: u64,
    pub states: u64,
}

/// Runs every checker; returns the problems found.
pub fn check_all(sim: &Sim) -> (Vec<String>, CheckStats) {
    let mut problems = Vec::new();
    let mut stats = CheckStats::default();
    for key in 0..sim.cfg.work.keys {
        let ops: Vec<&Op> = sim.work.history.iter().filter(|o| o.key == key).collect();
        match check_key(&ops, 2_000_000, &mut stats) {
            Ok(()) => {}
            Err(e) => problems.push(format!("key {key} is not linearizable: {e}")),
        }
    }
    let finals = replicas_agree(sim, &mut problems);
    acked_kept(sim, &finals, &mut problems);
    (problems, stats)
}

struct LOp {
    call: u64,
    ret: u64,
    put: Option<u64>,
    read: Option<Option<u64>>,
    required: bool,
}

fn describe(ops: &[&Op]) -> String {
    let mut s = String::new();
    for o in ops.iter().take(60) {
        s.push_str(&format!(
            "\n      client {} {:?} [{}, {}] {:?}",
            o.client,
            o.kind,
            o.call,
            o.ret.map_or("?".to_string(), |r| r.to_string()),
            o.outcome
        ));
    }
    s
}

/// WGL search over one key's history.
pub fn check_key(ops: &[&Op], budget: u64, stats: &mut CheckStats) -> Result<(), String> {
    let mut l: Vec<LOp> = Vec::new();
    for o in ops {
        let (put, read, required) = match (o.kind, o.outcome) {
            (Kind::Put(v), Outcome::Ok) => (Some(v), None, true),
            (Kind::Put(v), Outcome::Unknown) => (Some(v), None, false),
            (Kind::Read, Outcome::Read(v)) => (None, Some(v), true),
            _ => continue,
        };
        l.push(LOp {
            call: o.call,
            ret: o.ret.unwrap_or(u64::MAX),
            put,
            read,
            required,
        });
    }
    l.sort_by_key(|o| o.call);
    stats.ops += l.len() as u64;
    stats.keys += 1;
    let mut search = Search {
        ops: &l,
        seen: HashSet::new(),
        budget,
        steps: 0,
    };
    let done = vec![0u64; l.len().div_ceil(64)];
    let res = search.dfs(done, None);
    stats.states += search.steps;
    match res {
        Some(true) => Ok(()),
        Some(false) => Err(format!("no valid order; history:{}", describe(ops))),
        None => {
            stats.inconclusive_keys += 1;
            Ok(())
        }
    }
}

struct Search<'a> {
    ops: &'a [LOp],
    /// Visited (placed set, value) states; only looked up, never iterated.
    seen: HashSet<(Vec<u64>, Option<u64>)>,
    budget: u64,
    steps: u64,
}

fn is_set(done: &[u64], i: usize) -> bool {
    done[i / 64] & (1 << (i % 64)) != 0
}

fn set(done: &mut [u64], i: usize) {
    done[i / 64] |= 1 << (i % 64);
}

impl Search<'_> {
    /// The earliest completion among unplaced operations: only operations invoked before it
    /// may be placed next.
    fn horizon(&self, done: &[u64]) -> u64 {
        (0..self.ops.len())
            .filter(|&i| !is_set(done, i))
            .map(|i| self.ops[i].ret)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Some(true): placeable; Some(false): not; None: budget exhausted.
    fn dfs(&mut self, mut done: Vec<u64>, value: Option<u64>) -> Option<bool> {
        self.steps += 1;
        if self.steps > self.budget {
            return None;
        }
        // Place every read that fits now (greedy: reads do not change the value).
        loop {
            let h = self.horizon(&done);
            let fit = (0..self.ops.len()).find(|&i| {
                !is_set(&done, i) && self.ops[i].call < h && self.ops[i].read == Some(value)
            });
            match fit {
                Some(i) => set(&mut done, i),
                None => break,
            }
        }
        if (0..self.ops.len()).all(|i| is_set(&done, i) || !self.ops[i].required) {
            return Some(true);
        }
        if !self.seen.insert((done.clone(), value)) {
            return Some(false);
        }
        let h = self.horizon(&done);
        for i in 0..self.ops.len() {
            let o = &self.ops[i];
            if o.call >= h {
                break;
            }
            let Some(v) = o.put else { continue };
            if is_set(&done, i) {
                continue;
            }
            let mut next = done.clone();
            set(&mut next, i);
            match self.dfs(next, Some(v)) {
                Some(false) => {}
                other => return other,
            }
        }
        Some(false)
    }
}

/// Checker 2: returns each range's agreed final data.
fn replicas_agree(sim: &Sim, problems: &mut Vec<String>) -> BTreeMap<kv::RangeId, RangeData> {
    let mut finals = BTreeMap::new();
    for (&range, desc) in &sim.dir.ranges {
        let mut first: Option<(u64, RangeData)> = None;
        for rid in &desc.voters {
            let node = sim.dir.addr[&(range, *rid)];
            let Some(Slot::Up(n)) = sim.nodes.get(&node) else {
                problems.push(format!(
                    "{range}: voter r{rid} on n{node} is down at the end"
                ));
                continue;
            };
            let mem = n.sm.ranges.get(&range).cloned().unwrap_or_default();
            let disk = load_range(n.engine.as_ref(), range);
            if mem != disk {
                problems.push(format!(
                    "{range}: n{node}'s state machine differs from its engine"
                ));
            }
            match &first {
                None => first = Some((node, disk)),
                Some((fnode, f)) if *f != disk => problems.push(format!(
                    "{range}: replicas differ: n{fnode} applied {} (chain {:x}, {} keys, {} ops) \
                     but n{node} applied {} (chain {:x}, {} keys, {} ops)",
                    f.applied,
                    f.chain,
                    f.kv.len(),
                    f.ops.len(),
                    disk.applied,
                    disk.chain,
                    disk.kv.len(),
                    disk.ops.len()
                )),
                Some(_) => {}
            }
        }
        if let Some((_, d)) = first {
            finals.insert(range, d);
        }
    }
    finals
}

/// Checker 3.
fn acked_kept(sim: &Sim, finals: &BTreeMap<kv::RangeId, RangeData>, problems: &mut Vec<String>) {
    let h = &sim.work.history;
    let by_value: BTreeMap<u64, &Op> = h
        .iter()
        .filter_map(|o| match o.kind {
            Kind::Put(v) => Some((v, o)),
            Kind::Read => None,
        })
        .collect();
    for o in h {
        let Kind::Put(v) = o.kind else { continue };
        let Some(fin) = finals.get(&range_of(o.key, sim.cfg.ranges)) else {
            continue;
        };
        if o.outcome == Outcome::Ok && !fin.ops.contains(&v) {
            problems.push(format!("acknowledged put {v} of key {} was lost", o.key));
        }
        if o.outcome == Outcome::Failed && fin.ops.contains(&v) {
            problems.push(format!("put {v} was applied but never proposed"));
        }
    }
    for key in 0..sim.cfg.work.keys {
        let Some(fin) = finals.get(&range_of(key, sim.cfg.ranges)) else {
            continue;
        };
        let acked = h
            .iter()
            .filter(|o| o.key == key && o.outcome == Outcome::Ok);
        match fin.kv.get(&key) {
            None => {
                if let Some(o) = acked.clone().next() {
                    problems.push(format!(
                        "key {key} is empty but put {:?} was acknowledged",
                        o.kind
                    ));
                }
            }
            Some(v) => match by_value.get(v) {
                Some(w) if w.key == key => {
                    for o in acked {
                        if w.ret.is_some_and(|r| r < o.call) {
                            problems.push(format!(
                                "key {key} ends with put {v}, which completed before \
                                 acknowledged put {:?} started",
                                o.kind
                            ));
                        }
                    }
                }
                _ => problems.push(format!("key {key} ends with value {v} that no put wrote")),
            },
        }
    }
}
