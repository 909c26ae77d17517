//! A three-node cluster of real processes on 127.0.0.x runs bank transfers while nodes are
//! killed with SIGKILL: kill node 1 (which holds the first leases), keep going, restart it,
//! then kill node 2. Throughout, the total balance is invariant, and every transfer whose
//! COMMIT was acknowledged is present at the end (each transfer also inserts its id into an
//! `acks` table in the same transaction).

use meridian_tests::cluster::{try_connect as connect, ProcessCluster};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

const ACCOUNTS: i64 = 10;
const INITIAL: i64 = 1000;
const WORKERS: usize = 4;

struct Shared {
    urls: Vec<String>,
    alive: Vec<AtomicBool>,
    stop: AtomicBool,
    committed: AtomicU64,
    acked: parking_lot::Mutex<BTreeSet<i64>>,
    next_id: AtomicU64,
}

/// One transfer; Ok(true) committed, Ok(false) retryable conflict, Err: connection trouble
/// or an outcome we cannot know (the id is then neither counted nor required).
async fn transfer(c: &Client, id: i64, from: i64, to: i64) -> Result<bool, tokio_postgres::Error> {
    c.batch_execute("BEGIN").await?;
    let r = async {
        let a: i64 = c
            .query_one("SELECT balance FROM accounts WHERE id = $1", &[&from])
            .await?
            .get(0);
        let b: i64 = c
            .query_one("SELECT balance FROM accounts WHERE id = $1", &[&to])
            .await?
            .get(0);
        c.execute(
            "UPDATE accounts SET balance = $1 WHERE id = $2",
            &[&(a - 7), &from],
        )
        .await?;
        c.execute(
            "UPDATE accounts SET balance = $1 WHERE id = $2",
            &[&(b + 7), &to],
        )
        .await?;
        c.execute("INSERT INTO acks VALUES ($1)", &[&id]).await?;
        c.batch_execute("COMMIT").await
    }
    .await;
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.code().is_some_and(|s| s.code() == "40001") => {
            let _ = c.batch_execute("ROLLBACK").await;
            Ok(false)
        }
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn worker(sh: Arc<Shared>, w: usize) {
    let mut node = w % sh.urls.len();
    let mut client: Option<Client> = None;
    let mut rng = w as u64 * 7919 + 1;
    while !sh.stop.load(Ordering::SeqCst) {
        if client.is_none() {
            node = (node + 1) % sh.urls.len();
            if !sh.alive[node].load(Ordering::SeqCst) {
                continue;
            }
            client = connect(&sh.urls[node]).await;
            if client.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let Some(c) = client.as_ref() else { continue };
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let from = (rng % ACCOUNTS as u64) as i64;
        let to = (from + 1 + ((rng >> 8) % (ACCOUNTS as u64 - 1)) as i64) % ACCOUNTS;
        let id = sh.next_id.fetch_add(1, Ordering::SeqCst) as i64;
        match tokio::time::timeout(Duration::from_secs(30), transfer(c, id, from, to)).await {
            Ok(Ok(true)) => {
                sh.acked.lock().insert(id);
                sh.committed.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                if e.is_closed() || e.code().is_none() || !sh.alive[node].load(Ordering::SeqCst) {
                    client = None;
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(_) => client = None,
        }
    }
}

async fn until_progress(sh: &Shared, what: &str, cluster: &ProcessCluster) {
    let start = sh.committed.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(90);
    while sh.committed.load(Ordering::SeqCst) < start + 20 {
        if Instant::now() > deadline {
            panic!(
                "{what}: no progress ({} commits)\n{}",
                sh.committed.load(Ordering::SeqCst) - start,
                cluster.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn must_sql(url: &str, sql: &str, cluster: &ProcessCluster) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(c) = connect(url).await {
            match c.batch_execute(sql).await {
                Ok(()) => return,
                Err(e) => last = format!("{e:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{sql}: {last}\n{}", cluster.logs());
}

/// The index (in start order) of the process holding the accounts range's lease.
async fn leaseholder_process(cluster: &ProcessCluster, urls: &[String]) -> usize {
    let c = connect(&urls[2]).await.expect("node 3");
    let holder: i64 = c
        .query_one(
            "SELECT lease_holder FROM [SHOW RANGES FROM TABLE accounts] LIMIT 1",
            &[],
        )
        .await
        .or(c.query_one("SHOW RANGES FROM TABLE accounts", &[]).await)
        .ok()
        .and_then(|r| r.try_get::<_, i64>("lease_holder").ok())
        .unwrap_or(1);
    let addr: String = c
        .query_one(
            "SELECT sql_address FROM crdb_internal.gossip_nodes WHERE node_id = $1",
            &[&holder],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_default();
    cluster
        .nodes
        .iter()
        .position(|n| n.sql.to_string() == addr)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_survives_killing_nodes() {
    let mut cluster = ProcessCluster::start(3, &[]);
    cluster.init();
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url("defaultdb")).collect();
    let values: Vec<String> = (0..ACCOUNTS).map(|i| format!("({i}, {INITIAL})")).collect();
    must_sql(
        &urls[0],
        &format!(
            "CREATE TABLE accounts (id INT8 PRIMARY KEY, balance INT8 NOT NULL); \
             CREATE TABLE acks (id INT8 PRIMARY KEY); \
             INSERT INTO accounts VALUES {}",
            values.join(", ")
        ),
        &cluster,
    )
    .await;
    // Wait for every range to have three replicas before killing anything.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let c = connect(&urls[1]).await;
        let ok = match c {
            Some(c) => c
                .query("SHOW RANGES FROM TABLE accounts", &[])
                .await
                .is_ok_and(|rows| {
                    !rows.is_empty()
                        && rows.iter().all(|r| {
                            r.try_get::<_, Vec<i64>>("replicas")
                                .is_ok_and(|v| v.len() == 3)
                        })
                }),
            None => false,
        };
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ranges never reached 3 replicas\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let sh = Arc::new(Shared {
        urls: urls.clone(),
        alive: (0..3).map(|_| AtomicBool::new(true)).collect(),
        stop: AtomicBool::new(false),
        committed: AtomicU64::new(0),
        acked: parking_lot::Mutex::new(BTreeSet::new()),
        next_id: AtomicU64::new(1),
    });
    let tasks: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(sh.clone(), w)))
        .collect();
    until_progress(&sh, "before any kill", &cluster).await;

    // First kill the node holding the accounts range's lease: the others must take over.
    let first = leaseholder_process(&cluster, &urls).await;
    sh.alive[first].store(false, Ordering::SeqCst);
    cluster.nodes[first].kill9();
    until_progress(&sh, "after killing the leaseholder", &cluster).await;

    cluster.restart(first);
    sh.alive[first].store(true, Ordering::SeqCst);
    until_progress(&sh, "after restarting it", &cluster).await;
    // Let it catch up before losing another node.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let second = (first + 1) % 3;
    sh.alive[second].store(false, Ordering::SeqCst);
    cluster.nodes[second].kill9();
    until_progress(&sh, "after killing a second node", &cluster).await;

    sh.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let survivor = (second + 1) % 3;
    let c = connect(&urls[survivor]).await.expect("a live node");
    let total: i64 = c
        .query_one("SELECT sum(balance)::INT8 FROM accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, ACCOUNTS * INITIAL, "the total balance changed");
    let present: BTreeSet<i64> = c
        .query("SELECT id FROM acks", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let acked = sh.acked.lock().clone();
    let missing: Vec<&i64> = acked.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "acknowledged transfers lost: {missing:?}"
    );
    eprintln!(
        "cluster kill test: {} transfers acknowledged, {} rows present, total {total}",
        acked.len(),
        present.len()
    );
}
