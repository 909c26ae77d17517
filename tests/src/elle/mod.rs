//! An Elle-style checker for list-append histories (Kingsbury and Alvaro, "Elle: Inferring
//! Isolation Anomalies from Experimental Observations", VLDB 2020).
//!
//! Why list-append: when every append to a key adds a value no other append adds, and a read
//! returns the whole list, a read reveals not just *a* version but the entire order of versions
//! before it. From a history of completed transactions the checker can therefore recover each
//! key's version order, derive the dependency graph between committed transactions (Adya's
//! ww, wr and rw edges) and name the anomaly behind every cycle, without trusting the database's
//! own account of what happened.
//!
//! [`workload`] runs a randomized list-append workload over pgwire and records its history.
//!
//! Input: a [`History`] of [`Txn`]s, each with an [`Outcome`] (`Ok`, `Failed` — definitely did
//! not commit, e.g. 40001 — or `Unknown`, e.g. an error on COMMIT) and a list of [`Op`]s.
//! [`check`] returns a [`Report`] with every [`Anomaly`] found:
//!
//! - per key: `IncompatibleOrder` (two reads that are not prefixes of one another),
//!   `DuplicateElements` (a value twice in one read), `GarbageRead` (a value nobody appended),
//!   `DuplicateAppend` (the history broke the unique-values rule);
//! - per read: `G1a` (aborted read: saw a value appended only by a failed transaction), `G1b`
//!   (intermediate read: the read ends at a value its writer later overwrote with another
//!   append to the same key), `Internal` (a transaction's read disagrees with its own earlier
//!   reads and appends);
//! - per cycle in the dependency graph: `G0` (ww edges only), `G1c` (ww and wr edges),
//!   `GSingle` (exactly one rw edge), `G2` (two or more rw edges).
//!
//! Graph nodes are the committed transactions: `Ok` ones, and `Unknown` ones (their reads are
//! not known, but their appends, if observed, place them in version orders). Edges:
//! - ww: the writers of consecutive elements of a key's version order;
//! - wr: the writer of the last element a read saw -> the reader;
//! - rw: the reader of a prefix ending at element i -> the writer of element i+1 (an empty read
//!   precedes the writer of the first element).
//!
//! Version order of a key: the longest list any committed read returned; every other read must
//! be a prefix of it.
//!
//! IMPLEMENTATION CAVEATS
//! - Only serializability is checked: there are no real-time or per-process edges, so a
//!   stale read that is serializable but not strictly serializable is not reported.
//! - Appends of committed transactions that no read ever saw have no place in the version order
//!   and add no edges (Elle does the same; they can hide an anomaly but never invent one).
//! - Cycles are searched only inside strongly connected components and at most
//!   [`MAX_CYCLES_PER_KIND`] are reported per anomaly kind (the count is exact only up to there).

mod graph;
mod order;
#[cfg(test)]
mod tests;
pub mod workload;

use std::collections::HashMap;
use std::fmt;

/// A key of the list-append workload.
pub type Key = u64;
/// A value appended to a key (unique per key).
pub type Value = u64;
/// A transaction's index in [`History::txns`].
pub type TxnId = usize;

/// At most this many cycles of each kind are reported.
pub const MAX_CYCLES_PER_KIND: usize = 10;

/// One micro-operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Append `value` to the list at `key`.
    Append {
        /// The key.
        key: Key,
        /// The value (unique among all appends to `key`).
        value: Value,
    },
    /// Read the list at `key`; `values` is None when the result is unknown (the statement
    /// failed or the transaction did not complete).
    Read {
        /// The key.
        key: Key,
        /// The list read, oldest element first (empty when the key was absent).
        values: Option<Vec<Value>>,
    },
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// COMMIT succeeded.
    Ok,
    /// The transaction certainly did not commit (rolled back, 40001, statement error).
    Failed,
    /// It may or may not have committed (an error on COMMIT other than 40001, a lost
    /// connection).
    Unknown,
}

/// One completed transaction of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// The client (session) that ran it.
    pub process: usize,
    /// How it ended.
    pub outcome: Outcome,
    /// Its micro-operations in order.
    pub ops: Vec<Op>,
}

/// A history: every transaction the clients ran.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The transactions; their index is their [`TxnId`].
    pub txns: Vec<Txn>,
}

impl History {
    /// Adds a transaction and returns its id.
    pub fn push(&mut self, process: usize, outcome: Outcome, ops: Vec<Op>) -> TxnId {
        self.txns.push(Txn {
            process,
            outcome,
            ops,
        });
        self.txns.len() - 1
    }
}

/// A dependency between two committed transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// Write-write: `from` appended the element right before `to`'s.
    Ww,
    /// Write-read: `to` read a list ending at `from`'s append.
    Wr,
    /// Read-write anti-dependency: `from` read a list that `to`'s append later extended.
    Rw,
}

/// One edge of a reported cycle: `from` -> `to` because of `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Source transaction.
    pub from: TxnId,
    /// Edge kind.
    pub kind: EdgeKind,
    /// The key that created the edge.
    pub key: Key,
    /// Target transaction.
    pub to: TxnId,
}

/// An anomaly found in a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// Two reads of `key` where neither is a prefix of the other.
    IncompatibleOrder {
        /// The key.
        key: Key,
        /// One read.
        a: Vec<Value>,
        /// A read that is not a prefix of `a`, nor `a` of it.
        b: Vec<Value>,
    },
    /// A read containing a value more than once.
    DuplicateElements {
        /// The reader.
        txn: TxnId,
        /// The key.
        key: Key,
        /// The list read.
        values: Vec<Value>,
    },
    /// A read of a value no transaction appended.
    GarbageRead {
        /// The reader.
        txn: TxnId,
        /// The key.
        key: Key,
        /// The value.
        value: Value,
    },
    /// Two appends of the same value to one key (the history is not a valid input).
    DuplicateAppend {
        /// The key.
        key: Key,
        /// The value.
        value: Value,
        /// The two appenders.
        txns: [TxnId; 2],
    },
    /// G1a: a committed read saw a value appended only by a failed transaction.
    G1a {
        /// The reader.
        reader: TxnId,
        /// The failed writer.
        writer: TxnId,
        /// The key.
        key: Key,
        /// The value.
        value: Value,
    },
    /// G1b: a committed read ended at a writer's non-final append to the key.
    G1b {
        /// The reader.
        reader: TxnId,
        /// The writer.
        writer: TxnId,
        /// The key.
        key: Key,
        /// The intermediate value the read ended at.
        value: Value,
    },
    /// A transaction's read disagreed with its own earlier reads and appends.
    Internal {
        /// The transaction.
        txn: TxnId,
        /// The key.
        key: Key,
        /// What its earlier operations imply the list ends with (or equals).
        expected: Vec<Value>,
        /// What it read.
        read: Vec<Value>,
    },
    /// G0: a cycle of ww edges (dirty write).
    G0(Vec<Step>),
    /// G1c: a cycle of ww and wr edges with at least one wr (circular information flow).
    G1c(Vec<Step>),
    /// G-single: a cycle with exactly one rw edge (read skew).
    GSingle(Vec<Step>),
    /// G2: a cycle with two or more rw edges (write skew and friends).
    G2(Vec<Step>),
}

impl Anomaly {
    /// The anomaly's name as Elle prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Anomaly::IncompatibleOrder { .. } => "incompatible-order",
            Anomaly::DuplicateElements { .. } => "duplicate-elements",
            Anomaly::GarbageRead { .. } => "garbage-read",
            Anomaly::DuplicateAppend { .. } => "duplicate-append",
            Anomaly::G1a { .. } => "G1a",
            Anomaly::G1b { .. } => "G1b",
            Anomaly::Internal { .. } => "internal",
            Anomaly::G0(_) => "G0",
            Anomaly::G1c(_) => "G1c",
            Anomaly::GSingle(_) => "G-single",
            Anomaly::G2(_) => "G2",
        }
    }

    /// The cycle, for cycle anomalies.
    pub fn cycle(&self) -> Option<&[Step]> {
        match self {
            Anomaly::G0(c) | Anomaly::G1c(c) | Anomaly::GSingle(c) | Anomaly::G2(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name())?;
        match self {
            Anomaly::IncompatibleOrder { key, a, b } => {
                write!(
                    f,
                    "key {key}: reads {a:?} and {b:?} are not prefixes of one another"
                )
            }
            Anomaly::DuplicateElements { txn, key, values } => {
                write!(
                    f,
                    "T{txn} read key {key} = {values:?} with a repeated element"
                )
            }
            Anomaly::GarbageRead { txn, key, value } => {
                write!(f, "T{txn} read value {value} of key {key}, never appended")
            }
            Anomaly::DuplicateAppend { key, value, txns } => write!(
                f,
                "T{} and T{} both appended {value} to key {key}",
                txns[0], txns[1]
            ),
            Anomaly::G1a {
                reader,
                writer,
                key,
                value,
            } => write!(
                f,
                "T{reader} read {value} of key {key}, appended by failed T{writer}"
            ),
            Anomaly::G1b {
                reader,
                writer,
                key,
                value,
            } => write!(
                f,
                "T{reader} read key {key} ending at {value}, an intermediate append of T{writer}"
            ),
            Anomaly::Internal {
                txn,
                key,
                expected,
                read,
            } => write!(
                f,
                "T{txn} read key {key} = {read:?}, its own earlier ops imply {expected:?}"
            ),
            Anomaly::G0(c) | Anomaly::G1c(c) | Anomaly::GSingle(c) | Anomaly::G2(c) => {
                for s in c {
                    write!(f, "T{} -{:?}({})-> ", s.from, s.kind, s.key)?;
                }
                match c.first() {
                    Some(s) => write!(f, "T{}", s.from),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every anomaly (cycles capped at [`MAX_CYCLES_PER_KIND`] per kind).
    pub anomalies: Vec<Anomaly>,
    /// Committed (`Ok`) transactions.
    pub committed: usize,
    /// Failed transactions.
    pub failed: usize,
    /// Transactions with an unknown outcome.
    pub unknown: usize,
    /// Edges in the dependency graph.
    pub edges: usize,
}

impl Report {
    /// Whether no anomaly was found.
    pub fn is_valid(&self) -> bool {
        self.anomalies.is_empty()
    }

    /// Anomaly counts by name, sorted by name.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let mut m: HashMap<&'static str, usize> = HashMap::new();
        for a in &self.anomalies {
            *m.entry(a.name()).or_default() += 1;
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort();
        v
    }

    /// A readable account of every anomaly with the operations of the transactions involved.
    pub fn explain(&self, history: &History) -> String {
        let mut out = String::new();
        for a in &self.anomalies {
            out.push_str(&format!("{a}\n"));
            if let Some(c) = a.cycle() {
                for s in c {
                    if let Some(t) = history.txns.get(s.from) {
                        out.push_str(&format!("    T{} {:?} {:?}\n", s.from, t.outcome, t.ops));
                    }
                }
            }
        }
        out
    }
}

/// Checks a list-append history; see the module docs.
pub fn check(history: &History) -> Report {
    let mut report = Report::default();
    for t in &history.txns {
        match t.outcome {
            Outcome::Ok => report.committed += 1,
            Outcome::Failed => report.failed += 1,
            Outcome::Unknown => report.unknown += 1,
        }
    }
    let appends = order::index_appends(history, &mut report.anomalies);
    order::check_internal(history, &mut report.anomalies);
    let orders = order::version_orders(history, &mut report.anomalies);
    order::check_reads(history, &appends, &mut report.anomalies);
    let g = graph::build(history, &appends, &orders);
    report.edges = g.edge_count();
    graph::find_cycles(&g, &mut report.anomalies);
    report
}
