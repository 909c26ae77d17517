//! The bank test over pgwire: clients move money between accounts in explicit transactions
//! (retrying on 40001) while other clients read every balance in one transaction. Under
//! serializability every read sees the invariant total and the final total is exact; a lost
//! update, a dirty or a skewed read would show up as a wrong sum.
//!
//! Transfers read both balances and write back values computed by the client (not
//! `balance = balance - x`), so a lost update changes the total instead of being masked.

use cluster::{start_single_node, NodeConfig, StoreSpec};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const ACCOUNTS: i64 = 10;
const INITIAL: i64 = 1000;
const TRANSFER_CLIENTS: usize = 6;
const READ_CLIENTS: usize = 3;
const TRANSFERS_PER_CLIENT: usize = 200;
/// Attempts per transfer before the test gives up on it.
const MAX_ATTEMPTS: usize = 200;
const MAX_DURATION: Duration = Duration::from_secs(40);

#[derive(Default)]
struct Counts {
    transfers: AtomicU64,
    retries: AtomicU64,
    reads: AtomicU64,
    read_retries: AtomicU64,
    violations: AtomicU64,
}

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn is_retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code() == "40001")
}

/// Rows of a simple query as text columns.
async fn rows(client: &Client, sql: &str) -> Result<Vec<Vec<String>>, tokio_postgres::Error> {
    Ok(client
        .simple_query(sql)
        .await?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// Parses an integer the server may print as "10000" or "10000.00" (numeric sums).
fn int(s: &str) -> i64 {
    s.split('.')
        .next()
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("not an integer: {s:?}"))
}

async fn try_transfer(
    client: &Client,
    from: i64,
    to: i64,
    amount: i64,
) -> Result<bool, tokio_postgres::Error> {
    client.simple_query("BEGIN").await?;
    let result = async {
        let b = rows(
            client,
            &format!("SELECT id, balance FROM accounts WHERE id IN ({from}, {to}) ORDER BY id"),
        )
        .await?;
        let bal = |id: i64| b.iter().find(|r| int(&r[0]) == id).map(|r| int(&r[1]));
        let (Some(fb), Some(tb)) = (bal(from), bal(to)) else {
            panic!("accounts {from} and {to} must exist: {b:?}");
        };
        if fb < amount {
            return Ok(false);
        }
        client
            .simple_query(&format!(
                "UPDATE accounts SET balance = {} WHERE id = {from}",
                fb - amount
            ))
            .await?;
        client
            .simple_query(&format!(
                "UPDATE accounts SET balance = {} WHERE id = {to}",
                tb + amount
            ))
            .await?;
        Ok(true)
    }
    .await;
    match result {
        Ok(moved) => {
            client.simple_query("COMMIT").await?;
            Ok(moved)
        }
        Err(e) => {
            let _ = client.simple_query("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn transfer_client(url: String, id: usize, counts: Arc<Counts>, deadline: Instant) {
    let client = connect(&url).await;
    let mut rng = (id as u64 + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..TRANSFERS_PER_CLIENT {
        if Instant::now() >= deadline {
            break;
        }
        let from = (next() % ACCOUNTS as u64) as i64;
        let to = (from + 1 + (next() % (ACCOUNTS as u64 - 1)) as i64) % ACCOUNTS;
        let amount = 1 + (next() % 100) as i64;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match try_transfer(&client, from, to, amount).await {
                Ok(_) => break,
                Err(e) if is_retryable(&e) && attempts < MAX_ATTEMPTS => {
                    counts.retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("transfer {from}->{to} failed after {attempts} attempts: {e:?}"),
            }
        }
        counts.transfers.fetch_add(1, Ordering::Relaxed);
    }
}

/// One read of every balance in a transaction: sum(balance) and the rows summed by the client.
async fn read_all(client: &Client) -> Result<(i64, i64, usize), tokio_postgres::Error> {
    client.simple_query("BEGIN").await?;
    let r = async {
        let sum = rows(client, "SELECT sum(balance) FROM accounts").await?;
        let all = rows(client, "SELECT id, balance FROM accounts").await?;
        Ok::<_, tokio_postgres::Error>((sum, all))
    }
    .await;
    let (sum, all) = match r {
        Ok(v) => v,
        Err(e) => {
            let _ = client.simple_query("ROLLBACK").await;
            return Err(e);
        }
    };
    client.simple_query("COMMIT").await?;
    let total = all.iter().map(|r| int(&r[1])).sum();
    Ok((int(&sum[0][0]), total, all.len()))
}

async fn read_client(
    url: String,
    counts: Arc<Counts>,
    writers_done: Arc<AtomicBool>,
    deadline: Instant,
) {
    let client = connect(&url).await;
    let expected = ACCOUNTS * INITIAL;
    while !writers_done.load(Ordering::Relaxed) && Instant::now() < deadline {
        match read_all(&client).await {
            Ok((sum, total, n)) => {
                counts.reads.fetch_add(1, Ordering::Relaxed);
                if sum != expected || total != expected || n != ACCOUNTS as usize {
                    counts.violations.fetch_add(1, Ordering::Relaxed);
                    eprintln!("VIOLATION: sum(balance) = {sum}, rows summed = {total}, rows = {n}, expected {expected}");
                }
            }
            Err(e) if is_retryable(&e) => {
                counts.read_retries.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => panic!("read of all balances failed: {e:?}"),
        }
        // An implicit single-statement read too (the server may retry it itself).
        match rows(&client, "SELECT sum(balance) FROM accounts").await {
            Ok(r) if int(&r[0][0]) == expected => {}
            Ok(r) => {
                counts.violations.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "VIOLATION: implicit sum(balance) = {:?}, expected {expected}",
                    r
                );
            }
            Err(e) if is_retryable(&e) => {
                counts.read_retries.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => panic!("implicit sum failed: {e:?}"),
        }
        counts.reads.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_transfers_keep_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single_node(NodeConfig::for_tests(StoreSpec::Path(
        dir.path().join("store"),
    )))
    .await
    .unwrap();
    let url = node.sql_url();
    let setup = connect(&url).await;
    setup
        .batch_execute("CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL)")
        .await
        .unwrap();
    let values: Vec<String> = (0..ACCOUNTS).map(|i| format!("({i}, {INITIAL})")).collect();
    setup
        .batch_execute(&format!(
            "INSERT INTO accounts VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();

    let counts = Arc::new(Counts::default());
    let writers_done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + MAX_DURATION;
    let readers: Vec<_> = (0..READ_CLIENTS)
        .map(|_| {
            tokio::spawn(read_client(
                url.clone(),
                counts.clone(),
                writers_done.clone(),
                deadline,
            ))
        })
        .collect();
    let writers: Vec<_> = (0..TRANSFER_CLIENTS)
        .map(|id| tokio::spawn(transfer_client(url.clone(), id, counts.clone(), deadline)))
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    writers_done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }

    let final_rows = rows(&setup, "SELECT id, balance FROM accounts ORDER BY id")
        .await
        .unwrap();
    let final_total: i64 = final_rows.iter().map(|r| int(&r[1])).sum();
    let negative = final_rows.iter().filter(|r| int(&r[1]) < 0).count();
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "bank: {} transfers, {} retries (40001), {} reads, {} read retries, violations = {}, \
         final total = {final_total} (expected {}), {:.1}s",
        c(&counts.transfers),
        c(&counts.retries),
        c(&counts.reads),
        c(&counts.read_retries),
        c(&counts.violations),
        ACCOUNTS * INITIAL,
        start.elapsed().as_secs_f64()
    );
    assert_eq!(c(&counts.violations), 0, "reads saw a wrong total");
    assert_eq!(
        final_total,
        ACCOUNTS * INITIAL,
        "final balances: {final_rows:?}"
    );
    assert_eq!(negative, 0, "overdrawn accounts: {final_rows:?}");
    assert_eq!(final_rows.len(), ACCOUNTS as usize);
    assert!(
        c(&counts.transfers) >= 100,
        "too few transfers to mean anything"
    );
    assert!(c(&counts.reads) > 0, "the readers never completed a read");
    node.shutdown().await.unwrap();
}
