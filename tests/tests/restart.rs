//! Durability: a committed write survives `kill -9` of the node.
//!
//! Commits are fsynced to the RocksDB WAL before COMMIT is acknowledged, so killing the process
//! without any chance to flush must lose nothing the client was told is committed.

use meridian_tests::process::MeridianProcess;
use meridian_tests::{must_connect, query_one_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_rows_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut node = MeridianProcess::start(&store);
    let client = must_connect(&node.url("defaultdb")).await;
    client
        .batch_execute("CREATE TABLE kv (k INT PRIMARY KEY, v TEXT NOT NULL)")
        .await
        .expect("create table");
    client
        .batch_execute("INSERT INTO kv VALUES (1, 'one')")
        .await
        .expect("implicit insert");
    client
        .batch_execute("BEGIN; INSERT INTO kv VALUES (2, 'two'), (3, 'three'); COMMIT")
        .await
        .expect("explicit transaction");
    // A prepared statement (extended protocol) too.
    client
        .execute("INSERT INTO kv VALUES ($1, $2)", &[&4i32, &"four"])
        .await
        .expect("prepared insert");
    // Not committed: must not appear after the restart.
    client
        .batch_execute("BEGIN; INSERT INTO kv VALUES (5, 'uncommitted')")
        .await
        .expect("open txn");

    node.kill9();
    drop(client);
    let node = MeridianProcess::start(&store);
    assert!(node
        .banner
        .iter()
        .any(|l| l.contains("restarted pre-existing node")));
    let client = must_connect(&node.url("defaultdb")).await;
    let count = query_one_text(&client, "SELECT count(*) FROM kv").await;
    assert_eq!(count.as_deref(), Some("4"), "row count after restart");
    let rows = client
        .query("SELECT k, v FROM kv ORDER BY k", &[])
        .await
        .expect("select");
    let pairs: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        pairs,
        vec![
            (1, "one".into()),
            (2, "two".into()),
            (3, "three".into()),
            (4, "four".into())
        ]
    );
    // The store still takes writes after recovery.
    client
        .batch_execute("INSERT INTO kv VALUES (6, 'six')")
        .await
        .expect("insert after restart");
}
