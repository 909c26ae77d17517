//! A randomized list-append workload over pgwire that records a [`History`] for [`super::check`].
//!
//! Table `lists (k INT PRIMARY KEY, v TEXT)`: a row per key holding a comma-separated list.
//! An append is `INSERT ... ON CONFLICT (k) DO UPDATE SET v = lists.v || ',' || excluded.v`
//! (the first append to a key inserts its row, so inserts race too); a read is
//! `SELECT v FROM lists WHERE k = ..` (no row = empty list). Every transaction is an explicit
//! `BEGIN ... COMMIT` of 1 to `max_ops` micro-operations over a small key set, so clients
//! conflict constantly.
//!
//! Outcomes, as Elle needs them: COMMIT succeeded => `Ok`; any statement before COMMIT failed,
//! or COMMIT failed with 40001 => `Failed` (the transaction certainly did not commit); COMMIT
//! failed with anything else (40003, a lost connection) => `Unknown`. Failed transactions are
//! not retried as the same transaction: the client simply runs a new random one.

use super::{History, Op, Outcome, Value};
use anyhow::{Context, Result};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// What the workload does.
#[derive(Debug, Clone)]
pub struct AppendOpts {
    /// Concurrent client sessions.
    pub clients: usize,
    /// Keys 0..keys.
    pub keys: u64,
    /// Micro-operations per transaction: 1..=max_ops.
    pub max_ops: usize,
    /// Transactions per client (each attempt counts).
    pub txns_per_client: usize,
    /// Stop starting transactions after this long.
    pub max_duration: Duration,
    /// Seed of the clients' random choices.
    pub seed: u64,
    /// The statement that starts each transaction, e.g. `BEGIN` or `BEGIN ISOLATION LEVEL
    /// READ COMMITTED` (to watch the checker catch a weaker level's anomalies).
    pub begin: String,
}

/// Counts of what happened.
#[derive(Debug, Clone, Default)]
pub struct AppendStats {
    /// Transactions attempted.
    pub attempted: usize,
    /// Committed.
    pub committed: usize,
    /// Failed with SQLSTATE 40001 (a statement or COMMIT).
    pub retryable: usize,
    /// Failed with another error before COMMIT.
    pub other_failed: usize,
    /// COMMIT failed with something other than 40001: outcome unknown.
    pub unknown: usize,
    /// Up to 20 distinct unexpected error messages (not 40001), with their SQLSTATE.
    pub unexpected_errors: Vec<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Creates the `lists` table (dropping an old one).
pub async fn setup(url: &str) -> Result<()> {
    let client = connect(url).await?;
    client
        .batch_execute("DROP TABLE IF EXISTS lists; CREATE TABLE lists (k INT PRIMARY KEY, v TEXT)")
        .await
        .context("creating lists")?;
    Ok(())
}

async fn connect(url: &str) -> Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A tiny xorshift generator: deterministic per client, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Parses a stored list; an element that is not a number becomes `u64::MAX`, which no client
/// appends, so the checker reports it as a garbage read.
fn parse_list(v: Option<&str>) -> Vec<Value> {
    match v {
        None | Some("") => Vec::new(),
        Some(s) => s
            .split(',')
            .map(|e| e.parse().unwrap_or(u64::MAX))
            .collect(),
    }
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| "none".into())
}

/// Runs one micro-operation, filling in a read's result.
async fn run_op(client: &Client, op: &mut Op) -> Result<(), tokio_postgres::Error> {
    match op {
        Op::Append { key, value } => {
            client
                .simple_query(&format!(
                    "INSERT INTO lists (k, v) VALUES ({key}, '{value}') \
                     ON CONFLICT (k) DO UPDATE SET v = lists.v || ',' || excluded.v"
                ))
                .await?;
        }
        Op::Read { key, values } => {
            let msgs = client
                .simple_query(&format!("SELECT v FROM lists WHERE k = {key}"))
                .await?;
            let row = msgs.iter().find_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                _ => None,
            });
            *values = Some(parse_list(row.flatten().as_deref()));
        }
    }
    Ok(())
}

/// Runs one transaction; returns its outcome and the error behind a failure.
async fn run_txn(
    client: &Client,
    begin: &str,
    ops: &mut [Op],
) -> (Outcome, Option<tokio_postgres::Error>) {
    if let Err(e) = client.simple_query(begin).await {
        return (Outcome::Failed, Some(e));
    }
    for op in ops.iter_mut() {
        if let Err(e) = run_op(client, op).await {
            let _ = client.simple_query("ROLLBACK").await;
            return (Outcome::Failed, Some(e));
        }
    }
    match client.simple_query("COMMIT").await {
        Ok(_) => (Outcome::Ok, None),
        Err(e) if sqlstate(&e) == "40001" => (Outcome::Failed, Some(e)),
        Err(e) => (Outcome::Unknown, Some(e)),
    }
}

fn random_ops(rng: &mut Rng, opts: &AppendOpts, next_value: &mut Value) -> Vec<Op> {
    let n = 1 + rng.below(opts.max_ops as u64) as usize;
    (0..n)
        .map(|_| {
            let key = rng.below(opts.keys);
            if rng.below(2) == 0 {
                Op::Read { key, values: None }
            } else {
                *next_value += 1;
                Op::Append {
                    key,
                    value: *next_value,
                }
            }
        })
        .collect()
}

struct Shared {
    history: History,
    stats: AppendStats,
}

fn record(
    shared: &Mutex<Shared>,
    process: usize,
    ops: Vec<Op>,
    outcome: Outcome,
    err: Option<&tokio_postgres::Error>,
) {
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    s.history.push(process, outcome, ops);
    s.stats.attempted += 1;
    let code = err.map(sqlstate);
    match (outcome, code.as_deref()) {
        (Outcome::Ok, _) => s.stats.committed += 1,
        (Outcome::Unknown, _) => s.stats.unknown += 1,
        (Outcome::Failed, Some("40001")) => s.stats.retryable += 1,
        (Outcome::Failed, _) => s.stats.other_failed += 1,
    }
    if let (Some(e), Some(c)) = (err, code) {
        let msg = format!("{c}: {e}");
        if c != "40001"
            && s.stats.unexpected_errors.len() < 20
            && !s.stats.unexpected_errors.contains(&msg)
        {
            s.stats.unexpected_errors.push(msg);
        }
    }
}

async fn client_loop(
    url: String,
    id: usize,
    opts: AppendOpts,
    shared: Arc<Mutex<Shared>>,
    deadline: Instant,
) -> Result<()> {
    let mut client = connect(&url).await?;
    let mut rng = Rng((opts.seed ^ (id as u64 + 1)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // Values are unique across clients: client id in the high bits.
    let mut next_value: Value = (id as u64 + 1) << 32;
    for _ in 0..opts.txns_per_client {
        if Instant::now() >= deadline {
            break;
        }
        if client.is_closed() {
            client = connect(&url).await?;
        }
        let mut ops = random_ops(&mut rng, &opts, &mut next_value);
        let (outcome, err) = run_txn(&client, &opts.begin, &mut ops).await;
        record(&shared, id, ops, outcome, err.as_ref());
    }
    Ok(())
}

/// Runs the workload, then one final transaction reading every key (it pins the final version
/// order of each key, so no committed append goes unseen); returns the history and counts.
pub async fn run(url: &str, opts: &AppendOpts) -> Result<(History, AppendStats)> {
    let shared = Arc::new(Mutex::new(Shared {
        history: History::default(),
        stats: AppendStats::default(),
    }));
    let start = Instant::now();
    let deadline = start + opts.max_duration;
    let mut handles = Vec::new();
    for id in 0..opts.clients {
        handles.push(tokio::spawn(client_loop(
            url.to_string(),
            id,
            opts.clone(),
            shared.clone(),
            deadline,
        )));
    }
    for h in handles {
        h.await.context("client task panicked")??;
    }
    let client = connect(url).await?;
    let mut ops: Vec<Op> = (0..opts.keys)
        .map(|key| Op::Read { key, values: None })
        .collect();
    let (outcome, err) = run_txn(&client, &opts.begin, &mut ops).await;
    if let Some(e) = err {
        anyhow::bail!("final read of every key failed ({outcome:?}): {e}");
    }
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    s.history.push(opts.clients, Outcome::Ok, ops);
    s.stats.elapsed = start.elapsed();
    Ok((std::mem::take(&mut s.history), s.stats.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse() {
        assert_eq!(parse_list(None), Vec::<u64>::new());
        assert_eq!(parse_list(Some("")), Vec::<u64>::new());
        assert_eq!(parse_list(Some("3,1,2")), vec![3, 1, 2]);
        assert_eq!(parse_list(Some("3,x")), vec![3, u64::MAX]);
    }
}
