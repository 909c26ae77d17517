//! Observed timestamps: a transaction whose reads are served by a leaseholder that observed
//! its clock after the transaction started does not treat later writes there as uncertain.
//!
//! Without them every read of a value written within `max_offset` after the transaction
//! started is uncertain: the transaction must move its read timestamp up, and when it had
//! already read that key the refresh fails (40001). With them, the leaseholder's clock
//! reading bounds what can have been written before the transaction started, so the
//! transaction keeps reading its snapshot, as PostgreSQL's REPEATABLE READ and SERIALIZABLE
//! do. The maximum offset here is 1 s, so the write lands well inside the window.

mod common;

use cluster::server::start_node;
use cluster::transport::LocalNetwork;
use common::{node_config, sql, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_the_start_is_not_uncertain_at_an_observed_leaseholder() {
    common::init_logging();
    let net = LocalNetwork::new();
    let mut cfg = node_config(&net, vec![]);
    cfg.node.max_offset_ms = 1_000;
    let node = start_node(cfg).await.expect("node");
    let t = sql(&node).await;
    let w = sql(&node).await;
    t.batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 0)")
        .await
        .unwrap();
    // A range object just created (the table's split, a lease) honours observed timestamps
    // only once the clock passed a bound on what earlier leaseholders may have written
    // (lead + 2 x max offset, about 3.3 s here); until then the snapshot read may still fail.
    wait_for(30, "a snapshot read past a concurrent write", || async {
        t.batch_execute("BEGIN").await.map_err(|e| e.to_string())?;
        let before: i32 = t
            .query_one("SELECT v FROM t WHERE k = 1", &[])
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        w.execute("UPDATE t SET v = v + 1 WHERE k = 1", &[])
            .await
            .map_err(|e| e.to_string())?;
        let again = t.query_one("SELECT v FROM t WHERE k = 1", &[]).await;
        let outcome = match again {
            Ok(row) => {
                let again: i32 = row.get(0);
                if again != before {
                    panic!("the snapshot changed inside the transaction: {before} then {again}");
                }
                t.batch_execute("COMMIT").await.map_err(|e| e.to_string())
            }
            Err(e) => {
                let _ = t.batch_execute("ROLLBACK").await;
                Err(e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string()))
            }
        };
        outcome
    })
    .await;
    // Writes committed before a transaction starts are still seen.
    let now: i32 = t
        .query_one("SELECT v FROM t WHERE k = 1", &[])
        .await
        .unwrap()
        .get(0);
    w.execute("UPDATE t SET v = v + 10 WHERE k = 1", &[])
        .await
        .unwrap();
    let after: i32 = t
        .query_one("SELECT v FROM t WHERE k = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(after, now + 10);
}
