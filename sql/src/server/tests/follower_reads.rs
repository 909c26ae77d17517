//! pgwire tests of bounded-staleness reads and `default_transaction_use_follower_reads`
//! through tokio-postgres, on a real-clock test server: the read timestamps chosen, the
//! SQLSTATEs a driver sees, and that the extended protocol behaves like the simple one.

use super::{code, connect, simple_rows};
use crate::server::TestServer;
use std::time::{Duration, Instant};

/// Upper bound on waiting for the table to be old enough for a 1 s stale read.
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn bounded_staleness_and_follower_reads_over_pgwire() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    client
        .batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')")
        .await
        .unwrap();
    let created = Instant::now();
    // with_max_staleness('1s') reads at most 1 s in the past: the table appears once it is 1 s
    // old (the read goes to the bound, not to follower_read_timestamp()).
    let recent = "SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('1s')";
    let rows = loop {
        match client.query(recent, &[]).await {
            Ok(rows) if !rows.is_empty() => break rows,
            // The table and its row are written by two implicit transactions: for a moment
            // the table is 1 s old and the row not yet.
            Ok(_) => assert!(created.elapsed() < DEADLINE, "row never visible"),
            Err(e) => {
                assert_eq!(code(&e), "42P01", "{e}");
                assert!(created.elapsed() < DEADLINE, "table never visible: {e}");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows[0].get::<_, String>(0), "a");
    // with_max_staleness('10s') reads at follower_read_timestamp(), 4.8 s ago: before the
    // table existed (checked only while that is certain).
    let stale = client
        .query(
            "SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('10s')",
            &[],
        )
        .await;
    if created.elapsed() < Duration::from_secs(4) {
        assert_eq!(code(&stale.unwrap_err()), "42P01");
    }
    // nearest_only with a bound the nearest replica cannot serve.
    let e = client
        .simple_query("SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('1s', true)")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "XXUUU");
    // Not in explicit transactions; the failed block then needs a ROLLBACK.
    client.batch_execute("BEGIN").await.unwrap();
    let e = client.query(recent, &[]).await.unwrap_err();
    assert_eq!(code(&e), "0A000");
    client.batch_execute("ROLLBACK").await.unwrap();
    let e = client
        .batch_execute("BEGIN AS OF SYSTEM TIME with_min_timestamp(now() - '1s'::interval)")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "0A000");

    // default_transaction_use_follower_reads: read-only transactions read 4.8 s back (now()
    // is the read time in an AS OF SYSTEM TIME transaction), read-write ones do not.
    client
        .batch_execute("SET default_transaction_use_follower_reads = on")
        .await
        .unwrap();
    assert_eq!(
        simple_rows(&client, "SHOW default_transaction_use_follower_reads").await,
        [[Some("on".to_string())]]
    );
    let lag = "SELECT clock_timestamp() - now() > interval '4.5s'";
    client.batch_execute("BEGIN READ ONLY").await.unwrap();
    let row = client.query_one(lag, &[]).await.unwrap();
    assert!(
        row.get::<_, bool>(0),
        "BEGIN READ ONLY did not read 4.8 s back"
    );
    // 4.8 s ago the table did not exist yet: the catalog is read at that time too.
    let read = client.query("SELECT v FROM t", &[]).await;
    if created.elapsed() < Duration::from_secs(4) {
        assert_eq!(code(&read.unwrap_err()), "42P01");
    }
    client.batch_execute("ROLLBACK").await.unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    assert!(!client.query_one(lag, &[]).await.unwrap().get::<_, bool>(0));
    client.batch_execute("COMMIT").await.unwrap();
}
