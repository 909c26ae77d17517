//! Regression test: one-phase commits racing range splits lose no update and apply none twice.
//!
//! The bug (fixed in 7176999, `txn/src/range/mod.rs`): a write that applied through Raft just
//! before a split retired its range's transaction object was reported as a key mismatch; the
//! DistSender retried it on the new range, so a one-phase commit wrote its (by then stale)
//! values again, over a newer write (TPC-C's check 1 failed on a 3-node cluster).
//!
//! Here several connections increment a few counters with read-modify-write transactions
//! that each touch one row, so they commit in one phase: half as implicit transactions
//! (`UPDATE .. SET v = v + 1`), half as explicit ones (`SELECT v`, then `UPDATE .. SET v = $2`,
//! `COMMIT`). Meanwhile another connection splits the counters' ranges again and again at new
//! keys (`ALTER TABLE .. SPLIT AT`), every split landing in a range that holds a counter. At
//! the end every counter must equal the number of increments acknowledged for it (plus at most
//! the ones whose outcome the server reported as unknown).
//!
//! Three more bugs this test found (session 5), all fixed:
//! - a refresh read a key through the transaction's own intent, so a transaction that read a
//!   key, then wrote it in two phases above another transaction's newer commit, refreshed
//!   successfully over that commit (`kv::mvcc::ReadOpts::skip_own_intents`);
//! - a refresh recorded a read at a timestamp above the node's clock, and the object that
//!   replaced the range after a split started its timestamp cache below it;
//! - a request that met a lock in a replaced range object pushed and re-evaluated there
//!   forever (resolutions go to the new object), a hang.

mod common;

use cluster::server::start_node;
use cluster::transport::LocalNetwork;
use common::{connect, node_config, sql};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// Counters, at ids `c * GAP`; splits go at `c * GAP + round`, between two counters.
const COUNTERS: i64 = 4;
const GAP: i64 = 1_000_000;
const WORKERS: usize = 6;
/// How long the increments and splits run.
const RUN: Duration = Duration::from_secs(8);

/// What one worker saw per counter.
#[derive(Default, Debug)]
struct Tally {
    /// Increments the server acknowledged.
    acked: BTreeMap<i64, i64>,
    /// Increments that failed with an error other than a serialization failure (40001): the
    /// server does not promise they did not apply.
    unknown: BTreeMap<i64, i64>,
    /// Serialization failures (retried by the worker; they did not apply).
    retries: u64,
    /// Their messages (the start of each), for the report.
    retry_reasons: BTreeMap<String, u64>,
}

/// An error that guarantees the transaction did not commit.
fn did_not_apply(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
}

/// An increment failed at `step` (the statement that returned the error).
struct Failed {
    step: &'static str,
    error: tokio_postgres::Error,
}

fn at(step: &'static str) -> impl Fn(tokio_postgres::Error) -> Failed {
    move |error| Failed { step, error }
}

async fn implicit_increment(c: &Client, id: i64) -> Result<(), Failed> {
    let n = c
        .execute("UPDATE counters SET v = v + 1 WHERE id = $1", &[&id])
        .await
        .map_err(at("UPDATE"))?;
    assert_eq!(n, 1, "counter {id} exists");
    Ok(())
}

async fn explicit_increment(c: &Client, id: i64) -> Result<(), Failed> {
    c.batch_execute("BEGIN").await.map_err(at("BEGIN"))?;
    let r = async {
        let v: i64 = c
            .query_one("SELECT v FROM counters WHERE id = $1", &[&id])
            .await
            .map_err(at("SELECT"))?
            .get(0);
        c.execute("UPDATE counters SET v = $2 WHERE id = $1", &[&id, &(v + 1)])
            .await
            .map_err(at("UPDATE"))?;
        c.batch_execute("COMMIT").await.map_err(at("COMMIT"))
    }
    .await;
    if r.is_err() {
        let _ = c.batch_execute("ROLLBACK").await;
    }
    r
}

async fn incrementer(node_url: String, worker: usize, stop: Arc<AtomicBool>) -> Tally {
    let c = connect(&node_url).await;
    let mut t = Tally::default();
    // Even workers run implicit transactions on the even counters, odd workers explicit ones
    // on the odd counters: a wrong counter tells which kind of transaction went wrong.
    let implicit = worker.is_multiple_of(2);
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = ((i % (COUNTERS / 2)) * 2 + (worker as i64 % 2)) * GAP;
        i += 1;
        let r = if implicit {
            implicit_increment(&c, id).await
        } else {
            explicit_increment(&c, id).await
        };
        match r {
            Ok(()) => *t.acked.entry(id).or_default() += 1,
            Err(f) if did_not_apply(&f.error) => {
                t.retries += 1;
                let msg = f
                    .error
                    .as_db_error()
                    .map_or(String::new(), |d| d.message().to_string());
                // The reason, without the transaction-specific detail after it.
                let reason: String = msg.splitn(4, ": ").take(3).collect::<Vec<_>>().join(": ");
                *t.retry_reasons
                    .entry(format!("{}: {reason}", f.step))
                    .or_default() += 1;
            }
            Err(f) => {
                eprintln!("worker {worker}: counter {id}: {}: {:?}", f.step, f.error);
                *t.unknown.entry(id).or_default() += 1;
            }
        }
    }
    t
}

/// Splits between every pair of counters, at a new key each round, until `stop`; returns the
/// number of splits made.
async fn splitter(c: Client, stop: Arc<AtomicBool>) -> usize {
    let mut splits = 0;
    let mut round = 1;
    while !stop.load(Ordering::Relaxed) {
        for gap in 0..COUNTERS {
            let key = gap * GAP + round;
            match c
                .batch_execute(&format!("ALTER TABLE counters SPLIT AT VALUES ({key})"))
                .await
            {
                Ok(()) => splits += 1,
                Err(e) => eprintln!("split at {key}: {e:?}"),
            }
        }
        round += 1;
    }
    splits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_phase_commits_racing_splits_lose_no_update() {
    let started = Instant::now();
    let net = LocalNetwork::new();
    let node = start_node(node_config(&net, vec![])).await.expect("node");
    let admin = sql(&node).await;
    admin
        .batch_execute("CREATE TABLE counters (id INT8 PRIMARY KEY, v INT8 NOT NULL)")
        .await
        .unwrap();
    for c in 0..COUNTERS {
        admin
            .execute("INSERT INTO counters VALUES ($1, 0)", &[&(c * GAP)])
            .await
            .unwrap();
    }

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(incrementer(node.sql_url(), w, stop.clone())))
        .collect();
    let split = tokio::spawn(splitter(sql(&node).await, stop.clone()));
    tokio::time::sleep(RUN).await;
    stop.store(true, Ordering::Relaxed);

    let splits = split.await.unwrap();
    let mut acked: BTreeMap<i64, i64> = BTreeMap::new();
    let mut unknown: BTreeMap<i64, i64> = BTreeMap::new();
    let mut retries = 0;
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for w in workers {
        let t = w.await.unwrap();
        for (id, n) in t.acked {
            *acked.entry(id).or_default() += n;
        }
        for (id, n) in t.unknown {
            *unknown.entry(id).or_default() += n;
        }
        retries += t.retries;
        for (m, n) in t.retry_reasons {
            *reasons.entry(m).or_default() += n;
        }
    }
    let total: i64 = acked.values().sum();
    eprintln!(
        "{splits} splits, {total} acknowledged increments, {retries} retries {reasons:?}, \
         unknown outcomes {unknown:?}, {:?}",
        started.elapsed()
    );
    assert!(splits >= 20, "the splitter made only {splits} splits");
    assert!(total >= 200, "only {total} increments were acknowledged");

    let rows = admin
        .query("SELECT id, v FROM counters ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), COUNTERS as usize);
    let mut wrong = Vec::new();
    for row in rows {
        let (id, v): (i64, i64) = (row.get(0), row.get(1));
        let a = acked.get(&id).copied().unwrap_or(0);
        let u = unknown.get(&id).copied().unwrap_or(0);
        if !(a <= v && v <= a + u) {
            wrong.push(format!(
                "counter {id} ({} transactions) = {v}, but {a} increments were acknowledged \
                 ({u} with unknown outcome): {}",
                if (id / GAP) % 2 == 0 {
                    "implicit"
                } else {
                    "explicit"
                },
                if v < a {
                    "an update was lost"
                } else {
                    "an increment applied twice"
                }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    node.shutdown().await.unwrap();
}
