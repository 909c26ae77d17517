//! Per-key facts of a list-append history: who appended each value, each key's version order,
//! and the anomalies visible without the dependency graph (incompatible orders, duplicates,
//! garbage, aborted and intermediate reads, internal inconsistency).

use super::{Anomaly, History, Key, Op, Outcome, TxnId, Value};
use std::collections::{HashMap, HashSet};

/// Who appended a value, and whether it was that transaction's last append to the key.
#[derive(Debug, Clone, Copy)]
pub(super) struct AppendInfo {
    pub txn: TxnId,
    pub is_final: bool,
}

/// (key, value) -> its appender.
pub(super) type Appends = HashMap<(Key, Value), AppendInfo>;

/// Key -> version order (oldest first), from the longest committed read.
pub(super) type Orders = HashMap<Key, Vec<Value>>;

/// Whether a transaction's effects may be visible: it committed or might have.
pub(super) fn maybe_committed(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Ok | Outcome::Unknown)
}

/// Every read of a committed (`Ok`) transaction whose result is known: (txn, key, values).
pub(super) fn committed_reads(history: &History) -> impl Iterator<Item = (TxnId, Key, &[Value])> {
    history
        .txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.outcome == Outcome::Ok)
        .flat_map(|(id, t)| {
            t.ops.iter().filter_map(move |op| match op {
                Op::Read {
                    key,
                    values: Some(v),
                } => Some((id, *key, v.as_slice())),
                _ => None,
            })
        })
}

/// Indexes every append; reports values appended twice.
pub(super) fn index_appends(history: &History, out: &mut Vec<Anomaly>) -> Appends {
    let mut appends = Appends::new();
    for (id, t) in history.txns.iter().enumerate() {
        let mut last_for_key: HashMap<Key, Value> = HashMap::new();
        for op in &t.ops {
            if let Op::Append { key, value } = op {
                last_for_key.insert(*key, *value);
            }
        }
        for op in &t.ops {
            let Op::Append { key, value } = op else {
                continue;
            };
            let info = AppendInfo {
                txn: id,
                is_final: last_for_key.get(key) == Some(value),
            };
            if let Some(prev) = appends.get(&(*key, *value)) {
                out.push(Anomaly::DuplicateAppend {
                    key: *key,
                    value: *value,
                    txns: [prev.txn, id],
                });
                continue;
            }
            appends.insert((*key, *value), info);
        }
    }
    appends
}

/// What a transaction's own earlier operations imply about its next read of a key.
enum Expect {
    /// It read the key: the next read must equal this (plus its appends since).
    Exact(Vec<Value>),
    /// It has not read the key: the next read must end with its appends so far.
    Suffix(Vec<Value>),
}

/// Reports reads that contradict the same transaction's earlier reads and appends.
pub(super) fn check_internal(history: &History, out: &mut Vec<Anomaly>) {
    for (id, t) in history.txns.iter().enumerate() {
        if t.outcome != Outcome::Ok {
            continue;
        }
        let mut state: HashMap<Key, Expect> = HashMap::new();
        for op in &t.ops {
            match op {
                Op::Append { key, value } => match state
                    .entry(*key)
                    .or_insert_with(|| Expect::Suffix(Vec::new()))
                {
                    Expect::Exact(v) | Expect::Suffix(v) => v.push(*value),
                },
                Op::Read {
                    key,
                    values: Some(read),
                } => {
                    let bad = match state.get(key) {
                        Some(Expect::Exact(e)) => (e != read).then(|| e.clone()),
                        Some(Expect::Suffix(s)) => (!read.ends_with(s)).then(|| s.clone()),
                        None => None,
                    };
                    if let Some(expected) = bad {
                        out.push(Anomaly::Internal {
                            txn: id,
                            key: *key,
                            expected,
                            read: read.clone(),
                        });
                    }
                    state.insert(*key, Expect::Exact(read.clone()));
                }
                Op::Read { values: None, .. } => {}
            }
        }
    }
}

fn has_duplicates(values: &[Value]) -> bool {
    let mut seen = HashSet::new();
    values.iter().any(|v| !seen.insert(*v))
}

/// Infers each key's version order from the longest committed read; reports reads that are
/// not prefixes of it (one per key) and reads with repeated elements.
pub(super) fn version_orders(history: &History, out: &mut Vec<Anomaly>) -> Orders {
    let mut orders = Orders::new();
    for (txn, key, values) in committed_reads(history) {
        if has_duplicates(values) {
            out.push(Anomaly::DuplicateElements {
                txn,
                key,
                values: values.to_vec(),
            });
            continue;
        }
        let longest = orders.entry(key).or_default();
        if values.len() > longest.len() {
            *longest = values.to_vec();
        }
    }
    let mut reported: HashSet<Key> = HashSet::new();
    for (_, key, values) in committed_reads(history) {
        let Some(longest) = orders.get(&key) else {
            continue;
        };
        if !longest.starts_with(values) && !has_duplicates(values) && reported.insert(key) {
            out.push(Anomaly::IncompatibleOrder {
                key,
                a: longest.clone(),
                b: values.to_vec(),
            });
        }
    }
    orders
}

/// Reports garbage reads, aborted reads (G1a) and intermediate reads (G1b).
pub(super) fn check_reads(history: &History, appends: &Appends, out: &mut Vec<Anomaly>) {
    for (reader, key, values) in committed_reads(history) {
        for v in values {
            match appends.get(&(key, *v)) {
                None => out.push(Anomaly::GarbageRead {
                    txn: reader,
                    key,
                    value: *v,
                }),
                Some(a) if a.txn != reader && history.txns[a.txn].outcome == Outcome::Failed => out
                    .push(Anomaly::G1a {
                        reader,
                        writer: a.txn,
                        key,
                        value: *v,
                    }),
                Some(_) => {}
            }
        }
        let seen = strip_own(values, key, reader, appends);
        if let Some(last) = seen.last() {
            if let Some(a) = appends.get(&(key, *last)) {
                if a.txn != reader && !a.is_final {
                    out.push(Anomaly::G1b {
                        reader,
                        writer: a.txn,
                        key,
                        value: *last,
                    });
                }
            }
        }
    }
}

/// The part of a read that others wrote: the read without the reader's own trailing appends.
pub(super) fn strip_own<'a>(
    values: &'a [Value],
    key: Key,
    reader: TxnId,
    appends: &Appends,
) -> &'a [Value] {
    let own = values
        .iter()
        .rev()
        .take_while(|v| appends.get(&(key, **v)).is_some_and(|a| a.txn == reader))
        .count();
    &values[..values.len() - own]
}
