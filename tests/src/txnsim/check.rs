//! Checkers beyond Elle's: the timestamp order is a serial order that explains every read
//! (so each key is linearizable in timestamp order), real time agrees with it, and nothing is
//! left behind (intents, locks, registered reads).

use super::driver::key_bytes;
use super::world::World;
use crate::elle::{Op, Outcome};
use kv::Timestamp;
use std::collections::BTreeMap;

/// One committed transaction as the checkers see it.
pub struct Committed<'a> {
    /// Its index in the history.
    pub idx: usize,
    /// Its commit timestamp.
    pub ts: Timestamp,
    /// Its operations.
    pub ops: &'a [Op],
    /// The driver step it began at.
    pub began: u64,
    /// The driver step its commit was acknowledged at.
    pub ended: u64,
}

/// Replays `txn`'s ops on `state`; Err describes the first read that disagrees. On success
/// the returned lists are the keys it appended to, after its appends.
fn replay(
    state: &BTreeMap<u64, Vec<u64>>,
    txn: &Committed<'_>,
) -> Result<BTreeMap<u64, Vec<u64>>, String> {
    let mut mine: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for op in txn.ops {
        match op {
            Op::Append { key, value } => {
                let list = mine
                    .entry(*key)
                    .or_insert_with(|| state.get(key).cloned().unwrap_or_default());
                list.push(*value);
            }
            Op::Read {
                key,
                values: Some(v),
            } => {
                let want = mine
                    .get(key)
                    .or_else(|| state.get(key))
                    .cloned()
                    .unwrap_or_default();
                if *v != want {
                    return Err(format!(
                        "T{} (commit ts {}) read key {key} = {v:?}, but replaying the committed \
                         transactions in timestamp order gives {want:?}",
                        txn.idx, txn.ts
                    ));
                }
            }
            Op::Read { values: None, .. } => {}
        }
    }
    Ok(mine)
}

/// Serial replay in commit-timestamp order: every committed read must see exactly the appends
/// of the transactions committed below its timestamp (plus its own). Transactions with equal
/// timestamps are tried in every order greedily. Returns the violations.
pub fn timestamp_order(mut txns: Vec<Committed<'_>>) -> Vec<String> {
    txns.sort_by_key(|t| (t.ts, t.idx));
    let mut state: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut out = Vec::new();
    let mut i = 0;
    while i < txns.len() {
        let mut j = i;
        while j < txns.len() && txns[j].ts == txns[i].ts {
            j += 1;
        }
        let mut group: Vec<&Committed<'_>> = txns[i..j].iter().collect();
        while !group.is_empty() {
            let pos = group.iter().position(|t| replay(&state, t).is_ok());
            match pos {
                Some(p) => {
                    let t = group.remove(p);
                    if let Ok(mine) = replay(&state, t) {
                        state.extend(mine);
                    }
                }
                None => {
                    let t = group.remove(0);
                    if let Err(e) = replay(&state, t) {
                        out.push(e);
                    }
                }
            }
        }
        i = j;
    }
    out
}

/// No stale reads (single-key linearizability in real time): a committed read of a key
/// contains every append to it by a transaction whose commit was acknowledged before the
/// reader began, whatever the clocks' skew (the uncertainty interval covers it).
pub fn no_stale_reads(txns: &[Committed<'_>]) -> Vec<String> {
    let mut out = Vec::new();
    for b in txns {
        for op in b.ops {
            let Op::Read {
                key,
                values: Some(seen),
            } = op
            else {
                continue;
            };
            for a in txns.iter().filter(|a| a.ended < b.began) {
                for missing in a.ops.iter().filter_map(|o| match o {
                    Op::Append { key: k, value } if k == key && !seen.contains(value) => {
                        Some(value)
                    }
                    _ => None,
                }) {
                    out.push(format!(
                        "stale read: T{} (began at step {}) read key {key} = {seen:?} without \
                         {missing}, appended by T{} (commit ts {}) acknowledged at step {}",
                        b.idx, b.began, a.idx, a.ts, a.ended
                    ));
                }
            }
        }
    }
    out.truncate(10);
    out
}

/// Real time with one clock: a transaction that began after another's commit was
/// acknowledged commits at a higher timestamp (its read timestamp is above the commit).
pub fn real_time(txns: &[Committed<'_>]) -> Vec<String> {
    let mut out = Vec::new();
    for a in txns {
        for b in txns {
            if a.ended < b.began && a.ts >= b.ts {
                out.push(format!(
                    "T{} committed at {} (step {}) before T{} began (step {}), which committed \
                     at {}",
                    a.idx, a.ts, a.ended, b.idx, b.began, b.ts
                ));
            }
        }
    }
    out.truncate(10);
    out
}

/// After every transaction finished and the final sweep: no intents on any key, no locks in
/// any range object, no registered reads, no queued resolutions lost track of.
pub(crate) fn leftovers(world: &World) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..world.cfg.keys {
        match world.mvcc_for(&key_bytes(k)).intent(&key_bytes(k)) {
            Ok(None) => {}
            Ok(Some(i)) => out.push(format!(
                "key {k} still has an intent (write ts {}) after the sweep",
                i.txn.write_ts
            )),
            Err(e) => out.push(format!("key {k}: reading the intent failed: {e}")),
        }
    }
    for r in world.current_ranges() {
        if r.lock_count() > 0 {
            out.push(format!(
                "range starting at {} still holds {} locks",
                super::world::show_key(&r.span.start),
                r.lock_count()
            ));
        }
    }
    let reads = world.rt.lock().reads.len();
    if reads > 0 {
        out.push(format!("{reads} read registrations were never released"));
    }
    out
}

/// The committed transactions of a run.
pub(crate) fn committed(world: &World) -> Vec<(usize, Timestamp, Vec<Op>, u64, u64)> {
    let rt = world.rt.lock();
    rt.txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.outcome == Some(Outcome::Ok))
        .filter_map(|(i, t)| Some((i, t.commit_ts?, t.ops.clone(), t.began, t.ended?)))
        .collect()
}
